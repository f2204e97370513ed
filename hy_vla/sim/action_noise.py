"""Noise on the executed actions of a scripted expert, with the expert's own actions kept as labels.

A scripted expert only ever visits the states of its own clean trajectories, so a policy imitating it has
never seen a hand slightly off the object or a grasp that closed on nothing, nor the expert's way back
from there. Executing ``expert action + noise`` while recording the expert's action (Laskey et al., DART)
puts such states into the demonstrations, each labelled with the expert's correction: run_episode's step
hooks see the action the policy chose, and `NoisyActions.step` perturbs it on its way into the simulator.

Noise is Gaussian per step and per dimension, with standard deviation ``std`` times half of the
dimension's action range (the whole range of a [-1, 1] action is 2, so std 0.1 = 0.1 units). Gripper
dimensions (named ``*grip*``) are never perturbed: a flickering gripper would drop objects rather than
show recoveries. The noise of an episode is a function of its seed, so a collection stays repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hy_vla.sim.base import EnvAdapter, StepResult

NOISE_SEED_OFFSET = 0x5EED  # the noise stream of episode seed s is seeded with (s, this), not s itself


def check_noise(std: float, what: str = "action noise") -> float:
    """`std` when it is a valid noise level (0 = none, below 1 = a fraction of the half-range); raises otherwise."""
    if not 0.0 <= std < 1.0:
        raise ValueError(f"{what}: expected 0 <= std < 1 (a fraction of the half-range), got {std}")
    return float(std)


def noisy_dims(action_names: Sequence[str] | None, action_dim: int) -> np.ndarray:
    """Indices of the action dimensions that get noise: all but the gripper channels."""
    if not action_names:
        return np.arange(action_dim)
    if len(action_names) != action_dim:
        raise ValueError(f"{len(action_names)} action names for {action_dim} action dims")
    return np.array([i for i, name in enumerate(action_names) if "grip" not in name.lower()], dtype=np.int64)


def perturb(
    action: np.ndarray,  # (A,)
    rng: np.random.Generator,
    std: float,
    dims: np.ndarray,  # (k,) indices that get noise
    low: np.ndarray | None,  # (A,) action bounds, or None (unbounded: noise in absolute units)
    high: np.ndarray | None,
) -> np.ndarray:
    """``action`` plus Gaussian noise on `dims` (std x half-range), clipped to the bounds. Returns a new (A,)."""
    out = np.array(action, dtype=np.float64, copy=True)
    scale = np.ones(len(out)) if low is None or high is None else (high - low) / 2.0
    out[dims] += rng.normal(0.0, std, size=len(dims)) * scale[dims]
    if low is not None and high is not None:
        out = np.clip(out, low, high)
    return out.astype(np.asarray(action).dtype, copy=False)


class NoisyActions(EnvAdapter):
    """An environment whose `step` executes the given action plus noise (`perturb`); everything else passes through."""

    def __init__(self, env: EnvAdapter, std: float) -> None:
        if not 0.0 < std < 1.0:  # 0 is "no noise": no wrapper at all
            raise ValueError(f"action noise: expected 0 < std < 1 (a fraction of the half-range), got {std}")
        self.env, self.std = env, float(std)
        self.spec = env.spec
        self.dims = noisy_dims(getattr(env, "action_names", None), env.spec.action_dim)
        bounded = bool(env.spec.action_low) and bool(env.spec.action_high)
        self._low = np.asarray(env.spec.action_low, np.float64) if bounded else None
        self._high = np.asarray(env.spec.action_high, np.float64) if bounded else None
        self._rng = np.random.default_rng()

    def reset(self, seed: int) -> dict[str, Any]:
        self._rng = np.random.default_rng([int(seed), NOISE_SEED_OFFSET])
        return self.env.reset(seed)

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        return self.env.step(perturb(action, self._rng, self.std, self.dims, self._low, self._high), render=render)

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:  # state/action names, env-state names, extra columns, ...
        if name == "env":  # not yet set (unpickling): never recurse
            raise AttributeError(name)
        return getattr(self.env, name)
