"""Prefix guidance for flow sampling: inference-time real-time chunking (RTC), gradient-free.

While a robot executes chunk n, chunk n+1 is being denoised. Its first d actions will already have
been executed (committed) from chunk n by the time it arrives, and the following ones should agree
with what chunk n planned so the switch is smooth. Real-time chunking (Black, Galliker & Levine,
"Real-Time Execution of Action Chunking Flow Policies", 2025) treats this as inpainting: denoise the
new chunk with guidance toward the still-unexecuted part of the previous one, with soft weights W
that are 1 on the committed prefix and decay to 0 over the rest of the overlap.

RTC computes its guidance with a vector-Jacobian product through the network (Pi-GDM style). We use
the cheaper Jacobian-free variant: at each Euler step we move the *predicted clean chunk* toward the
target and recompute the velocity that reaches it. With the time convention of `flow_matching`
(t = 0 noise, t = 1 data, x_t = (1 - t) noise + t x_1):

    x1_hat = x_t + (1 - t) v                      predicted clean chunk at this step
    x1_bar = x1_hat + W * (Y - x1_hat)            pulled toward the target Y (per step and channel)
    v'     = (x1_bar - x_t) / (1 - t)  =  v + W * (Y - x1_hat) / (1 - t)

The Euler step x_{t+dt} = x_t + dt v' moves a fraction dt / (1 - t) <= 1 of the way toward x1_bar, so
it is stable for every step size, and the last step (dt = 1 - t) lands exactly on x1_bar: where
W = 1 the sampled action equals Y exactly. Where W = 0 the model's velocity is untouched.

Everything here works in the model's normalized action space; `HyVLA.sample_actions(prefix_actions=,
prefix_weights=)` uses it, `hy_vla.policy.checkpoint_policy.CheckpointPolicy` maps robot units to that space.
"""

from __future__ import annotations

import torch
from torch import Tensor


def predicted_clean(x_t: Tensor, v: Tensor, t: float | Tensor) -> Tensor:
    """x1_hat = x_t + (1 - t) v: where one Euler step of the remaining length would land. (B, H, A)."""
    return x_t + (1.0 - t) * v


def guided_velocity(x_t: Tensor, v: Tensor, t: float, target: Tensor, weights: Tensor) -> Tensor:
    """The velocity whose predicted clean chunk is pulled toward `target` by `weights` (formula above).

    Args:
        x_t: (B, H, A) current sample at time t in [0, 1).
        v: (B, H, A) the model's velocity at (x_t, t).
        target: (B, H, A) the chunk to agree with (any value where the weight is 0).
        weights: broadcastable to (B, H, A), each in [0, 1]; 1 reproduces the target exactly at t = 1.
    Returns:
        (B, H, A) the guided velocity.
    """
    if not 0.0 <= t < 1.0:
        raise ValueError(f"guidance needs a flow time in [0, 1), got {t}")
    x1_hat = predicted_clean(x_t, v, t)
    return v + weights * (target - x1_hat) / (1.0 - t)


def full_prefix(prefix_actions: Tensor, prefix_weights: Tensor, shape: tuple[int, int, int]) -> tuple[Tensor, Tensor]:
    """Pad a prefix to the full chunk: (B or 1, P, A') actions and (P,) / (B, P) weights -> (B, H, A) both.

    Steps past P and channels past A' (the unused slots of the unified action space) get weight 0,
    so guidance never touches them. Raises a clear error on inconsistent shapes or weights outside [0, 1].
    """
    b, h, a = shape
    if prefix_actions.dim() == 2:
        prefix_actions = prefix_actions.unsqueeze(0)
    if prefix_actions.dim() == 3 and prefix_actions.shape[0] == 1:
        prefix_actions = prefix_actions.expand(b, -1, -1)  # one prefix for the whole batch
    if prefix_actions.dim() != 3 or prefix_actions.shape[0] != b:
        raise ValueError(f"prefix_actions must be (B={b}, P, A), got {tuple(prefix_actions.shape)}")
    _, p, ap = prefix_actions.shape
    if p > h or ap > a:
        raise ValueError(f"prefix_actions {tuple(prefix_actions.shape)} exceeds the chunk (B={b}, H={h}, A={a})")
    w = prefix_weights.to(torch.float32)
    if w.dim() == 1:
        w = w.unsqueeze(0).expand(b, -1)
    if tuple(w.shape) != (b, p):
        raise ValueError(f"prefix_weights must be (P={p},) or (B={b}, P={p}), got {tuple(prefix_weights.shape)}")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or bool((w > 1).any()):
        raise ValueError("prefix_weights must be finite and in [0, 1]")
    if not bool(torch.isfinite(prefix_actions).all()):
        raise ValueError("prefix_actions contains NaN or inf")
    target = torch.zeros(shape, dtype=torch.float32, device=prefix_actions.device)
    weights = torch.zeros(shape, dtype=torch.float32, device=prefix_actions.device)
    target[:, :p, :ap] = prefix_actions.float()
    weights[:, :p, :ap] = w.to(prefix_actions.device).unsqueeze(-1)  # same weight for every used channel
    return target, weights
