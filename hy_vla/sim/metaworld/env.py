"""Meta-World v3 task behind the `EnvAdapter` interface.

Design choices (facts in ENVIRONMENT.md):

- We instantiate the task class from ``metaworld.env_dict.ALL_V3_ENVIRONMENTS``
  directly instead of ``gym.make("Meta-World/MT1")``: MT1 pre-samples 50 layouts
  from the seed given to ``gym.make`` and ignores ``reset(seed)``. Here the
  layout is drawn from the environment's own generator, re-seeded on every
  ``reset(seed)``, so the same seed gives the same layout and two seeds give two
  layouts without rebuilding the MuJoCo model (building costs ~0.2 s).
- The goal is made observable (the Multi-Task setting) because the scripted
  experts read it; it only ever reaches a policy through the privileged key.
- Images come from our own `CameraRenderer` (shadows and MSAA off, GL context made
  current before each frame); ``corner*`` cameras are rotated 180 degrees so the
  table is at the bottom of the image.
- The policy state is ``obs[0:4]``: hand xyz and gripper opening. Object and goal
  positions are privileged (`hy_vla.sim.privileged`). A privileged adapter also returns them as
  ``ENV_STATE_OBS`` (first object xyz, goal xyz): collection stores that vector as the column
  ``observation.environment_state`` so training can use it as an auxiliary target; no policy reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hy_vla.keys import STATE, image_key
from hy_vla.policy.protocol import PROMPT_KEY
from hy_vla.sim.base import EnvAdapter, EnvSpec, StepResult
from hy_vla.sim.metaworld.instructions import instruction_for
from hy_vla.sim.privileged import ENV_STATE_OBS, SIM_STATE
from hy_vla.sim.rendering import CameraRenderer, select_gl_backend

CAMERAS: tuple[str, ...] = ("topview", "corner", "corner2", "corner3", "corner4", "behindGripper", "gripperPOV")
UPSIDE_DOWN_CAMERAS = frozenset({"corner", "corner2", "corner3", "corner4"})  # raw renders have the table on top
EMBODIMENT = "metaworld_sawyer"
STATE_DIM = 4  # hand xyz + gripper opening
ACTION_DIM = 4  # hand xyz delta (scaled by 1/100 inside Meta-World) + gripper effort, each in [-1, 1]
STATE_NAMES = ("hand_x", "hand_y", "hand_z", "gripper_opening")
ACTION_NAMES = ("delta_x", "delta_y", "delta_z", "gripper_effort")
ENV_STATE_NAMES = ("object_x", "object_y", "object_z", "goal_x", "goal_y", "goal_z")
ENV_STATE_SLICES = (slice(4, 7), slice(36, 39))  # of the 39-D observation: first object's xyz, goal xyz
FPS = 80.0  # Meta-World's render_fps (frame_skip 5 at 2.5 ms)
DEFAULT_CAMERAS: tuple[str, ...] = ("corner2",)
DEFAULT_IMAGE_SIZE = 128


@dataclass(frozen=True)
class MetaWorldEnvConfig:
    """Construction settings of one Meta-World adapter (JSON-serializable via `to_dict`)."""

    task: str
    cameras: tuple[str, ...] = DEFAULT_CAMERAS  # () renders nothing (fast scripted evaluation)
    image_size: tuple[int, int] = (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)  # (H, W)
    max_steps: int = 500
    privileged: bool = False  # expose the full simulator observation under SIM_STATE

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        unknown = [c for c in self.cameras if c not in CAMERAS]
        if unknown:
            raise ValueError(f"unknown Meta-World camera(s) {unknown}; choose from {', '.join(CAMERAS)}")
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"duplicate cameras in {self.cameras}")
        if len(self.image_size) != 2 or min(self.image_size) <= 0:
            raise ValueError(f"image_size must be (H, W) with positive sides, got {self.image_size}")
        if self.max_steps <= 0:
            raise ValueError(f"max_steps must be positive, got {self.max_steps}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetaWorldEnv(EnvAdapter):
    """One Meta-World v3 task; observations in the raw policy format plus a privileged key."""

    state_names = STATE_NAMES  # channel names for dataset metadata
    action_names = ACTION_NAMES
    env_state_names = ENV_STATE_NAMES  # recorded when privileged (see module docstring)

    def __init__(self, config: MetaWorldEnvConfig) -> None:
        select_gl_backend()  # before MuJoCo is imported
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        if config.task not in ALL_V3_ENVIRONMENTS:
            from hy_vla.sim.registry import check_task

            check_task("metaworld", config.task)  # raises with suggestions
        self.config = config
        env = ALL_V3_ENVIRONMENTS[config.task](render_mode=None)
        # Make the task usable without Meta-World's benchmark wrappers: goal observable,
        # layout re-drawn from env.np_random on every reset (re-seeded in our reset).
        env._partially_observable = False
        env.__dict__.pop("sawyer_observation_space", None)  # cached_property depends on the flag above
        env._set_task_called = True
        env._freeze_rand_vec = False
        env.seeded_rand_vec = True
        env.max_path_length = config.max_steps  # Meta-World raises if stepped past its own limit
        self._env = env
        h, w = config.image_size
        self._renderer = CameraRenderer(env.model, h, w, rotate_180=UPSIDE_DOWN_CAMERAS) if config.cameras else None
        low, high = env.action_space.low, env.action_space.high
        self.spec = EnvSpec(
            suite="metaworld",
            task=config.task,
            instruction=instruction_for(config.task),
            embodiment=EMBODIMENT,
            cameras=config.cameras,
            image_size=(h, w),
            state_dim=STATE_DIM,
            action_dim=ACTION_DIM,
            fps=FPS,
            max_steps=config.max_steps,
            action_low=tuple(float(x) for x in low),
            action_high=tuple(float(x) for x in high),
        )
        self._low, self._high = low.astype(np.float64), high.astype(np.float64)
        self._steps = 0
        self._seed: int | None = None

    @property
    def raw_env(self) -> Any:
        """The underlying Meta-World environment (for debugging; not part of the adapter contract)."""
        return self._env

    def reset(self, seed: int) -> dict[str, Any]:
        if int(seed) < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self._seed = int(seed)
        self._env.seed(self._seed)  # the layout is drawn from env.np_random inside reset()
        raw, _ = self._env.reset()
        # Meta-World's reset moves the goal site (model.site_pos) after its last physics update, so the frame
        # rendered at reset drew the goal marker where an earlier layout had it: the first observation of every
        # episode showed a wrong goal. Forward kinematics (no time step) brings every site to its position.
        import mujoco  # after __init__'s select_gl_backend

        mujoco.mj_forward(self._env.model, self._env.data)
        self._steps = 0
        return self._observation(raw)

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        if self._seed is None:
            raise RuntimeError("call reset(seed) before step()")
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (ACTION_DIM,):
            raise ValueError(f"Meta-World action must have shape ({ACTION_DIM},), got {action.shape}")
        if self._steps >= self.config.max_steps:
            raise RuntimeError(f"episode is over ({self.config.max_steps} steps); call reset(seed)")
        action = np.clip(action, self._low, self._high)
        raw, reward, _terminated, _truncated, info = self._env.step(action)
        self._steps += 1
        success = bool(info.get("success", 0.0))
        done = success or self._steps >= self.config.max_steps
        info = {"success": success, "steps": self._steps, "seed": self._seed}
        return StepResult(
            obs=self._observation(raw, render), reward=float(reward), success=success, done=done, info=info
        )

    def _observation(self, raw: np.ndarray, render: bool = True) -> dict[str, Any]:
        obs: dict[str, Any] = {}
        if self._renderer is not None and render:
            for cam, img in self._renderer.render(self._env.data, self.config.cameras).items():
                obs[image_key(cam)] = img  # uint8 (H, W, 3)
        obs[STATE] = np.asarray(raw[:STATE_DIM], dtype=np.float32)  # (4,) hand xyz + gripper
        obs[PROMPT_KEY] = self.spec.instruction
        if self.config.privileged:
            obs[SIM_STATE] = np.array(raw, dtype=np.float64)  # (39,) objects + goal: experts only
            obs[ENV_STATE_OBS] = np.concatenate([raw[s] for s in ENV_STATE_SLICES]).astype(np.float32)  # (6,)
        return obs

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()
