"""One-pass, bounded-memory statistics of a stream of (N, D) batches, mergeable across workers.

Moments: count, mean and the sum of squared deviations M2 are combined batch by batch with
the parallel formula of Chan, Golub & LeVeque (1979) -- Welford's update generalized to a
whole batch -- in float64, which stays stable where the textbook sum(x^2)/n - mean^2
cancels catastrophically (large offsets, small spread). `std` is the population standard
deviation sqrt(M2 / n), as np.std with ddof=0.

Quantiles (q01, q99): a bottom-k reservoir. Every row gets a key from a seeded
U(0, 1) stream and the k rows with the smallest keys are kept, which is a uniform random
sample of k rows without replacement from everything seen. Quantiles are then computed on
the sample with np.quantile (linear interpolation). Why this and not a histogram: its error
is in rank, independent of the data's scale, so a single outlier (a sensor glitch at 1e6)
cannot wreck the resolution of q01/q99 as it would for bins that grow to cover it.

Error bound: the sample p-quantile's rank has standard deviation about
sqrt(p (1 - p) / k * (1 - k / n)); for p = 0.01 and the default k = 20_000 that is 0.0007,
so the reported q01 sits between the true 0.008 and 0.012 quantiles with ~99.5% probability.
While n <= k the sample is all the data and the quantiles are exact.

Memory: at most 2k rows of D float64 values (the reservoir compacts back to k when it fills),
independent of n. Merging is exact: the bottom-k of the union of two bottom-k samples is the
bottom-k of the union of the streams. Give each worker its own seed (e.g. seed + worker_id)
so their keys are independent. Given the same input order and seed the result is identical.
"""

from __future__ import annotations

import numpy as np

from hy_vla.data.norm_stats import MAX_ABS, FeatureStats

DEFAULT_RESERVOIR_SIZE = 20_000
QUANTILES = (0.01, 0.99)


def chan_merge(
    n_a: int, mean_a: np.ndarray, m2_a: np.ndarray, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray]:
    """Combine (count, mean (D,), M2 (D,)) of two disjoint sets into those of their union."""
    n = n_a + n_b
    if n_a == 0:
        return n_b, mean_b.copy(), m2_b.copy()
    if n_b == 0:
        return n_a, mean_a.copy(), m2_a.copy()
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + delta * delta * (n_a * n_b / n)
    return n, mean, m2


class RunningStats:
    """Streaming count, mean, std, min, max and approximate q01/q99 per channel of width-`dim` rows."""

    def __init__(self, dim: int, *, reservoir_size: int = DEFAULT_RESERVOIR_SIZE, seed: int = 0) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if reservoir_size < 1:
            raise ValueError(f"reservoir_size must be >= 1, got {reservoir_size}")
        self.dim = dim
        self.reservoir_size = reservoir_size
        self.count = 0
        self._mean = np.zeros(dim)
        self._m2 = np.zeros(dim)
        self._min = np.full(dim, np.inf)
        self._max = np.full(dim, -np.inf)
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0)  # (m,) sampling keys of the rows kept, m <= 2k
        self._rows = np.empty((0, dim))  # (m, D)
        self._threshold = np.inf  # k-th smallest key after the last compaction; larger keys can never enter

    def update(self, x: np.ndarray) -> RunningStats:
        """Add a batch of rows (N, D) (a single row (D,) is accepted). Returns self."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected rows of shape (N, {self.dim}), got {x.shape}")
        if x.shape[0] == 0:
            return self
        bad = np.flatnonzero(~np.isfinite(x).all(axis=0))
        if bad.size:
            raise ValueError(f"input has NaN/inf in channels {bad.tolist()}")
        huge = np.flatnonzero((np.abs(x) > MAX_ABS).any(axis=0))
        if huge.size:
            worst = float(np.abs(x[:, huge]).max())
            raise ValueError(
                f"input has values beyond +-{MAX_ABS:g} in channels {huge.tolist()} (largest magnitude {worst:g}): "
                "no robot quantity is that large, and its square overflows float32 in training; a corrupted recording?"
            )
        n_b = x.shape[0]
        mean_b = x.mean(axis=0)  # (D,)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)  # (D,)
        self.count, self._mean, self._m2 = chan_merge(self.count, self._mean, self._m2, n_b, mean_b, m2_b)
        np.minimum(self._min, x.min(axis=0), out=self._min)
        np.maximum(self._max, x.max(axis=0), out=self._max)

        keys = self._rng.random(n_b)  # (N,) drawn for every row, so the stream is the same however rows are batched
        take = keys < self._threshold  # most rows are rejected here once the reservoir is full
        self._add_to_reservoir(keys[take], x[take])
        return self

    def _add_to_reservoir(self, keys: np.ndarray, rows: np.ndarray) -> None:
        self._keys = np.concatenate([self._keys, keys])
        self._rows = np.concatenate([self._rows, rows])
        if self._keys.shape[0] > 2 * self.reservoir_size:
            self._compact()

    def _compact(self) -> None:
        """Keep the k rows with the smallest keys (sorted, so the result does not depend on partition order)."""
        k = self.reservoir_size
        if self._keys.shape[0] <= k:
            return
        order = np.argsort(self._keys, kind="stable")[:k]
        self._keys, self._rows = self._keys[order], self._rows[order]
        self._threshold = float(self._keys[-1])

    def merge(self, other: RunningStats) -> RunningStats:
        """Fold in the stats of a disjoint stream (e.g. another worker's). Returns self; `other` is unchanged."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge stats of width {other.dim} into stats of width {self.dim}")
        self.count, self._mean, self._m2 = chan_merge(
            self.count, self._mean, self._m2, other.count, other._mean, other._m2
        )
        np.minimum(self._min, other._min, out=self._min)
        np.maximum(self._max, other._max, out=self._max)
        self._threshold = min(self._threshold, other._threshold)
        self._add_to_reservoir(other._keys, other._rows)
        self._compact()
        return self

    @property
    def mean(self) -> np.ndarray:
        return self._mean.copy()

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (ddof=0)."""
        return np.sqrt(np.maximum(self._m2, 0.0) / max(self.count, 1))

    def quantiles(self, qs: tuple[float, ...] = QUANTILES) -> np.ndarray:
        """Estimated quantiles (len(qs), D) from the reservoir (exact while count <= reservoir_size)."""
        if self.count == 0:
            raise ValueError("no rows seen yet")
        self._compact()
        return np.quantile(self._rows, qs, axis=0)

    def finalize(self, mode: str = "mean_std") -> FeatureStats:
        """All statistics as a validated `FeatureStats` that normalizes with `mode`."""
        if self.count == 0:
            raise ValueError("no rows seen: cannot compute statistics of an empty stream")
        q01, q99 = self.quantiles(QUANTILES)
        # Clamp the interpolated quantiles into [min, max] against rounding, so validation's ordering checks hold.
        q01 = np.clip(q01, self._min, self._max)
        q99 = np.clip(q99, q01, self._max)
        return FeatureStats(
            mode=mode,
            count=int(self.count),
            mean=self._mean.copy(),
            std=self.std,
            min=self._min.copy(),
            max=self._max.copy(),
            q01=q01,
            q99=q99,
        )
