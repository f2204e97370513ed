"""One episode of any `PolicyLike` in any `EnvAdapter`, with receding-horizon chunk execution.

Used by the evaluator and by demonstration collection, in-process or inside a
worker. The policy returns a chunk ``(H, A)``; we execute its first
``n_action_steps`` actions (all of them by default) and query again, stopping as
soon as the environment reports the episode done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hy_vla.keys import IMAGE_PREFIX
from hy_vla.policy.protocol import ACTIONS_KEY, PolicyLike, observe, seed_noise, wants_every_frame
from hy_vla.sim.base import EnvAdapter, EnvSpec
from hy_vla.sim.privileged import policy_view

# Called once per executed step with the observation the action was chosen from and the action.
# A hook that reads only the action may set the attribute ``needs_frames = False`` (see `ActionRecorder`):
# it then does not force every step to render, and its observations between queries carry no images.
StepHook = Callable[[dict[str, Any], np.ndarray], None]


@dataclass
class EpisodeResult:
    """What the report records about one episode (JSON-serializable via `to_dict`)."""

    task: str
    episode: int  # index within the task
    seed: int
    success: bool
    length: int  # executed steps
    policy_calls: int
    wall_s: float
    video: str | None = None  # path relative to the output folder

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PolicyMismatchError(ValueError):
    """The policy expects cameras, a state or an action size that the environment does not provide."""


def check_policy_compat(policy: object, spec: EnvSpec) -> None:
    """Compare ``policy.metadata`` (``cameras``, ``state_dim``, ``action_dim``; all optional) with `spec`.

    A policy without metadata (a remote client, another library's policy) is accepted as is;
    a mismatch it causes surfaces as a shape error on the first step instead.
    """
    meta = getattr(policy, "metadata", None)
    if not isinstance(meta, dict):
        return
    problems = []
    cams = meta.get("cameras")
    if cams:
        missing = [c for c in cams if c not in spec.cameras]
        if missing:
            problems.append(
                f"it needs camera(s) {missing} but the env renders {list(spec.cameras) or 'no cameras'} "
                f"(pass --cameras {','.join(cams)})"
            )
    for key, have in (("state_dim", spec.state_dim), ("action_dim", spec.action_dim)):
        want = meta.get(key)
        if want is not None and int(want) != have:
            problems.append(f"its {key} is {want} but {spec.suite}/{spec.task} ({spec.embodiment}) has {have}")
    if problems:
        name = meta.get("name", type(policy).__name__)
        raise PolicyMismatchError(f"policy {name!r} does not fit {spec.suite}/{spec.task}: " + "; ".join(problems))


def restrict_cameras(obs: dict[str, Any], cameras: Sequence[str] | None) -> dict[str, Any]:
    """Drop camera images not in `cameras` (extra cameras rendered only for the video)."""
    if cameras is None:
        return obs
    keep = {IMAGE_PREFIX + c for c in cameras}
    return {k: v for k, v in obs.items() if not k.startswith(IMAGE_PREFIX) or k in keep}


def as_chunk(out: dict[str, Any], action_dim: int) -> np.ndarray:
    """The ``(H, A)`` float32 chunk of a policy output, with a clear error for malformed outputs."""
    if not isinstance(out, dict) or ACTIONS_KEY not in out:
        raise TypeError(f"policy.infer must return a dict with {ACTIONS_KEY!r}, got {type(out).__name__}")
    chunk = np.asarray(out[ACTIONS_KEY], dtype=np.float32)
    if chunk.ndim == 1:
        chunk = chunk[None]  # a single action
    if chunk.ndim != 2 or chunk.shape[0] == 0 or chunk.shape[1] != action_dim:
        raise ValueError(f"policy returned actions of shape {chunk.shape}; expected (H, {action_dim})")
    if not np.isfinite(chunk).all():
        raise ValueError("policy returned non-finite actions")
    return chunk


def run_episode(
    env: EnvAdapter,
    policy: PolicyLike,
    seed: int,
    *,
    task: str = "",
    episode: int = 0,
    n_action_steps: int | None = None,
    policy_cameras: Sequence[str] | None = None,
    hooks: Sequence[StepHook] = (),
    noise_seed: int | None = None,
) -> EpisodeResult:
    """Reset `env` with `seed`, run `policy` until done, and return the result.

    Args:
        noise_seed: restart the policy's sampling noise from this seed (`seed_noise`; evaluation passes `seed`,
            so an episode is repeatable); None leaves the policy's stream running (post-training rollouts, whose
            groups need different noise on the same layout).
        n_action_steps: actions executed from each chunk before re-querying (None: the whole chunk).
        policy_cameras: cameras the policy may see (None: all rendered ones).
        hooks: called with (full observation incl. privileged keys, action) for every executed step.
    """
    if n_action_steps is not None and n_action_steps <= 0:
        raise ValueError(f"n_action_steps must be positive, got {n_action_steps}")
    spec = env.spec
    # Hooks (datasets, videos) record the action the environment executes, i.e. clipped to its bounds.
    low = np.asarray(spec.action_low, np.float32) if spec.action_low else None
    high = np.asarray(spec.action_high, np.float32) if spec.action_high else None
    t0 = time.perf_counter()
    obs = env.reset(seed)
    policy.reset()
    seed_noise(policy, noise_seed)
    steps = calls = 0
    success = done = False
    # Frames of the steps between two queries are rendered only when someone looks at them: a step hook
    # (dataset, video) or a policy keeping a frame history. Otherwise only each chunk's last step renders
    # (its observation is the next query's), which makes evaluation several times faster.
    policy_sees_every_step = wants_every_frame(policy)
    render_every_step = any(getattr(h, "needs_frames", True) for h in hooks) or policy_sees_every_step
    while not done:
        chunk = as_chunk(policy.infer(policy_view(policy, restrict_cameras(obs, policy_cameras))), spec.action_dim)
        calls += 1
        if low is not None and high is not None:
            chunk = np.clip(chunk, low, high)
        executed = chunk[: n_action_steps or len(chunk)]
        for i, action in enumerate(executed):
            for hook in hooks:
                hook(obs, action)
            last = i == len(executed) - 1
            result = env.step(action, render=render_every_step or last)
            steps += 1
            obs = result.obs
            success = success or result.success
            if result.done:
                done = True
                break
            if not last and policy_sees_every_step:  # a step the policy is not queried on: it still sees the frame
                observe(policy, policy_view(policy, restrict_cameras(obs, policy_cameras)))
    return EpisodeResult(
        task=task or spec.task,
        episode=episode,
        seed=int(seed),
        success=bool(success),
        length=steps,
        policy_calls=calls,
        wall_s=time.perf_counter() - t0,
    )


class ActionRecorder:
    """Step hook keeping the executed actions (clipped to the action bounds); it needs no frames."""

    needs_frames = False

    def __init__(self) -> None:
        self.actions: list[np.ndarray] = []

    def __call__(self, obs: dict[str, Any], action: np.ndarray) -> None:
        self.actions.append(np.array(action, dtype=np.float32, copy=True))


class FrameRecorder:
    """Step hook keeping the frames of one camera for a video."""

    def __init__(self, camera: str) -> None:
        self.key = IMAGE_PREFIX + camera
        self.frames: list[np.ndarray] = []

    def __call__(self, obs: dict[str, Any], action: np.ndarray) -> None:
        if self.key in obs:
            self.frames.append(obs[self.key])
