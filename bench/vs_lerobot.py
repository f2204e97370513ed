"""hy-vla-tiny against LeRobot 0.4.4's DiffusionPolicy and ACT: same data, same training budget, our harness.

    MUJOCO_GL=egl .venv/bin/python bench/vs_lerobot.py --episodes 10 --eval-points 3 --out runs/vs_lerobot
    .venv/bin/python bench/vs_lerobot.py --minutes 0.5 --episodes 2 --tasks reach-v3 --data DIR   # smoke test

1. Data: one LeRobot v3 dataset collected by `hy-vla collect` (the demo recipe's: scripted experts, cameras
   topview + behindGripper at the recipe's render size, seeds from 100000). --data DIR reuses one; without it,
   OUT/data is collected.
2. Training, one policy after the other, each for the same wall-clock budget (--minutes), batch 32, from scratch:
   - hy-vla: the demo's preset (metaworld-demo: hy-vla-tiny shaped for Meta-World, its training settings) through
     `hy_vla.training.launch`, steps sized by the demo's calibration, stopped at the budget;
   - diffusion, act: LeRobot's policies trained by bench/lerobot_train.py inside .venv-lerobot (a subprocess),
     with LeRobot's own dataset class, processors, normalization stats, optimizer and scheduler presets. Caveat:
     LeRobot's video decoding (torchcodec) cannot run on CPU torch here, so its training frames are decoded once
     with PyAV into RAM (hy-vla's recipe also trains from an in-RAM frame cache).
   Time spent before the clock starts (frame decoding, normalization stats, step calibration) is reported apart.
   Checkpoints are kept at every 1/--eval-points of the budget (hy-vla: by exact resume, see train_hyvla).
3. Evaluation with OUR harness (`hy_vla.eval.runner.Evaluator`): every checkpoint of every policy, the same tasks,
   seeds 0..episodes-1, the demo's protocol (chunks executed 8 actions at a time, 200-step cap, the recipe's
   cameras and render size).
   LeRobot checkpoints are wrapped as PolicyLike (bench/lerobot_policy.py: a policy server in .venv-lerobot;
   observations mapped to their feature names). They do not read the instruction.
4. Latency: the final checkpoint of each policy, one observation from the dataset, median of --latency-repeats
   chunk predictions on CPU (2 torch threads; the policies take turns call by call, so load changes hit all
   alike); per control step = (chunk + observes between queries) / actions executed per chunk.

Output: a markdown table on stdout (also OUT/vs_lerobot.md) and OUT/vs_lerobot.json. Re-running with the same OUT
reuses finished training runs and evaluations. Needs .venv-lerobot (bash bench/setup_lerobot.sh) for the peers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from lerobot_policy import LEROBOT_PY, LeRobotFactory, LeRobotProcessPolicy  # noqa: E402
from vs_lerobot_report import comparison_table, curve_table, summarize  # noqa: E402

POLICIES = ("hy-vla", "diffusion", "act")
PEERS = ("diffusion", "act")


def log(msg: str) -> None:
    print(f"[vs_lerobot] {msg}", flush=True)


# -- data ---------------------------------------------------------------------------------------------------


def ensure_data(args: argparse.Namespace, recipe: Any) -> Path:
    """A LeRobot v3 dataset with the recipe's cameras: --data as given, or collected with the demo recipe."""
    from hy_vla.data.loader import open_source
    from hy_vla.demo.pipeline import ensure_dataset, missing_training_column

    root = Path(args.data) if args.data else Path(args.out) / "data"
    if not (root / "meta" / "info.json").is_file():
        ensure_dataset(recipe, root)  # collects (or refuses a non-dataset folder)
    source = open_source(root)
    want = [f"observation.images.{c}" for c in recipe.cameras]
    missing = [c for c in want if c not in source.camera_keys]
    if missing:
        raise SystemExit(f"{root}: lacks camera(s) {missing} of the demo recipe (it has {source.camera_keys})")
    why = missing_training_column(root, recipe)  # hy-vla's auxiliary target (the peers never read it)
    if why:
        raise SystemExit(f"{root}: {why}: re-collect, or run without --data")
    log(f"dataset {root}: {source.num_episodes} episodes, {source.num_frames} frames, tasks {source.tasks}")
    return root


# -- training -----------------------------------------------------------------------------------------------


