"""Scripted-expert demonstrations written as a LeRobot v3 dataset (with ``norm_stats.json``).

Protocol:

- attempt ``k`` of every task starts from seed ``seed + k`` (default seed 100000: training layouts never
  coincide with evaluation episodes, which use seeds 0, 1, 2, ... by default); attempts run in worker
  processes (or in this process with ``workers=0``) and come back as whole episodes;
- episodes are decided and written in attempt order per task (a small reorder
  buffer), so the same command gives the same dataset whatever the worker timing;
- only successful episodes are kept unless ``keep_failures``; failed attempts are
  retried with new seeds until ``episodes`` successes or ``max_attempts``;
- the dataset appears at ``out`` only when `LeRobotV3Writer.finalize` succeeds:
  an error or Ctrl-C leaves no half-written dataset;
- collection is resumable: the dataset is built in ``.<out>.resume/`` with a checkpoint about every
  minute (and at Ctrl-C or an error between episodes); the same command run again continues from the
  last checkpoint, so every task gets exactly its missing episodes, from the seeds an uninterrupted run
  would have used. A different configuration for the same ``out`` is refused, and so is rerunning a
  finished dataset with another one; rerunning it with its own returns its summary (nothing to do).

Frame ``t`` stores the observation the expert acted on and the action taken. The full
privileged simulator state is never stored; adapters that name an ``env_state_names``
vector (Meta-World: object and goal xyz) also get it written as LeRobot's
``observation.environment_state`` column, a training-time auxiliary target that no policy
reads as input. Adapters that declare ``extra_columns`` ({column: channel names}) and
``column_values(obs, action)`` get those columns recorded too (ALOHA under end-effector
control: the joint state and the joint targets next to the poses, so one dataset trains
either representation). The instruction is the LeRobot task.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from hy_vla.keys import ACTION, STATE, image_key
from hy_vla.rollout.episode import run_episode
from hy_vla.rollout.factories import ScriptedExpertFactory
from hy_vla.rollout.workers import (
    EnvRecipe,
    Job,
    WorkerSetup,
    close_worker,
    init_pool_worker,
    init_worker,
    worker_state,
)
from hy_vla.sim.privileged import ENV_STATE_COLUMN, ENV_STATE_OBS
from hy_vla.utils.progress import progress as tqdm
from hy_vla.utils.versions import package_versions

# Demonstrations start far from the evaluation seeds (0, 1, 2, ...) so train and test layouts differ.
DEFAULT_COLLECT_SEED = 100_000

NORM_MODES = {STATE: "mean_std", ACTION: "mean_std", ENV_STATE_COLUMN: "mean_std"}  # the env state where recorded

# Fields of CollectConfig that do not change what is collected: a resumed run may change them.
RUN_ONLY_FIELDS = ("out", "workers")
# Fields that earlier collections recorded and CollectConfig no longer has, with the value that collected what
# collection does now (action noise: measured without gain and removed, bench/RESULTS.md). A stored one at that
# value is the same collection; at any other value it made other demonstrations.
RETIRED_FIELDS: dict[str, Any] = {"action_noise": 0.0}
CHECKPOINT_S = 60.0  # at most this much collection is redone after a kill (Ctrl-C loses nothing)


# collection.json's "format_version": what a dataset's history guarantees, so readers need not infer it from columns.
# 2: frame 0 of every Meta-World episode is rendered after the reset's forward kinematics (the goal marker is where
# the goal is; version 1 datasets may show it at a stale position in frame 0).
COLLECTION_FORMAT_VERSION = 2


@dataclass(frozen=True)
class CollectConfig:
    """One collection run (JSON-serializable; saved as ``collection.json`` next to the dataset)."""

    suite: str
    tasks: tuple[str, ...]
    out: str
    episodes: int = 50  # kept episodes per task
    cameras: tuple[str, ...] | None = None  # None: the suite default
    image_size: int | None = None
    seed: int = DEFAULT_COLLECT_SEED
    workers: int = 0
    keep_failures: bool = False
    max_attempts: int | None = None  # per task; None: 3 x episodes + 10
    max_steps: int | None = None

    def __post_init__(self) -> None:
        from hy_vla.sim.registry import check_task

        object.__setattr__(self, "tasks", tuple(self.tasks))
        if self.cameras is not None:
            object.__setattr__(self, "cameras", tuple(self.cameras))
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"need distinct task names, got {self.tasks}")
        for task in self.tasks:
            check_task(self.suite, task)
        if self.episodes <= 0 or self.seed < 0 or self.workers < 0:
            raise ValueError("episodes must be positive; seed and workers non-negative")
        if self.cameras == ():
            raise ValueError("a dataset needs at least one camera")
        if self.max_attempts is not None and self.max_attempts < self.episodes:
            raise ValueError(f"max_attempts ({self.max_attempts}) < episodes ({self.episodes})")

    def first_seed(self, task: str) -> int:
        """The seed of `task`'s attempt 0."""
        return self.seed

    @property
    def attempt_cap(self) -> int:
        if self.keep_failures:
            return self.episodes  # every attempt is kept
        return self.max_attempts if self.max_attempts is not None else 3 * self.episodes + 10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Episode:
    """One expert attempt with its frames: images (T, H, W, 3) uint8, state/action (T, D) float32."""

    task: str
    attempt: int
    seed: int
    success: bool
    instruction: str
    frames: dict[str, np.ndarray]

    @property
    def length(self) -> int:
        return len(self.frames[ACTION])


