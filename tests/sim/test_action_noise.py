"""Demonstrations executed with action noise: the simulator gets the noisy action, the dataset the expert's."""

from __future__ import annotations

import numpy as np
import pytest

from hy_vla.keys import STATE
from hy_vla.rollout.episode import ActionRecorder, run_episode
from hy_vla.sim.action_noise import NoisyActions, noisy_dims, perturb
from hy_vla.sim.base import EnvAdapter, EnvSpec, StepResult
from hy_vla.sim.collect import CollectConfig, config_difference

NAMES = ("delta_x", "delta_y", "delta_z", "gripper")


class RecordingEnv(EnvAdapter):
    """Bounded 4-D actions (the last one a gripper); remembers what it executed."""

    action_names = NAMES
    env_state_names = ("obj_x",)  # an adapter attribute the wrapper must pass through

    def __init__(self, steps: int = 30) -> None:
        self.spec = EnvSpec("toy", "t", "do it", "toy_arm", (), (4, 4), 2, 4, 10.0, steps, (-1.0,) * 4, (1.0,) * 4)
        self.executed: list[np.ndarray] = []

    def reset(self, seed: int) -> dict:
        self.executed = []
        return {STATE: np.zeros(2, np.float32), "prompt": "do it"}

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        self.executed.append(np.array(action))
        return StepResult({STATE: np.zeros(2, np.float32), "prompt": "do it"}, 0.0, False, len(self.executed) >= 30)


class ConstantExpert:
    def reset(self) -> None:
        pass

    def infer(self, obs: dict) -> dict:
        return {"actions": np.array([[0.5, -0.2, 0.9, 1.0]] * 5, np.float32)}


def test_noisy_dims_skip_the_gripper() -> None:
    assert noisy_dims(NAMES, 4).tolist() == [0, 1, 2]
    assert noisy_dims(None, 3).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="3 action names for 4"):
        noisy_dims(NAMES[:3], 4)


def test_perturb_scales_by_half_range_and_clips() -> None:
    low, high = np.array([-2.0, 0.0]), np.array([2.0, 1.0])
    draws = np.stack(
        [perturb(np.array([0.0, 0.5]), np.random.default_rng(i), 0.1, np.arange(2), low, high) for i in range(4000)]
    )
    assert draws[:, 0].std() == pytest.approx(0.2, rel=0.1)  # half-range 2
    assert draws[:, 1].std() == pytest.approx(0.05, rel=0.1)  # half-range 0.5
    edge = perturb(np.array([2.0, 1.0]), np.random.default_rng(0), 0.5, np.arange(2), low, high)
    assert (edge >= low).all() and (edge <= high).all()


def test_hooks_record_the_expert_action_the_env_executes_it_with_noise() -> None:
    inner = RecordingEnv()
    env = NoisyActions(inner, 0.2)
    recorder = ActionRecorder()
    run_episode(env, ConstantExpert(), seed=3, hooks=[recorder])
    recorded, executed = np.stack(recorder.actions), np.stack(inner.executed)
    np.testing.assert_array_equal(recorded, np.tile(np.float32([0.5, -0.2, 0.9, 1.0]), (30, 1)))
    assert np.abs(executed[:, :3] - recorded[:, :3]).mean() > 0.05  # moved off the expert's action
    np.testing.assert_array_equal(executed[:, 3], recorded[:, 3])  # the gripper is never perturbed
    assert (executed <= 1.0).all() and (executed >= -1.0).all()
    assert env.env_state_names == ("obj_x",) and env.action_names == NAMES

    again = RecordingEnv()
    run_episode(NoisyActions(again, 0.2), ConstantExpert(), seed=3)
    np.testing.assert_array_equal(np.stack(again.executed), executed)  # the noise is a function of the seed
    other = RecordingEnv()
    run_episode(NoisyActions(other, 0.2), ConstantExpert(), seed=4)
    assert not np.array_equal(np.stack(other.executed), executed)


def test_bad_noise_is_refused() -> None:
    with pytest.raises(ValueError, match="0 < std < 1"):
        NoisyActions(RecordingEnv(), 1.5)
    with pytest.raises(ValueError, match="action_noise"):
        CollectConfig("metaworld", ("reach-v3",), "out", action_noise=-0.1)


def test_a_collection_from_before_the_noise_option_still_matches() -> None:
    """collection.json written before `action_noise` existed is the noise-free collection, not another one."""
    config = CollectConfig("metaworld", ("reach-v3",), "out")
    stored = config.to_dict()
    del stored["action_noise"]
    assert config_difference(stored, config) == ""
    assert "action_noise 0.0 here, 0.1 asked" in config_difference(
        stored, CollectConfig("metaworld", ("reach-v3",), "out", action_noise=0.1)
    )
