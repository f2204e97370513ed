"""Tests of the pure normalization functions against hand-computed values, numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hy_vla.data.normalization import MODES, affine_params, normalize, unnormalize, zero_range_mask

STATS = {
    "mean": [1.0, -2.0, 0.5],
    "std": [2.0, 0.5, 1.0],
    "min": [-1.0, -4.0, 0.0],
    "max": [3.0, 0.0, 10.0],
    "q01": [0.0, -3.0, 1.0],
    "q99": [2.0, -1.0, 9.0],
}


def test_known_values_each_mode() -> None:
    x = np.array([[3.0, -2.0, 0.0], [-1.0, 0.0, 10.0]])  # (2, 3)
    np.testing.assert_allclose(normalize(x, STATS, "mean_std", eps=0.0), [[1.0, 0.0, -0.5], [-1.0, 4.0, 9.5]])
    np.testing.assert_allclose(normalize(x, STATS, "min_max"), [[1.0, 0.0, -1.0], [-1.0, 1.0, 1.0]])
    # quantile: q01 -> -1, q99 -> +1, beyond them not clipped
    np.testing.assert_allclose(normalize(x, STATS, "quantile"), [[2.0, 0.0, -1.25], [-2.0, 2.0, 1.25]])
    assert normalize(x, STATS, "identity") is x


def test_quantile_endpoints_map_to_minus_one_and_one() -> None:
    q = np.array([STATS["q01"], STATS["q99"]])
    np.testing.assert_allclose(normalize(q, STATS, "quantile"), [[-1.0] * 3, [1.0] * 3])


def test_eps_is_added_to_std() -> None:
    y = normalize(np.array([3.0, -2.0, 0.5]), STATS, "mean_std", eps=1.0)
    np.testing.assert_allclose(y, [2.0 / 3.0, 0.0, 0.0])


@pytest.mark.parametrize("mode", MODES)
def test_round_trip_numpy_and_torch(mode: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 3)) * 7.0  # (B, H, D), including values outside every range
    back = unnormalize(normalize(x, STATS, mode), STATS, mode)
    np.testing.assert_allclose(back, x, rtol=0, atol=1e-12)
    t = torch.from_numpy(x).float()
    y = normalize(t, STATS, mode)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.shape == t.shape
    torch.testing.assert_close(unnormalize(y, STATS, mode), t, rtol=1e-5, atol=1e-5)
    # same numbers from both backends
    np.testing.assert_allclose(y.numpy(), normalize(x, STATS, mode), rtol=1e-5, atol=1e-5)


def test_dtype_preserved_and_int_promoted() -> None:
    x32 = np.ones((2, 3), dtype=np.float32)
    assert normalize(x32, STATS, "min_max").dtype == np.float32
    assert normalize(np.ones((2, 3), dtype=np.int64), STATS, "min_max").dtype == np.float64
    assert normalize(torch.ones(2, 3, dtype=torch.int64), STATS, "min_max").dtype == torch.get_default_dtype()
    assert normalize(torch.ones(2, 3, dtype=torch.float64), STATS, "mean_std").dtype == torch.float64


@pytest.mark.parametrize("mode", ["mean_std", "min_max", "quantile"])
def test_zero_range_channel_is_centred_not_scaled(mode: str) -> None:
    # channel 1 is constant (a fixed gripper): its spread is exactly 0 in every mode
    stats = {"mean": [0.0, 5.0], "std": [1.0, 0.0], "min": [-1.0, 5.0], "max": [1.0, 5.0],
             "q01": [-1.0, 5.0], "q99": [1.0, 5.0]}  # fmt: skip
    x = np.array([[0.5, 5.0], [0.5, 7.0]])
    y = normalize(x, stats, mode)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y[:, 1], [0.0, 2.0])  # shifted by the centre, unit scale
    np.testing.assert_allclose(unnormalize(y, stats, mode), x)
    np.testing.assert_array_equal(zero_range_mask(stats, mode), [False, True])
    yt = normalize(torch.tensor(x), stats, mode)
    assert torch.isfinite(yt).all()


def test_passthrough_mask_leaves_channels_untouched() -> None:
    x = np.array([[3.0, -2.0, 4.0]])
    y = normalize(x, STATS, "mean_std", passthrough=[False, True, True], eps=0.0)
    np.testing.assert_allclose(y, [[1.0, -2.0, 4.0]])
    np.testing.assert_allclose(unnormalize(y, STATS, "mean_std", passthrough=[False, True, True], eps=0.0), x)
    yt = normalize(torch.tensor(x), STATS, "mean_std", passthrough=torch.tensor([False, True, True]), eps=0.0)
    torch.testing.assert_close(yt, torch.tensor(y))


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown normalization mode 'zscore'"):
        normalize(np.zeros(3), STATS, "zscore")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        normalize(np.zeros((2, 4)), STATS, "min_max")
    with pytest.raises(ValueError, match="field 'q99'"):
        normalize(np.zeros(3), {"q01": [0.0, 0.0, 0.0]}, "quantile")
    with pytest.raises(ValueError, match="passthrough mask has width 2"):
        affine_params(STATS, "min_max", passthrough=[True, False])
