"""Resumable collection: an interrupted run, rerun with the same command, adds exactly the missing episodes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("metaworld")

import hy_vla.sim.collect as collect_module  # noqa: E402
from hy_vla.data.lerobot.reader import LeRobotV3Dataset  # noqa: E402
from hy_vla.data.lerobot.resume import resume_dir  # noqa: E402
from hy_vla.sim.collect import CollectConfig, collect, config_difference  # noqa: E402

TASKS = ("reach-v3", "button-press-topdown-v3")
RUN_ATTEMPT = collect_module.collect_attempt
EPISODES = 3


def _config(out: Path, **changes: object) -> CollectConfig:
    values = {"suite": "metaworld", "tasks": TASKS, "out": str(out), "episodes": EPISODES, "cameras": ("corner2",)}
    values.update(image_size=16, seed=7, max_steps=150)
    return CollectConfig(**{**values, **changes})


class Attempts:
    """Counts expert attempts; raises `stop` instead of running attempt number `stop_at` (0-based)."""

    def __init__(self, stop_at: int | None = None, stop: Callable[[], None] | None = None) -> None:
        self.calls, self.stop_at, self.stop = 0, stop_at, stop

    def __call__(self, job):  # noqa: ANN001, ANN204 - the Job/Episode of hy_vla.sim.collect
        if self.calls == self.stop_at:
            assert self.stop is not None
            self.stop()
        self.calls += 1
        return RUN_ATTEMPT(job)


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def _by_task_and_seed(root: Path) -> dict[tuple[str, int], np.ndarray]:
    """Each episode's state column keyed by (task, seed), checking no (task, seed) appears twice."""
    summary = json.loads((root / "collection.json").read_text())
    ds = LeRobotV3Dataset(root)
    assert ds.num_episodes == len(summary["episodes"])
    keys = [(e["task"], e["seed"]) for e in summary["episodes"]]
    assert len(set(keys)) == len(keys), f"duplicate episodes: {keys}"
    return {key: ds.column("observation.state", i) for i, key in enumerate(keys)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, int]:
    """The uninterrupted run: its episodes and how many attempts it took."""
    root = tmp_path_factory.mktemp("ref") / "ds"
    attempts = Attempts()
    mp = pytest.MonkeyPatch()
    mp.setattr(collect_module, "collect_attempt", attempts)
    try:
        collect(_config(root), progress=False)
    finally:
        mp.undo()
    return _by_task_and_seed(root), attempts.calls


def _check_same_as_reference(root: Path, reference: tuple[dict, int]) -> None:
    episodes, _ = reference
    got = _by_task_and_seed(root)
    assert sorted(got) == sorted(episodes)  # same (task, seed) pairs: none lost, none duplicated
    assert Counter(task for task, _ in got) == {t: EPISODES for t in TASKS}
    for key, state in got.items():
        np.testing.assert_array_equal(state, episodes[key])


def test_ctrl_c_then_rerun_adds_only_the_missing_episodes(tmp_path, monkeypatch, reference):
    root = tmp_path / "ds"
    first = Attempts(stop_at=4, stop=_ctrl_c)  # the 5th attempt: mid-way through the second task
    monkeypatch.setattr(collect_module, "collect_attempt", first)
    with pytest.raises(KeyboardInterrupt):
        collect(_config(root), progress=False, checkpoint_s=3600)  # no timed checkpoint: Ctrl-C saves it all
    assert not root.exists() and resume_dir(root).is_dir()

    second = Attempts()
    monkeypatch.setattr(collect_module, "collect_attempt", second)
    summary = collect(_config(root), progress=False)
    assert second.calls == reference[1] - first.calls  # no attempt run twice
    assert summary["kept"] == len(TASKS) * EPISODES and summary["added"] == len(TASKS) * EPISODES - 4
    assert [s["added"] for s in summary["sessions"]] == [4, summary["added"]]
    assert not resume_dir(root).exists()
    _check_same_as_reference(root, reference)

    third = Attempts()
    monkeypatch.setattr(collect_module, "collect_attempt", third)
    again = collect(_config(root), progress=False)  # the same command on the finished dataset: nothing to do
    assert third.calls == 0 and again["added"] == 0 and again["kept"] == summary["kept"]


_KILLED_RUN = """
import json, os, signal, sys
import hy_vla.sim.collect as c
config = c.CollectConfig(**json.loads(sys.argv[1]))
original, calls = c.collect_attempt, [0]
def attempt(job):
    if calls[0] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    calls[0] += 1
    return original(job)
c.collect_attempt = attempt
c.collect(config, progress=False, checkpoint_s=0)
"""


def test_sigkill_then_rerun_adds_only_the_missing_episodes(tmp_path, monkeypatch, reference):
    root = tmp_path / "ds"
    stop_at = 2  # killed while running the 3rd attempt: two are checkpointed
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-c", _KILLED_RUN, json.dumps(_config(root).to_dict()), str(stop_at)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not root.exists() and resume_dir(root).is_dir()

    second = Attempts()
    monkeypatch.setattr(collect_module, "collect_attempt", second)
    summary = collect(_config(root), progress=False)
    assert second.calls == reference[1] - stop_at
    assert summary["added"] == len(TASKS) * EPISODES - stop_at
    _check_same_as_reference(root, reference)


def test_another_configuration_for_the_same_out_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    monkeypatch.setattr(collect_module, "collect_attempt", Attempts(stop_at=1, stop=_ctrl_c))
    with pytest.raises(KeyboardInterrupt):
        collect(_config(root), progress=False)
    monkeypatch.setattr(collect_module, "collect_attempt", Attempts(stop_at=0, stop=_ctrl_c))  # must not run
    with pytest.raises(ValueError, match="episodes 3 here, 4 asked") as err:
        collect(_config(root, episodes=4), progress=False)
    assert "\n" not in str(err.value) and "another configuration" in str(err.value)
    with pytest.raises(ValueError, match=r"tasks \['reach-v3', 'button-press-topdown-v3'\] here, \['reach-v3'\]"):
        collect(_config(root, tasks=("reach-v3",)), progress=False)

    stored = _config(root).to_dict()
    assert config_difference(stored, _config(tmp_path / "elsewhere", workers=4)) == ""  # may change between runs
    # a field collection no longer has: the same collection at its neutral value, another one otherwise
    assert config_difference({**stored, "action_noise": 0.0}, _config(root)) == ""
    assert "action_noise 0.1 here, None asked" in config_difference({**stored, "action_noise": 0.1}, _config(root))
    monkeypatch.setattr(collect_module, "collect_attempt", Attempts())
    collect(_config(root), progress=False)
    with pytest.raises(FileExistsError, match="already exists with another collection .*image_size 16 here, 32"):
        collect(_config(root, image_size=32), progress=False)
