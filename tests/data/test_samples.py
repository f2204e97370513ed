"""Sample builder: history padding, action chunk padding and stride, representation, normalization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data.data_fixtures import LENGTHS, make_hdf5, make_lerobot

from hy_vla import keys
from hy_vla.data.lerobot.reader import LeRobotV3Dataset
from hy_vla.data.norm_stats import FeatureStats, NormStats, compute_norm_stats
from hy_vla.data.samples import SampleBuilder, SampleConfig, history_indices


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> LeRobotV3Dataset:
    return LeRobotV3Dataset(make_lerobot(tmp_path_factory.mktemp("s") / "ds"))


def test_history_indices() -> None:
    idx, pad = history_indices(t=3, history=3, stride=2)
    assert idx.tolist() == [0, 1, 3] and pad.tolist() == [True, False, False]


def test_sample_contents(source: LeRobotV3Dataset) -> None:
    cfg = SampleConfig(cameras=("front", "wrist"), history_frames=3, frame_stride=2, horizon=4, action_stride=3)
    b = SampleBuilder(source, cfg)
    assert len(b) == sum(LENGTHS)
    s = b[LENGTHS[0] + 2]  # episode 1 (length 7), frame 2
    assert (s["episode_index"], s["frame_index"], s[keys.TASK], s[keys.EMBODIMENT]) == (
        1,
        2,
        "push the puck",
        "toy_arm",
    )
    assert s["observation.images.front"].shape == (3, 3, 64, 64) and s["observation.images.front"].dtype == torch.uint8
    assert s["observation.images.wrist"].shape == (3, 3, 32, 48)
    assert s[keys.HISTORY_IS_PAD].tolist() == [True, False, False]  # frames -2 (pad -> 0), 0, 2
    front = source.images("observation.images.front", 1, [0, 0, 2])
    np.testing.assert_array_equal(s["observation.images.front"].permute(0, 2, 3, 1).numpy(), front)
    assert s[keys.STATE].tolist() == [1, 2, 0.04, 1] or torch.allclose(s[keys.STATE], torch.tensor([1, 2, 0.04, 1]))
    # actions at t = 2, 5, 8->6 (pad), 11->6 (pad); action[t] = [t, -1]
    assert s[keys.ACTION][:, 0].tolist() == [2, 5, 6, 6]
    assert s[keys.ACTION_IS_PAD].tolist() == [False, False, True, True]


def test_image_resize_and_normalization(source: LeRobotV3Dataset) -> None:
    ns = NormStats(
        {
            "toy_arm": {
                "observation.state": FeatureStats(mode="mean_std", mean=[0, 0, 0, 0], std=[1, 2, 1, 1]),
                "action": FeatureStats(mode="mean_std", mean=[1, 0], std=[2, 1]),
            }
        }
    )
    cfg = SampleConfig(cameras=("front",), horizon=2, image_size=(16, 24))
    s = SampleBuilder(source, cfg, norm_stats=ns)[5]  # episode 0, t = 5
    assert s["observation.images.front"].shape == (1, 3, 16, 24)
    assert s[keys.STATE][1].item() == pytest.approx(2.5, rel=1e-4)
    assert s[keys.ACTION][:, 0].tolist() == pytest.approx([2.0, 2.5], rel=1e-4)


def test_delta_representation_changes_actions(source: LeRobotV3Dataset, tmp_path: Path) -> None:
    # A 3-D position + quaternion + gripper pose: build one from the HDF5 endpose columns.
    src = __import__("hy_vla.data.hdf5_episodes", fromlist=["HDF5Episodes"]).HDF5Episodes(
        make_hdf5(tmp_path / "data", "robotwin")
    )
    rep = {"kind": "delta_eef", "rotation": "quat", "arms": 2, "gripper_dim": 1}
    absolute = SampleConfig(horizon=3, state_key="observation.endpose", action_key="action.endpose")
    delta = SampleConfig(horizon=3, state_key="observation.endpose", action_key="action.endpose", representation=rep)
    a = SampleBuilder(src, absolute)[2][keys.ACTION]
    d = SampleBuilder(src, delta)[2][keys.ACTION]
    assert a.shape == (3, 16) and d.shape == (3, 2 * (3 + 6 + 1))
    assert d[0, 0].item() == pytest.approx(a[0, 0].item() - 2)  # x moved from 2 to 3 (identity rotation)


def test_per_episode_cache_matches_per_sample_and_encodes_each_episode_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hy_vla.data import samples
    from hy_vla.data.hdf5_episodes import HDF5Episodes

    src = HDF5Episodes(make_hdf5(tmp_path / "data", "robotwin"))
    rep = {"kind": "delta_eef", "rotation": "quat", "arms": 2, "gripper_dim": 1}
    cfg = SampleConfig(
        horizon=4, action_stride=2, state_key="observation.endpose", action_key="action.endpose", representation=rep
    )
    plain = SampleBuilder(src, cfg)
    modes = {"observation.endpose": "mean_std", "action.endpose": "mean_std"}
    stats = compute_norm_stats(plain.iter_norm_batches(), list(modes), modes, plain.embodiment)
    cached = SampleBuilder(src, cfg, norm_stats=stats)
    monkeypatch.setattr(samples, "LOWDIM_CACHE_BYTES", 0)  # too small: every sample built from scratch
    direct = SampleBuilder(src, cfg, norm_stats=stats)
    assert cached._lowdim is not None and direct._lowdim is None
    calls = []
    cls = type(cached.representation)
    encode = cls.encode

    def counted(self: object, *a: object, **k: object) -> torch.Tensor:
        calls.append(self is cached.representation)
        return encode(self, *a, **k)

    monkeypatch.setattr(cls, "encode", counted)
    for i in [*range(len(cached)), 0, 3]:
        a, b = cached[i], direct[i]
        for key in (keys.STATE, keys.ACTION, keys.ACTION_IS_PAD):
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert sum(calls) == src.num_episodes  # one vectorized encode per episode, none per sample


def test_config_validation_and_json() -> None:
    with pytest.raises(ValueError, match="horizon"):
        SampleConfig(horizon=0)
    with pytest.raises(ValueError, match="kind"):
        SampleConfig(representation={"kind": "nope"})
    cfg = SampleConfig(cameras=("top",), image_size=(8, 8))
    assert cfg.cameras == ("observation.images.top",)
    assert SampleConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_camera(source: LeRobotV3Dataset) -> None:
    with pytest.raises(ValueError, match="side"):
        SampleBuilder(source, SampleConfig(cameras=("side",)))


def test_extra_columns_are_delivered_normalized(tmp_path: Path) -> None:
    from data.data_fixtures import FEATURES, episode_columns, smooth_frames

    from hy_vla.data.lerobot.writer import LeRobotV3Writer

    col = "observation.environment_state"
    features = {**FEATURES, col: {"dtype": "float32", "shape": [2], "names": ["goal_x", "goal_y"]}}
    w = LeRobotV3Writer.create(tmp_path / "ds", fps=10, features=features, robot_type="toy", embodiment="toy_arm")
    for ep, n in enumerate((5, 4)):
        cols = episode_columns(ep, n)
        cols["observation.images.front"] = smooth_frames(n, 64, 64, ep)
        cols["observation.images.wrist"] = smooth_frames(n, 32, 48, ep)
        cols[col] = np.stack([np.full(n, 10.0 * ep), np.arange(n, dtype=np.float32)], -1)
        w.add_episode(cols, "reach the goal")
    src = LeRobotV3Dataset(w.finalize())
    key = keys.EXTRA_PREFIX + "goal"
    cfg = SampleConfig(cameras=("front",), horizon=2, extra_columns={"goal": (col, "current")})
    plain = SampleBuilder(src, cfg)
    assert plain.lowdim_keys == ["observation.state", "action", col]
    assert plain[5 + 3][key].tolist() == [10.0, 3.0]  # episode 1, frame 3
    batches = list(plain.iter_norm_batches())
    assert batches[1][col].shape == (4, 2)
    ns = NormStats(
        {
            "toy_arm": {
                "observation.state": FeatureStats(mode="mean_std", mean=[0, 0, 0, 0], std=[1, 1, 1, 1]),
                "action": FeatureStats(mode="mean_std", mean=[0, 0], std=[1, 1]),
                col: FeatureStats(mode="mean_std", mean=[5, 0], std=[5, 2]),
            }
        }
    )
    assert SampleBuilder(src, cfg, norm_stats=ns)[5 + 3][key].tolist() == pytest.approx([1.0, 1.5])
    assert key not in SampleBuilder(src, SampleConfig(cameras=("front",), horizon=2))[0]
    # "first": the column at the episode's first frame; first_frame_images: that frame's images
    first_cfg = SampleConfig(cameras=("front",), horizon=2, extra_columns={"goal": (col, "first")},
                             first_frame_images=True, image_size=(16, 16))  # fmt: skip
    assert SampleConfig.from_dict(first_cfg.to_dict()) == first_cfg  # round-trips through train_config.json
    first = SampleBuilder(src, first_cfg)[5 + 3]
    assert first[key].tolist() == [10.0, 0.0]
    probe = first[keys.FIRST_FRAME_PREFIX + "observation.images.front"]
    assert probe.shape == (3, 16, 16) and probe.dtype == torch.uint8
    frame0 = SampleBuilder(src, SampleConfig(cameras=("front",), horizon=2, image_size=(16, 16)))[5]
    assert torch.equal(probe, frame0["observation.images.front"][0])
    assert not torch.equal(probe, first["observation.images.front"][0])  # not the sample's own frame 3
    with pytest.raises(ValueError, match="frame must be one of"):
        SampleConfig(cameras=("front",), extra_columns={"goal": (col, "last")})


def test_older_env_state_settings_load_as_extra_columns() -> None:
    old = {"cameras": ["front"], "env_state_key": "observation.environment_state", "env_state_frame": "first",
           "env_pixels_key": None}  # fmt: skip
    cfg = SampleConfig.from_dict(old)
    assert cfg.extra_columns == {"env_state": ("observation.environment_state", "first")} and cfg.first_frame_images
    with pytest.raises(ValueError, match="removed"):
        SampleConfig.from_dict({**old, "env_state_frame": "both"})


def test_missing_extra_column_fails_early(source: LeRobotV3Dataset) -> None:
    with pytest.raises(ValueError, match="not a column of the dataset"):
        SampleBuilder(source, SampleConfig(cameras=("front",), extra_columns={"x": ("observation.nothing", "first")}))
