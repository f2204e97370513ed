"""`hy-vla demo`: collect -> train -> evaluate end to end on a CPU: Meta-World (default) or bimanual ALOHA."""

from __future__ import annotations

import argparse
from pathlib import Path

from hy_vla.cli.temporal_ensemble_option import add_temporal_ensemble
from hy_vla.demo.recipe import DEMO_ENVS, DemoRecipe, default_recipe

# Cameras each demo's simulator renders, for checking --cameras before minutes of collection.
SUITE_CAMERAS = {
    "metaworld": ("hy_vla.sim.metaworld.env", "CAMERAS"),
    "aloha-eef": ("hy_vla.sim.aloha.env", "CAMERAS", "CAMERA_ALIASES"),
    "libero": ("hy_vla.sim.libero.env", "CAMERAS"),
}


def suite_cameras(suite: str) -> tuple[str, ...]:
    import importlib

    module, *names = SUITE_CAMERAS[suite]
    mod = importlib.import_module(module)
    return tuple(c for name in names for c in getattr(mod, name))


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DemoRecipe()
    a, lib = DEMO_ENVS["aloha"], DEMO_ENVS["libero"]
    p.add_argument(
        "--env",
        choices=sorted(DEMO_ENVS),
        default="metaworld",
        help=f"which demo: metaworld ({','.join(d.tasks)}; preset {d.preset}), aloha (bimanual {','.join(a.tasks)} "
        f"under end-effector control; preset {a.preset}) or libero ({','.join(lib.tasks)}, needs the libero extra; "
        f"preset {lib.preset}) (default: metaworld)",
    )
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument(
        "--tasks",
        help="comma-separated tasks or task sets of the env, e.g. mt10 (default: the env's demo tasks)",
    )
    p.add_argument(
        "--cameras", help=f"comma-separated cameras the policy sees (default: metaworld {','.join(d.cameras)}, "
        f"aloha {','.join(a.cameras)}, libero {','.join(lib.cameras)})"
    )  # fmt: skip
    p.add_argument(
        "--steps",
        type=int,
        help=f"optimizer steps to train (default: {d.steps}; aloha {a.steps}; libero {lib.steps}): the same result on "
        "any machine, "
        "the time it takes is measured and printed first",
    )
    p.add_argument(
        "--minutes",
        type=float,
        help="a wall-clock training budget instead of --steps (steps calibrated on this machine: the result then "
        "depends on the machine's speed)",
    )
    p.add_argument(
        "--demos",
        type=int,
        help=f"scripted demonstrations per task (default: {d.demos_per_task}; aloha {a.demos_per_task}; libero "
        f"{lib.demos_per_task})",
    )
    p.add_argument("--episodes", type=int, help=f"evaluation episodes per task (default: {d.eval_episodes})")
    p.add_argument("--workers", type=int, help=f"worker processes for collection/evaluation (default: {d.workers})")
    p.add_argument("--data", help="dataset directory to reuse or create (default: OUT/data)")
    add_temporal_ensemble(p, "in the evaluation: more success on ALOHA at 10000 steps for ~7x its time (default: off)")
    p.add_argument(
        "--preset",
        help=f"what to train: a preset = model + training settings (default: {d.preset}; aloha {a.preset}; libero "
        f"{lib.preset}; "
        "hy-vla presets)",
    )
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
    from hy_vla.training.run_config import parse_overrides, type_overrides

    if args.steps is not None and args.minutes is not None:
        raise ValueError("give --steps or --minutes, not both")
    changes = {
        "minutes": args.minutes,
        "demos_per_task": args.demos,
        "eval_episodes": args.episodes,
        "workers": args.workers,
        "preset": args.preset,
        "steps": args.steps,
        "temporal_ensemble": getattr(args, "temporal_ensemble", None),
        "overrides": type_overrides(parse_overrides(args.overrides)) or None,
    }
    if args.preset:
        model_config(args.preset)  # unknown names fail here, with suggestions
    base = default_recipe(getattr(args, "env", None) or "metaworld")
    names = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else list(base.tasks)
    from hy_vla.sim.registry import expand_task_list

    changes["tasks"] = expand_task_list(base.suite, names)  # set names (mt10, libero_object) -> their tasks
    if args.cameras:
        known = suite_cameras(base.suite)
        cameras = tuple(c.strip() for c in args.cameras.split(",") if c.strip())
        unknown = [c for c in cameras if c not in known]
        if unknown or len(set(cameras)) != len(cameras):
            raise ValueError(f"--cameras {args.cameras!r}: give distinct names from {', '.join(known)}")
        changes["cameras"] = cameras
    if args.minutes is not None:  # the budget replaces the recipe's step count
        base = base.replace(steps=None, minutes=args.minutes)
    recipe = base.replace(**{k: v for k, v in changes.items() if v is not None})
    check_recipe(recipe)  # a bad --set fails here, before minutes of collection
    return recipe


def run(args: argparse.Namespace) -> int:
    from hy_vla.demo.pipeline import run_demo

    run_demo(recipe_from_args(args), Path(args.out), Path(args.data) if args.data else None)
    return 0
