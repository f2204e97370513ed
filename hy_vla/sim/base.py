"""The environment adapter interface every simulator implements.

An adapter wraps one task of one simulator. Observations come out in the raw
policy format of `hy_vla.policy.protocol` (flat dict: camera images as uint8
HWC, `observation.state` float32, `prompt` str), so a policy never sees a
simulator-specific structure. Seeding is explicit: `reset(seed)` must put the
task in the same initial state for the same seed (adapters whose simulator
ignores reset seeds rebuild or re-seed the environment themselves).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EnvSpec:
    """What a policy needs to know about an environment."""

    suite: str  # "metaworld", "aloha", "pusht", ...
    task: str  # e.g. "pick-place-v3"
    instruction: str  # natural-language instruction
    embodiment: str  # embodiment registry name
    cameras: tuple[str, ...]
    image_size: tuple[int, int]  # (H, W) of every camera image
    state_dim: int
    action_dim: int
    fps: float  # control rate
    max_steps: int
    action_low: tuple[float, ...] = field(default=())
    action_high: tuple[float, ...] = field(default=())


@dataclass
class StepResult:
    obs: dict[str, Any]
    reward: float
    success: bool  # task solved at this step
    done: bool  # episode over (success, failure or time limit)
    info: dict[str, Any] = field(default_factory=dict)


class EnvAdapter(ABC):
    """One task of one simulator behind a uniform, seedable interface."""

    spec: EnvSpec

    @abstractmethod
    def reset(self, seed: int) -> dict[str, Any]:
        """Start an episode whose initial state is a function of `seed` only; returns the raw observation."""

    @abstractmethod
    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        """Apply one action (robot units, shape (action_dim,)).

        render=False leaves the camera images out of the returned observation (state and prompt only):
        a runner that will not show this step's frames to anyone skips the renderer, which costs far
        more than the physics step (Meta-World: ~15 ms per camera vs ~1 ms).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release simulator resources."""

    def __enter__(self) -> EnvAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
