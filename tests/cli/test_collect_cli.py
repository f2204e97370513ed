"""`hy-vla collect` argument handling and a one-episode dataset."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("metaworld")

from hy_vla.cli.main import main  # noqa: E402


def run(argv: list[str]) -> int:
    return main(["collect", *argv])  # through the entry point, which turns bad input into exit code 2


def test_unknown_camera_and_task(capsys, tmp_path):
    assert run(["--tasks", "reach-v3", "--cameras", "cornr2", "--out", str(tmp_path / "a")]) == 2
    assert "unknown Meta-World camera" in capsys.readouterr().err
    assert run(["--tasks", "rech-v3", "--out", str(tmp_path / "b")]) == 2
    assert "Did you mean: reach-v3" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_collect_one_episode(tmp_path, capsys):
    pytest.importorskip("hy_vla.data.lerobot.writer", reason="LeRobot v3 writer not available yet")
    out = tmp_path / "ds"
    argv = ["--tasks", "reach-v3", "--episodes", "1", "--cameras", "corner2", "--image-size", "16", "--out", str(out)]
    assert run(argv) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["kept"] == printed["added"] == 1 and printed["shortfall"] == {}
    assert (out / "meta/info.json").exists() and (out / "norm_stats.json").exists()
    assert run(argv) == 0  # the same command again: the dataset is complete, nothing is added
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["added"] == 0
    assert run([*argv[:3], "2", *argv[4:]]) == 2  # another configuration: refuses to overwrite
    err = capsys.readouterr().err
    assert "already exists with another collection (episodes 1 here, 2 asked)" in err
