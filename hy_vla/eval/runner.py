"""The evaluation protocol: `Evaluator(config).run(policy) -> report`.

Protocol (fixed, so numbers are comparable across policies and libraries):

- episode ``i`` of every task starts from seed ``base_seed + i`` (recorded per episode);
- the policy's chunk ``(H, A)`` is executed receding-horizon: the first
  ``n_action_steps`` actions (default: the whole chunk), then a new query;
- per task: success rate, 95% Wilson interval, mean episode length; per task group the
  suite defines (Meta-World: difficulty tiers): pooled success and interval; overall: the
  mean of the per-task rates (each task weighs the same) with the pooled interval.

The policy is any `PolicyLike`. Pass a *factory* ``task -> PolicyLike`` to build
it where it runs (``placement="worker"``: one per worker process, the default
and fastest for scripted experts and small CPU models; ``"parent"``: in this
process, with workers only stepping environments), or pass an *instance* (a
remote client, a model already loaded), which runs in this process and, since
it keeps per-episode history, one episode at a time.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from hy_vla.eval.report import build_report, write_outputs
from hy_vla.policy.protocol import PolicyLike, seed_noise
from hy_vla.rollout.episode import EpisodeResult, as_chunk, check_policy_compat, restrict_cameras
from hy_vla.rollout.workers import (
    EnvRecipe,
    Job,
    PolicyFactory,
    WorkerSetup,
    close_worker,
    env_server,
    init_pool_worker,
    init_worker,
    run_job,
)
from hy_vla.sim.privileged import policy_view, wants_privileged
from hy_vla.utils.progress import progress as tqdm

PLACEMENTS = ("worker", "parent")


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation run (JSON-serializable; saved in the report)."""

    suite: str
    tasks: tuple[str, ...]
    episodes: int = 50  # per task
    base_seed: int = 0
    workers: int = 0  # 0: everything in this process
    placement: str = "worker"  # where a policy factory is called: "worker" or "parent"
    n_action_steps: int | None = None  # None: execute the whole chunk
    cameras: tuple[str, ...] | None = None  # cameras the policy sees; None: suite default, (): none
    image_size: int | None = None
    max_steps: int | None = None  # None: the suite's standard episode cap
    videos: int = 0  # videos of the first N episodes of each task
    video_camera: str | None = None  # None: the first policy camera (or the suite default)
    out: str = "runs/eval"
    extra: dict[str, Any] = field(default_factory=dict)  # free-form provenance (checkpoint path, ...)

    def __post_init__(self) -> None:
        from hy_vla.sim.registry import check_task

        object.__setattr__(self, "tasks", tuple(self.tasks))
        if self.cameras is not None:
            object.__setattr__(self, "cameras", tuple(self.cameras))
        if not self.tasks:
            raise ValueError("no tasks to evaluate")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"duplicate tasks in {self.tasks}")
        for task in self.tasks:
            check_task(self.suite, task)  # unknown names get suggestions
        if self.episodes <= 0:
            raise ValueError(f"episodes must be positive, got {self.episodes}")
        if self.base_seed < 0 or self.workers < 0 or self.videos < 0:
            raise ValueError("base_seed, workers and videos must be non-negative")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        if self.n_action_steps is not None and self.n_action_steps <= 0:
            raise ValueError(f"n_action_steps must be positive, got {self.n_action_steps}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def jobs(self) -> list[Job]:
        """Task-major order, so a worker reuses its environment for consecutive episodes."""
        return [
            Job(task, i, self.base_seed + i, video=i < self.videos) for task in self.tasks for i in range(self.episodes)
        ]


class Evaluator:
    """Runs `EvalConfig` for a policy and writes ``report.json``, ``success.png`` and videos to ``config.out``."""

    def __init__(self, config: EvalConfig, *, progress: bool = True, command: list[str] | None = None) -> None:
        self.config = config
        self.progress = progress
        self.command = list(sys.argv) if command is None else command

    def run(self, policy: PolicyLike | PolicyFactory) -> dict[str, Any]:
        cfg = self.config
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        # Simulator-only state is exposed only to policies (or factories) that declare they need it.
        privileged = wants_privileged(policy) or bool(getattr(policy, "privileged", False))
        recipe = EnvRecipe(cfg.suite, cfg.cameras, cfg.image_size, cfg.max_steps, cfg.video_camera, privileged)
        recipe = recipe.resolve(cfg.tasks[0], need_video=cfg.videos > 0)
        t0 = time.perf_counter()
        jobs = cfg.jobs()
        bar = tqdm(total=len(jobs), desc=f"eval {cfg.suite}", unit="ep", disable=not self.progress)
        results: list[EpisodeResult] = []

        def done(result: EpisodeResult) -> None:
            results.append(result)
            bar.update(1)
            bar.set_postfix(success=f"{sum(r.success for r in results) / len(results):.0%}", task=result.task)

        if isinstance(policy, PolicyLike):  # has infer/reset: an instance, not a factory
            factory: PolicyFactory = _Shared(policy)
            placement, workers = "parent", min(cfg.workers, 1)  # one history: one episode at a time
        else:
            factory, placement, workers = policy, cfg.placement, cfg.workers
        try:
            if workers == 0 or placement == "worker":
                run_jobs(run_job, jobs, WorkerSetup(recipe, str(out), cfg.n_action_steps, factory), workers, done)
            else:  # the factory is called here; workers get no policy
                _run_in_parent(jobs, WorkerSetup(recipe, str(out), cfg.n_action_steps), factory, workers, done)
        finally:
            bar.close()
        wall = time.perf_counter() - t0
        report = build_report(cfg.to_dict(), recipe, results, command=self.command, wall_s=wall)
        report["placement"] = placement
        write_outputs(out, report)
        return report


class _Shared:
    """Factory returning the same instance for every task (an instance passed to `Evaluator.run`)."""

    def __init__(self, policy: PolicyLike) -> None:
        self.policy = policy

    def __call__(self, task: str) -> PolicyLike:
        return self.policy


def run_jobs(
    fn: Callable[[Any], Any], jobs: list[Any], setup: WorkerSetup, workers: int, done: Callable[[Any], None]
) -> None:
    """`done(fn(job))` for every job: in this process (workers 0) or in `workers` processes set up by `setup`.

    `fn` runs where `init_worker(setup)` ran (`worker_state()` holds the environments and the policy);
    benchmarks pass their own episode function (bench/async_metaworld.py).
    """
    if workers == 0:
        init_worker(setup)
        try:
            for job in jobs:
                done(fn(job))
        finally:
            close_worker()
        return
    # "spawn": workers start clean (no inherited GL contexts or torch thread pools).
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=init_pool_worker, initargs=(setup,)
    ) as pool:
        # Submitted in task-major order: workers mostly stay on one task and reuse its environment.
        futures = [pool.submit(fn, job) for job in jobs]
        try:
            for fut in as_completed(futures):
                done(fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


@dataclass
class _Slot:
    conn: Any
    proc: Any
    job: Job | None = None
    policy: PolicyLike | None = None
    calls: int = 0
    t0: float = 0.0
    action_dim: int = 0


def _run_in_parent(
    jobs: list[Job], setup: WorkerSetup, factory: PolicyFactory, n: int, done: Callable[[EpisodeResult], None]
) -> None:
    """Policies live here (one per worker slot and task); workers execute chunks and send observations back."""
    ctx = mp.get_context("spawn")
    queue = deque(jobs)
    slots: list[_Slot] = []
    policies: dict[tuple[int, str], PolicyLike] = {}
    checked: set[tuple[int, str]] = set()
    for _ in range(n):
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=env_server, args=(child_end, setup), daemon=True)
        proc.start()
        slots.append(_Slot(parent_end, proc))

    def start(i: int) -> None:
        slot = slots[i]
        slot.job = queue.popleft() if queue else None
        if slot.job is None:
            return
        key = (i, slot.job.task)
        if key not in policies:
            policies[key] = factory(slot.job.task)
        slot.policy, slot.calls, slot.t0 = policies[key], 0, time.perf_counter()
        slot.policy.reset()
        seed_noise(slot.policy, slot.job.seed)  # as `run_job` does: repeatable whatever the slot
        slot.conn.send(("reset", slot.job))

    try:
        for i in range(n):
            start(i)
        while any(s.job is not None for s in slots):
            ready = wait([s.conn for s in slots if s.job is not None])
            for i, slot in enumerate(slots):
                if slot.conn not in ready:
                    continue
                msg = slot.conn.recv()
                if msg[0] == "error":
                    raise RuntimeError(f"environment worker failed:\n{msg[1]}")
                assert slot.job is not None and slot.policy is not None
                if msg[0] == "done":
                    result: EpisodeResult = msg[1]
                    result.policy_calls, result.wall_s = slot.calls, time.perf_counter() - slot.t0
                    done(result)
                    start(i)
                    continue
                obs, spec = msg[1], msg[2]
                if spec is not None:
                    key = (i, slot.job.task)
                    if key not in checked:
                        check_policy_compat(slot.policy, spec)
                        checked.add(key)
                    slot.action_dim = spec.action_dim
                view = policy_view(slot.policy, restrict_cameras(obs, setup.recipe.cameras))
                chunk = as_chunk(slot.policy.infer(view), slot.action_dim)
                slot.calls += 1
                slot.conn.send(("act", chunk[: setup.n_action_steps or len(chunk)]))
    finally:
        for slot in slots:
            try:
                slot.conn.send(("close",))
            except (BrokenPipeError, OSError):
                pass
        for slot in slots:
            slot.proc.join(timeout=10)
            if slot.proc.is_alive():
                slot.proc.terminate()