def collect_attempt(job: Job) -> Episode:
    """Run the expert once in this worker and return the whole episode (worker side)."""
    state = worker_state()
    env = state.env(job.task, video=False)
    policy = state.policy(job.task)
    cameras = state.setup.recipe.cameras or ()
    images: dict[str, list[np.ndarray]] = {c: [] for c in cameras}
    states: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    env_states: list[np.ndarray] = []
    with_env_state = getattr(env, "env_state_names", None) is not None
    extra: dict[str, list[np.ndarray]] = {column: [] for column in getattr(env, "extra_columns", None) or {}}

    def record(obs: dict[str, Any], action: np.ndarray) -> None:
        for cam in cameras:
            images[cam].append(obs[image_key(cam)])
        states.append(np.asarray(obs[STATE], dtype=np.float32))
        actions.append(np.asarray(action, dtype=np.float32))
        if with_env_state:
            env_states.append(np.asarray(obs[ENV_STATE_OBS], dtype=np.float32))
        if extra:
            for column, value in env.column_values(obs, action).items():
                extra[column].append(np.asarray(value, dtype=np.float32))

    result = run_episode(env, policy, job.seed, task=job.task, episode=job.episode, hooks=[record])
    frames = {image_key(c): np.stack(images[c]) for c in cameras}  # (T, H, W, 3) uint8
    frames[STATE] = np.stack(states)  # (T, S)
    frames[ACTION] = np.stack(actions)  # (T, A)
    if with_env_state:
        frames[ENV_STATE_COLUMN] = np.stack(env_states)  # (T, E)
    for column, values in extra.items():
        frames[column] = np.stack(values)  # (T, C)
    return Episode(job.task, job.episode, job.seed, result.success, env.spec.instruction, frames)


