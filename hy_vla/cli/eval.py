"""`hy-vla eval`: evaluate a policy on simulator tasks with the fixed protocol of `hy_vla.eval.runner`.

hy-vla eval --env metaworld --tasks reach-v3,push-v3 --episodes 50 --out runs/eval --policy scripted --workers 2
hy-vla eval --env metaworld --tasks all --checkpoint runs/train/ckpt --cameras corner2 --videos 2
hy-vla eval --env metaworld --list-tasks
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from hy_vla.cli.stride_option import add_stride_mode
from hy_vla.cli.temporal_ensemble_option import add_temporal_ensemble


def parse_list(text: str | None) -> tuple[str, ...] | None:
    """Comma-separated names; None stays None (suite default) and "none" means an empty list."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    return tuple(t.strip() for t in text.split(",") if t.strip())


def resolve_tasks(suite: str, text: str | None) -> tuple[str, ...]:
    """`--tasks` value: comma-separated names, or "all"; unknown names raise with suggestions.

    Group names a suite defines expand to their tasks (LIBERO: ``--tasks libero_object,libero_spatial``);
    a task named twice is run once.
    """
    from hy_vla.sim.registry import expand_task_list, list_tasks

    if not text:
        raise ValueError("--tasks is required (comma-separated, or 'all'; see --list-tasks)")
    if text.strip() == "all":
        return tuple(list_tasks(suite))
    return expand_task_list(suite, parse_list(text) or ())


