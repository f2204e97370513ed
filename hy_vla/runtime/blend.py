"""Stitching two action chunks: blend curves and the soft prefix weights of real-time chunking.

Pure numpy functions (no torch: a robot computer running `RemotePolicy` + `AsyncRunner` needs none).

Vocabulary, all counted in control steps from the step a request was made:

- committed prefix ``d``: actions that will have been executed before the new chunk arrives;
  they come from the old chunk and are never rewritten;
- overlap: the old chunk's actions after the committed prefix, which the new chunk replaces; the
  stitching mode decides how (`STITCH_MODES`):

  ``none``     switch to the new chunk at once (naive asynchronous execution);
  ``linear``   cross-fade over the overlap with weights rising linearly from 0 to 1;
  ``bezier``   cross-fade with a cubic Bezier ease curve (flat at both ends: no velocity kink);
  ``rtc``      no cross-fade: the new chunk was denoised with guidance toward the old one
               (`hy_vla.flow.guidance`) using `rtc_prefix_weights`, so it already agrees with it.
"""

from __future__ import annotations

import math

import numpy as np

STITCH_MODES = ("none", "linear", "bezier", "rtc")
WEIGHT_SCHEDULES = ("exp", "linear")


def latency_steps(latency_s: float, period_s: float) -> int:
    """d = ceil(L / T): control periods that elapse while one inference of latency L runs.

    A tiny tolerance keeps exact multiples exact despite float error (0.3 / 0.1 -> 3, not 4).
    """
    if period_s <= 0:
        raise ValueError(f"control period must be positive, got {period_s}")
    if latency_s < 0 or not math.isfinite(latency_s):
        raise ValueError(f"latency must be a finite non-negative number, got {latency_s}")
    return max(0, math.ceil(latency_s / period_s - 1e-9))


def linear_ramp(n: int) -> np.ndarray:
    """n weights rising from 0 to 1 at the interior points s_i = (i + 1) / (n + 1): (n,) float64.

    Neither end point is included, so the first blended action already moves toward the new chunk
    and the last one is not yet fully the new chunk (the next one is).
    """
    return (np.arange(n, dtype=np.float64) + 1.0) / (n + 1.0)


def cubic_bezier(s: np.ndarray, p1: float = 0.0, p2: float = 1.0) -> np.ndarray:
    """1-D cubic Bezier with control values (0, p1, p2, 1) at parameter s in [0, 1].

    B(s) = 3 (1 - s)^2 s p1 + 3 (1 - s) s^2 p2 + s^3. With the default (p1, p2) = (0, 1) this is the
    smoothstep 3 s^2 - 2 s^3: zero slope at both ends, so a cross-fade leaves the old chunk and joins the
    new one tangentially (no velocity jump at either end of the overlap).
    """
    s = np.asarray(s, dtype=np.float64)
    return 3.0 * (1.0 - s) ** 2 * s * p1 + 3.0 * (1.0 - s) * s**2 * p2 + s**3


def bezier_ramp(n: int, p1: float = 0.0, p2: float = 1.0) -> np.ndarray:
    """n cubic Bezier weights at the same interior points as `linear_ramp`: (n,) float64."""
    return cubic_bezier(linear_ramp(n), p1, p2)


def crossfade(old: np.ndarray, new: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(1 - w_i) old_i + w_i new_i over the first n = len(weights) steps, then `new`. (H', A) float32.

    old: (n', A) with n' >= n; new: (H', A) with H' >= n.
    """
    n = len(weights)
    if len(old) < n or len(new) < n:
        raise ValueError(f"crossfade over {n} steps needs at least {n} old and new actions, got {len(old)}, {len(new)}")
    out = np.array(new, dtype=np.float32, copy=True)
    w = weights.astype(np.float32)[:, None]  # (n, 1)
    out[:n] = (1.0 - w) * old[:n] + w * new[:n]
    return out


def stitch(old_rest: np.ndarray, new_rest: np.ndarray, mode: str) -> np.ndarray:
    """The actions to execute after the committed prefix.

    old_rest: (n, A) the old chunk's not-yet-executed actions past the committed prefix (may be empty);
    new_rest: (m, A) the new chunk from the same step on. Returns (m, A) float32.
    The overlap is min(n, m) steps; modes as in the module docstring ("rtc" switches like "none").
    """
    if mode not in STITCH_MODES:
        raise ValueError(f"unknown stitch mode {mode!r}; expected one of {STITCH_MODES}")
    new_rest = np.asarray(new_rest, dtype=np.float32)
    n = min(len(old_rest), len(new_rest))
    if mode in ("none", "rtc") or n == 0:
        return new_rest.copy()
    weights = linear_ramp(n) if mode == "linear" else bezier_ramp(n)
    return crossfade(np.asarray(old_rest, dtype=np.float32), new_rest, weights)


def rtc_prefix_weights(length: int, committed: int, schedule: str = "exp") -> np.ndarray:
    """Soft guidance weights over a previous chunk's remaining `length` actions: (length,) float32.

    Exactly 1 on the first `committed` steps (they will be executed whatever the new chunk says),
    then decaying toward 0 at the end of the overlap; steps past `length` implicitly weigh 0.
    With c_i = (length - i) / (length - committed + 1) in (0, 1) for the decaying steps:

        "exp":    w_i = c_i (e^{c_i} - 1) / (e - 1)   (RTC's soft mask, Black et al. 2025)
        "linear": w_i = c_i
    """
    if schedule not in WEIGHT_SCHEDULES:
        raise ValueError(f"unknown weight schedule {schedule!r}; expected one of {WEIGHT_SCHEDULES}")
    if length < 0 or not 0 <= committed <= length:
        raise ValueError(f"need 0 <= committed ({committed}) <= length ({length})")
    w = np.ones(length, dtype=np.float64)
    i = np.arange(committed, length, dtype=np.float64)
    c = (length - i) / (length - committed + 1.0)
    w[committed:] = c * np.expm1(c) / (math.e - 1.0) if schedule == "exp" else c
    return w.astype(np.float32)
