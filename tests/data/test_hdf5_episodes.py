"""HDF5 episodes in the ALOHA (raw and JPEG-compressed) and RoboTwin 2.0 layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from data.data_fixtures import make_hdf5, smooth_frames

from hy_vla.data.hdf5_episodes import HDF5Episodes
from hy_vla.data.video import psnr


@pytest.mark.parametrize("compress", [False, True])
def test_aloha(tmp_path: Path, compress: bool) -> None:
    src = HDF5Episodes(make_hdf5(tmp_path, "aloha", compress), fps=50, embodiment="aloha")
    assert (src.num_episodes, src.num_frames, src.layout) == (2, 15, "aloha")
    assert src.camera_keys == ["observation.images.cam_high"]
    assert src.episode(1).task == "task 1" and src.episode(1).start == 9
    state = src.column("observation.state", 1)
    assert state.shape == (6, 14) and state[2, 0] == 102
    np.testing.assert_array_equal(src.column("action", 1), state * 2)
    imgs = src.images("observation.images.cam_high", 0, [4, 1, 4])
    expected = smooth_frames(9, 32, 32, 0)[[4, 1, 4]]
    assert imgs.shape == (3, 32, 32, 3)
    assert psnr(imgs, expected) > (35 if compress else 1e9)


def test_robotwin(tmp_path: Path) -> None:
    data = make_hdf5(tmp_path / "data", "robotwin")
    (tmp_path / "instructions").mkdir()
    (tmp_path / "instructions/episode_0.json").write_text(json.dumps({"seen": ["stack the bowls"], "unseen": []}))
    for p in data.glob("*.hdf5"):  # drop the file attribute so the JSON instruction is used
        import h5py

        with h5py.File(p, "a") as f:
            del f.attrs["instruction"]
    src = HDF5Episodes(tmp_path, task="fallback")
    assert src.layout == "robotwin" and src.num_episodes == 2
    assert src.episode(0).task == "stack the bowls" and src.episode(1).task == "fallback"
    state, action = src.column("observation.state", 0), src.column("action", 0)
    np.testing.assert_array_equal(action[:-1], state[1:])  # action = next joint vector
    np.testing.assert_array_equal(action[-1], state[-1])
    endpose = src.column("observation.endpose", 0)
    assert endpose.shape == (9, 16) and endpose[3, 0] == 3
    assert psnr(src.images("observation.images.cam_high", 0, [2]), smooth_frames(9, 32, 32, 0)[[2]]) > 35


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no .hdf5"):
        HDF5Episodes(tmp_path)
    src = HDF5Episodes(make_hdf5(tmp_path, "aloha"))
    with pytest.raises(IndexError, match=r"out of range \[0, 2\)"):
        src.episode(2)
    with pytest.raises(KeyError, match="not a column"):
        src.column("observation.missing", 0)
    with pytest.raises(IndexError, match="out of range"):
        src.images("observation.images.cam_high", 1, [6])
