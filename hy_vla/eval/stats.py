"""Success-rate statistics: the Wilson score interval.

The Wilson interval (Wilson 1927) keeps its coverage near the nominal level for
the small episode counts and the 0% / 100% rates that robot evaluations produce,
where the normal ("Wald") interval collapses to a zero-width interval.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95% standard-normal quantile


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; ``(0.0, 1.0)`` when ``n == 0``.

    center = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    # At p = 0 (p = 1) the lower (upper) bound is exactly 0 (1); float round-off would miss it by 1e-16.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


def success_summary(successes: list[bool], lengths: list[int]) -> dict[str, object]:
    """Per-task summary: success rate, 95% Wilson interval, mean episode length."""
    n = len(successes)
    k = int(sum(bool(s) for s in successes))
    low, high = wilson_interval(k, n)
    return {
        "n": n,
        "successes": k,
        "success_rate": k / n if n else 0.0,
        "ci95": [low, high],
        "mean_length": sum(lengths) / len(lengths) if lengths else 0.0,
    }
