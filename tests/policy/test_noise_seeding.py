"""Evaluation is repeatable: an episode's sampling noise is a function of its seed, not of the worker's history."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serving"))  # bench/serving.py may own the name "serving"
from serving_fixtures import good_obs, save_tiny_checkpoint  # noqa: E402

from hy_vla.policy.checkpoint_policy import CheckpointPolicy
from hy_vla.rollout.episode import ActionRecorder, run_episode
from hy_vla.sim.base import EnvAdapter, EnvSpec, StepResult


class StillEnv(EnvAdapter):
    """The same observation every step (so actions differ only through the policy's noise)."""

    def __init__(self, steps: int = 6) -> None:
        self.spec = EnvSpec("toy", "t", "reach the goal", "metaworld_sawyer", ("corner2",), (16, 16), 4, 4, 80.0, steps)
        self.t = 0

    def reset(self, seed: int) -> dict:
        self.t = 0
        return good_obs(0)

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        self.t += 1
        return StepResult(good_obs(0), 0.0, False, self.t >= self.spec.max_steps)


@pytest.fixture(scope="module")
def policy(tmp_path_factory) -> CheckpointPolicy:
    return CheckpointPolicy.from_checkpoint(save_tiny_checkpoint(tmp_path_factory.mktemp("n") / "ckpt"), seed=0)


def _actions(policy: CheckpointPolicy, noise_seed: int | None) -> np.ndarray:
    recorder = ActionRecorder()
    run_episode(StillEnv(), policy, seed=3, n_action_steps=2, hooks=[recorder], noise_seed=noise_seed)
    return np.stack(recorder.actions)


def test_an_episode_is_the_same_whatever_ran_before(policy) -> None:
    first = _actions(policy, noise_seed=3)
    policy.infer(good_obs(1))  # another episode's queries advance the worker's stream
    again = _actions(policy, noise_seed=3)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(_actions(policy, noise_seed=4), first)  # another seed, other noise


def test_without_a_noise_seed_the_stream_runs_on(policy) -> None:
    """Post-training rollouts of one layout need different noise: they pass no noise seed."""
    a, b = _actions(policy, noise_seed=None), _actions(policy, noise_seed=None)
    assert not np.array_equal(a, b)


def test_strided_chunks_are_held_or_interpolated(tmp_path) -> None:
    """A stride-3 checkpoint's 4 predictions become 12 commands; interpolation keeps every 3rd one and moves
    linearly in between, in the model's space (so robot units stay linear for this absolute 4-d action)."""
    ckpt = save_tiny_checkpoint(tmp_path / "s3", horizon=4, action_stride=3)
    hold = CheckpointPolicy.from_checkpoint(ckpt, seed=1).infer(good_obs(0))["actions"]
    interp = CheckpointPolicy.from_checkpoint(ckpt, seed=1, stride_mode="interp").infer(good_obs(0))["actions"]
    assert hold.shape == interp.shape == (12, 4)
    np.testing.assert_allclose(interp[::3], hold[::3], atol=1e-6)
    np.testing.assert_allclose(interp[1], hold[0] + (hold[3] - hold[0]) / 3, atol=1e-5)
    np.testing.assert_allclose(interp[9:], hold[9:], atol=1e-6)  # the last prediction is held
    with pytest.raises(ValueError, match="stride_mode"):
        CheckpointPolicy.from_checkpoint(ckpt, stride_mode="cubic")
