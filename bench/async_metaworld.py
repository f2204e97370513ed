"""Asynchronous execution on Meta-World: success and chunk-boundary smoothness against simulated latency.

    .venv/bin/python bench/async_metaworld.py --checkpoint DIR --tasks drawer-open-v3,door-open-v3 \\
        --episodes 20 --latencies 0,50,100,200 --modes sync,async-none,async-bezier,async-rtc \\
        --workers 2 --image-size 96 --max-steps 200 --out runs/async_metaworld

--checkpoint takes a checkpoint folder or a training run folder (its newest complete checkpoint).
Output: a markdown table on stdout and in OUT/results.md, everything in OUT/results.json.

Modes (one evaluation per mode x latency cell):

    sync          the standard receding-horizon evaluation: query, execute --sync-action-steps actions, query
                  again. The simulator waits for every chunk, so latency does not change the closed loop in
                  simulation: sync runs ONCE and its numbers are shown at every latency. What latency costs a
                  real robot here is standing still; reported as idle time (queries x latency per episode).
    async-none    naive asynchronous execution (`SimAsyncPolicy`, stitch "none"): switch to the new chunk as
                  soon as it arrives;
    async-linear, async-bezier
                  cross-fade from the old chunk to the new one over the overlap (linear or cubic Bezier);
    async-rtc     real-time chunking: the new chunk is denoised with guidance toward the old one
                  (`CheckpointPolicy` with the prefix keys), then switched to.

Latency model (`hy_vla.runtime.sim_async`): a request made from the observation of step k returns d = ceil(L / T)
control steps later; meanwhile the robot keeps executing the old chunk, and those d actions are never rewritten.
T is the checkpoint embodiment's control period: Meta-World runs at 80 Hz, T = 12.5 ms, so 0 / 50 / 100 / 200 ms
are d = 0 / 4 / 8 / 16 steps.

Feasibility (`plan_cell`, the rule `SimAsyncPolicy` enforces): a chunk of C = horizon x action_stride actions
must outlive the latency, d < C. A horizon-16 checkpoint at 200 ms has d = 16 = C: every chunk would arrive
with nothing usable left. Such a cell is NOT run; it is reported as infeasible with that reason. The protocol is
never changed silently: --control-period-ms overrides T (each simulator step is then taken to last that long,
which is a different protocol; it is written into the table header and the JSON). A feasible cell can still be
degenerate; in steady state a request is made with r = min(C - d, d + overlap + margin) actions left, so the
chunk arrives with max(0, r - d) old actions past the committed prefix to blend or guide toward (0: bezier and
linear behave like none) and the buffer runs dry for max(0, d - r) steps per request (each an underrun: the last
action is held). Both predictions are in the JSON; underruns are also measured.

Protocol: episode i of every task starts from seed base_seed + i (`EvalConfig.jobs`, as `hy-vla eval`); the
policy sees exactly the checkpoint's cameras; --image-size and --max-steps as in `hy-vla eval` (default: the
suite's, 500 steps; the demo's protocol is 96 px and 200 steps). Every cell runs the same seeds. The flow-matching
noise stream restarts from the episode's seed at each episode, so every mode sees the same noise for the same
episode and no result depends on which worker ran it; one consequence is a built-in check: async-none at 0 ms
re-plans every C - overlap - margin steps with no stitching, which is exactly sync with the default
--sync-action-steps, so the two must agree episode for episode (reported as "check").

Smoothness: a step hook (`ActionRecorder`, which needs no extra rendering) records the executed actions (clipped
as executed); chunk boundaries are the steps where stitched actions begin (the scheduler's `boundaries`; sync:
every --sync-action-steps steps). The statistics are bench/async_smoothness.py's `jerk_stats` over the three hand
channels (the gripper's near-binary open/close command would dominate the norm): jerk = norm of the third
difference of the actions, a boundary window = the three samples that straddle a boundary. A Meta-World action is
a per-step hand displacement (a velocity command), so the "accel" statistic in the JSON (second difference) is
the commanded hand path's jerk; the table shows "jerk" as the issue asks, the JSON has both. Per cell: the mean
over episodes of each episode's boundary and within means, and the ratio of those two means.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from async_smoothness import jerk_stats  # bench/ is on sys.path when this script runs
from tqdm import tqdm

from hy_vla.eval.report import build_report
from hy_vla.eval.runner import EvalConfig, run_jobs
from hy_vla.rollout.episode import ActionRecorder, EpisodeResult, check_policy_compat, run_episode
from hy_vla.rollout.workers import EnvRecipe, Job, WorkerSetup, worker_state
from hy_vla.runtime.blend import latency_steps
from hy_vla.runtime.scheduler import AsyncConfig
from hy_vla.utils.names import did_you_mean
from hy_vla.utils.versions import package_versions

SUITE = "metaworld"
MODES = {"sync": None, "async-none": "none", "async-linear": "linear", "async-bezier": "bezier", "async-rtc": "rtc"}
ARM = slice(0, 3)  # Meta-World action: hand xyz displacement, then the gripper effort
JERK_KEYS = ("jerk_boundary", "jerk_within", "accel_boundary", "accel_within")


@dataclass(frozen=True)
class CellPlan:
    """What one mode x latency cell will do, known before running it (see the module docstring)."""

    mode: str
    latency_ms: float
    period_ms: float
    d: int  # control steps of latency: ceil(L / T)
    chunk: int  # actions per chunk, C = horizon x action_stride
    feasible: bool
    note: str = ""  # why infeasible, or what to keep in mind when reading the numbers
    request_buffer: int | None = None  # steady state: old actions left when a request is made (async)
    overlap_at_arrival: int | None = None  # steady state: old actions past the committed prefix on arrival
    dry_steps: int | None = None  # steady state: steps per request with an empty buffer (underruns)


def plan_cell(mode: str, latency_ms: float, period_ms: float, chunk: int, overlap: int, margin: int) -> CellPlan:
    """Feasibility and steady-state timeline of one cell (pure; mirrors `SimAsyncPolicy` / `ChunkScheduler`)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}.{did_you_mean(mode, MODES)}")
    d = latency_steps(latency_ms / 1000.0, period_ms / 1000.0)
    base = {"mode": mode, "latency_ms": latency_ms, "period_ms": period_ms, "d": d, "chunk": chunk}
    if MODES[mode] is None:
        note = "one run for all latencies (the simulator waits for each chunk)"
        return CellPlan(**base, feasible=True, note=note)
    if d >= chunk:
        note = (
            f"infeasible: d = ceil({latency_ms:g} / {period_ms:g} ms) = {d} steps >= chunk of {chunk} actions "
            f"(nothing usable would arrive); needs a chunk > {d} steps"
        )
        return CellPlan(**base, feasible=False, note=note)
    r = min(chunk - d, d + overlap + margin)
    olap, dry = max(0, r - d), max(0, d - r)
    notes = []
    if dry:
        notes.append(f"buffer dry {dry} of every {d} steps")
    if olap == 0 and MODES[mode] in ("linear", "bezier"):
        notes.append("no overlap left to blend after the first switch")
    note = "; ".join(notes)
    return CellPlan(**base, feasible=True, note=note, request_buffer=r, overlap_at_arrival=olap, dry_steps=dry)


