"""`hy-vla dataset info|visualize` and `hy-vla compute-norm` (modules driven like main.py does)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from data.data_fixtures import LENGTHS, make_hdf5, make_lerobot

from hy_vla.cli import compute_norm, dataset
from hy_vla.data.norm_stats import NormStats
from hy_vla.data.video import read_all_frames


def _run(module, argv: list[str]) -> int:  # noqa: ANN001
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lerobot(tmp_path_factory.mktemp("cli") / "ds")


def test_info(ds: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(dataset, ["info", str(ds)]) == 0
    out = capsys.readouterr().out
    assert f"frames:      {sum(LENGTHS)}" in out and "episodes:    3" in out
    assert "observation.images.wrist" in out and "(32, 48, 3)" in out
    assert "toy_arm" in out and "push the puck" in out and "fps:         10" in out


def test_info_hdf5(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(dataset, ["info", str(make_hdf5(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "episodes:    2" in out and "observation.images.cam_high" in out and "(14,)" in out


def test_visualize(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "viz" / "ep1.mp4"
    assert _run(dataset, ["visualize", str(ds), "--episode", "1", "--out", str(out)]) == 0
    frames = read_all_frames(out)
    assert frames.shape == (LENGTHS[1], 64, 64 + 48, 3)
    assert _run(dataset, ["visualize", str(ds), "--episode", "9", "--out", str(out)]) == 2


def test_compute_norm_absolute_and_delta(ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(compute_norm, ["--dataset", str(ds), "--mode", "action=quantile,observation.state=mean_std"]) == 0
    assert "action" in capsys.readouterr().out
    stats = NormStats.load(ds / "norm_stats.json")
    act = stats.get("action", "toy_arm")
    assert act.mode == "quantile" and act.max[0] == pytest.approx(max(LENGTHS) - 1, abs=0.5)
    # state column 1 is the frame index: its mean over all frames is known exactly
    mean_t = np.mean(np.concatenate([np.arange(n) for n in LENGTHS]))
    assert stats.get("observation.state", "toy_arm").mean[1] == pytest.approx(mean_t)

    h5 = make_hdf5(tmp_path / "h5", "robotwin")
    rep = json.dumps({"kind": "delta_eef", "rotation": "quat", "arms": 2, "gripper_dim": 1})
    argv = ["--dataset", str(h5), "--state-key", "observation.endpose", "--action-key", "action.endpose"]
    assert (
        _run(compute_norm, [*argv, "--horizon", "2", "--representation", rep, "--out", str(tmp_path / "d.json")]) == 0
    )
    delta = NormStats.load(tmp_path / "d.json").get("action.endpose", "default")
    assert delta.mean.shape == (20,)  # 2 arms x (xyz + rot6d + gripper): stats of the delta, not the pose
    assert 0 < delta.mean[0] < 3  # x advances 1 per frame: deltas of 1-2 steps ahead, never the absolute x
    with pytest.raises(ValueError, match="--mode"):
        _run(compute_norm, ["--dataset", str(ds), "--mode", "action"])


def test_info_check_finds_a_corrupt_video_in_the_middle_of_a_file(ds: Path, tmp_path: Path, capsys) -> None:
    """Regression: a corrupt mp4 in the middle of a file passed `hy-vla dataset info`."""
    import shutil

    from hy_vla.cli.main import main

    assert _run(dataset, ["info", str(ds), "--check"]) == 0
    assert f"check: {sum(LENGTHS)} frames x 2 cameras decoded" in capsys.readouterr().out
    bad = tmp_path / "bad"
    shutil.copytree(ds, bad)
    video = sorted((bad / "videos").rglob("*.mp4"))[0]
    data = bytearray(video.read_bytes())
    mid = int(len(data) * 0.35)
    data[mid : mid + 200] = bytes(200)  # a run of zeros in the middle of the stream: its end still decodes
    video.write_bytes(bytes(data))
    assert main(["dataset", "info", str(bad)]) == 0  # the plain summary reads only metadata
    capsys.readouterr()
    assert main(["dataset", "info", str(bad), "--check"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress lines: one error line
    assert last.startswith("hy-vla dataset: error: episode") and "observation.images" in last, last
