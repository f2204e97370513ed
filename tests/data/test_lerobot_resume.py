"""Resumable LeRobot v3 writing: a writer killed after a checkpoint resumes there and finalizes the same dataset."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from data.data_fixtures import FEATURES, episode_columns, make_lerobot, smooth_frames

from hy_vla.data.lerobot import resume
from hy_vla.data.lerobot.reader import LeRobotV3Dataset
from hy_vla.data.lerobot.writer import LeRobotV3Writer

LENGTHS = (12, 7, 16, 9, 5)
TASKS = ("reach the goal", "push the puck", "reach the goal")


def _episode(ep: int) -> dict[str, np.ndarray]:
    cols = episode_columns(ep, LENGTHS[ep])
    cols["observation.images.front"] = smooth_frames(LENGTHS[ep], 64, 64, ep)
    cols["observation.images.wrist"] = smooth_frames(LENGTHS[ep], 32, 48, ep + 10)
    return cols


def _create(root: Path) -> LeRobotV3Writer:
    return LeRobotV3Writer.create(
        root, fps=10, features=FEATURES, robot_type="toy", embodiment="toy_arm", resumable=True, note={"run": 1}
    )


def _kill(writer: LeRobotV3Writer) -> None:
    """What SIGKILL leaves: open files as they are; the kernel drops the process's lock."""
    os.close(writer._lock)


def test_killed_writer_resumes_at_its_last_checkpoint(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    w = _create(root)
    for ep in range(2):
        w.add_episode(_episode(ep), TASKS[ep % 3])
        w.checkpoint({"done": ep + 1})
    w.add_episode(_episode(2), TASKS[2])  # after the last checkpoint: lost with the kill
    _kill(w)
    assert not root.exists() and resume.resume_dir(root).is_dir()
    with open(resume.resume_dir(root) / resume.JOURNAL, "a") as f:
        f.write('{"episodes": [{"episode_in')  # a line torn by the kill

    w, note, progress = LeRobotV3Writer.resume(root)
    assert note == {"run": 1} and progress == [{"done": 1}, {"done": 2}] and w.num_episodes == 2
    for ep in range(2, len(LENGTHS)):
        w.add_episode(_episode(ep), TASKS[ep % 3])
        if ep == 3:
            w.checkpoint({"done": 4})
    w.finalize()
    assert not resume.resume_dir(root).exists()
    assert not (root / resume.JOURNAL).exists() and not (root / resume.LOCK).exists()

    # The same episodes written in one go: identical metadata, stats and low-dim data.
    ref = make_lerobot(tmp_path / "ref", LENGTHS)
    for name in ("meta/stats.json", "norm_stats.json"):
        assert json.loads((root / name).read_text()) == json.loads((ref / name).read_text()), name
    a, b = LeRobotV3Dataset(root), LeRobotV3Dataset(ref)
    assert a.num_episodes == b.num_episodes == len(LENGTHS) and a.num_frames == b.num_frames
    assert a.tasks == b.tasks
    for ep in range(len(LENGTHS)):
        assert a.episode(ep) == b.episode(ep)
        for key in ("observation.state", "action"):
            np.testing.assert_array_equal(a.column(key, ep), b.column(key, ep))
        frames = a.images("observation.images.wrist", ep, [0, LENGTHS[ep] - 1]).astype(float)
        truth = _episode(ep)["observation.images.wrist"][[0, -1]].astype(float)
        assert np.abs(frames - truth).mean() < 6  # decoded from its own file: the right episode's frames
    # one data file per checkpoint segment (episodes 0 | 1 | 2-3 | 4), the orphan of the killed segment is gone
    assert len(list((root / "data").rglob("*.parquet"))) == 4


def test_checkpoint_with_nothing_new_and_resume_with_no_episodes(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    w = _create(root)
    w.checkpoint({"done": 0})
    w.add_episode(_episode(0), TASKS[0])  # never checkpointed
    _kill(w)
    w, _, progress = LeRobotV3Writer.resume(root)
    assert progress == [{"done": 0}] and w.num_episodes == 0
    assert not list(resume.resume_dir(root).rglob("*.mp4"))  # the unjournaled episode's files are deleted
    w.add_episode(_episode(0), TASKS[0])
    w.finalize()
    assert LeRobotV3Dataset(root).num_episodes == 1


def test_one_writer_at_a_time_and_clear_errors(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    w = _create(root)
    with pytest.raises(RuntimeError, match="another process is writing"):
        LeRobotV3Writer.resume(root)
    with pytest.raises(FileExistsError, match="an interrupted dataset is there"):
        _create(root)
    w.suspend()  # an interruption handled in-process: files released, the folder kept
    w, _, _ = LeRobotV3Writer.resume(root)
    w.abort()
    assert not resume.resume_dir(root).exists()
    with pytest.raises(FileNotFoundError, match="no interrupted dataset"):
        LeRobotV3Writer.resume(root)
    plain = LeRobotV3Writer.create(tmp_path / "plain", fps=10, features={"action": FEATURES["action"]})
    with pytest.raises(RuntimeError, match="resumable=True"):
        plain.checkpoint()


def test_an_episode_that_failed_half_way_cannot_be_checkpointed(tmp_path: Path) -> None:
    w = _create(tmp_path / "ds")
    bad = _episode(0)
    bad["observation.images.front"] = bad["observation.images.front"][:, :, :, :2]  # checked before writing
    with pytest.raises(ValueError):
        w.add_episode(bad, TASKS[0])
    w.checkpoint()  # a rejected episode wrote nothing: still fine

    class Boom(Exception):
        pass

    def explode(*args: object) -> None:
        raise Boom

    w._write_video = explode  # fails after the frames went into the data file
    with pytest.raises(Boom):
        w.add_episode(_episode(0), TASKS[0])
    with pytest.raises(RuntimeError, match="failed half-way"):
        w.checkpoint()
