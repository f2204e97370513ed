"""Measure the success rate of the ALOHA and PushT scripted experts.

Runs each expert for N episodes through its adapter (episode i uses seed base + i),
without rendering (the experts read privileged state only), and prints the success
rate per task with a 95% Wilson interval.

    .venv/bin/python scripts/measure_experts_aloha_pusht.py --episodes 50 --seed-base 0
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from hy_vla.sim import registry

TASKS = (("aloha", "transfer-cube"), ("aloha", "insertion"), ("pusht", "pusht"))


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def run_episode(env, expert, seed: int) -> tuple[bool, int]:
    """One episode with the expert; returns (success, steps)."""
    obs = env.reset(seed)
    expert.reset()
    for step in range(env.spec.max_steps):
        actions = np.asarray(expert.infer(obs)["actions"])  # (H, A): execute the chunk in order
        for action in actions:
            result = env.step(action)
            obs = result.obs
            if result.done:
                return result.success, step + 1
    return False, env.spec.max_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed-base", type=int, default=0)
    parser.add_argument("--tasks", nargs="*", default=[f"{s}/{t}" for s, t in TASKS], help="suite/task names")
    args = parser.parse_args()
    for name in args.tasks:
        suite, task = name.split("/")
        env = registry.make_env(suite, task, cameras=(), privileged=True)
        expert = registry.make_expert(suite, task)
        start = time.time()
        outcomes = [run_episode(env, expert, args.seed_base + i) for i in range(args.episodes)]
        env.close()
        wins = sum(ok for ok, _ in outcomes)
        lo, hi = wilson(wins, len(outcomes))
        failed = [args.seed_base + i for i, (ok, _) in enumerate(outcomes) if not ok]
        mean_steps = float(np.mean([s for ok, s in outcomes if ok])) if wins else float("nan")
        print(
            f"{name}: success {wins}/{len(outcomes)} = {wins / len(outcomes):.0%} "
            f"(95% CI {lo:.0%}-{hi:.0%}), mean steps to success {mean_steps:.0f}, "
            f"failed seeds {failed}, {time.time() - start:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
