"""Post-training objectives as pure functions: group-relative advantages, GAE, PPO's clipped surrogate, chunk DPO."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def group_advantages(rewards: Tensor, groups: Tensor, eps: float = 1e-6) -> Tensor:
    """GRPO-style advantages: each reward minus its group's mean, over the group's std (population).

    rewards, groups: (N,) (groups: integer id of the layout each episode started from) -> (N,).
    A group whose rollouts all got the same reward gives 0 everywhere: it says nothing about which way to move.
    """
    adv = torch.zeros_like(rewards, dtype=torch.float32)
    for g in torch.unique(groups):
        sel = groups == g
        r = rewards[sel].float()
        std = r.std(unbiased=False)
        adv[sel] = 0.0 if std < eps else (r - r.mean()) / (std + eps)
    return adv


def gae(rewards: Tensor, values: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimation over one episode's policy calls (the episode ends after the last one).

    rewards, values: (T,) the reward received after each call and the value estimate at it -> (advantages (T,),
    returns (T,) = advantages + values, the value targets). The value after the last call is 0 (terminal).
        delta_t = r_t + gamma * V_{t+1} - V_t,   A_t = delta_t + gamma * lam * A_{t+1}
    """
    values = values.float()
    adv = torch.zeros_like(values)
    running = torch.zeros((), dtype=values.dtype)
    for t in reversed(range(values.shape[0])):
        following = values[t + 1] if t + 1 < values.shape[0] else torch.zeros((), dtype=values.dtype)
        delta = rewards[t].float() + gamma * following - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
    return adv, adv + values


def ppo_clip_loss(log_prob: Tensor, old_log_prob: Tensor, advantage: Tensor, clip: float) -> tuple[Tensor, Tensor]:
    """PPO's clipped surrogate (to minimize) and the fraction of clipped ratios.

    log_prob, old_log_prob: (B, K) per denoising transition (each transition is one Gaussian action of the
    denoising MDP); advantage: (B,) per chunk, shared by its transitions.
    """
    ratio = torch.exp(log_prob - old_log_prob)  # (B, K)
    adv = advantage.view(-1, 1).to(ratio.dtype)
    unclipped = ratio * adv
    clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * adv
    loss = -torch.minimum(unclipped, clipped).mean()
    frac = ((ratio - 1.0).abs() > clip).float().mean()
    return loss, frac.detach()


def preference_loss(
    loss_w: Tensor, loss_w_ref: Tensor, loss_l: Tensor, loss_l_ref: Tensor, beta: float, prox: float
) -> tuple[Tensor, Tensor]:
    """DPO on flow-matching losses (a per-chunk likelihood surrogate: lower loss = more likely).

    With d_w = L(w) - L_ref(w) and d_l = L(l) - L_ref(l) (same noise and time for both chunks), the preferred
    chunk w should gain likelihood relative to the reference more than the dispreferred l:
        loss = -log sigmoid(-beta * (d_w - d_l)) + prox * (d_w^2 + d_l^2) / 2,
    the second term a symmetric proximal regularizer keeping both chunks near the reference (against the
    degenerate solution of pushing d_l up without bound). Inputs (B,); returns (mean loss, preference accuracy:
    the fraction of pairs where d_w < d_l).
    """
    d_w, d_l = loss_w - loss_w_ref.detach(), loss_l - loss_l_ref.detach()
    margin = -beta * (d_w - d_l)
    loss = -F.logsigmoid(margin) + prox * 0.5 * (d_w.pow(2) + d_l.pow(2))
    return loss.mean(), (d_w < d_l).float().mean().detach()
