"""`hy-vla collect`: scripted-expert demonstrations into a LeRobot v3 dataset (`hy_vla.sim.collect`).

    hy-vla collect --env metaworld --tasks reach-v3,push-v3 --episodes 50 \\
        --cameras corner2,gripperPOV --image-size 128 --out data/mw_reach_push --workers 2
    hy-vla collect --env metaworld --tasks mt50 --episodes 50 --out data/mw_mt50 --workers 8

Interrupted (Ctrl-C, a kill, a crash)? Run the same command again: it continues where the last checkpoint
left off and adds only the missing episodes; another configuration for the same --out is refused.
"""

from __future__ import annotations

import argparse
import json

from hy_vla.cli.eval import add_env_arguments, parse_list, print_tasks, resolve_tasks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_env_arguments(parser)
    parser.add_argument(
        "--seed",
        type=int,
        default=100_000,
        help="attempt k of a task uses seed + k (default 100000: disjoint from evaluation seeds, which start at 0)",
    )
    parser.add_argument("--keep-failures", action="store_true", help="keep failed episodes too (no retries)")
    parser.add_argument("--max-attempts", type=int, default=None, help="attempts per task (default 3 x episodes + 10)")


def run(args: argparse.Namespace) -> int:
    from hy_vla.sim.collect import CollectConfig, collect

    if args.list_tasks:
        return print_tasks(args.env)
    if not args.out:
        raise ValueError("--out is required")
    config = CollectConfig(
        suite=args.env,
        tasks=resolve_tasks(args.env, args.tasks),
        out=args.out,
        episodes=args.episodes,
        cameras=parse_list(args.cameras),
        image_size=args.image_size,
        seed=args.seed,
        workers=args.workers,
        keep_failures=args.keep_failures,
        max_attempts=args.max_attempts,
        max_steps=args.max_steps,
    )
    # An unknown camera, or another collection at --out, raises: main prints one line, exit 2.
    summary = collect(config)
    print(
        json.dumps(
            {
                "out": args.out,
                "kept": summary["kept"],
                "added": summary["added"],  # by this run (0: the dataset was already complete)
                "attempts": summary["attempts"],
                "expert_success_rate": round(summary["expert_success_rate"], 3),
                "shortfall": summary["shortfall"],
                "wall_s": round(summary["wall_s"], 1),
            }
        )
    )
    return 1 if summary["shortfall"] else 0
