"""The demo, end to end: demonstrations -> one language-conditioned policy -> closed-loop evaluation.

    1. collect   scripted-expert demos of every task into a LeRobot v3 dataset (reused when present)
    2. train     the recipe's preset (metaworld-demo) on all tasks at once for a fixed step count (or a
                 wall-clock budget), exactly as `hy-vla train --preset metaworld-demo` would
    3. evaluate  the fixed protocol (episode i of a task = seed i), 50 episodes per task by default

Before any work, the machine's rates are measured and the expected time per stage printed (`demo.estimate`);
the actual times are printed and saved beside the estimate at the end. Everything lands in OUT: data/ (unless
--data points elsewhere), train/ (checkpoints, TensorBoard), report.json (the evaluation report; the recipe,
training facts, estimate and actual minutes under config.extra), videos/, success.png. Re-running the same
command reuses the dataset and resumes or reuses training.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hy_vla.demo.recipe import DemoRecipe


def log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def recipe_configs(recipe: DemoRecipe) -> tuple[Any, Any]:
    """(model config, training config) the recipe trains, before the dataset's widths are adopted."""
    from hy_vla.presets import model_config, train_config
    from hy_vla.training.run_config import apply_overrides

    model, _, train = apply_overrides(model_config(recipe.preset), train_config(recipe.preset), recipe.run_overrides())
    return model, train


def check_recipe(recipe: DemoRecipe) -> None:
    """Fail before minutes of collection: bad `--set` values, and settings the pipeline cannot run."""
    model, _ = recipe_configs(recipe)
    if recipe.n_action_steps > model.horizon * model.action_stride:
        raise ValueError(
            f"n_action_steps {recipe.n_action_steps} > the {model.horizon * model.action_stride} actions of a chunk"
        )


def dataset_mismatch(root: Path, recipe: DemoRecipe) -> str | None:
    """Why `root` is not a finished demo dataset of the recipe (tasks, cameras, size, count); None when it is."""
    from hy_vla.sim.collect import COLLECTION_FORMAT_VERSION, RETIRED_FIELDS

    info = root / "collection.json"
    if not (root / "meta" / "info.json").is_file() or not info.is_file():
        return "not a finished collection (no meta/info.json or collection.json)"
    summary = json.loads(info.read_text())
    cfg = summary["config"]
    if cfg.get("suite", "metaworld") != recipe.suite:
        return f"it was collected in {cfg.get('suite')!r}, the recipe runs {recipe.suite!r}"
    if tuple(cfg["tasks"]) != recipe.tasks:
        return f"its tasks are {list(cfg['tasks'])}, the recipe's {list(recipe.tasks)}"
    if not set(recipe.cameras) <= set(cfg["cameras"] or ()):
        return f"its cameras are {cfg['cameras']}, the recipe needs {list(recipe.cameras)}"
    if cfg["image_size"] != recipe.render_size:
        return f"its images are {cfg['image_size']} px, the recipe renders {recipe.render_size} px"
    # Training reads every episode of the dataset, so more demos than asked would silently change the recipe.
    if cfg["episodes"] != recipe.demos_per_task:
        return f"it has {cfg['episodes']} demos per task, the recipe asks for {recipe.demos_per_task} (--demos)"
    for name, neutral in RETIRED_FIELDS.items():  # options collection no longer has, used at another value
        if cfg.get(name, neutral) != neutral:
            return f"its demonstrations ran with {name.replace('_', ' ')} {cfg[name]}; the recipe's without it"
    version = summary.get("format_version", 1)
    if version < COLLECTION_FORMAT_VERSION:
        return (
            f"it was collected in format {version}, before {COLLECTION_FORMAT_VERSION} (the first frame of each "
            "episode may show the goal marker at a stale position): collect it again"
        )
    return missing_training_column(root, recipe)


def missing_training_column(root: Path, recipe: DemoRecipe) -> str | None:
    """Why the dataset at `root` lacks a column the recipe's training reads (its auxiliary target), or None."""
    _, train = recipe_configs(recipe)
    if train.env_state.enabled and not has_column(root, train.env_state.column):
        return f"it has no {train.env_state.column} column, the recipe trains on it"
    return None


def has_column(root: Path, key: str) -> bool:
    """Whether the LeRobot dataset at `root` records the column `key`."""
    return key in json.loads((root / "meta" / "info.json").read_text())["features"]


def dataset_matches(root: Path, recipe: DemoRecipe) -> bool:
    return dataset_mismatch(root, recipe) is None


def dataset_shortfall(root: Path) -> dict[str, int]:
    """{task: demonstrations missing} of a finished collection whose expert hit the attempt cap on some tasks."""
    return dict(json.loads((root / "collection.json").read_text()).get("shortfall") or {})