def add_env_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `eval` and `collect`."""
    from hy_vla.sim.registry import SUITES

    parser.add_argument("--env", default="metaworld", choices=list(SUITES), help="simulator suite (default: metaworld)")
    parser.add_argument(
        "--tasks",
        help="comma-separated task or set names, or 'all' (required); sets: metaworld mt10, mt50, easy, medium, "
        "hard, very_hard; libero its suites (libero_object, ...)",
    )
    parser.add_argument("--episodes", type=int, default=50, help="episodes per task (default: 50)")
    parser.add_argument("--cameras", help="comma-separated cameras (default: the suite's; 'none' renders nothing)")
    parser.add_argument("--image-size", type=int, default=None, help="side of every camera image in pixels")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: 0, run in this process)")
    parser.add_argument("--max-steps", type=int, default=None, help="episode cap (default: the suite's)")
    parser.add_argument("--out", help="output folder (required)")
    parser.add_argument("--list-tasks", action="store_true", help="print the suite's tasks and exit")


def print_tasks(suite: str) -> int:
    from hy_vla.sim.registry import list_tasks, suite_module

    instructions = getattr(suite_module(suite), "INSTRUCTIONS", {})
    for task in list_tasks(suite):
        print(f"{task:32s} {instructions.get(task, '')}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_env_arguments(parser)
    parser.add_argument("--policy", default=None, choices=["scripted"], help="built-in policy (scripted expert)")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="evaluate a checkpoint folder, or a training run folder (its newest complete checkpoint)",
    )
    parser.add_argument(
        "--remote",
        default=None,
        metavar="HOST:PORT",
        help="evaluate a policy served by `hy-vla serve` (or any "
        "openpi-protocol server); one session per worker; API key from $HY_VLA_API_KEY",
    )
    parser.add_argument("--device", default="cpu", help="device for --checkpoint")
    parser.add_argument(
        "--predict-mode",
        choices=["diff", "ar", "diff+ar"],
        default=None,
        help="HybridVLA checkpoints: flow actions, autoregressive action tokens, or their confidence ensemble "
        "(default: the mode the checkpoint was trained with)",
    )
    add_stride_mode(parser)
    parser.add_argument("--base-seed", type=int, default=0, help="episode i uses seed base_seed + i")
    parser.add_argument("--n-action-steps", type=int, default=None, help="actions executed per chunk (default: all)")
    add_temporal_ensemble(parser, "--checkpoint only (default: off, chunks executed as --n-action-steps says)")
    parser.add_argument("--videos", type=int, default=0, help="save videos of the first N episodes of each task")
    parser.add_argument("--video-camera", default=None, help="camera for videos (default: the first camera)")
    parser.add_argument(
        "--placement",
        choices=["worker", "parent"],
        default="worker",
        help="build the policy in each worker (default) or in this process with workers stepping envs",
    )
    from hy_vla.runtime.sim_async import add_async_arguments

    add_async_arguments(parser)  # --async --latency-ms --stitch --overlap --control-period-ms


def run(args: argparse.Namespace) -> int:
    from hy_vla.eval.report import table_lines
    from hy_vla.eval.runner import EvalConfig, Evaluator
    from hy_vla.rollout.factories import CheckpointFactory, ScriptedExpertFactory

    if args.list_tasks:
        return print_tasks(args.env)
    if sum(x is not None for x in (args.policy, args.checkpoint, args.remote)) != 1:
        raise ValueError("give exactly one of --policy scripted, --checkpoint DIR or --remote HOST:PORT")
    if not args.out:
        raise ValueError("--out is required")
    if args.predict_mode and not args.checkpoint:
        raise ValueError("--predict-mode applies to --checkpoint only")
    if args.stride_mode != "hold" and not args.checkpoint:
        raise ValueError("--stride-mode applies to --checkpoint only")
    if args.temporal_ensemble is not None:
        if not args.checkpoint:
            raise ValueError("--temporal-ensemble applies to --checkpoint only")
        if args.n_action_steps is not None or getattr(args, "async_exec", False):
            raise ValueError("--temporal-ensemble executes one action per query: drop --n-action-steps and --async")
        if not args.temporal_ensemble >= 0:
            raise ValueError(f"--temporal-ensemble M must be >= 0, got {args.temporal_ensemble}")
    tasks = resolve_tasks(args.env, args.tasks)
    if args.checkpoint:
        from hy_vla.training.checkpointing import resolve_checkpoint

        args.checkpoint = str(resolve_checkpoint(args.checkpoint))  # FileNotFoundError -> main prints it
    cameras = parse_list(args.cameras)
    if args.policy == "scripted" and cameras is None:
        cameras = ()  # the scripted experts are blind: render only for videos
    if args.checkpoint and cameras is None:  # render exactly the cameras the checkpoint was trained on
        from hy_vla.models.config import HyVLAConfig

        cameras = HyVLAConfig.from_pretrained(args.checkpoint).camera_names
    config = EvalConfig(
        suite=args.env,
        tasks=tasks,
        episodes=args.episodes,
        base_seed=args.base_seed,
        workers=args.workers,
        placement=args.placement,
        n_action_steps=args.n_action_steps,
        cameras=cameras,
        image_size=args.image_size,
        max_steps=args.max_steps,
        videos=args.videos,
        video_camera=args.video_camera,
        out=args.out,
        extra={
            "policy": args.policy or ("remote" if args.remote else "checkpoint"),
            "checkpoint": args.checkpoint,
            "remote": args.remote,
            "predict_mode": args.predict_mode,
            "stride_mode": args.stride_mode,
            "temporal_ensemble": args.temporal_ensemble,
        },
    )
    if args.remote:
        from hy_vla.serving.client import RemotePolicyFactory

        host, _, port = args.remote.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--remote expects HOST:PORT, got {args.remote!r}")
        factory = RemotePolicyFactory(host, int(port), os.environ.get("HY_VLA_API_KEY"))
    elif args.policy:
        factory = ScriptedExpertFactory(args.env)
    else:
        factory = CheckpointFactory(
            args.checkpoint,
            args.device,
            predict_mode=args.predict_mode,
            stride_mode=args.stride_mode,
            temporal_ensemble=args.temporal_ensemble,
        )
    from hy_vla.runtime.sim_async import async_factory

    factory = async_factory(factory, args)  # --async: simulated-latency asynchronous execution
    # An unknown camera or a policy/env mismatch (PolicyMismatchError) raises ValueError: main prints it.
    report = Evaluator(config, command=["hy-vla", *sys.argv[1:]]).run(factory)
    print(json.dumps({"overall": report["overall"], "wall_s": round(report["wall_s"], 1), "out": args.out}))
    print("\n".join(table_lines(report)))  # per task, per group (Meta-World tiers), mean
    return 0
