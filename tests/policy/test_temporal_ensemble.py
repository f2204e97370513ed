"""Temporal ensembling (ACT): every chunk's action for the current step, averaged oldest-first with exp(-m i)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hy_vla.actions.representation import ActionRepresentation
from hy_vla.actions.rotations import matrix_to_rot6d, quat_to_matrix, rot6d_to_matrix
from hy_vla.policy.temporal_ensemble import (
    TemporalEnsemble,
    average_actions,
    ensemble_weights,
    rotation_blocks,
)
from hy_vla.rollout.episode import ActionRecorder, run_episode

sys.path.insert(0, str(Path(__file__).parents[1] / "serving"))
sys.path.insert(0, str(Path(__file__).parent))
from serving_fixtures import good_obs, save_tiny_checkpoint  # noqa: E402
from test_noise_seeding import StillEnv  # noqa: E402


class CountingPolicy:
    """Chunks whose action k of the query at step t is [100 t + k]: which prediction was used is readable."""

    def __init__(self, horizon: int = 3) -> None:
        self.horizon, self.t, self.resets = horizon, 0, 0

    def reset(self) -> None:
        self.t, self.resets = 0, self.resets + 1

    def infer(self, obs: dict) -> dict:
        chunk = np.array([[100.0 * self.t + k] for k in range(self.horizon)], np.float32)
        self.t += 1
        return {"actions": chunk, "policy_timing": {"infer_ms": 1.0}}


def test_weights_are_acts_exponential_oldest_first_and_sum_to_one() -> None:
    w = ensemble_weights(3, 0.5)
    np.testing.assert_allclose(w, np.exp(-0.5 * np.arange(3)) / np.exp(-0.5 * np.arange(3)).sum())
    np.testing.assert_allclose(ensemble_weights(4, 0.0), 0.25)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="m must be >= 0"):
            ensemble_weights(2, bad)
    with pytest.raises(ValueError, match="at least one"):
        ensemble_weights(0, 0.01)


def test_each_step_averages_the_predictions_of_every_live_chunk() -> None:
    policy = CountingPolicy(horizon=3)
    te = TemporalEnsemble(policy, m=0.0)
    got = [float(te.infer({})["actions"][0, 0]) for _ in range(5)]
    # step 0: chunk 0's action 0; step 1: chunk 0's action 1 and chunk 1's action 0; from step 2 on, three chunks.
    assert got == pytest.approx([0.0, (1 + 100) / 2, (2 + 101 + 200) / 3, (102 + 201 + 300) / 3, (202 + 301 + 400) / 3])
    assert len(te.chunks) == 3  # chunk 2 still holds step 4's action; chunks 0 and 1 were dropped
    te.reset()
    assert policy.resets == 1 and te.step == 0 and not te.chunks
    assert float(te.infer({})["actions"][0, 0]) == 0.0  # a new episode starts from its own first chunk


def test_older_predictions_weigh_more_with_a_positive_m_and_extra_keys_pass_through() -> None:
    te = TemporalEnsemble(CountingPolicy(horizon=2), m=1.0)
    te.infer({})
    out = te.infer({})
    w = ensemble_weights(2, 1.0)
    assert out["actions"].shape == (1, 1) and out["actions"].dtype == np.float32
    assert float(out["actions"][0, 0]) == pytest.approx(w[0] * 1 + w[1] * 100, rel=1e-6)
    assert out["policy_timing"] == {"infer_ms": 1.0}


def _quat(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def test_quaternions_are_sign_aligned_averaged_and_normalized() -> None:
    q = _quat(np.array([0.0, 0.0, 1.0]), 0.4)
    # the same rotation written as q and -q, and a second arm rotated a little either way about x
    a = _quat(np.array([1.0, 0.0, 0.0]), 0.1)
    b = _quat(np.array([1.0, 0.0, 0.0]), 0.3)
    older = np.concatenate([[1, 2, 3], q, [0.0], [0, 0, 0], a, [1.0]])
    newer = np.concatenate([[3, 2, 1], -q, [1.0], [0, 0, 0], b, [0.0]])
    rows = np.stack([older, newer])
    rep = ActionRepresentation(kind="delta_eef", rotation="quat", arms=2, gripper_dim=1)
    blocks = rotation_blocks(rep, 16)
    assert blocks == (("quat", slice(3, 7)), ("quat", slice(11, 15)))
    out = average_actions(rows, ensemble_weights(2, 0.0), blocks)
    np.testing.assert_allclose(out[:3], [2, 2, 2])
    np.testing.assert_allclose(out[7], 0.5)  # grippers are averaged as numbers
    # q and -q average to the rotation itself (newest sign), not to zero
    np.testing.assert_allclose(np.abs(out[3:7]), np.abs(q), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out[11:15]), 1.0, atol=1e-6)
    np.testing.assert_allclose(out[11:15], _quat(np.array([1.0, 0.0, 0.0]), 0.2), atol=1e-6)  # halfway about x
    # a plain mean would have left an invalid, non-unit rotation
    assert abs(np.linalg.norm(rows[:, 11:15].mean(0)) - 1.0) > 1e-3


def test_rot6d_blocks_come_back_as_rotations_and_wrapping_formats_are_refused() -> None:
    m1 = quat_to_matrix(_quat(np.array([0.0, 1.0, 0.0]), 0.0))
    m2 = quat_to_matrix(_quat(np.array([0.0, 1.0, 0.0]), 0.6))
    rows = np.stack([np.concatenate([[0, 0, 0], matrix_to_rot6d(m), [0.5]]) for m in (m1, m2)])
    rep = ActionRepresentation(kind="delta_eef", rotation="rot6d", arms=1, gripper_dim=1)
    out = average_actions(rows, ensemble_weights(2, 0.0), rotation_blocks(rep, 10))
    mat = rot6d_to_matrix(out[3:9])
    np.testing.assert_allclose(mat @ mat.T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(mat, quat_to_matrix(_quat(np.array([0.0, 1.0, 0.0]), 0.3)), atol=1e-5)
    assert rotation_blocks(ActionRepresentation(kind="absolute"), 7) == ()  # per-step deltas / joints: numbers
    with pytest.raises(ValueError, match="euler"):
        rotation_blocks(ActionRepresentation(kind="delta_eef", rotation="euler", arms=1), 7)
    with pytest.raises(ValueError, match="action width"):
        rotation_blocks(rep, 20)


def test_a_checkpoint_episode_queries_every_step_and_executes_the_ensembled_action(tmp_path) -> None:
    from hy_vla.policy.checkpoint_policy import CheckpointPolicy

    ckpt = save_tiny_checkpoint(tmp_path / "ckpt")
    te = TemporalEnsemble.around(CheckpointPolicy.from_checkpoint(ckpt, seed=0), m=0.01)
    assert te.metadata["temporal_ensemble"] == 0.01 and te.metadata["action_dim"] == 4
    recorder = ActionRecorder()
    result = run_episode(StillEnv(steps=6), te, seed=3, n_action_steps=8, hooks=[recorder], noise_seed=3)
    assert result.policy_calls == result.length == 6  # one query per control step, whatever n_action_steps says
    # the second executed action is the weighted mean of chunk 0's action 1 and chunk 1's action 0
    plain = CheckpointPolicy.from_checkpoint(ckpt, seed=0)
    plain.reset()
    plain.seed_noise(3)
    c0 = plain.infer(good_obs(0))["actions"]
    c1 = plain.infer(good_obs(0))["actions"]
    w = ensemble_weights(2, 0.01)
    np.testing.assert_allclose(recorder.actions[0], c0[0], atol=1e-6)
    np.testing.assert_allclose(recorder.actions[1], w[0] * c0[1] + w[1] * c1[0], atol=1e-5)
