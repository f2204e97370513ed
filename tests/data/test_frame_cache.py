import numpy as np
import pytest
import torch
from data.data_fixtures import make_lerobot

from hy_vla.data.frame_cache import FrameCache
from hy_vla.data.lerobot.reader import LeRobotV3Dataset
from hy_vla.data.samples import SampleBuilder, SampleConfig


def test_cached_samples_equal_decoded_samples(tmp_path):
    ds = LeRobotV3Dataset(make_lerobot(tmp_path / "ds"))
    cfg = SampleConfig(cameras=("front", "wrist"), history_frames=2, horizon=3, image_size=(16, 16))
    cache = FrameCache(ds, cfg.cameras, cfg.image_size, progress=False)
    assert cache.num_episodes == ds.num_episodes and cache.camera_keys == cfg.cameras
    assert cache.nbytes == ds.num_frames * 2 * 16 * 16 * 3
    direct, cached = SampleBuilder(ds, cfg), SampleBuilder(cache, cfg)
    for i in (0, 5, len(direct) - 1):
        a, b = direct[i], cached[i]
        for key in cfg.cameras:
            assert torch.equal(a[key], b[key]), (i, key)
        assert torch.equal(a["action"], b["action"]) and a["task"] == b["task"]


def test_cache_refuses_what_does_not_fit_and_unknown_cameras(tmp_path):
    ds = LeRobotV3Dataset(make_lerobot(tmp_path / "ds"))
    with pytest.raises(ValueError, match="GiB"):
        FrameCache(ds, ("observation.images.front",), (64, 64), max_bytes=1000, progress=False)
    with pytest.raises(ValueError, match="not in the source"):
        FrameCache(ds, ("observation.images.top",), (64, 64), progress=False)
    cache = FrameCache(ds, ("observation.images.front",), None, progress=False)
    assert cache.images("observation.images.front", 1, [0, 2]).shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(
        cache.images("observation.images.front", 0, [3]), ds.images("observation.images.front", 0, [3])
    )
