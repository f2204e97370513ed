"""`hy-vla demo`: the end-to-end Meta-World demo (collect -> train -> evaluate) on a CPU in minutes."""

from __future__ import annotations

import argparse
from pathlib import Path

from hy_vla.demo.recipe import DemoRecipe


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DemoRecipe()
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--tasks", help=f"comma-separated Meta-World tasks (default: {','.join(d.tasks)})")
    p.add_argument(
        "--cameras", help=f"comma-separated Meta-World cameras the policy sees (default: {','.join(d.cameras)})"
    )
    p.add_argument("--minutes", type=float, help=f"training budget in minutes (default: {d.minutes:g})")
    p.add_argument("--demos", type=int, help=f"scripted demonstrations per task (default: {d.demos_per_task})")
    p.add_argument("--episodes", type=int, help=f"evaluation episodes per task (default: {d.eval_episodes})")
    p.add_argument("--workers", type=int, help=f"worker processes for collection/evaluation (default: {d.workers})")
    p.add_argument("--data", help="dataset directory to reuse or create (default: OUT/data)")
    p.add_argument(
        "--preset", help=f"what to train: a preset = model + training settings (default: {d.preset}; hy-vla presets)"
    )
    p.add_argument("--steps", type=int, help="train exactly this many steps instead of --minutes (comparisons)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model./data./training setting as in `hy-vla train --set` (repeatable), e.g. "
        "model.backbone.dense=true",
    )


def recipe_from_args(args: argparse.Namespace) -> DemoRecipe:
    """The default recipe with the command line's changes (validated: unknown tasks and presets fail here)."""
    from hy_vla.demo.pipeline import check_recipe
    from hy_vla.presets import model_config
    from hy_vla.sim.registry import check_task
    from hy_vla.training.run_config import parse_overrides, type_overrides

    changes = {
        "minutes": args.minutes,
        "demos_per_task": args.demos,
        "eval_episodes": args.episodes,
        "workers": args.workers,
        "preset": args.preset,
        "steps": args.steps,
        "overrides": type_overrides(parse_overrides(args.overrides)) or None,
    }
    if args.preset:
        model_config(args.preset)  # unknown names fail here, with suggestions
    if args.tasks:
        tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
        for t in tasks:
            check_task("metaworld", t)
        changes["tasks"] = tasks
    if args.cameras:
        from hy_vla.sim.metaworld.env import CAMERAS

        cameras = tuple(c.strip() for c in args.cameras.split(",") if c.strip())
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown or len(set(cameras)) != len(cameras):
            raise ValueError(f"--cameras {args.cameras!r}: give distinct names from {', '.join(CAMERAS)}")
        changes["cameras"] = cameras
    recipe = DemoRecipe().replace(**{k: v for k, v in changes.items() if v is not None})
    check_recipe(recipe)  # a bad --set fails here, before minutes of collection
    return recipe


def run(args: argparse.Namespace) -> int:
    from hy_vla.demo.pipeline import run_demo

    run_demo(recipe_from_args(args), Path(args.out), Path(args.data) if args.data else None)
    return 0
