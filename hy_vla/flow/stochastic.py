"""The stochastic denoising chain of post-training: Euler steps with Gaussian noise, and their exact log-densities.

Deterministic sampling (`flow_matching.integrate`) has no likelihood. Post-training (Qwen-VLA stage IV, flow-noise /
flow-SDE style RL) makes every Euler transition Gaussian:

    x_{k+1} = x_k + dt * v(x_k, t_k) + sigma * eps_k,      eps_k ~ N(0, I)
    log p(x_{k+1} | x_k) = sum_j  -(x_{k+1,j} - mu_{k,j})^2 / (2 sigma^2) - log sigma - log(2 pi) / 2,
    mu_k = x_k + dt * v(x_k, t_k)

so a chunk's log-probability given its starting noise x_0 is the sum of its K transitions' log-densities. The states
x_0..x_K are stored at rollout; at update time the means are recomputed under the current parameters, which gives the
exact ratio p_new / p_old per transition. Only the channels in `mask` (the robot's executed actions) get noise and
count: noise on padded or never-executed channels could not change the reward and would only add variance.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def transition_mean(x: Tensor, velocity: Tensor, dt: float) -> Tensor:
    """mu = x + dt * v: the mean of one noisy Euler step (the deterministic Euler step). (B, H, A)."""
    return x + dt * velocity


def noisy_step(mean: Tensor, sigma: float, mask: Tensor, eps: Tensor) -> Tensor:
    """x_next = mean + sigma * eps on the masked channels, mean elsewhere. mean, eps: (B, H, A); mask (B, H, A) bool."""
    return torch.where(mask, mean + sigma * eps, mean)


def gaussian_log_prob(x_next: Tensor, mean: Tensor, sigma: float, mask: Tensor) -> Tensor:
    """Summed log N(x_next; mean, sigma^2 I) over the masked channels -> (B,).

    x_next, mean: (B, H, A) float32; mask: (B, H, A) bool (unmasked channels are deterministic and excluded).
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive for a log-density, got {sigma}")
    m = mask.to(mean.dtype)
    z = (x_next.float() - mean.float()) / sigma
    per = -0.5 * z.pow(2) - math.log(sigma) - 0.5 * math.log(2.0 * math.pi)  # (B, H, A)
    return (per * m).sum(dim=(1, 2))


def chain_log_prob(states: Tensor, means: Tensor, sigma: float, mask: Tensor) -> Tensor:
    """Per-transition log-densities of a chain -> (B, K). states: (K+1, B, H, A) x_0..x_K; means: (K, B, H, A)."""
    return torch.stack([gaussian_log_prob(states[k + 1], means[k], sigma, mask) for k in range(means.shape[0])], dim=1)


def transition_kl(mean_p: Tensor, mean_q: Tensor, sigma: float, mask: Tensor) -> Tensor:
    """KL(N(mean_p, sigma^2) || N(mean_q, sigma^2)) summed over the masked channels -> (B,).

    Equal variances: KL = |mean_p - mean_q|^2 / (2 sigma^2); exact, no sampling.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive for a KL, got {sigma}")
    m = mask.to(mean_p.dtype)
    return ((mean_p.float() - mean_q.float()).pow(2) * m).sum(dim=(1, 2)) / (2.0 * sigma**2)