def dataset_features(env: Any) -> dict[str, dict[str, Any]]:
    """LeRobot feature specs for an adapter's cameras, state and action."""
    spec = env.spec
    h, w = spec.image_size
    state_names = list(getattr(env, "state_names", None) or [f"s{i}" for i in range(spec.state_dim)])
    action_names = list(getattr(env, "action_names", None) or [f"a{i}" for i in range(spec.action_dim)])
    features: dict[str, dict[str, Any]] = {
        image_key(c): {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"]}
        for c in spec.cameras
    }
    features[STATE] = {"dtype": "float32", "shape": [spec.state_dim], "names": state_names}
    features[ACTION] = {"dtype": "float32", "shape": [spec.action_dim], "names": action_names}
    env_state_names = getattr(env, "env_state_names", None)
    if env_state_names is not None:  # simulator-only auxiliary target (module docstring)
        features[ENV_STATE_COLUMN] = {
            "dtype": "float32", "shape": [len(env_state_names)], "names": list(env_state_names)
        }  # fmt: skip
    for column, names in (getattr(env, "extra_columns", None) or {}).items():
        features[column] = {"dtype": "float32", "shape": [len(names)], "names": list(names)}
    return features


class _Scheduler:
    """Decides which attempt to run next and which finished attempts to keep, in attempt order per task."""

    def __init__(self, config: CollectConfig) -> None:
        self.cfg = config
        self.kept: dict[str, int] = defaultdict(int)
        self.submitted: dict[str, int] = defaultdict(int)
        self.decided: dict[str, int] = defaultdict(int)  # attempts resolved, in order
        self.buffer: dict[str, dict[int, Episode]] = defaultdict(dict)
        self.successes = self.attempts = 0

    def _in_flight(self, task: str) -> int:
        return self.submitted[task] - self.decided[task]

    def next_jobs(self, limit: int) -> Iterator[Job]:
        """Up to `limit` new attempts, earliest task first, never more than could still be kept."""
        for task in self.cfg.tasks:
            while limit > 0 and self.submitted[task] < self.cfg.attempt_cap:
                if self.kept[task] + self._in_flight(task) >= self.cfg.episodes:
                    break
                k = self.submitted[task]
                self.submitted[task] += 1
                limit -= 1
                yield Job(task, k, self.cfg.first_seed(task) + k, video=False)

    def restore(self, notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Continue from checkpoint notes (`progress`); returns the kept episodes' records, in dataset order."""
        episodes = [e for note in notes for e in note["episodes"]]
        if notes:
            for task, n in notes[-1]["decided"].items():
                self.decided[task] = self.submitted[task] = n
            self.successes = notes[-1]["successes"]
            self.attempts = sum(self.decided.values())
        for e in episodes:
            self.kept[e["task"]] += 1
        return episodes

    def progress(self, episodes: list[dict[str, Any]]) -> dict[str, Any]:
        """A checkpoint note: the episodes kept since the last one and the attempts decided so far."""
        return {"episodes": episodes, "decided": dict(self.decided), "successes": self.successes}

    def finish(self, ep: Episode) -> list[Episode]:
        """Record an attempt; return the episodes that can now be written, in order."""
        self.buffer[ep.task][ep.attempt] = ep
        out = []
        while self.decided[ep.task] in self.buffer[ep.task]:
            nxt = self.buffer[ep.task].pop(self.decided[ep.task])
            self.decided[ep.task] += 1
            self.attempts += 1  # counted when decided, so a checkpoint's counts match what it kept
            self.successes += nxt.success
            if (nxt.success or self.cfg.keep_failures) and self.kept[ep.task] < self.cfg.episodes:
                self.kept[ep.task] += 1
                out.append(nxt)
        return out

    def shortfall(self) -> dict[str, int]:
        return {t: self.cfg.episodes - self.kept[t] for t in self.cfg.tasks if self.kept[t] < self.cfg.episodes}


def config_difference(stored: dict[str, Any], config: CollectConfig) -> str:
    """What differs between a stored collection config and `config` ("" when it is the same collection)."""
    # A field added since `stored` was written reads as its default, a retired one at its neutral value is dropped
    # (an old dataset keeps matching).
    defaults = {f.name: f.default for f in fields(CollectConfig) if f.default is not MISSING}
    stored = {k: v for k, v in stored.items() if k not in RETIRED_FIELDS or v != RETIRED_FIELDS[k]}
    stored = {**{k: v for k, v in defaults.items() if k not in stored}, **stored}
    stored, new = json.loads(json.dumps(stored)), json.loads(json.dumps(config.to_dict()))  # tuples as lists
    keys = [k for k in sorted(set(stored) | set(new)) if k not in RUN_ONLY_FIELDS and stored.get(k) != new.get(k)]

    def short(value: Any) -> str:
        return f"[{len(value)} names]" if isinstance(value, list) and len(value) > 4 else repr(value)

    return ", ".join(f"{k} {short(stored.get(k))} here, {short(new.get(k))} asked" for k in keys)


def _finished(root: Path, config: CollectConfig) -> dict[str, Any]:
    """The summary of the finished collection at `root` when it is this configuration's; raises otherwise."""
    path = root / "collection.json"
    if not path.is_file():
        raise FileExistsError(f"{root} already exists and is not a collection; choose a new --out")
    summary = json.loads(path.read_text())
    why = config_difference(summary.get("config", {}), config)
    if summary.get("format_version") != COLLECTION_FORMAT_VERSION:
        why = why or f"format {summary.get('format_version')} here, {COLLECTION_FORMAT_VERSION} now"
    if why:
        raise FileExistsError(f"{root} already exists with another collection ({why}); choose a new --out")
    return {**summary, "added": 0}


def collect(config: CollectConfig, *, progress: bool = True, checkpoint_s: float = CHECKPOINT_S) -> dict[str, Any]:
    """Collect (or finish collecting) the dataset at ``config.out``; returns the summary saved as ``collection.json``.

    The returned summary also says how many episodes this call ``added``. `checkpoint_s`: seconds between
    checkpoints (0: after every kept episode).
    """
    from hy_vla.data.lerobot.resume import resume_dir
    from hy_vla.data.lerobot.writer import LeRobotV3Writer

    root = Path(config.out)
    if root.exists():
        return _finished(root, config)
    recipe = EnvRecipe(config.suite, config.cameras, config.image_size, config.max_steps, privileged=True).resolve(
        config.tasks[0], need_video=False
    )
    sched = _Scheduler(config)
    if resume_dir(root).is_dir():
        writer, header, notes = LeRobotV3Writer.resume(root)
        why = config_difference(header.get("config", {}), config)
        if header.get("format_version") != COLLECTION_FORMAT_VERSION:
            why = why or f"format {header.get('format_version')} there, {COLLECTION_FORMAT_VERSION} now"
        if why:
            writer.suspend()
            raise ValueError(
                f"{resume_dir(root)} holds an interrupted collection of {root} with another configuration ({why}); "
                "finish it with its own command or choose a new --out"
            )
    else:
        with recipe.make(config.tasks[0], recipe.cameras) as probe:
            features, fps, embodiment = dataset_features(probe), probe.spec.fps, probe.spec.embodiment
        # finalize() also writes norm_stats.json (compute_norm_stats on state and action).
        writer = LeRobotV3Writer.create(
            root,
            fps=round(fps),
            features=features,
            robot_type=embodiment,
            embodiment=embodiment,
            norm_modes={k: m for k, m in NORM_MODES.items() if k in features},
            resumable=True,
            note={"config": config.to_dict(), "format_version": COLLECTION_FORMAT_VERSION},
        )
        notes = []
    episodes_meta = sched.restore(notes)
    sessions = _sessions(notes)
    session, resumed = 1 + max((n["session"] for n in notes), default=-1), len(episodes_meta)
    setup = WorkerSetup(recipe, str(root), None, ScriptedExpertFactory(config.suite))
    total = config.episodes * len(config.tasks)
    bar = tqdm(total=total, initial=resumed, desc=f"collect {config.suite}", unit="ep", disable=not progress)
    t0 = last_checkpoint = time.perf_counter()
    state = {"journaled": len(episodes_meta), "between_episodes": True}

    def checkpoint() -> None:
        nonlocal last_checkpoint
        note = sched.progress(episodes_meta[state["journaled"] :])
        writer.checkpoint({**note, "session": session, "wall_s": time.perf_counter() - t0})
        state["journaled"], last_checkpoint = len(episodes_meta), time.perf_counter()

    def write(done: Episode) -> None:
        state["between_episodes"] = False
        for ep in sched.finish(done):
            writer.add_episode(ep.frames, task=ep.instruction)
            episodes_meta.append({"task": ep.task, "seed": ep.seed, "success": ep.success, "length": ep.length})
            bar.update(1)
        state["between_episodes"] = True
        bar.set_postfix(expert_success=f"{sched.successes}/{sched.attempts}")
        if time.perf_counter() - last_checkpoint >= checkpoint_s and len(episodes_meta) > state["journaled"]:
            checkpoint()

    try:
        if config.workers == 0:
            init_worker(setup)
            try:
                while jobs := list(sched.next_jobs(1)):
                    write(collect_attempt(jobs[0]))
            finally:
                close_worker()
        else:
            _collect_in_workers(setup, sched, config.workers, write)
        if episodes_meta:
            checkpoint()  # everything durable before finalize, which could still fail
    except BaseException:
        bar.close()
        if state["between_episodes"]:  # Ctrl-C or an error outside the writer: keep what is written
            try:
                checkpoint()
            except Exception:  # noqa: BLE001 - the last good checkpoint stays; the original error matters
                pass
        writer.suspend()
        raise
    bar.close()
    if not episodes_meta:
        writer.abort()  # every attempt ran and failed: a rerun would do the same, nothing to resume
        raise RuntimeError(f"no episode kept after {sched.attempts} attempts: nothing to write")
    sessions.append({"added": len(episodes_meta) - resumed, "wall_s": time.perf_counter() - t0})
    summary = {
        "format_version": COLLECTION_FORMAT_VERSION,
        "config": config.to_dict(),
        "env": asdict(recipe),
        "episodes": episodes_meta,  # dataset episode_index order
        "kept": len(episodes_meta),
        "attempts": sched.attempts,
        "expert_success_rate": sched.successes / max(1, sched.attempts),
        "shortfall": sched.shortfall(),  # tasks that hit the attempt cap
        "wall_s": sum(s["wall_s"] for s in sessions),
        "sessions": sessions,  # one per run of the command that added episodes
        "versions": package_versions(),
    }
    try:
        # inside the dataset before its rename: a kill at the last moment leaves both or neither
        writer.finalize(extra_files={"collection.json": json.dumps(summary, indent=2) + "\n"})
    except BaseException:
        writer.suspend()  # every episode is checkpointed: a rerun only finalizes
        raise
    return {**summary, "added": sessions[-1]["added"]}


def _sessions(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Episodes added and wall time of each earlier run, from its checkpoint notes."""
    sessions: dict[int, dict[str, Any]] = {}
    for note in notes:
        s = sessions.setdefault(note["session"], {"added": 0, "wall_s": 0.0})
        s["added"] += len(note["episodes"])
        s["wall_s"] = note["wall_s"]
    return [sessions[k] for k in sorted(sessions)]


def _collect_in_workers(setup: WorkerSetup, sched: _Scheduler, n: int, write: Any) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # clean workers: no inherited GL contexts
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=init_pool_worker, initargs=(setup,)) as pool:
        running: set[Future] = set()
        while True:
            for job in sched.next_jobs(2 * n - len(running)):  # a little queue keeps workers busy
                running.add(pool.submit(collect_attempt, job))
            if not running:
                return
            finished, running = wait_futures(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                write(fut.result())
