"""`hy-vla post-train`: RL (grpo, ppo), rejection-sampling fine-tuning (rft), preference optimization (pref),
interactive imitation on expert corrections (dagger) or continued supervised training (sft, the control) from a
checkpoint, in simulation; re-running resumes."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from hy_vla.posttrain.config import METHOD_DEFAULTS, METHODS, PER_METHOD, PostTrainConfig


def _default(name: str) -> object:
    return next(f.default for f in fields(PostTrainConfig) if f.name == name)


def _per_method(name: str) -> str:
    return "(default: per method: " + ", ".join(f"{m} {v[name]:g}" for m, v in METHOD_DEFAULTS.items()) + ")"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hy_vla.sim.registry import SUITES

    d = _default
    parser.add_argument("--checkpoint", required=True, help="supervised checkpoint (or training run folder)")
    parser.add_argument("--method", default=d("method"), choices=list(METHODS),
                        help=f"dagger (expert corrections of failed rollouts), grpo (RL, group baseline), "
                             f"ppo (RL, critic), rft (rejection sampling), "
                             f"pref (preferences), sft (the control) (default: {d('method')})")  # fmt: skip
    parser.add_argument("--env", default=d("suite"), choices=list(SUITES), help=f"simulator (default: {d('suite')})")
    parser.add_argument("--tasks", required=True, help="comma-separated task names, or 'all'")
    parser.add_argument("--out", required=True, help="run folder; re-running the same command resumes")
    parser.add_argument("--iterations", type=int, default=d("iterations"), help="(default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget for rollouts + updates "
                        "(default: none, run all iterations)")  # fmt: skip
    for name, typ in (("layouts", int), ("group", int), ("sigma", float), ("lr", float), ("epochs", int),
                      ("minibatch", int), ("clip", float), ("gamma", float), ("gae_lambda", float),
                      ("value_lr", float), ("kl_weight", float), ("ema_decay", float),
                      ("steps_per_iteration", int), ("demo_fraction", float), ("pref_beta", float),
                      ("pref_prox", float), ("takeovers", int), ("eval_episodes", int),
                      ("save_every", int), ("workers", int), ("seed", int),
                      ("train_seed", int)):  # fmt: skip
        flag = f"--{name.replace('_', '-')}"
        if name in PER_METHOD:
            parser.add_argument(flag, type=typ, default=None, help=_per_method(name))
        else:
            parser.add_argument(flag, type=typ, default=d(name), help="(default: %(default)s)")
    parser.add_argument("--shaped-reward", action="store_true", help="grpo: add the env's shaped return")
    parser.add_argument(
        "--pref-offline",
        action="store_true",
        help="pref: collect pairs in the first iteration only, then train on them without rollouts",
    )
    parser.add_argument("--demo-dataset", default=None, help="demonstrations (default: the checkpoint's dataset)")
    parser.add_argument("--n-action-steps", type=int, default=None, help="actions executed per chunk (default: all)")
    parser.add_argument("--image-size", type=int, default=None, help="rendered image side (default: the suite's)")
    parser.add_argument("--max-steps", type=int, default=None, help="episode cap (default: the suite's)")
    parser.add_argument("--num-steps", type=int, default=None, help="denoising steps (default: the checkpoint's)")


def run(args: argparse.Namespace) -> int:
    from hy_vla.cli.eval import resolve_tasks
    from hy_vla.posttrain.loop import post_train

    names = [f.name for f in fields(PostTrainConfig)]
    values = {k: getattr(args, k) for k in names if hasattr(args, k)}
    values.update(suite=args.env, tasks=resolve_tasks(args.env, args.tasks), out=str(Path(args.out)))
    report = post_train(PostTrainConfig(**values))
    b, a = report["before"]["overall"], report["after"]["overall"]
    print(f"success {b['success_rate']:.0%} -> {a['success_rate']:.0%} ({report['compute']['minutes']:.1f} min, "
          f"{report['compute']['iterations']} iterations); report: {Path(args.out) / 'report.json'}")  # fmt: skip
    return 0
