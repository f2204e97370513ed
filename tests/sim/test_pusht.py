"""PushT adapter and scripted expert (gym-pusht): contract, seeding, expert smoke runs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gym_pusht")

from hy_vla.policy.protocol import PolicyLike  # noqa: E402
from hy_vla.sim import registry  # noqa: E402
from hy_vla.sim.pusht.env import BLOCK_POSE_KEY, GOAL_POSE_KEY  # noqa: E402
from hy_vla.sim.pusht.expert import PushSimulator, keypoint_error  # noqa: E402
from hy_vla.sim.rendering import is_blank  # noqa: E402


@pytest.fixture(scope="module")
def env():
    env = registry.make_env("pusht", "pusht", image_size=(64, 80), privileged=True)
    yield env
    env.close()


def test_spec_and_observation_contract(env):
    spec = env.spec
    assert registry.list_tasks("pusht") == ["pusht"]
    assert (spec.embodiment, spec.state_dim, spec.action_dim, spec.fps, spec.max_steps) == ("pusht", 2, 2, 10.0, 300)
    assert spec.action_low == (0.0, 0.0) and spec.action_high == (512.0, 512.0)
    assert spec.instruction == "push the T-shaped block onto the T-shaped target"
    obs = env.reset(0)
    img = obs["observation.images.top"]
    assert img.dtype == np.uint8 and img.shape == (64, 80, 3) and not is_blank(img)
    assert obs["observation.state"].dtype == np.float32 and obs["observation.state"].shape == (2,)
    assert obs[BLOCK_POSE_KEY].shape == (3,) and obs[GOAL_POSE_KEY].shape == (3,)


def test_privileged_keys_only_on_request():
    obs = registry.make_env("pusht", "pusht", cameras=()).reset(0)
    assert set(obs) == {"observation.state", "prompt"}
    with pytest.raises(KeyError, match="privileged=True"):
        registry.make_expert("pusht", "pusht").infer(obs)


def test_step_moves_agent_towards_target(env):
    obs = env.reset(1)
    target = obs["observation.state"] + np.array([30.0, 0.0], dtype=np.float32)
    for _ in range(5):
        result = env.step(target)
    assert np.linalg.norm(result.obs["observation.state"] - target) < 5.0
    assert 0.0 <= result.reward <= 1.0 and result.success == (result.info["coverage"] > 0.95)
    assert not result.done
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))


def test_seeding_is_deterministic_and_seed_dependent(env):
    a = env.reset(5)
    b = env.reset(6)
    c = env.reset(5)
    np.testing.assert_array_equal(a[BLOCK_POSE_KEY], c[BLOCK_POSE_KEY])
    np.testing.assert_array_equal(a["observation.state"], c["observation.state"])
    np.testing.assert_array_equal(a["observation.images.top"], c["observation.images.top"])
    assert np.linalg.norm(a[BLOCK_POSE_KEY][:2] - b[BLOCK_POSE_KEY][:2]) > 1.0


def test_simulator_predicts_the_real_push(env):
    obs = env.reset(2)
    block = obs[BLOCK_POSE_KEY]
    agent = obs["observation.state"].astype(np.float64)
    targets = [agent + (block[:2] - agent) * k / 10 for k in range(1, 11)]
    predicted = PushSimulator().run(agent, block, targets)
    for t in targets:
        obs = env.step(t).obs
    # The agent starts at rest in both, so the prediction should match closely.
    assert keypoint_error(predicted, obs[BLOCK_POSE_KEY]) < 2.0


def test_expert_runs_a_few_steps(env):
    expert = registry.make_expert("pusht", "pusht")
    assert isinstance(expert, PolicyLike)
    obs = env.reset(0)
    expert.reset()
    for _ in range(10):
        actions = expert.infer(obs)["actions"]
        assert actions.shape == (1, 2) and actions.dtype == np.float32
        assert np.all((actions >= 0) & (actions <= 512))
        obs = env.step(actions[0]).obs


@pytest.mark.slow
def test_expert_solves_most_episodes():
    env = registry.make_env("pusht", "pusht", cameras=(), privileged=True)
    expert = registry.make_expert("pusht", "pusht")
    wins = 0
    for seed in range(100, 105):
        obs, done = env.reset(seed), False
        expert.reset()
        while not done:
            result = env.step(expert.infer(obs)["actions"][0])
            obs, done = result.obs, result.done
        wins += result.success
    assert wins >= 3