def train_hyvla(data: Path, out: Path, recipe: Any, points: int) -> dict[str, Any]:
    """hy-vla-tiny with the demo recipe for recipe.minutes, in `points` equal wall-clock segments.

    The step count (and so the LR schedule) is the demo's calibration for the whole budget. Each segment is one
    `launch` with max_minutes = budget / points that stops with a checkpoint, and the next resumes from it exactly
    (same data order, optimizer, EMA and RNG state): checkpoints land at every 1/points of the training time.
    Each segment pays the trainer's first-step warm-up again, inside the budget (a small handicap for hy-vla).
    """
    summary_path = out / "summary.json"
    if summary_path.is_file():
        log(f"hy-vla: reusing the finished run in {out}")
        return json.loads(summary_path.read_text())
    from hy_vla.demo.pipeline import calibrate_steps, resolve_demo_run
    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.training.checkpointing import latest_checkpoint
    from hy_vla.training.launch import launch

    if out.exists():
        raise SystemExit(f"{out} holds an unfinished hy-vla run: delete it to train again")
    t0 = time.perf_counter()
    run = resolve_demo_run(recipe, data, out)  # exactly what the demo trains (the metaworld-demo preset)
    steps = calibrate_steps(run, recipe.minutes)
    run.train = run.train.replace(steps=steps, save_every=steps, keep_last=points + 1,
                                  max_minutes=recipe.minutes / points)  # fmt: skip
    log(f"hy-vla: {recipe.preset}, demo recipe, {steps} steps planned for {recipe.minutes:g} min")
    checkpoints: list[dict[str, Any]] = []
    train_s, step, metrics = 0.0, 0, {}
    for segment in range(points):
        metrics = launch(run, out, resuming=segment > 0)
        ckpt = latest_checkpoint(out)
        if ckpt is None or int(ckpt.name) == step:
            break  # nothing trained (the planned steps were done)
        done = int(ckpt.name) - step
        train_s += done * run.train.batch_size / metrics["run_samples_per_s"]  # the trainer's own clock
        step = int(ckpt.name)
        checkpoints.append({"step": step, "train_s": round(train_s, 2), "samples": step * run.train.batch_size,
                            "path": str(ckpt)})  # fmt: skip
        if step >= steps:
            break
    if not checkpoints:
        raise RuntimeError(f"hy-vla training in {out} produced no checkpoint")
    summary = {
        "name": "hy-vla",
        "parameters": HyVLA.from_pretrained(checkpoints[-1]["path"]).num_parameters(),
        "steps": step,
        "planned_steps": steps,
        "batch_size": run.train.batch_size,
        "train_s": round(train_s, 2),
        "samples_per_s": step * run.train.batch_size / train_s,
        "prep_s": round(time.perf_counter() - t0 - train_s, 1),  # calibration, norm stats, frame cache, resumes
        "final_loss": metrics.get("loss"),
        "checkpoints": checkpoints,
        "recipe": recipe.to_dict(),
    }
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary


def train_peer(name: str, data: Path, out: Path, recipe: Any, points: int, sets: list[str]) -> dict[str, Any]:
    """LeRobot's `name` policy via bench/lerobot_train.py in .venv-lerobot (progress shows on stderr)."""
    summary_path = out / "summary.json"
    if summary_path.is_file():
        log(f"{name}: reusing the finished run in {out}")
        return json.loads(summary_path.read_text())
    cmd = [str(LEROBOT_PY), str(BENCH / "lerobot_train.py"), "--dataset", str(data), "--policy", name,
           "--out", str(out), "--minutes", str(recipe.minutes), "--checkpoints", str(points),
           "--batch-size", str(recipe.overrides["batch_size"]), "--cameras", ",".join(recipe.cameras),
           *[a for s in sets for a in ("--set", s)]]  # fmt: skip
    log(f"{name}: LeRobot 0.4.4 from scratch for {recipe.minutes:g} min ({' '.join(cmd[1:])})")
    t0 = time.perf_counter()
    rc = subprocess.run(cmd).returncode
    if rc != 0 or not summary_path.is_file():
        raise SystemExit(f"{name}: LeRobot training failed (exit code {rc}); its error is printed above")
    summary = json.loads(summary_path.read_text())
    summary["name"] = name
    summary["prep_s"] = round(time.perf_counter() - t0 - summary["train_s"], 1)  # imports, decoding, probe steps
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary


# -- evaluation and latency ---------------------------------------------------------------------------------


