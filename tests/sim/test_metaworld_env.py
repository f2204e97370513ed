"""Meta-World adapter contract: observation keys/dtypes/shapes, step results, seeding, expert, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("metaworld")

from hy_vla.keys import STATE, image_key  # noqa: E402
from hy_vla.policy.protocol import PROMPT_KEY, PolicyLike  # noqa: E402
from hy_vla.sim import registry  # noqa: E402
from hy_vla.sim.base import EnvAdapter, StepResult  # noqa: E402
from hy_vla.sim.privileged import ENV_STATE_OBS, SIM_STATE, strip_privileged  # noqa: E402

SIZE = 32  # tiny images keep the test fast


@pytest.fixture(scope="module")
def env():
    env = registry.make_env(
        "metaworld", "push-v3", cameras=("corner2", "gripperPOV"), image_size=SIZE, max_steps=20, privileged=True
    )
    yield env
    env.close()


def test_spec(env):
    spec = env.spec
    assert isinstance(env, EnvAdapter)
    assert (spec.suite, spec.task, spec.embodiment) == ("metaworld", "push-v3", "metaworld_sawyer")
    assert spec.instruction == "push the puck to the goal"
    assert spec.cameras == ("corner2", "gripperPOV")
    assert spec.image_size == (SIZE, SIZE)
    assert (spec.state_dim, spec.action_dim, spec.max_steps) == (4, 4, 20)
    assert spec.action_low == (-1.0,) * 4 and spec.action_high == (1.0,) * 4


def test_observation_format(env):
    obs = env.reset(0)
    for cam in ("corner2", "gripperPOV"):
        img = obs[image_key(cam)]
        assert img.dtype == np.uint8 and img.shape == (SIZE, SIZE, 3)
    assert obs[STATE].dtype == np.float32 and obs[STATE].shape == (4,)
    assert obs[PROMPT_KEY] == env.spec.instruction
    # The policy state is hand xyz + gripper only: it equals the head of the privileged vector.
    assert obs[SIM_STATE].shape == (39,)
    np.testing.assert_allclose(obs[STATE], obs[SIM_STATE][:4].astype(np.float32))
    # the recorded auxiliary vector: the puck's xyz and the goal's xyz, privileged like the rest
    np.testing.assert_allclose(obs[ENV_STATE_OBS], np.r_[obs[SIM_STATE][4:7], obs[SIM_STATE][36:39]], rtol=1e-6)
    assert env.env_state_names[3:] == ("goal_x", "goal_y", "goal_z")
    public = strip_privileged(obs)
    assert set(public) == {image_key("corner2"), image_key("gripperPOV"), STATE, PROMPT_KEY}


def test_step_and_time_limit(env):
    env.reset(0)
    result = env.step(np.zeros(4, dtype=np.float32))
    assert isinstance(result, StepResult)
    assert isinstance(result.success, bool) and isinstance(result.done, bool) and isinstance(result.reward, float)
    assert result.obs[STATE].shape == (4,)
    steps = 1
    while not result.done:
        result = env.step(np.zeros(4))
        steps += 1
    assert steps == 20 and not result.success  # standing still fails push within max_steps
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        env.reset(0)
        env.step(np.zeros(3))


def test_same_seed_same_layout_two_seeds_two_layouts():
    env = registry.make_env("metaworld", "pick-place-v3", cameras=(), max_steps=5, privileged=True)
    try:
        a = env.reset(7)[SIM_STATE].copy()
        env.reset(8)
        b = env.reset(7)[SIM_STATE].copy()
        c = env.reset(8)[SIM_STATE].copy()
    finally:
        env.close()
    np.testing.assert_array_equal(a, b)  # reset(seed) alone decides the layout, whatever came before
    obj_goal = np.r_[4:7, 36:39]  # object and goal positions
    assert np.abs(a[obj_goal] - c[obj_goal]).max() > 1e-3


def test_seed_layout_is_the_same_in_a_fresh_env():
    envs = [registry.make_env("metaworld", "reach-v3", cameras=(), privileged=True) for _ in range(2)]
    try:
        envs[1].reset(3)  # a different history must not matter
        np.testing.assert_array_equal(envs[0].reset(5)[SIM_STATE], envs[1].reset(5)[SIM_STATE])
    finally:
        for e in envs:
            e.close()


def test_scripted_expert_solves_reach():
    env = registry.make_env("metaworld", "reach-v3", cameras=(), privileged=True)
    expert = registry.make_expert("metaworld", "reach-v3")
    assert isinstance(expert, PolicyLike) and expert.metadata["privileged"]
    obs = env.reset(0)
    assert obs.keys() == {STATE, PROMPT_KEY, SIM_STATE, ENV_STATE_OBS}  # no cameras: nothing rendered
    for _ in range(200):
        chunk = expert.infer(obs)["actions"]
        assert chunk.shape == (1, 4) and chunk.dtype == np.float32
        result = env.step(chunk[0])
        obs = result.obs
        if result.done:
            break
    env.close()
    assert result.success
    with pytest.raises(KeyError, match="privileged"):
        expert.infer(strip_privileged(obs))


def test_errors_are_clear():
    with pytest.raises(ValueError, match="Did you mean: push-v3"):
        registry.make_env("metaworld", "psh-v3")
    with pytest.raises(ValueError, match="unknown Meta-World camera.*corner2"):
        registry.make_env("metaworld", "reach-v3", cameras=("cornr2",))
    with pytest.raises(TypeError, match="unexpected Meta-World options"):
        registry.make_env("metaworld", "reach-v3", fps=10)


def test_privileged_state_only_on_request():
    env = registry.make_env("metaworld", "reach-v3", cameras=())
    with env:
        assert not any(k.startswith("_privileged.") for k in env.reset(0))


def test_first_frame_draws_the_goal_marker_at_the_goal():
    """Regression: Meta-World's reset moved the goal site after its last physics update, so the frame rendered at
    reset showed the marker where an earlier layout had put it (8-10 cm off): every episode's first observation,
    in demonstrations and in evaluation, pointed at a wrong goal."""
    from sim.projection_helpers import project_points

    from hy_vla.sim.metaworld.env import MetaWorldEnv, MetaWorldEnvConfig

    env = MetaWorldEnv(MetaWorldEnvConfig(task="push-v3", cameras=("topview",), image_size=(128, 128), privileged=True))
    try:
        for seed in (3, 4):
            obs = env.reset(seed)
            m, d = env.raw_env.model, env.raw_env.data
            goal = obs[ENV_STATE_OBS][3:]
            np.testing.assert_allclose(d.site_xpos[m.site("goal").id], goal, atol=1e-6)
            cam = m.camera("topview").id
            xy, visible = project_points(goal[None], d.cam_xpos[cam], d.cam_xmat[cam], m.cam_fovy[cam], 128, 128)
            x, y = xy[0]
            assert visible[0]
            col, row = int((x + 1) / 2 * 128), int((y + 1) / 2 * 128)
            r, g, b = obs[image_key("topview")][row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3).astype(int).T
            assert (g - np.maximum(r, b)).max() > 60  # push's goal marker is green, the table brown
    finally:
        env.close()