@dataclass(frozen=True)
class EpisodeTask:
    """One episode of one run (picklable: it travels to a worker)."""

    run: str  # "sync" or "<mode>@<latency>ms"
    job: Job
    async_config: AsyncConfig | None  # None: sync
    sync_action_steps: int


@dataclass
class EpisodeRecord:
    run: str
    result: EpisodeResult
    stats: dict[str, float]  # jerk_stats of the arm channels
    boundaries: int
    underruns: int
    stale_chunks: int
    chunks: int


def run_task(task: EpisodeTask) -> EpisodeRecord:
    """Worker side: one episode with the worker's checkpoint policy, executed as `task` says.

    The evaluator's machinery (`init_pool_worker`, `worker_state`, `run_episode`) with our own job function, as
    `hy_vla.sim.collect` does: `Evaluator.run` returns only `EpisodeResult`s, and one pool for every cell loads
    the checkpoint once per worker instead of once per cell.
    """
    from hy_vla.runtime.sim_async import SimAsyncPolicy

    state = worker_state()
    env = state.env(task.job.task, video=False)
    base = state.policy(task.job.task)  # one CheckpointPolicy per process; without a prefix it is plain
    base.generator.manual_seed(task.job.seed)  # the same noise stream for this episode in every mode
    sync = task.async_config is None
    policy = base if sync else SimAsyncPolicy(base, task.async_config)
    check_policy_compat(policy, env.spec)
    recorder = ActionRecorder()
    result = run_episode(
        env,
        policy,
        task.job.seed,
        task=task.job.task,
        episode=task.job.episode,
        n_action_steps=task.sync_action_steps if sync else None,
        policy_cameras=state.setup.recipe.cameras,
        hooks=[recorder],
    )
    actions = np.stack(recorder.actions)  # (T, A) as executed
    n = len(actions)
    if sync:  # a new chunk starts every sync_action_steps steps
        bounds = list(range(task.sync_action_steps, n, task.sync_action_steps))
        underruns, stale, chunks = 0, 0, result.policy_calls
    else:
        sch = policy.scheduler
        bounds = [b for b in sch.boundaries if 0 < b < n]
        underruns, stale, chunks = sch.underruns, sch.stale_chunks, sch.chunks
    stats = jerk_stats(actions[:, ARM], bounds)
    return EpisodeRecord(task.run, result, stats, len(bounds), underruns, stale, chunks)