def evaluate(name: str, ckpt: dict[str, Any], recipe: Any, tasks: list[str], episodes: int, workers: int,
             out: Path) -> dict[str, Any]:  # fmt: skip
    """One checkpoint through our Evaluator; the report is reused when present."""
    from hy_vla.eval.runner import EvalConfig, Evaluator
    from hy_vla.rollout.factories import CheckpointFactory

    report_path = out / "report.json"
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        why = report_mismatch(report["config"], tasks, episodes)
        if why:
            raise SystemExit(f"{report_path}: {why}; delete {out} or choose another --out")
    else:
        cfg = EvalConfig(suite="metaworld", tasks=tuple(tasks), episodes=episodes, base_seed=0, workers=workers,
                         n_action_steps=recipe.n_action_steps, cameras=recipe.cameras, image_size=recipe.render_size,
                         max_steps=recipe.max_steps, videos=0, out=str(out),
                         extra={"policy": name, "checkpoint": ckpt["path"], "train_s": ckpt["train_s"]})  # fmt: skip
        factory = CheckpointFactory(ckpt["path"]) if name == "hy-vla" else LeRobotFactory(ckpt["path"], threads=1)
        log(f"evaluating {name} step {ckpt['step']} ({ckpt['train_s'] / 60:.1f} min of training)")
        report = Evaluator(cfg).run(factory)
    keep = ("success_rate", "ci95", "n", "successes")
    return {
        "step": ckpt["step"],
        "train_s": ckpt["train_s"],
        "mean": report["overall"]["success_rate"],
        "ci95": report["overall"]["ci95"],
        "tasks": {t: {k: v[k] for k in keep} for t, v in report["tasks"].items()},
        "report": str(report_path),
    }


def report_mismatch(stored: dict[str, Any], tasks: list[str], episodes: int) -> str:
    """Why a stored evaluation is not the one asked for ("" when it is): the table compares equal protocols."""
    if list(stored["tasks"]) != list(tasks):
        return f"it evaluated tasks {stored['tasks']}, this run asks for {list(tasks)}"
    if stored["episodes"] != episodes or stored.get("base_seed", 0) != 0:
        return (
            f"it evaluated {stored['episodes']} episodes per task from seed {stored.get('base_seed', 0)}, "
            f"this run asks for {episodes} from seed 0"
        )
    return ""


def sample_observation(data: Path, cameras: tuple[str, ...]) -> dict[str, Any]:
    """A real observation (first frame of episode 0) in our raw format, for latency measurements."""
    import numpy as np

    from hy_vla.data.loader import open_source

    source = open_source(data)
    obs: dict[str, Any] = {f"observation.images.{c}": source.images(f"observation.images.{c}", 0, np.array([0]))[0]
                           for c in cameras}  # fmt: skip
    obs["observation.state"] = np.asarray(source.column("observation.state", 0)[0], dtype=np.float32)
    obs["prompt"] = source.episode(0).task  # collected datasets store the instruction as the task text
    return obs


def measure_latency(ckpts: dict[str, str], obs: dict[str, Any], n_exec: int, repeats: int) -> dict[str, dict]:
    """Median chunk latency (ms) and latency per control step of each policy's final checkpoint, on CPU with 2
    torch threads. The policies take turns, call by call, so that a load change on the machine hits all alike."""
    import torch

    from hy_vla.rollout.factories import load_checkpoint_policy

    torch.set_num_threads(2)
    policies: dict[str, Any] = {}
    try:
        for name, path in ckpts.items():
            policies[name] = load_checkpoint_policy(path) if name == "hy-vla" else LeRobotProcessPolicy(path, 2)
        chunk_len = {}
        for name, policy in policies.items():  # warm-up
            policy.reset()
            chunk_len[name] = len(policy.infer(obs)["actions"])
            policy.infer(obs)
        times: dict[str, dict[str, list[float]]] = {n: {"chunk": [], "compute": [], "observe": []} for n in policies}
        for _ in range(repeats):
            for name, policy in policies.items():
                t0 = time.perf_counter()
                out = policy.infer(obs)
                times[name]["chunk"].append((time.perf_counter() - t0) * 1e3)
                if "compute_ms" in out:
                    times[name]["compute"].append(out["compute_ms"])
                if getattr(policy, "wants_every_frame", False):
                    t0 = time.perf_counter()
                    policy.observe(obs)
                    times[name]["observe"].append((time.perf_counter() - t0) * 1e3)
    finally:
        for policy in policies.values():
            if hasattr(policy, "close"):
                policy.close()
    report: dict[str, dict] = {}
    for name, t in times.items():
        executed = min(n_exec, chunk_len[name])
        chunk_ms = statistics.median(t["chunk"])
        observe_ms = statistics.median(t["observe"]) if t["observe"] else 0.0
        report[name] = {
            "chunk_ms": chunk_ms,
            "compute_ms": statistics.median(t["compute"]) if t["compute"] else None,  # LeRobot: inside its process
            "observe_ms": observe_ms,
            "chunk_length": chunk_len[name],
            "executed_per_chunk": executed,
            "step_ms": (chunk_ms + (executed - 1) * observe_ms) / executed,
            "repeats": repeats,
        }
    return report