def ensure_dataset(recipe: DemoRecipe, root: Path) -> dict[str, int]:
    """Reuse or collect the recipe's dataset at `root`; returns its shortfall (tasks with fewer demos than asked,
    which are trained on what there is and still evaluated), after saying so."""
    why = dataset_mismatch(root, recipe)
    if why is None:
        log(f"reusing the dataset in {root}")
    else:
        _collect(recipe, root, why)
    short = dataset_shortfall(root)
    if short:
        missing = ", ".join(f"{task} ({n} of {recipe.demos_per_task} missing)" for task, n in short.items())
        log(f"warning: the scripted expert fell short of the demonstrations asked on {missing}; still evaluated")
    return short


def _collect(recipe: DemoRecipe, root: Path, why: str) -> None:
    from hy_vla.sim.collect import CollectConfig, collect

    if root.exists():
        raise FileExistsError(
            f"{root} exists but is not a dataset of this recipe: {why}; delete it or pass another --data"
        )
    log(f"collecting {recipe.demos_per_task} demos x {len(recipe.tasks)} tasks into {root}")
    collect(
        CollectConfig(
            suite=recipe.suite,
            tasks=recipe.tasks,
            out=str(root),
            episodes=recipe.demos_per_task,
            cameras=recipe.cameras,
            image_size=recipe.render_size,
            seed=recipe.collect_seed,
            workers=recipe.workers,
        )
    )


def resolve_demo_run(recipe: DemoRecipe, data: Path, run_dir: Path) -> Any:
    """The training run of the recipe on `data`: exactly `hy-vla train --preset P --dataset data --out run_dir
    --set model.camera_names=<cameras>` plus the recipe's `--set` overrides (steps still to be set)."""
    from hy_vla.data.loader import open_source
    from hy_vla.presets import model_config, train_config
    from hy_vla.training.run_config import resolve_run

    train = train_config(recipe.preset, out_dir=str(run_dir))
    return resolve_run(model_config(recipe.preset), open_source(data), str(data), train, recipe.run_overrides())


