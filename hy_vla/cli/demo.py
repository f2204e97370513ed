"""`hy-vla demo`: the end-to-end Meta-World demo (collect -> train -> evaluate) on a CPU in minutes."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hy_vla.demo.recipe import DemoRecipe

    d = DemoRecipe()
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--tasks", help=f"comma-separated Meta-World tasks (default: {','.join(d.tasks)})")
    p.add_argument("--minutes", type=float, help=f"training budget in minutes (default: {d.minutes:g})")
    p.add_argument("--demos", type=int, help=f"scripted demonstrations per task (default: {d.demos_per_task})")
    p.add_argument("--episodes", type=int, help=f"evaluation episodes per task (default: {d.eval_episodes})")
    p.add_argument("--workers", type=int, help=f"worker processes for collection/evaluation (default: {d.workers})")
    p.add_argument("--data", help="dataset directory to reuse or create (default: OUT/data)")


def run(args: argparse.Namespace) -> int:
    from hy_vla.demo.pipeline import run_demo
    from hy_vla.demo.recipe import DemoRecipe
    from hy_vla.sim.registry import check_task

    changes = {
        "minutes": args.minutes,
        "demos_per_task": args.demos,
        "eval_episodes": args.episodes,
        "workers": args.workers,
    }
    if args.tasks:
        tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
        for t in tasks:
            check_task("metaworld", t)
        changes["tasks"] = tasks
    recipe = DemoRecipe().replace(**{k: v for k, v in changes.items() if v is not None})
    run_demo(recipe, Path(args.out), Path(args.data) if args.data else None)
    return 0
