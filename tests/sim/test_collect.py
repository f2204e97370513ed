"""Scripted-expert collection into a LeRobot v3 dataset, read back by our reader; no half-written datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("metaworld")

from hy_vla.sim.collect import COLLECTION_FORMAT_VERSION, CollectConfig, _Scheduler, collect  # noqa: E402
from hy_vla.sim.privileged import ENV_STATE_COLUMN  # noqa: E402


def _reader():
    from hy_vla.data.lerobot.reader import LeRobotV3Dataset

    return LeRobotV3Dataset


def test_collect_two_episodes_reads_back(tmp_path):
    Dataset = _reader()
    root = tmp_path / "ds"
    cfg = CollectConfig(
        suite="metaworld",
        tasks=("reach-v3",),
        out=str(root),
        episodes=2,
        cameras=("corner2", "gripperPOV"),
        image_size=32,
        seed=5,
    )
    summary = collect(cfg, progress=False)
    assert summary["kept"] == 2 and summary["shortfall"] == {}
    assert [e["seed"] for e in summary["episodes"]] == [5, 6]
    ds = Dataset(root)
    assert ds.num_episodes == 2
    assert ds.num_frames == sum(e["length"] for e in summary["episodes"])
    ep = ds.episode(0)
    assert ep.task == "move the gripper to the goal"
    state, action = ds.column("observation.state", 0), ds.column("action", 0)
    assert state.shape == (summary["episodes"][0]["length"], 4) and action.shape == state.shape
    assert np.abs(action).max() <= 1.0 + 1e-6
    imgs = ds.images("observation.images.corner2", 0, [0, 1])
    assert imgs.shape == (2, 32, 32, 3) and imgs.std() > 1.0
    info = json.loads((root / "meta/info.json").read_text())
    assert info["embodiment"] == "metaworld_sawyer" and info["fps"] == 80
    assert "_privileged.obs" not in info["features"]  # the full simulator state never reaches the dataset
    # only the compact object/goal vector does, as LeRobot's environment-state column (an auxiliary target)
    env_state = ds.column("observation.environment_state", 0)
    assert env_state.shape == (state.shape[0], 6)
    assert np.ptp(env_state[:, 3:], axis=0).max() < 1e-6  # reach's goal stays put during an episode
    assert np.linalg.norm(state[-1, :3] - env_state[-1, 3:]) < 0.05  # the expert succeeded: the hand is at it
    stats = json.loads((root / "norm_stats.json").read_text())
    assert set(stats["embodiments"]["metaworld_sawyer"]) == {"observation.state", "action", ENV_STATE_COLUMN}
    summary = json.loads((root / "collection.json").read_text())
    assert summary["attempts"] == 2 and summary["format_version"] == COLLECTION_FORMAT_VERSION


def test_failure_leaves_no_dataset(tmp_path):
    _reader()
    root = tmp_path / "ds"
    # 3 steps are never enough: every attempt fails, nothing is kept, nothing appears at root.
    cfg = CollectConfig(
        suite="metaworld",
        tasks=("push-v3",),
        out=str(root),
        episodes=1,
        cameras=("corner2",),
        image_size=16,
        max_steps=3,
        max_attempts=2,
    )
    with pytest.raises(RuntimeError, match="no episode kept after 2 attempts"):
        collect(cfg, progress=False)
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []  # no partial directory left behind either


def test_scheduler_keeps_in_attempt_order_and_retries():
    from hy_vla.sim.collect import Episode

    cfg = CollectConfig(suite="metaworld", tasks=("reach-v3",), out="unused", episodes=2, max_attempts=4, seed=0)
    s = _Scheduler(cfg)
    jobs = list(s.next_jobs(10))
    assert [j.seed for j in jobs] == [0, 1]  # never more in flight than could be kept
    ep = lambda k, ok: Episode("reach-v3", k, k, ok, "", {"action": np.zeros((1, 4))})  # noqa: E731
    assert s.finish(ep(1, True)) == []  # waits for attempt 0
    assert [e.attempt for e in s.finish(ep(0, False))] == [1]
    assert [j.seed for j in s.next_jobs(10)] == [2]  # a retry with a new seed
    assert [e.attempt for e in s.finish(ep(2, True))] == [2]
    assert list(s.next_jobs(10)) == [] and s.shortfall() == {}


def test_default_demonstration_seeds_are_disjoint_from_evaluation_seeds():
    """Regression: collection and evaluation both started at seed 0, so a policy was evaluated on
    the very layouts it was trained on."""
    from hy_vla.eval.runner import EvalConfig

    collect_cfg = CollectConfig(suite="metaworld", tasks=("reach-v3",), out="unused", episodes=500)
    eval_cfg = EvalConfig(suite="metaworld", tasks=("reach-v3",), episodes=1000)
    train = set(range(collect_cfg.seed, collect_cfg.seed + 10 * collect_cfg.episodes))  # retries included
    test = {eval_cfg.base_seed + i for i in range(eval_cfg.episodes)}
    assert not train & test
