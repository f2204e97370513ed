"""PushT (gym-pusht) behind the `EnvAdapter` interface.

A 2-D task: a round agent (the "robot", state = its xy position in pixels of a 512x512
arena) is driven by a PD controller towards the commanded target xy and must push a
T-shaped block onto a fixed T-shaped goal. Success when the block covers more than 95%
of the goal (gym-pusht's criterion); the reward is gym-pusht's (coverage / 0.95, clipped
to [0, 1]).

We build gym-pusht's `PushTEnv` with ``obs_type="state"`` so that a step draws nothing,
and render the one camera ("top", the whole arena) ourselves at the requested size only
when a camera is requested. The block pose is privileged (for the scripted expert only)
and is added under ``_privileged.*`` keys only when the adapter is built with
``privileged=True``, the one gate that keeps it away from learned policies.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hy_vla.sim.base import EnvAdapter, EnvSpec, StepResult
from hy_vla.sim.privileged import PRIVILEGED_PREFIX

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # gym-pusht imports pygame, which greets on stdout

from gym_pusht.envs.pusht import PushTEnv  # noqa: E402

BLOCK_POSE_KEY = PRIVILEGED_PREFIX + "block_pose"  # float64 (3,): x, y, angle (rad) of the T block's body
GOAL_POSE_KEY = PRIVILEGED_PREFIX + "goal_pose"  # float64 (3,): x, y, angle of the goal T
STATE_KEY = "observation.state"
IMAGE_PREFIX = "observation.images."

CAMERAS = ("top",)
INSTRUCTION = "push the T-shaped block onto the T-shaped target"
MAX_STEPS = 300  # gym-pusht's registered episode length (30 s at 10 Hz)
ARENA = 512.0  # actions and positions are pixels in [0, 512]
SUCCESS_COVERAGE = 0.95


class PushTAdapter(EnvAdapter):
    """gym-pusht's PushT task with an optional top-down image at a selectable size.

    Args:
        cameras: ``("top",)`` (default) or ``()`` for state-only observations.
        image_size: (H, W) of the image (default (96, 96), the usual PushT resolution).
        privileged: add the block and goal poses under ``_privileged.*`` (scripted expert only).
    """

    def __init__(
        self,
        *,
        cameras: tuple[str, ...] | list[str] | None = None,
        image_size: tuple[int, int] | None = None,
        privileged: bool = False,
    ) -> None:
        cameras = CAMERAS if cameras is None else tuple(cameras)
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown:
            raise ValueError(f"unknown pusht camera(s) {unknown}; available: {', '.join(CAMERAS)}")
        height, width = (96, 96) if image_size is None else (int(image_size[0]), int(image_size[1]))
        if height <= 0 or width <= 0:
            raise ValueError(f"image size must be positive, got {height}x{width}")
        self.privileged = privileged
        self._env = PushTEnv(obs_type="state", observation_width=width, observation_height=height)
        self._steps = 0
        self.spec = EnvSpec(
            suite="pusht",
            task="pusht",
            instruction=INSTRUCTION,
            embodiment="pusht",
            cameras=cameras,
            image_size=(height, width),
            state_dim=2,
            action_dim=2,
            fps=float(PushTEnv.metadata["render_fps"]),
            max_steps=MAX_STEPS,
            action_low=(0.0, 0.0),
            action_high=(ARENA, ARENA),
        )

    def reset(self, seed: int) -> dict[str, Any]:
        """Random agent and block placement drawn from gym-pusht's RNG seeded with `seed` (deterministic)."""
        self._env.reset(seed=int(seed))
        self._steps = 0
        return self._observe()

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        """Move the agent towards target `action` (2,) in pixels for one 0.1 s control step."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (2,):
            raise ValueError(f"pusht action must have shape (2,), got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError("pusht action contains NaN or inf")
        _, reward, _, _, info = self._env.step(np.clip(action, 0.0, ARENA))
        self._steps += 1
        coverage = float(info["coverage"])
        success = coverage > SUCCESS_COVERAGE
        done = success or self._steps >= MAX_STEPS
        return StepResult(
            self._observe(render), float(reward), success, done, {"coverage": coverage, "steps": self._steps}
        )

    def _observe(self, render: bool = True) -> dict[str, Any]:
        env = self._env
        obs: dict[str, Any] = {
            STATE_KEY: np.asarray(env.agent.position, dtype=np.float32),  # (2,) agent xy, pixels
            "prompt": INSTRUCTION,
        }
        if self.spec.cameras and render:
            # gym-pusht draws the 512x512 arena and resizes it to the observation size.
            obs[IMAGE_PREFIX + "top"] = np.ascontiguousarray(env._render(visualize=False), dtype=np.uint8)
        if self.privileged:  # the one gate for simulator-only information (see module docstring)
            obs[BLOCK_POSE_KEY] = np.array([*env.block.position, env.block.angle], dtype=np.float64)
            obs[GOAL_POSE_KEY] = np.asarray(env.goal_pose, dtype=np.float64).copy()
        return obs

    def block_pose(self) -> np.ndarray:
        """Current block pose (x, y, angle); for tests and debugging, not for policies."""
        return np.array([*self._env.block.position, self._env.block.angle], dtype=np.float64)

    def close(self) -> None:
        self._env.close()
