"""Checking and preprocessing the model's input batch.

Documented preprocessing (applied inside the model, so every caller gets the same):

- images: `observation.images.<camera>` of shape (B, K, 3, H, W), uint8 in [0, 255]
  or float in [0, 1]; resized to `config.image_size` (bilinear, antialiased) when H or W
  differ (non-square inputs are stretched), then mapped to [-1, 1];
- state: `observation.state` (B, S) with S <= max_state_dim, already normalized;
  zero-padded to max_state_dim, with a channel mask (`observation.state_dim_mask`, or
  the first S channels); with `slot_layout="unified"` the channels are then moved to the
  embodiment's slots (`hy_vla.models.slot_layout`; actions likewise);
- task: a list of B instructions (a single string is accepted when B == 1);

Bad input raises a ValueError naming the key and the expected shape.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hy_vla import keys
from hy_vla.models import slot_layout
from hy_vla.models.config import HyVLAConfig


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if hasattr(x, "shape") else type(x).__name__


def batch_size(batch: dict[str, Any], cfg: HyVLAConfig) -> int:
    if keys.STATE not in batch:
        raise ValueError(f"missing key {keys.STATE!r}; expected a tensor of shape (B, <= {cfg.max_state_dim})")
    state = batch[keys.STATE]
    if not isinstance(state, Tensor) or state.dim() != 2:
        raise ValueError(f"{keys.STATE!r} must be a tensor of shape (B, <= {cfg.max_state_dim}), got {_shape(state)}")
    return state.shape[0]


def check_finite(name: str, x: Tensor) -> None:
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name!r} contains NaN or inf")


def images(batch: dict[str, Any], cfg: HyVLAConfig, b: int, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
    """All cameras stacked camera-major -> (B * C, K, 3, S, S) in [-1, 1], and frame validity (B * C, K) or None."""
    k_expected = cfg.history_frames
    per_cam = []
    for key in cfg.image_keys:
        expected = f"(B={b}, K={k_expected}, 3, H, W)"
        if key not in batch:
            raise ValueError(f"missing key {key!r}; expected an image tensor of shape {expected}")
        x = batch[key]
        if not isinstance(x, Tensor) or x.dim() != 5 or x.shape[0] != b or x.shape[2] != 3:
            raise ValueError(f"{key!r} has shape {_shape(x)}; expected {expected}")
        if x.shape[1] != k_expected:
            raise ValueError(f"{key!r} has K={x.shape[1]} frames; this model expects {expected}")
        check_finite(key, x)
        per_cam.append(x)
    x = torch.stack(per_cam, dim=1).flatten(0, 1)  # (B * C, K, 3, H, W)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    s = cfg.image_size
    if x.shape[-2:] != (s, s):
        n, k = x.shape[:2]
        x = F.interpolate(x.flatten(0, 1), size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        x = x.view(n, k, 3, s, s)
    x = (x * 2.0 - 1.0).to(dtype)
    valid = None
    if keys.HISTORY_IS_PAD in batch:
        pad = batch[keys.HISTORY_IS_PAD]
        if not isinstance(pad, Tensor) or tuple(pad.shape) != (b, k_expected):
            raise ValueError(f"{keys.HISTORY_IS_PAD!r} has shape {_shape(pad)}; expected (B={b}, K={k_expected})")
        valid = (~pad.bool()).repeat_interleave(len(cfg.camera_names), dim=0)
        valid[:, -1] = True  # the current frame is always real
    return x, valid


def state(batch: dict[str, Any], cfg: HyVLAConfig, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """-> state (B, max_state_dim) zero-padded, and its channel mask (B, max_state_dim) bool."""
    s = batch[keys.STATE]
    if s.shape[-1] > cfg.max_state_dim:
        raise ValueError(f"{keys.STATE!r} has width {s.shape[-1]} > max_state_dim={cfg.max_state_dim}")
    check_finite(keys.STATE, s)
    b, width = s.shape
    out = F.pad(s.to(dtype), (0, cfg.max_state_dim - width))
    if keys.STATE_DIM_MASK in batch:
        mask = batch[keys.STATE_DIM_MASK]
        if not isinstance(mask, Tensor) or tuple(mask.shape) != (b, cfg.max_state_dim):
            raise ValueError(f"{keys.STATE_DIM_MASK!r} has shape {_shape(mask)}; expected (B={b}, {cfg.max_state_dim})")
        mask = mask.bool()
    else:
        mask = torch.zeros(b, cfg.max_state_dim, dtype=torch.bool, device=s.device)
        mask[:, :width] = True
    slots = slot_layout.batch_slots(batch, cfg, "state")
    if slots is not None and width != len(slots):
        raise ValueError(f"{keys.STATE!r} has width {width}; the embodiment's state has {len(slots)} channels")
    out, mask = slot_layout.place(out, slots, cfg.max_state_dim), slot_layout.place(mask, slots, cfg.max_state_dim)
    return out * mask.to(dtype), mask


def tasks(batch: dict[str, Any], b: int) -> list[str]:
    if keys.TASK not in batch:
        raise ValueError(f"missing key {keys.TASK!r}; expected a list of {b} instruction strings")
    t = batch[keys.TASK]
    if isinstance(t, str):
        t = [t] * b if b == 1 else t
    if not isinstance(t, (list, tuple)) or len(t) != b or not all(isinstance(s, str) for s in t):
        raise ValueError(f"{keys.TASK!r} must be a list of {b} strings, got {t!r:.80}")
    return list(t)


def action_target(batch: dict[str, Any], cfg: HyVLAConfig, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Training target -> actions (B, H, max_action_dim) zero-padded, loss mask (B, H, max_action_dim) bool.

    Masked out: steps past the episode end (`action_is_pad`), unused channels (`action_dim_mask`, or
    by default every channel past min(given width, config.action_dim)). Unused channels are zeroed.
    """
    if keys.ACTION not in batch:
        raise ValueError(f"missing key {keys.ACTION!r}; expected (B, H={cfg.horizon}, <= {cfg.max_action_dim})")
    a = batch[keys.ACTION]
    if not isinstance(a, Tensor) or a.dim() != 3 or a.shape[1] != cfg.horizon or a.shape[2] > cfg.max_action_dim:
        raise ValueError(
            f"{keys.ACTION!r} has shape {_shape(a)}; expected (B, H={cfg.horizon}, <= {cfg.max_action_dim})"
        )
    check_finite(keys.ACTION, a)
    b, h, width = a.shape
    a = F.pad(a.to(dtype), (0, cfg.max_action_dim - width))
    if keys.ACTION_DIM_MASK in batch:
        ch = batch[keys.ACTION_DIM_MASK].bool()
        if tuple(ch.shape) != (b, cfg.max_action_dim):
            raise ValueError(f"{keys.ACTION_DIM_MASK!r} has shape {_shape(ch)}; expected (B={b}, {cfg.max_action_dim})")
    else:
        ch = torch.zeros(b, cfg.max_action_dim, dtype=torch.bool, device=a.device)
        ch[:, : min(width, cfg.action_dim)] = True
    steps = torch.ones(b, h, dtype=torch.bool, device=a.device)
    if keys.ACTION_IS_PAD in batch:
        pad = batch[keys.ACTION_IS_PAD]
        if tuple(pad.shape) != (b, h):
            raise ValueError(f"{keys.ACTION_IS_PAD!r} has shape {_shape(pad)}; expected (B={b}, H={h})")
        steps = ~pad.bool()
    slots = slot_layout.batch_slots(batch, cfg, "action")
    if slots is not None and width != len(slots):
        raise ValueError(f"{keys.ACTION!r} has width {width}; the embodiment's action has {len(slots)} channels")
    a, ch = slot_layout.place(a, slots, cfg.max_action_dim), slot_layout.place(ch, slots, cfg.max_action_dim)
    # Unused channels carry no information: zero them so that whatever a dataset stores there
    # cannot reach the expert through the noisy-action input.
    a = a * ch.unsqueeze(1).to(a.dtype)
    return a, steps.unsqueeze(-1) & ch.unsqueeze(1)