def _nanmean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def summarize(records: list[EpisodeRecord], eval_dict: dict[str, Any], recipe: EnvRecipe) -> dict[str, Any]:
    """Success (the evaluation report's per-task and overall numbers) + smoothness + buffer statistics of a run."""
    episode_s = sum(r.result.wall_s for r in records)  # summed over workers running in parallel
    report = build_report(eval_dict, recipe, [r.result for r in records], command=[], wall_s=episode_s)
    tasks = {t: {k: v for k, v in s.items() if k != "episodes"} for t, s in report["tasks"].items()}
    n = len(records)
    smooth = {k: _nanmean([r.stats[k] for r in records]) for k in JERK_KEYS}
    for name in ("jerk", "accel"):
        b, w = smooth[f"{name}_boundary"], smooth[f"{name}_within"]
        smooth[f"{name}_ratio"] = b / w if b is not None and w else None  # ratio of the means
        smooth[f"{name}_ratio_mean"] = _nanmean([r.stats[f"{name}_ratio"] for r in records])  # mean of ratios
    return {
        "success": {"overall": report["overall"], "tasks": tasks},
        "smoothness": smooth,
        "underruns": sum(r.underruns for r in records),
        "underruns_per_episode": sum(r.underruns for r in records) / n,
        "stale_chunks": sum(r.stale_chunks for r in records),
        "chunks_per_episode": sum(r.chunks for r in records) / n,
        "policy_calls_per_episode": sum(r.result.policy_calls for r in records) / n,
        "boundaries_per_episode": sum(r.boundaries for r in records) / n,
        "episode_s_sum": episode_s,
        "episode_s_mean": episode_s / n,
        "episodes": [
            {
                "task": r.result.task,
                "seed": r.result.seed,
                "success": r.result.success,
                "length": r.result.length,
                "policy_calls": r.result.policy_calls,
                "underruns": r.underruns,
                "chunks": r.chunks,
                **r.stats,
            }
            for r in sorted(records, key=lambda r: (r.result.task, r.result.episode))
        ],
    }


def run_tasks(tasks: list[EpisodeTask], setup: WorkerSetup, workers: int) -> dict[str, list[EpisodeRecord]]:
    """All episodes of all runs (one pool: each worker loads the checkpoint once) -> {run: records}."""
    out: dict[str, list[EpisodeRecord]] = {t.run: [] for t in tasks}
    bar = tqdm(total=len(tasks), desc="async-metaworld", unit="ep")

    def done(rec: EpisodeRecord) -> None:
        out[rec.run].append(rec)
        bar.update(1)
        bar.set_postfix(run=rec.run)

    try:
        run_jobs(run_task, tasks, setup, workers, done)
    finally:
        bar.close()
    return out


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "–" if x is None else format(x, spec)


def _success(s: dict[str, Any], rate_key: str = "success_rate") -> str:
    lo, hi = s["ci95"]
    k, n = s["successes"], s.get("n", s.get("episodes"))
    return f"{s[rate_key]:.0%} ({k}/{n}) [{lo:.2f}, {hi:.2f}]"


