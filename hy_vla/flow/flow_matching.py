"""Conditional flow matching with straight (rectified) paths: the only copy of this math.

Time convention, used everywhere in Hy-VLA:

    t = 0  is pure Gaussian noise,  t = 1  is the clean action chunk.
    x_t = (1 - t) * noise + t * actions          (interpolate)
    u   = actions - noise                        (target_velocity, constant along the path)
    sampling integrates dx/dt = v(x_t, t) from t = 0 to t = 1 with Euler steps.

This is the convention of the pi0 paper and of Being-H0.5's UAC ("clean prefix at
t = 1"). A clean, already-committed action therefore has t = 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

TIME_SAMPLERS = ("beta", "logit_normal", "uniform")


def sample_time_beta(
    shape: tuple[int, ...],
    alpha: float = 1.5,
    beta: float = 1.0,
    s: float = 0.999,
    generator: torch.Generator | None = None,
) -> Tensor:
    """pi0's time distribution: u ~ Beta(alpha, beta), t = s * (1 - u).

    With alpha > beta, u leans towards 1 so t leans towards 0: training emphasises
    the noisy end, where predicting the velocity is hardest. `s < 1` keeps t away
    from exactly 1 (a fully clean input would make the target trivially readable).
    """
    # Beta sampling through two Gamma draws keeps the optional generator usable.
    ga = torch._standard_gamma(torch.full(shape, alpha), generator=generator)
    gb = torch._standard_gamma(torch.full(shape, beta), generator=generator)
    u = ga / (ga + gb)
    return s * (1.0 - u)


def sample_time_logit_normal(
    shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """t = sigmoid(n), n ~ N(mean, std^2) (SD3 / Qwen-VLA style); concentrates t around sigmoid(mean)."""
    n = torch.randn(shape, generator=generator) * std + mean
    return torch.sigmoid(n)


def sample_time(kind: str, shape: tuple[int, ...], generator: torch.Generator | None = None, **params: float) -> Tensor:
    """Dispatch by name: 'beta' (params alpha, beta, s), 'logit_normal' (mean, std) or 'uniform'."""
    if kind == "beta":
        return sample_time_beta(shape, generator=generator, **params)
    if kind == "logit_normal":
        return sample_time_logit_normal(shape, generator=generator, **params)
    if kind == "uniform":
        return torch.rand(shape, generator=generator)
    raise ValueError(f"unknown flow time sampler {kind!r}; expected one of {TIME_SAMPLERS}")


def _expand_time(t: Tensor, like: Tensor) -> Tensor:
    """Broadcast t of shape (B,) or (B, H) against x of shape (B, H, A)."""
    while t.dim() < like.dim():
        t = t.unsqueeze(-1)
    return t.to(like.dtype)


def interpolate(noise: Tensor, actions: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) * noise + t * actions. noise, actions: (B, H, A); t: (B,) or (B, H) per step."""
    tt = _expand_time(t, actions)
    return (1.0 - tt) * noise + tt * actions


def target_velocity(noise: Tensor, actions: Tensor) -> Tensor:
    """u = d x_t / dt = actions - noise, the regression target of the velocity field."""
    return actions - noise


def euler_step(x: Tensor, velocity: Tensor, dt: float) -> Tensor:
    """One explicit Euler step forward in time: x_{t+dt} = x_t + dt * v."""
    return x + dt * velocity


def euler_times(num_steps: int) -> list[float]:
    """The num_steps start times 0, 1/n, ..., (n-1)/n visited by `integrate`."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    return [i / num_steps for i in range(num_steps)]


def integrate(velocity_fn: Callable[[Tensor, float], Tensor], noise: Tensor, num_steps: int) -> Tensor:
    """Integrate dx/dt = velocity_fn(x, t) from t=0 (noise) to t=1 (actions) with `num_steps` Euler steps."""
    x = noise
    dt = 1.0 / num_steps
    for t in euler_times(num_steps):
        x = euler_step(x, velocity_fn(x, t), dt)
    return x


def per_sample_flow_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Each sample's squared error averaged per active channel over its active steps, then over active channels.

    pred, target: (B, H, A); mask: (B, H, A) bool/float, 1 = counts (or None: all count).
    For sample b and channel k: l_bk = sum_h m_bhk e_bhk / sum_h m_bhk (Qwen-VLA's per-channel average), then
    the mean of l_bk over the channels with at least one active step. Returns (losses (B,), has_any (B,) float:
    1 where the sample has an active channel).
    """
    err = (pred.float() - target.float()).pow(2)  # (B, H, A)
    if mask is None:
        return err.mean(dim=(1, 2)), torch.ones(err.shape[0], dtype=err.dtype, device=err.device)
    if mask.shape != err.shape:
        raise ValueError(f"loss mask shape {tuple(mask.shape)} != prediction shape {tuple(err.shape)}")
    m = mask.to(err.dtype)
    steps = m.sum(dim=1)  # (B, A) active steps per channel
    per_channel = (err * m).sum(dim=1) / steps.clamp(min=1.0)  # (B, A)
    active = (steps > 0).to(err.dtype)  # (B, A)
    n_active = active.sum(dim=1)  # (B,)
    per_sample = (per_channel * active).sum(dim=1) / n_active.clamp(min=1.0)  # (B,)
    return per_sample, (n_active > 0).to(err.dtype)


def masked_flow_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """`per_sample_flow_loss` averaged over the samples that have any active channel -> scalar.

    A channel with few valid steps weighs as much as a fully valid one, and padded channels (unused slots of the
    unified space) never dilute the loss.
    """
    per_sample, has_any = per_sample_flow_loss(pred, target, mask)
    if mask is None:
        return per_sample.mean()
    return (per_sample * has_any).sum() / has_any.sum().clamp(min=1.0)


@dataclass
class FlowConfig:
    """How training draws flow times (see `sample_time`)."""

    time_sampler: str = "beta"
    beta_alpha: float = 1.5
    beta_beta: float = 1.0
    beta_s: float = 0.999
    logit_mean: float = 0.0
    logit_std: float = 1.0

    def __post_init__(self) -> None:
        if self.time_sampler not in TIME_SAMPLERS:
            raise ValueError(f"flow.time_sampler {self.time_sampler!r} not in {TIME_SAMPLERS}")
        if self.beta_alpha <= 0 or self.beta_beta <= 0 or not 0 < self.beta_s <= 1 or self.logit_std <= 0:
            raise ValueError("flow: beta parameters and logit_std must be positive and 0 < beta_s <= 1")

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        if self.time_sampler == "beta":
            return sample_time("beta", shape, generator, alpha=self.beta_alpha, beta=self.beta_beta, s=self.beta_s)
        if self.time_sampler == "logit_normal":
            return sample_time("logit_normal", shape, generator, mean=self.logit_mean, std=self.logit_std)
        return sample_time("uniform", shape, generator)
