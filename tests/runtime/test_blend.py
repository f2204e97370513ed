"""Stitching curves and real-time-chunking weights: known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hy_vla.runtime.blend import (
    bezier_ramp,
    crossfade,
    cubic_bezier,
    latency_steps,
    linear_ramp,
    rtc_prefix_weights,
    stitch,
)


def test_latency_steps():
    assert latency_steps(0.1, 0.0125) == 8  # 100 ms at 80 Hz
    assert latency_steps(0.101, 0.0125) == 9
    assert latency_steps(0.3, 0.1) == 3  # exact multiple despite float error
    assert latency_steps(0.0, 0.02) == 0
    with pytest.raises(ValueError):
        latency_steps(0.1, 0.0)
    with pytest.raises(ValueError):
        latency_steps(-1.0, 0.1)


def test_ramps_known_values():
    np.testing.assert_allclose(linear_ramp(3), [0.25, 0.5, 0.75])
    np.testing.assert_allclose(cubic_bezier(np.array([0.0, 0.25, 0.5, 1.0])), [0.0, 0.15625, 0.5, 1.0])
    np.testing.assert_allclose(cubic_bezier(np.array([0.5]), p1=1.0, p2=1.0), [0.875])  # 3/8 + 3/8 + 1/8
    np.testing.assert_allclose(bezier_ramp(1), [0.5])
    eps = 1e-4  # flat ends: zero slope, so the blend joins both chunks tangentially
    assert cubic_bezier(np.array([eps]))[0] / eps < 1e-3 and (1 - cubic_bezier(np.array([1 - eps]))[0]) / eps < 1e-3
    assert len(linear_ramp(0)) == 0


def test_crossfade_and_stitch():
    old, new = np.zeros((3, 2), np.float32), np.ones((5, 2), np.float32)
    np.testing.assert_allclose(crossfade(old, new, np.array([0.25, 0.5]))[:, 0], [0.25, 0.5, 1, 1, 1])
    np.testing.assert_allclose(stitch(old, new, "linear")[:, 0], [0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_allclose(stitch(old, new, "bezier")[:, 0], [0.15625, 0.5, 0.84375, 1, 1])
    for mode in ("none", "rtc"):
        np.testing.assert_array_equal(stitch(old, new, mode), new)
    np.testing.assert_array_equal(stitch(old[:0], new, "bezier"), new)  # nothing left to blend with
    with pytest.raises(ValueError, match="unknown stitch mode"):
        stitch(old, new, "cubic")


def test_rtc_prefix_weights():
    w = rtc_prefix_weights(6, 2)
    assert w[:2].tolist() == [1.0, 1.0]  # committed: exactly 1
    c = 4 / 5  # (length - i) / (length - committed + 1) at i = 2
    assert w[2] == pytest.approx(c * math.expm1(c) / (math.e - 1), rel=1e-6)
    assert np.all(np.diff(w[1:]) < 0) and w[-1] > 0  # decays toward 0 over the overlap
    np.testing.assert_allclose(rtc_prefix_weights(5, 1, "linear"), [1.0, 0.8, 0.6, 0.4, 0.2])
    assert rtc_prefix_weights(3, 3).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        rtc_prefix_weights(3, 4)