def markdown(result: dict[str, Any]) -> str:
    """The per mode x latency table (success per task and overall, smoothness, buffer) and the protocol line."""
    cfg, tasks = result["config"], result["config"]["tasks"]
    lines = [
        f"Checkpoint `{cfg['checkpoint']}`; {len(tasks)} tasks x {cfg['episodes']} episodes "
        f"(seeds {cfg['base_seed']}..{cfg['base_seed'] + cfg['episodes'] - 1}); control period "
        f"{cfg['period_ms']:g} ms ({cfg['period_source']}); chunk {cfg['chunk']} actions; overlap {cfg['overlap']}, "
        f"margin {cfg['margin']}; sync executes {cfg['sync_action_steps']} actions per query; image size "
        f"{cfg['image_size'] or 'suite default'}, max steps {cfg['max_steps'] or 'suite default'}.",
        "",
        "| latency | d | mode | success (mean over tasks) [95% CI] | "
        + " | ".join(tasks)
        + " | jerk @ boundary | jerk within | ratio | underruns/ep | chunks/ep | idle s/ep | note |",
        "|---|---|---|---|" + "---|" * len(tasks) + "---|---|---|---|---|---|---|",
    ]
    for cell in result["cells"]:
        head = f"| {cell['latency_ms']:g} ms | {cell['d']} | {cell['mode']} |"
        if not cell["feasible"]:
            lines.append(f"{head} infeasible |{' – |' * (len(tasks) + 6)} {cell['note']} |")
            continue
        run = result["runs"][cell["run"]]
        sm = run["smoothness"]
        per_task = " | ".join(_success(run["success"]["tasks"][t]) for t in tasks)
        lines.append(
            f"{head} {_success(run['success']['overall'])} | {per_task} | {_fmt(sm['jerk_boundary'])} | "
            f"{_fmt(sm['jerk_within'])} | {_fmt(sm['jerk_ratio'], '.2f')} | {run['underruns_per_episode']:.1f} | "
            f"{run['chunks_per_episode']:.1f} | {cell['idle_s_per_episode']:.2f} | {cell['note']} |"
        )
    if result.get("check"):
        lines += ["", f"Check: {result['check']}"]
    lines += ["", f"Command: `{' '.join(result['command'])}`; wall {result['wall_s']:.0f} s."]
    return "\n".join(lines)


def consistency_check(runs: dict[str, Any], sync_steps: int, chunk: int, overlap: int, margin: int) -> str | None:
    """Whether async-none at 0 ms reproduced sync episode for episode (only when the two coincide by design)."""
    if "sync" not in runs or "async-none@0ms" not in runs or sync_steps != chunk - overlap - margin:
        return None
    fields = ("success", "length", "jerk_boundary", "jerk_within")
    a, b = runs["sync"]["episodes"], runs["async-none@0ms"]["episodes"]
    same = [all(_same(x[f], y[f]) for f in fields) for x, y in zip(a, b, strict=True)]
    return f"async-none at 0 ms reproduces sync in {sum(same)}/{len(same)} episodes ({', '.join(fields)})"


def _same(x: Any, y: Any) -> bool:
    return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))


