"""LeRobot per-episode image statistics: the histogram path for uint8 frames gives the float path's numbers."""

import numpy as np
import pytest

from hy_vla.data.lerobot.stats import QUANTILE_KEYS, _stats, _uint8_stats, image_sample_indices, image_stats


def _reference(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Every sampled pixel as float64 in [0, 1], stats by numpy (what image_stats computed before histograms)."""
    idx = image_sample_indices(len(frames))
    return _stats(frames[idx].reshape(-1, 3).astype(np.float64) / 255.0, len(idx))


@pytest.mark.parametrize("n_frames", [1, 2, 37, 250])
def test_uint8_image_stats_equal_the_float_reference(n_frames):
    rng = np.random.default_rng(n_frames)
    frames = rng.integers(0, 256, (n_frames, 12, 10, 3), dtype=np.uint8)
    frames[..., 0] = frames[..., 0] // 9 * 4  # a skewed channel with gaps between its values
    frames[..., 2] = np.where(rng.random(frames.shape[:3]) < 0.9, 255, frames[..., 2])  # mostly saturated
    got, ref = image_stats(frames), _reference(frames)
    assert set(got) == set(ref)
    for key in ("min", "max", *QUANTILE_KEYS):  # order statistics are exact
        np.testing.assert_array_equal(got[key].reshape(-1), ref[key], err_msg=key)
    for key in ("mean", "std"):
        np.testing.assert_allclose(got[key].reshape(-1), ref[key], rtol=1e-12, atol=1e-15, err_msg=key)
    assert got["count"].tolist() == [len(image_sample_indices(n_frames))]
    assert all(got[k].shape == (3, 1, 1) for k in got if k != "count")


def test_constant_frames():
    frames = np.full((5, 4, 4, 3), 17, dtype=np.uint8)
    got = image_stats(frames)
    for key in ("min", "max", "mean", *QUANTILE_KEYS):
        np.testing.assert_allclose(got[key].reshape(-1), 17 / 255.0, rtol=1e-15)
    np.testing.assert_allclose(got["std"].reshape(-1), 0.0, atol=1e-15)


def test_uint8_quantiles_bit_identical_to_numpy_for_every_length():
    # np.quantile interpolates from the nearer neighbour; the histogram path must round the same way at every
    # fractional position, so sweep the sample count.
    rng = np.random.default_rng(7)
    for n in [*range(1, 200), 4097]:
        x = rng.integers(0, 256, (n, 3), dtype=np.uint8)
        got, ref = _uint8_stats(x, n), _stats(x.astype(np.float64) / 255.0, n)
        for key in ("min", "max", *QUANTILE_KEYS):
            np.testing.assert_array_equal(got[key], ref[key], err_msg=f"{key} at n={n}")
