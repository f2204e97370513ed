"""LeRobot's per-feature statistics: per episode (meta/episodes columns `stats/<key>/<stat>`) and
aggregated over the dataset (meta/stats.json).

Format (LeRobot 0.4.4): for every feature, `min, max, mean, std` with the feature's shape
((D,) for vectors, (1,) for scalars, (3, 1, 1) per channel in [0, 1] for images and videos),
`count` (1,), and quantiles `q01, q10, q50, q90, q99`. Image stats use a subsample of the
episode's frames (at most ~100-10,000 depending on length) downsampled past 300 px, as LeRobot
does. Our quantiles are exact (`np.quantile`); LeRobot's come from histograms, so values differ
slightly, the format does not. Aggregation follows LeRobot: count-weighted means, pooled
variance, min of mins, max of maxes, count-weighted quantiles.

These stats are for LeRobot compatibility; training normalization uses `NormStats`
(norm_stats.json), computed on the trained representation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)


def num_image_samples(n: int, lo: int = 100, hi: int = 10_000, power: float = 0.75) -> int:
    """How many frames of an n-frame episode image stats look at (LeRobot's heuristic)."""
    lo = min(lo, n)
    return max(lo, min(int(n**power), hi))


def image_sample_indices(n: int) -> np.ndarray:
    return np.round(np.linspace(0, n - 1, num_image_samples(n))).astype(int)


def _stats(x: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """x (N, C) -> per-column stats (C,)."""
    out = {
        "min": x.min(axis=0),
        "max": x.max(axis=0),
        "mean": x.mean(axis=0, dtype=np.float64),
        "std": x.std(axis=0, dtype=np.float64),
        "count": np.array([count], dtype=np.int64),
    }
    qs = np.quantile(x.astype(np.float64), QUANTILES, axis=0)  # (5, C)
    for key, q in zip(QUANTILE_KEYS, qs, strict=True):
        out[key] = q
    return out


def vector_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """Stats of a low-dim column: (T,) or (T, D) -> stats of shape (1,) or (D,)."""
    x = np.asarray(x)
    x2 = x.reshape(len(x), -1)
    if x2.dtype == np.bool_:
        x2 = x2.astype(np.int64)
    return _stats(x2, len(x))


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Stats of (T, H, W, 3) uint8 frames: per channel in [0, 1], shape (3, 1, 1)."""
    idx = image_sample_indices(len(frames))
    imgs = frames[idx]  # (N, H, W, 3)
    h, w = imgs.shape[1:3]
    if max(h, w) >= 300:  # LeRobot's downsampling of large images before stats
        f = int(max(h, w) / 150)
        imgs = imgs[:, ::f, ::f]
    flat = imgs.reshape(-1, 3)  # (N*h*w, 3)
    if flat.dtype == np.uint8:
        s = _uint8_stats(flat, len(idx))
    else:
        s = _stats(flat.astype(np.float64) / 255.0, len(idx))
    return {k: v if k == "count" else v.reshape(3, 1, 1) for k, v in s.items()}


def _uint8_stats(x: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """`_stats` of x / 255 for uint8 x (N, C), from a 256-bin histogram per column: the same numbers (the sorted
    values, hence min, max and `np.quantile`'s linear interpolation, follow from the counts), computed without
    materializing N*C float64 values. Collection computes these for every episode in its main process, where the
    float path cost more CPU than encoding the videos."""
    n = len(x)
    levels = np.arange(256, dtype=np.float64) / 255.0
    hist = np.stack([np.bincount(x[:, c], minlength=256) for c in range(x.shape[1])]).astype(np.float64)  # (C, 256)
    mean = hist @ levels / n
    var = (hist * (levels[None, :] - mean[:, None]) ** 2).sum(axis=1) / n
    cum = np.cumsum(hist, axis=1)  # (C, 256)

    def sorted_value(k: int) -> np.ndarray:
        """(C,) the k-th smallest value of each column: the first level whose cumulative count exceeds k."""
        return levels[(cum <= k).sum(axis=1)]

    out = {
        "min": sorted_value(0),
        "max": sorted_value(n - 1),
        "mean": mean,
        "std": np.sqrt(var),
        "count": np.array([count], dtype=np.int64),
    }
    for key, q in zip(QUANTILE_KEYS, QUANTILES, strict=True):
        pos = (n - 1) * q
        lo = int(np.floor(pos))
        frac = pos - lo
        a, b = sorted_value(lo), sorted_value(min(lo + 1, n - 1))
        # np.quantile's interpolation, rounding included: from the nearer neighbour
        out[key] = b - (b - a) * (1 - frac) if frac >= 0.5 else a + (b - a) * frac
    return out


def episode_stats(columns: dict[str, np.ndarray], features: dict[str, dict[str, Any]]) -> dict[str, dict]:
    """Stats of every non-string feature of one episode; `columns` holds (T, ...) arrays."""
    out: dict[str, dict] = {}
    for key, ft in features.items():
        if ft["dtype"] == "string" or key not in columns:
            continue
        if ft["dtype"] in ("video", "image"):
            out[key] = image_stats(columns[key])
        else:
            out[key] = vector_stats(columns[key])
    return out


def aggregate_stats(per_episode: list[dict[str, dict]]) -> dict[str, dict[str, np.ndarray]]:
    """Dataset stats from per-episode stats (LeRobot's parallel-variance aggregation)."""
    keys = sorted({k for s in per_episode for k in s})
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in keys:
        items = [s[key] for s in per_episode if key in s]
        counts = np.stack([np.asarray(s["count"]) for s in items]).astype(np.float64)  # (E, 1)
        means = np.stack([s["mean"] for s in items])
        w = counts.reshape(counts.shape + (1,) * (means.ndim - counts.ndim))
        total = counts.sum(axis=0)
        mean = (means * w).sum(axis=0) / total.reshape(w.shape[1:])
        var = ((np.stack([s["std"] for s in items]) ** 2 + (means - mean) ** 2) * w).sum(axis=0) / total.reshape(
            w.shape[1:]
        )
        agg = {
            "min": np.min(np.stack([s["min"] for s in items]), axis=0),
            "max": np.max(np.stack([s["max"] for s in items]), axis=0),
            "mean": mean,
            "std": np.sqrt(var),
            "count": total.astype(np.int64),
        }
        for q in QUANTILE_KEYS:
            if all(q in s for s in items):
                agg[q] = (np.stack([s[q] for s in items]) * w).sum(axis=0) / total.reshape(w.shape[1:])
        out[key] = agg
    return out


def to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """numpy -> nested lists (meta/stats.json)."""
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


def flatten_for_episodes(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """{'stats/<key>/<stat>': list} columns of the episodes parquet."""
    return {f"stats/{k}/{s}": np.asarray(v).tolist() for k, d in stats.items() for s, v in d.items()}