def resolve_checkpoint(path: str) -> Path:
    """`hy_vla.training.checkpointing.resolve_checkpoint` with a command-line error."""
    from hy_vla.training.checkpointing import resolve_checkpoint as resolve

    try:
        return resolve(path)
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}") from e


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="checkpoint folder (or a training run folder)")
    ap.add_argument("--tasks", required=True, help="comma-separated Meta-World tasks")
    ap.add_argument("--episodes", type=int, default=20, help="episodes per task and cell (seeds base-seed + i)")
    ap.add_argument("--latencies", default="0,50,100,200", help="simulated latencies in ms")
    ap.add_argument("--modes", default="sync,async-none,async-bezier,async-rtc", help=f"any of {', '.join(MODES)}")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (0: this process)")
    ap.add_argument("--out", required=True, help="output folder (results.json, results.md)")
    ap.add_argument("--base-seed", type=int, default=0)
    ap.add_argument("--image-size", type=int, default=None, help="render size (default: the suite's)")
    ap.add_argument("--max-steps", type=int, default=None, help="episode cap (default: the suite's, 500)")
    ap.add_argument("--overlap", type=int, default=4, help="blend / guidance window after the committed prefix")
    ap.add_argument("--margin", type=int, default=1, help="extra steps of slack in the request trigger")
    ap.add_argument("--sync-action-steps", type=int, default=None, help="default: chunk - overlap - margin")
    ap.add_argument(
        "--control-period-ms",
        type=float,
        default=None,
        help="override T (default: 1000 / the embodiment's fps, 12.5 ms on Meta-World); changes the protocol",
    )
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    args.task_list = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    args.mode_list = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    for m in args.mode_list:
        if m not in MODES:
            ap.error(f"unknown mode {m!r}.{did_you_mean(m, MODES)}")
    try:
        args.latency_list = tuple(float(x) for x in args.latencies.split(",") if x.strip())
    except ValueError:
        ap.error(f"--latencies must be comma-separated numbers of ms, got {args.latencies!r}")
    if not args.latency_list or any(not (x >= 0 and math.isfinite(x)) for x in args.latency_list):
        ap.error("--latencies must be finite and >= 0")
    if args.control_period_ms is not None and not args.control_period_ms > 0:
        ap.error("--control-period-ms must be positive")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    from hy_vla.embodiments import get_embodiment
    from hy_vla.models.config import HyVLAConfig
    from hy_vla.rollout.factories import CheckpointFactory

    ckpt = resolve_checkpoint(args.checkpoint)
    mcfg = HyVLAConfig.from_pretrained(ckpt)
    chunk = mcfg.horizon * mcfg.action_stride
    fps = get_embodiment(mcfg.embodiment).fps
    if args.control_period_ms is None:
        period_ms, source = 1000.0 / fps, f"{mcfg.embodiment} at {fps:g} Hz"
    else:
        period_ms, source = args.control_period_ms, f"OVERRIDDEN by --control-period-ms; the simulator runs {fps:g} Hz"
    sync_steps = args.sync_action_steps or chunk - args.overlap - args.margin
    if not 1 <= sync_steps <= chunk:
        raise SystemExit(f"error: sync executes {sync_steps} actions per query; need 1..{chunk} (--sync-action-steps)")
    out = Path(args.out)
    eval_cfg = EvalConfig(
        suite=SUITE,
        tasks=args.task_list,
        episodes=args.episodes,
        base_seed=args.base_seed,
        workers=args.workers,
        cameras=mcfg.camera_names,
        image_size=args.image_size,
        max_steps=args.max_steps,
        out=str(out),
        extra={"checkpoint": str(ckpt)},
    )  # validates tasks (with suggestions), episodes, seeds
    recipe = EnvRecipe(SUITE, mcfg.camera_names, args.image_size, args.max_steps).resolve(args.task_list[0], False)

    plans = [
        plan_cell(mode, lat, period_ms, chunk, args.overlap, args.margin)
        for lat in args.latency_list
        for mode in args.mode_list
    ]
    tasks: list[EpisodeTask] = []
    for plan in plans:
        run = "sync" if MODES[plan.mode] is None else f"{plan.mode}@{plan.latency_ms:g}ms"
        if not plan.feasible or any(t.run == run for t in tasks):
            continue
        cfg = None
        if MODES[plan.mode] is not None:
            cfg = AsyncConfig(
                stitch=MODES[plan.mode],
                overlap=args.overlap,
                margin=args.margin,
                latency_ms=plan.latency_ms,
                control_period_ms=period_ms,
            )
        tasks += [EpisodeTask(run, job, cfg, sync_steps) for job in eval_cfg.jobs()]
    for p in plans:
        if not p.feasible:
            print(f"skipping {p.mode} at {p.latency_ms:g} ms: {p.note}", file=sys.stderr)
    print(f"{len(tasks)} episodes in {len({t.run for t in tasks})} runs, {args.workers} workers", file=sys.stderr)

    setup = WorkerSetup(recipe, str(out), None, CheckpointFactory(str(ckpt), args.device))
    t0 = time.perf_counter()
    raw = run_tasks(tasks, setup, args.workers)
    wall = time.perf_counter() - t0
    runs = {run: summarize(recs, eval_cfg.to_dict(), recipe) for run, recs in raw.items()}

    cells = []
    for p in plans:
        cell: dict[str, Any] = asdict(p)
        if p.feasible:
            cell["run"] = "sync" if MODES[p.mode] is None else f"{p.mode}@{p.latency_ms:g}ms"
            r = runs[cell["run"]]
            queries_waited = r["policy_calls_per_episode"] if MODES[p.mode] is None else 1.0  # async: first chunk
            cell["idle_s_per_episode"] = queries_waited * p.latency_ms / 1000.0
        cells.append(cell)
    result = {
        "config": {
            "checkpoint": str(ckpt),
            "tasks": list(args.task_list),
            "episodes": args.episodes,
            "base_seed": args.base_seed,
            "seeds": [args.base_seed + i for i in range(args.episodes)],
            "latencies_ms": list(args.latency_list),
            "modes": list(args.mode_list),
            "period_ms": period_ms,
            "period_source": source,
            "fps": fps,
            "horizon": mcfg.horizon,
            "action_stride": mcfg.action_stride,
            "chunk": chunk,
            "overlap": args.overlap,
            "margin": args.margin,
            "sync_action_steps": sync_steps,
            "cameras": list(mcfg.camera_names),
            "image_size": args.image_size,
            "max_steps": args.max_steps,
            "workers": args.workers,
            "device": args.device,
            "jerk_channels": "hand xyz (action[0:3])",
        },
        "cells": cells,
        "runs": runs,
        "check": consistency_check(runs, sync_steps, chunk, args.overlap, args.margin),
        "command": [Path(sys.executable).name, *sys.argv],
        "versions": package_versions(),
        "wall_s": wall,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (out / "results.md").write_text(table + "\n")
    print(table)
    return result


if __name__ == "__main__":
    main()
