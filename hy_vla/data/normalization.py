"""Per-channel feature normalization as pure functions, for numpy arrays and torch tensors alike.

Every mode is one affine map per channel, `y = (x - center) / scale`, so `unnormalize` is
`x = y * scale + center` and the two are exact inverses up to floating-point rounding:

    mode        center            scale                 maps
    mean_std    mean              std + eps             mean -> 0, one std -> ~1
    min_max     (min + max) / 2   (max - min) / 2       min -> -1, max -> +1
    quantile    (q01 + q99) / 2   (q99 - q01) / 2       q01 -> -1, q99 -> +1
    identity    0                 1                     x -> x

Nothing is clipped: an action beyond the recorded min/max or q01/q99 maps past [-1, 1] and
comes back unchanged, so a policy can still express it. Callers that want a bounded input
(e.g. a clamped state) clamp after normalizing.

Zero-range rule: a channel whose spread (std, max - min or q99 - q01, by mode) is at most
`ZERO_RANGE` (a constant gripper, a padded slot) gets `scale = 1` and keeps its center, i.e.
it is shifted to 0 but not stretched. Dividing by a zero (or eps-sized) spread would turn the
smallest deviation at inference into inf or a huge value; the shift keeps the training value
at 0 and passes any deviation through unscaled. `passthrough` marks channels to leave
entirely untouched (center 0, scale 1), e.g. slots another transform already normalized.

The statistics are read from any object with attributes `mean`, `std`, `min`, `max`, `q01`,
`q99` (such as `FeatureStats`) or from a mapping with those keys; only the fields the mode
needs must be present.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import torch

NormMode = Literal["mean_std", "min_max", "quantile", "identity"]
MODES: tuple[str, ...] = ("mean_std", "min_max", "quantile", "identity")

# The statistics each mode reads; `norm_stats` validates a feature against this table.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "mean_std": ("mean", "std"),
    "min_max": ("min", "max"),
    "quantile": ("q01", "q99"),
    "identity": (),
}

DEFAULT_EPS = 1e-8  # added to std in mean_std mode (matches the usual (x - mean) / (std + eps))
ZERO_RANGE = 1e-8  # a spread at or below this is "zero range" (see module docstring)

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)


def check_mode(mode: str) -> str:
    """Return `mode` if it is a known normalization mode, else raise a ValueError listing the modes."""
    if mode not in MODES:
        raise ValueError(f"unknown normalization mode {mode!r}; expected one of {list(MODES)}")
    return mode


def _field(stats: Any, name: str) -> np.ndarray:
    """Read one statistic as a float64 vector (D,) from an object or a mapping."""
    value = stats.get(name) if isinstance(stats, Mapping) else getattr(stats, name, None)
    if value is None:
        raise ValueError(f"normalization statistics lack field {name!r}, which this mode needs")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64).reshape(-1)


def spread(stats: Any, mode: str) -> np.ndarray | None:
    """The per-channel spread the mode divides by, before eps and the zero-range rule; None for identity."""
    check_mode(mode)
    if mode == "mean_std":
        return _field(stats, "std")
    if mode == "min_max":
        return _field(stats, "max") - _field(stats, "min")
    if mode == "quantile":
        return _field(stats, "q99") - _field(stats, "q01")
    return None


def zero_range_mask(stats: Any, mode: str) -> np.ndarray | None:
    """Boolean (D,) mask of channels that fall under the zero-range rule; None for identity."""
    s = spread(stats, mode)
    return None if s is None else s <= ZERO_RANGE


def affine_params(
    stats: Any,
    mode: str,
    *,
    passthrough: Sequence[bool] | np.ndarray | torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel `(center, scale)` float64 vectors (D,) of the map `y = (x - center) / scale`.

    Returns None for identity mode (no statistics needed, no width to check). The zero-range
    rule and `passthrough` (bool (D,), True = leave the channel untouched) are applied here so
    `normalize` and `unnormalize` share them.
    """
    check_mode(mode)
    if mode == "identity":
        return None
    if mode == "mean_std":
        center = _field(stats, "mean")
        scale = _field(stats, "std") + eps
    elif mode == "min_max":
        lo, hi = _field(stats, "min"), _field(stats, "max")
        center, scale = (lo + hi) / 2.0, (hi - lo) / 2.0
    else:  # quantile
        lo, hi = _field(stats, "q01"), _field(stats, "q99")
        center, scale = (lo + hi) / 2.0, (hi - lo) / 2.0
    if center.shape != scale.shape:
        raise ValueError(f"{mode} statistics have mismatched widths {center.shape[0]} and {scale.shape[0]}")
    scale = np.where(spread(stats, mode) <= ZERO_RANGE, 1.0, scale)
    if passthrough is not None:
        if isinstance(passthrough, torch.Tensor):
            passthrough = passthrough.detach().cpu().numpy()
        keep = np.asarray(passthrough, dtype=bool).reshape(-1)
        if keep.shape != center.shape:
            raise ValueError(f"passthrough mask has width {keep.shape[0]}, expected {center.shape[0]} (stats width)")
        center = np.where(keep, 0.0, center)
        scale = np.where(keep, 1.0, scale)
    return center, scale


def _as_float(x: ArrayLike) -> ArrayLike:
    """Integer or bool input becomes floating point so the result can hold fractions."""
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.to(torch.get_default_dtype())
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _like(v: np.ndarray, x: ArrayLike) -> ArrayLike:
    """The one array/tensor dispatch point: vector `v` (D,) in `x`'s kind, dtype and device."""
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(v, dtype=x.dtype, device=x.device)
    return v.astype(x.dtype, copy=False)


def _check_width(x: ArrayLike, d: int, mode: str) -> None:
    if x.ndim == 0 or x.shape[-1] != d:
        raise ValueError(f"{mode} normalization expects input of shape (..., {d}), got {tuple(x.shape)}")


def normalize(
    x: ArrayLike,
    stats: Any,
    mode: str,
    *,
    passthrough: Sequence[bool] | np.ndarray | torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> ArrayLike:
    """Map raw values `x` (..., D) to normalized values (..., D) of the same kind (numpy or torch).

    Floating inputs keep their dtype (and device); integer inputs become float. Identity mode
    returns `x` itself.
    """
    params = affine_params(stats, mode, passthrough=passthrough, eps=eps)
    if params is None:
        return x
    x = _as_float(x)
    _check_width(x, params[0].shape[0], mode)
    center, scale = params  # (D,), broadcast over the leading dims
    return (x - _like(center, x)) / _like(scale, x)


def unnormalize(
    y: ArrayLike,
    stats: Any,
    mode: str,
    *,
    passthrough: Sequence[bool] | np.ndarray | torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> ArrayLike:
    """Inverse of `normalize` with the same arguments: normalized `y` (..., D) back to raw units."""
    params = affine_params(stats, mode, passthrough=passthrough, eps=eps)
    if params is None:
        return y
    y = _as_float(y)
    _check_width(y, params[0].shape[0], mode)
    center, scale = params
    return y * _like(scale, y) + _like(center, y)
