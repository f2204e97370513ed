"""Worker-process side of the evaluator.

Two placements of the policy (see `hy_vla.eval.runner`):

- ``"worker"``: each worker builds its own policy from a picklable factory and runs
  whole episodes (`run_job`); only an `EpisodeResult` travels back. Best for
  scripted experts and small CPU policies.
- ``"parent"``: workers only host environments (`env_server`): the parent sends a
  chunk of actions, the worker executes it and answers with the next observation.
  Needed when the policy cannot be copied (a remote client, one model on a GPU).

Workers cache their environments per (task, cameras) so consecutive episodes of a
task reuse the MuJoCo model and GL context; videos are encoded in the worker so
frames never cross the process boundary.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hy_vla.policy.protocol import PolicyLike
from hy_vla.rollout.episode import EpisodeResult, FrameRecorder, check_policy_compat, run_episode
from hy_vla.rollout.video import write_mp4
from hy_vla.sim.base import EnvAdapter

PolicyFactory = Callable[[str], PolicyLike]  # task name -> policy (called in the process that runs it)


@dataclass(frozen=True)
class Job:
    task: str
    episode: int
    seed: int
    video: bool


@dataclass(frozen=True)
class EnvRecipe:
    """How workers build environments.

    `cameras` are the cameras the policy sees (None: the suite default, (): none); `video_camera`
    is rendered in addition for episodes that record a video. `resolve` makes both concrete.
    """

    suite: str
    cameras: tuple[str, ...] | None = None
    image_size: int | None = None
    max_steps: int | None = None
    video_camera: str | None = None
    privileged: bool = False  # expose simulator-only state (scripted experts); see hy_vla.sim.privileged

    def make(self, task: str, cameras: tuple[str, ...] | None) -> EnvAdapter:
        from hy_vla.sim.registry import make_env

        kw: dict[str, Any] = {"cameras": cameras, "image_size": self.image_size, "privileged": self.privileged}
        if self.max_steps is not None:
            kw["max_steps"] = self.max_steps
        return make_env(self.suite, task, **kw)

    def resolve(self, task: str, need_video: bool) -> EnvRecipe:
        """Fill in the suite's default cameras (and the video camera) by building one env of `task`."""
        cameras, video, default = self.cameras, self.video_camera, None
        if cameras is None or (need_video and not video and not cameras):
            with self.make(task, None) as env:
                default = env.spec.cameras
        cameras = default if cameras is None else cameras
        if need_video and not video:
            video = cameras[0] if cameras else (default[0] if default else None)
            if not video:
                raise ValueError(f"suite {self.suite!r} renders no camera by default: name a video camera")
        return replace(self, cameras=tuple(cameras or ()), video_camera=video if need_video else None)

    def env_cameras(self, video: bool) -> tuple[str, ...]:
        """Cameras to render: the policy's, plus the video camera when a video is recorded."""
        cams = tuple(self.cameras or ())
        if video and self.video_camera and self.video_camera not in cams:
            cams = (*cams, self.video_camera)
        return cams


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs, sent once at start-up (must pickle)."""

    recipe: EnvRecipe
    out_dir: str
    n_action_steps: int | None = None
    policy_factory: PolicyFactory | None = None  # None in "parent" placement


class _WorkerState:
    """Per-process caches: environments, policies, the resolved video camera."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.setup = setup
        self.envs: dict[tuple[str, tuple[str, ...]], EnvAdapter] = {}
        self.policies: dict[str, PolicyLike] = {}
        self.video_camera = setup.recipe.video_camera or ""

    def env(self, task: str, video: bool) -> EnvAdapter:
        recipe = self.setup.recipe
        cameras = recipe.env_cameras(video)
        key = (task, cameras)
        if key not in self.envs:
            if len(self.envs) >= 2:  # bound memory / GL contexts: a worker sees tasks in order
                old = next(iter(self.envs))
                self.envs.pop(old).close()
            self.envs[key] = recipe.make(task, cameras)
        return self.envs[key]

    def policy(self, task: str) -> PolicyLike:
        if task not in self.policies:
            assert self.setup.policy_factory is not None
            self.policies[task] = self.setup.policy_factory(task)
        return self.policies[task]

    def write_video(self, job: Job, frames: list[np.ndarray], fps: float) -> str | None:
        if not frames:
            return None
        rel = f"videos/{job.task}_ep{job.episode}.mp4"
        write_mp4(Path(self.setup.out_dir) / rel, frames, fps)
        return rel

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
        self.envs.clear()


