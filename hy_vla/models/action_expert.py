"""Dual-tower flow-matching action expert (Hy-VLA, pi0 style).

The expert is a second, narrower transformer with the backbone's depth, head count
and head size. Its tokens are [state, a_1 .. a_H]: the robot state, then H noisy
actions carrying the flow time. In every layer its queries attend to the
backbone's keys/values of the same layer (the prefix) and to its own tokens: the
state token sees the prefix and itself, the action tokens see the prefix, the
state and each other (bidirectional). The prefix never attends to the expert, so
at inference the prefix keys/values are computed once and reused by every Euler
step (`hy_vla.models.dual_tower`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hy_vla.models.layers import RMSNorm, sincos_embedding
from hy_vla.models.masks import block_attention_mask
from hy_vla.models.tower import TowerBlock


@dataclass
class ActionExpertConfig:
    width: int = 768
    mlp_hidden: int = 3072
    qk_norm: bool = True

    def __post_init__(self) -> None:
        if self.width < 1 or self.mlp_hidden < 1:
            raise ValueError("expert.width and expert.mlp_hidden must be >= 1")


class ActionExpert(nn.Module):
    def __init__(
        self,
        cfg: ActionExpertConfig,
        depth: int,
        num_heads: int,
        head_dim: int,
        max_state_dim: int,
        max_action_dim: int,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        # The state enters with its channel mask so that "slot unused" and "value zero" differ.
        self.state_in = nn.Linear(2 * max_state_dim, w)
        self.action_in = nn.Linear(max_action_dim, w)
        self.action_time_mlp = nn.Sequential(nn.Linear(2 * w, w), nn.SiLU(), nn.Linear(w, w))
        self.layers = nn.ModuleList(
            TowerBlock(w, num_heads, head_dim, cfg.mlp_hidden, cfg.qk_norm) for _ in range(depth)
        )
        self.norm = RMSNorm(w)
        self.action_out = nn.Linear(w, max_action_dim)

    def embed(self, state: Tensor, state_mask: Tensor, noisy_actions: Tensor, t: Tensor) -> Tensor:
        """state, state_mask: (B, S); noisy_actions: (B, H, A); t: (B, H) flow time per step -> (B, 1 + H, w)."""
        return embed_suffix(self, state, state_mask, noisy_actions, t, self.cfg.width)

    def head(self, hidden: Tensor) -> Tensor:
        """Final expert hidden states (B, 1 + H, w) -> velocity of the action tokens (B, H, A)."""
        return self.action_out(self.norm(hidden[:, 1:]))


def embed_suffix(
    layers: nn.Module, state: Tensor, state_mask: Tensor, noisy_actions: Tensor, t: Tensor, width: int
) -> Tensor:
    """The flow suffix [state, H noisy actions + flow time] -> (B, 1 + H, width), with `layers`' `state_in`,
    `action_in` and `action_time_mlp` (the dual tower's and the MoT expert's, and HybridVLA's inside the LM).

    state, state_mask: (B, S), the mask entering with the state so that "slot unused" and "value zero" differ;
    noisy_actions: (B, H, A); t: (B, H) flow time per step.
    """
    s = layers.state_in(torch.cat([state, state_mask.to(state.dtype)], dim=-1)).unsqueeze(1)  # (B, 1, w)
    a = layers.action_in(noisy_actions)  # (B, H, w)
    te = sincos_embedding(t, width).to(a.dtype)  # (B, H, w)
    a = layers.action_time_mlp(torch.cat([a, te], dim=-1))
    return torch.cat([s, a], dim=1)


def suffix_mask(prefix_valid: Tensor, horizon: int) -> Tensor:
    """What the expert's 1 + H queries may see among [prefix keys, expert keys] -> (B, 1 + H, Tp + 1 + H).

    prefix_valid: (B, Tp) bool. The state is one block and the actions a later bidirectional block.
    """
    b = prefix_valid.shape[0]
    dev = prefix_valid.device
    ids = torch.ones(b, 1 + horizon, dtype=torch.long, device=dev)
    ids[:, 0] = 0
    ones = torch.ones(b, 1 + horizon, dtype=torch.bool, device=dev)
    own = block_attention_mask(ids, ones, ones)  # (B, 1 + H, 1 + H)
    pre = prefix_valid.unsqueeze(1).expand(b, 1 + horizon, prefix_valid.shape[1])
    return torch.cat([pre, own], dim=-1)