def calibrate_steps(run: Any, minutes: float, probe_steps: int = 8) -> int:
    """Optimizer steps that fit in `minutes`: time a few training steps on a real batch of the run's dataset."""
    import torch

    from hy_vla.data.loader import collate_samples, open_source
    from hy_vla.data.samples import SampleBuilder
    from hy_vla.demo.estimate import time_train_steps
    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.training.objectives import attach_objectives
    from hy_vla.training.trainer import prepare_batch

    builder = SampleBuilder(open_source(run.dataset), run.data)  # unnormalized: values do not change the timing
    b = run.train.batch_size
    picks = torch.linspace(0, len(builder) - 1, b).long().tolist()
    model = attach_objectives(HyVLA(run.model), run.train)
    batch = prepare_batch(collate_samples([builder[i] for i in picks]), run.model, run.train, torch.Generator())
    times = time_train_steps(model, run.train, batch, probe_steps + 2)
    # The first steps pay one-off allocation costs; the lower quartile of the rest is what an idle machine
    # sustains (a transient load during the probe once planned 2461 steps for 20 minutes that took 12.7).
    rest = sorted(times[2:])
    per_step = rest[len(rest) // 4] * 1.1  # + 10% for data loading and logging
    return max(50, int(minutes * 60 / per_step))


def train(recipe: DemoRecipe, data: Path, run_dir: Path) -> Path:
    """Train (or resume, or reuse) the demo policy; returns the checkpoint to evaluate."""
    from hy_vla.training.checkpointing import latest_checkpoint
    from hy_vla.training.launch import launch
    from hy_vla.training.run_config import RUN_CONFIG, RunConfig

    resuming = (run_dir / RUN_CONFIG).is_file()
    if resuming:
        run = RunConfig.load(run_dir)
        log(f"continuing the training run in {run_dir} ({run.train.steps} steps)")
    else:
        run = resolve_demo_run(recipe, data, run_dir)
        if recipe.steps is not None:  # a fixed step count: no wall-clock budget
            run.train = run.train.replace(steps=recipe.steps)
            log(f"training {recipe.preset} for {recipe.steps} steps (batch {run.train.batch_size})")
        else:
            steps = calibrate_steps(run, recipe.minutes)
            # max_minutes guards the budget if the machine is slower than the calibration said.
            run.train = run.train.replace(steps=steps, max_minutes=recipe.minutes * 1.15)
            log(f"training {recipe.preset} for {steps} steps (~{recipe.minutes:g} min, batch {run.train.batch_size})")
    t0 = time.perf_counter()
    launch(run, run_dir, resuming=resuming)
    log(f"training took {(time.perf_counter() - t0) / 60:.1f} min")
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise RuntimeError(f"training in {run_dir} produced no checkpoint")
    return ckpt


def evaluate(recipe: DemoRecipe, ckpt: Path, out: Path, extra: dict[str, Any]) -> dict[str, Any]:
    from hy_vla.eval.runner import EvalConfig, Evaluator
    from hy_vla.rollout.factories import CheckpointFactory

    cfg = EvalConfig(
        suite=recipe.suite,
        tasks=recipe.tasks,
        episodes=recipe.eval_episodes,
        base_seed=0,
        workers=recipe.workers,
        n_action_steps=recipe.n_action_steps,
        cameras=recipe.cameras,
        image_size=recipe.render_size,
        max_steps=recipe.max_steps,  # None: each task's customary cap (LIBERO's per suite)
        videos=recipe.videos,
        out=str(out),
        extra=extra,
    )
    log(f"evaluating {ckpt} on {len(recipe.tasks)} tasks x {recipe.eval_episodes} episodes")
    return Evaluator(cfg).run(CheckpointFactory(str(ckpt), temporal_ensemble=recipe.temporal_ensemble))


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{'task':<24} {'success':>8}  {'95% CI':<14} {'mean length':>11}"]
    for task, t in report["tasks"].items():
        lo, hi = t["ci95"]
        lines.append(f"{task:<24} {t['success_rate']:>8.0%}  [{lo:.2f}, {hi:.2f}]   {t['mean_length']:>11.0f}")
    o = report["overall"]
    lines.append(f"{'mean':<24} {o['success_rate']:>8.0%}  [{o['ci95'][0]:.2f}, {o['ci95'][1]:.2f}]")
    return "\n".join(lines)


def planned_steps(run_dir: Path, recipe: DemoRecipe) -> int | None:
    """Optimizer steps still to train: the recipe's, less what a run already in `run_dir` has done (None: the
    recipe's wall-clock budget decides)."""
    from hy_vla.training.checkpointing import latest_checkpoint
    from hy_vla.training.run_config import RUN_CONFIG, RunConfig

    if not (run_dir / RUN_CONFIG).is_file():
        return recipe.steps
    total = RunConfig.load(run_dir).train.steps
    last = latest_checkpoint(run_dir)
    done = int(last.name) if last is not None and last.name.isdigit() else 0
    return max(0, total - done)


def estimate(recipe: DemoRecipe, out: Path, data: Path) -> tuple[Any, Any, Any]:
    """Measure this machine and print the expected time -> (estimate, rates, steps still to train)."""
    from hy_vla.demo.estimate import describe, estimate_time, measure_rates

    have_data = dataset_matches(data, recipe)
    steps = planned_steps(out / "train", recipe)
    log("measuring this machine's training step, simulator and policy query (~20 s)")
    model, train_cfg = recipe_configs(recipe)
    rates = measure_rates(recipe, model, train_cfg)
    est = estimate_time(recipe, rates, steps=steps, have_data=have_data, every_frame=model.history_frames > 1)
    log(describe(est, steps, have_data))
    return est, rates, steps


def run_demo(recipe: DemoRecipe, out: Path, data: Path | None = None) -> dict[str, Any]:
    from hy_vla.sim.registry import expand_task_list

    recipe = recipe.replace(tasks=expand_task_list(recipe.suite, recipe.tasks))  # e.g. libero_object -> 10 tasks
    caps = recipe.episode_caps()  # a suite without customary caps and no max_steps fails here, before collection
    out.mkdir(parents=True, exist_ok=True)
    data = data or out / "data"
    est, rates, _ = estimate(recipe, out, data)
    t0 = time.perf_counter()
    shortfall = ensure_dataset(recipe, data)
    t_collect = time.perf_counter() - t0
    ckpt = train(recipe, data, out / "train")
    t_train = time.perf_counter() - t0 - t_collect
    extra = {
        "demo": recipe.to_dict(),
        "episode_caps": caps,
        "dataset": str(data),
        "demo_shortfall": shortfall,
        "checkpoint": str(ckpt),
        "collect_s": round(t_collect, 1),
        "train_s": round(t_train, 1),
        "estimate_min": est.to_dict(),
        "machine_rates": rates.to_dict(),
    }
    report = evaluate(recipe, ckpt, out, extra)
    t_eval = time.perf_counter() - t0 - t_collect - t_train
    took = (t_collect, t_train, t_eval)
    actual = {k: round(v / 60, 2) for k, v in zip(("collect_min", "train_min", "eval_min"), took, strict=True)}
    actual["total_min"] = round(sum(took) / 60, 2)
    _save_actual(out / "report.json", actual)
    log(
        f"done in {actual['total_min']:.1f} min (estimated {est.total_min:.1f}: collect {actual['collect_min']:.1f} "
        f"vs {est.collect_min:.1f}, train {actual['train_min']:.1f} vs {est.train_min:.1f}, evaluate "
        f"{actual['eval_min']:.1f} vs {est.eval_min:.1f}); report: {out / 'report.json'}\n{format_table(report)}"
    )
    return report


def _save_actual(path: Path, actual: dict[str, float]) -> None:
    """Add the stages' actual minutes to the saved report (the evaluation wrote it before its own time was known)."""
    from hy_vla.utils.atomic import atomic_write_json

    saved = json.loads(path.read_text())
    saved["config"]["extra"]["actual_min"] = actual
    atomic_write_json(path, saved)
