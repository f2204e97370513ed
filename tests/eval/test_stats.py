"""Wilson score interval against hand-computed values."""

from __future__ import annotations

import pytest

from hy_vla.eval.stats import success_summary, wilson_interval

# z = 1.959964, z^2 = 3.841459. For n = 10: denominator 1 + z^2/10 = 1.3841459.
#  0/10: center = (z^2/20) / 1.3841459 = 0.138767, half = z/1.3841459 * sqrt(z^2/400) = 0.138767
#  5/10: center = 0.5, half = 1.416013 * sqrt(0.025 + 0.0096037) = 0.263407
# 10/10: mirror image of 0/10.
KNOWN = [
    (0, 10, 0.0, 0.277533),
    (10, 10, 0.722467, 1.0),
    (5, 10, 0.236593, 0.763407),
    # 1/1: denominator 4.841459, center 2.920730 / 4.841459 = 0.603275, half 0.404830 * 0.979982 = 0.396726
    (1, 1, 0.206549, 1.0),
    # 45/50: denominator 1.076829, center 0.938415 / 1.076829 = 0.871461, half 1.820128 * 0.046735 = 0.085063
    (45, 50, 0.786398, 0.956524),
]


@pytest.mark.parametrize("k,n,low,high", KNOWN)
def test_known_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=2e-6)
    assert hi == pytest.approx(high, abs=2e-6)


def test_symmetry_and_bounds():
    for n in (1, 3, 10, 50):
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
            mlo, mhi = wilson_interval(n - k, n)
            assert lo == pytest.approx(1 - mhi, abs=1e-12) and hi == pytest.approx(1 - mlo, abs=1e-12)


def test_edge_cases():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(-1, 2)


def test_summary():
    s = success_summary([True, False, True, True], [10, 500, 20, 30])
    assert s["n"] == 4 and s["successes"] == 3 and s["success_rate"] == 0.75
    assert s["mean_length"] == 140.0
    assert s["ci95"] == list(wilson_interval(3, 4))