# -- the run ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from hy_vla.demo.recipe import DEMO_TASKS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--minutes", type=float, default=12.0,
                    help="training budget per policy (wall clock; default: 12, the demo's former budget)")  # fmt: skip
    ap.add_argument("--tasks", default=",".join(DEMO_TASKS),
                    help="comma-separated Meta-World tasks or sets, e.g. mt10 (collect + eval)")  # fmt: skip
    ap.add_argument("--episodes", type=int, default=10, help="evaluation episodes per task per checkpoint")
    ap.add_argument("--eval-points", type=int, default=5, help="checkpoints evaluated per policy (1 = final only)")
    ap.add_argument(
        "--evaluate",
        choices=("all", "last"),
        default="all",
        help="all: every kept checkpoint (time-to-success curve); last: only each policy's final "
        "checkpoint plus those already evaluated (time-to-success then reads 'final only')",
    )
    ap.add_argument("--data", default=None, help="a LeRobot v3 dataset from `hy-vla collect` (default: OUT/data)")
    ap.add_argument("--demos", type=int, default=30, help="demos per task when collecting")
    ap.add_argument("--out", default="runs/vs_lerobot", help="output folder (re-running reuses finished parts)")
    ap.add_argument("--policies", default=",".join(POLICIES), help=f"subset of {','.join(POLICIES)}")
    ap.add_argument("--batch-size", type=int, default=32, help="training batch size of every policy")
    ap.add_argument("--workers", type=int, default=2, help="evaluation worker processes")
    ap.add_argument("--latency-repeats", type=int, default=20, help="timed chunk predictions per policy")
    ap.add_argument("--peer-set", action="append", default=[], metavar="POLICY.KEY=JSON",
                    help="LeRobot config override, e.g. diffusion.down_dims=[512,1024,2048]")  # fmt: skip
    args = ap.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.policies = [p for p in args.policies.split(",") if p]
    unknown = [p for p in args.policies if p not in POLICIES]
    if unknown or not args.policies:
        ap.error(f"--policies: unknown {unknown}; choose from {','.join(POLICIES)}")
    if not args.minutes > 0 or min(args.episodes, args.eval_points, args.batch_size, args.demos) < 1:
        ap.error("--minutes must be > 0; --episodes, --eval-points, --batch-size and --demos >= 1")
    if args.workers < 0 or args.latency_repeats < 1:
        ap.error("--workers must be >= 0 and --latency-repeats >= 1")
    for item in args.peer_set:
        if item.split(".", 1)[0] not in PEERS or "=" not in item:
            ap.error(f"--peer-set {item!r}: expected POLICY.KEY=JSON with POLICY one of {PEERS}")
    if any(p in PEERS for p in args.policies) and not LEROBOT_PY.exists():
        ap.error(f"{LEROBOT_PY} not found: run `bash bench/setup_lerobot.sh` (or --policies hy-vla)")
    from hy_vla.sim.registry import expand_task_list

    try:
        args.tasks = list(expand_task_list("metaworld", args.tasks))  # task sets too: --tasks mt10
    except ValueError as e:
        ap.error(str(e))
    return args


# Seconds per evaluation episode per worker, measured in the 12-minute run of bench/RESULTS.md (the reports' wall_s):
# hy-vla 0.8-1.3, ACT 2.5 (it fails nearly every episode, so runs to the 200-step cap), Diffusion Policy 36 (it
# renders every step for its 2-frame history and runs 100 denoising steps per chunk).
EPISODE_S = {"hy-vla": 1.5, "act": 3.0, "diffusion": 36.0}