_STATE: _WorkerState | None = None


def init_worker(setup: WorkerSetup) -> None:
    """Remember the setup in this process; environments are built lazily."""
    global _STATE
    _STATE = _WorkerState(setup)


def init_pool_worker(setup: WorkerSetup) -> None:
    """Process-pool initializer: `init_worker`, and torch on one thread.

    With N workers on N cores, more threads per worker only oversubscribe the cores (seen here: policy
    inference about 10x slower with 2 workers x 2 torch threads on 2 cores).
    """
    from hy_vla.utils.processes import die_with_parent

    die_with_parent()  # a parent killed without cleanup (SIGTERM, SIGKILL) must not leave its workers running
    init_worker(setup)
    import torch

    torch.set_num_threads(1)


def worker_state() -> _WorkerState:
    """This process's caches (after `init_worker`); used by demonstration collection too."""
    if _STATE is None:
        raise RuntimeError("init_worker was not called in this process")
    return _STATE


def close_worker() -> None:
    """Close this process's environments (in-process runs call it when done)."""
    global _STATE
    if _STATE is not None:
        _STATE.close()
        _STATE = None


def run_job(job: Job) -> EpisodeResult:
    """Run one whole episode with a worker-built policy ("worker" placement, or in-process)."""
    state = worker_state()
    env = state.env(job.task, job.video)
    policy = state.policy(job.task)
    check_policy_compat(policy, _policy_spec(env, state.setup.recipe))
    recorder = FrameRecorder(state.video_camera) if job.video else None
    result = run_episode(
        env,
        policy,
        job.seed,
        task=job.task,
        episode=job.episode,
        n_action_steps=state.setup.n_action_steps,
        policy_cameras=state.setup.recipe.cameras,
        hooks=[recorder] if recorder else [],
        noise_seed=job.seed,  # evaluation: the episode's actions depend on the checkpoint and the seed only
    )
    if recorder is not None:
        result.video = state.write_video(job, recorder.frames, env.spec.fps)
    return result


def _policy_spec(env: EnvAdapter, recipe: EnvRecipe):
    """The env spec as the policy sees it (without a camera rendered only for the video)."""
    if recipe.cameras is None:
        return env.spec
    return replace(env.spec, cameras=tuple(c for c in env.spec.cameras if c in recipe.cameras))


def env_server(conn: Any, setup: WorkerSetup) -> None:
    """ "parent" placement: host environments and execute the action chunks the parent sends.

    Protocol (tuples over a Pipe): parent -> ("reset", Job) | ("act", actions (n, A)) | ("close",);
    worker -> ("obs", obs, spec) | ("done", EpisodeResult) | ("error", traceback text).
    """
    init_worker(setup)
    assert _STATE is not None
    state = _STATE
    env: EnvAdapter | None = None
    job: Job | None = None
    recorder: FrameRecorder | None = None
    current: dict[str, Any] = {}
    steps = 0
    success = False
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "close":
                break
            try:
                if msg[0] == "reset":
                    job = msg[1]
                    env = state.env(job.task, job.video)
                    recorder = FrameRecorder(state.video_camera) if job.video else None
                    steps, success = 0, False
                    current = env.reset(job.seed)
                    conn.send(("obs", current, _policy_spec(env, setup.recipe)))
                elif msg[0] == "act":
                    assert env is not None and job is not None
                    done = False
                    for action in msg[1]:
                        if recorder is not None:
                            recorder(current, action)
                        result = env.step(action)
                        steps += 1
                        success = success or result.success
                        done = result.done
                        current = result.obs
                        if done:
                            break
                    if done:
                        video = state.write_video(job, recorder.frames, env.spec.fps) if recorder else None
                        res = EpisodeResult(job.task, job.episode, job.seed, success, steps, 0, 0.0, video)
                        conn.send(("done", res))
                    else:
                        conn.send(("obs", current, None))
                else:
                    raise ValueError(f"unknown message {msg[0]!r}")
            except Exception:
                conn.send(("error", traceback.format_exc()))
    finally:
        state.close()