def expected_minutes(args: argparse.Namespace, have_data: bool) -> float:
    """Rough wall time on an idle machine: collection, training budgets (+ start-up), evaluations."""
    collect = 0.0 if have_data else args.demos * len(args.tasks) * 3.0 / max(args.workers, 1) / 60
    evals = sum(EPISODE_S[p] for p in args.policies) * args.eval_points * len(args.tasks) * args.episodes
    return collect + len(args.policies) * (args.minutes + 1.5) + evals / max(args.workers, 1) / 60


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from hy_vla.demo.recipe import DemoRecipe

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = DemoRecipe(tasks=tuple(args.tasks), demos_per_task=args.demos, steps=None, minutes=args.minutes,
                        workers=args.workers, overrides={"batch_size": args.batch_size})  # fmt: skip
    have_data = (Path(args.data) if args.data else out / "data").joinpath("meta", "info.json").is_file()
    expected = expected_minutes(args, have_data)
    log(
        f"{', '.join(args.policies)} x {args.minutes:g} min of training, {args.eval_points} checkpoints x "
        f"{len(args.tasks)} tasks x {args.episodes} episodes each: expected ~{expected:.0f} min"
    )
    t0 = time.perf_counter()
    data = ensure_data(args, recipe)

    runs: dict[str, dict[str, Any]] = {}
    for name in args.policies:
        if name == "hy-vla":
            runs[name] = train_hyvla(data, out / "hy-vla", recipe, args.eval_points)
        else:
            sets = [s.split(".", 1)[1] for s in args.peer_set if s.startswith(name + ".")]
            runs[name] = train_peer(name, data, out / name, recipe, args.eval_points, sets)

    obs = sample_observation(data, recipe.cameras)
    results = []
    for name, run in runs.items():
        curve = []
        seen = set()
        skipped = []
        for ckpt in run["checkpoints"]:
            if ckpt["step"] in seen:  # the same weights saved twice: evaluated once
                continue
            seen.add(ckpt["step"])
            eval_dir = out / "eval" / name / f"{ckpt['step']:06d}"
            last = ckpt is run["checkpoints"][-1]
            if args.evaluate == "last" and not last and not (eval_dir / "report.json").is_file():
                skipped.append(ckpt["step"])  # a later run without --evaluate last fills it in
                continue
            curve.append(evaluate(name, ckpt, recipe, args.tasks, args.episodes, args.workers, eval_dir))
        keep = ("name", "parameters", "steps", "planned_steps", "batch_size", "train_s", "samples_per_s", "prep_s")
        results.append({**{k: run.get(k) for k in keep}, "curve": curve, "skipped_steps": skipped})
    log(f"latency: {args.latency_repeats} chunk predictions per policy, taking turns")
    finals = {name: run["checkpoints"][-1]["path"] for name, run in runs.items()}
    latency = measure_latency(finals, obs, recipe.n_action_steps, args.latency_repeats)
    for result in results:
        result["latency"] = latency[result["name"]]

    table = comparison_table(results, args.tasks)
    curves = curve_table(results)
    doc = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "machine": f"{platform.machine()}, {_cpu_name()}, {_cores()} cores, Python {platform.python_version()}",
        "versions": _versions(),
        "dataset": str(data),
        "settings": {k: v for k, v in vars(args).items()},
        "protocol": {
            "seeds": f"0..{args.episodes - 1}",
            "n_action_steps": recipe.n_action_steps,
            "max_steps": recipe.max_steps,
            "cameras": list(recipe.cameras),
            "image_size": recipe.render_size,
        },
        "caveats": [
            "LeRobot's own video decoding (torchcodec) cannot run on CPU torch here: its training frames were "
            "decoded once with PyAV into RAM (bench/lerobot_compat.py FrameStore); the rest is LeRobot's code.",
            "LeRobot's policies run in .venv-lerobot behind a pipe: its latency includes that IPC "
            "(compute_ms is the time inside its process).",
            "Diffusion Policy and ACT do not read the instruction; hy-vla does.",
        ],
        "results": results,
        "summary": {r["name"]: summarize(r) for r in results},
        "wall_min": round((time.perf_counter() - t0) / 60, 1),
    }
    (out / "vs_lerobot.json").write_text(json.dumps(doc, indent=2, default=str))
    text = f"{table}\n\nSuccess along training:\n\n{curves}\n"
    (out / "vs_lerobot.md").write_text(text)
    print(f"\n{text}\nwall {doc['wall_min']} min; details: {out / 'vs_lerobot.json'}")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions() -> dict[str, str | None]:
    from hy_vla.utils.versions import package_versions

    versions = package_versions()
    if LEROBOT_PY.exists():
        names = "('lerobot', 'torch')"
        code = f"import importlib.metadata as m, json; print(json.dumps({{p: m.version(p) for p in {names}}}))"
        proc = subprocess.run([str(LEROBOT_PY), "-c", code], capture_output=True, text=True)
        if proc.returncode == 0:
            peer = json.loads(proc.stdout)
            versions["lerobot"], versions["torch (.venv-lerobot)"] = peer["lerobot"], peer["torch"]
    return versions


if __name__ == "__main__":
    main()
