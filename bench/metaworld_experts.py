"""How often our scripted Meta-World experts succeed, per task and per difficulty tier (95% Wilson intervals).

    OMP_NUM_THREADS=1 .venv/bin/python bench/metaworld_experts.py --tasks mt50 --episodes 10 --out runs/bench/mw_experts

The expert of every task of the set (default mt50; any `--tasks` value of `hy-vla eval`) runs `--episodes`
episodes under the evaluation protocol (`hy_vla.eval.runner`) without rendering, so it costs physics only.
Episode i uses seed ``--seed + i``; the default is the collection's first seed (100000), so these are the
layouts `hy-vla collect` demonstrates, disjoint from evaluation seeds (0, 1, ...). The expert success
rate bounds what a collection keeps and how many retries it needs; tasks where it is low are listed
at the end, not dropped. Writes ``report.json`` (with the per-tier ``groups``) and ``experts.md`` (the
Markdown table printed here) to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from hy_vla.sim.collect import DEFAULT_COLLECT_SEED

WEAK = 0.9  # tasks whose expert succeeds less often than this are listed


def markdown(report: dict[str, Any]) -> list[str]:
    """Per-task rows grouped by tier (tier order, then task names), the tier rows, and the task mean."""
    tasks, groups = report["tasks"], report["groups"]
    tier_of = {t: name for name, members in _tiers(report).items() for t in members}
    lines = ["| tier | task | successes | rate | 95% Wilson CI | mean length |", "|---|---|---|---|---|---|"]
    order = list(_tiers(report))
    for task in sorted(tasks, key=lambda t: (order.index(tier_of[t]) if t in tier_of else len(order), t)):
        t = tasks[task]
        lo, hi = t["ci95"]
        lines.append(
            f"| {tier_of.get(task, '')} | {task} | {t['successes']}/{t['n']} | {t['success_rate']:.0%} "
            f"| [{lo:.2f}, {hi:.2f}] | {t['mean_length']:.0f} |"
        )
    for name, g in groups.items():
        lo, hi = g["ci95"]
        lines.append(
            f"| **{name}** | {g['tasks']}/{g['group_tasks']} tasks | {g['successes']}/{g['episodes']} "
            f"| **{g['success_rate']:.1%}** | [{lo:.3f}, {hi:.3f}] | |"
        )
    o = report["overall"]
    lo, hi = o["ci95"]
    lines.append(
        f"| **all** | mean of {len(tasks)} tasks | {o['successes']}/{o['episodes']} | **{o['success_rate']:.1%}** "
        f"| [{lo:.3f}, {hi:.3f}] (pooled) | {o['mean_length']:.0f} |"
    )
    weak = [f"{task} {t['success_rate']:.0%}" for task, t in tasks.items() if t["success_rate"] < WEAK]
    lines.append("")
    lines.append(f"Experts below {WEAK:.0%}: {', '.join(weak) if weak else 'none'}.")
    return lines


def _tiers(report: dict[str, Any]) -> dict[str, list[str]]:
    from hy_vla.sim.registry import task_groups

    return task_groups(report["config"]["suite"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="mt50", help="task or set names, as `hy-vla eval --tasks` (default: mt50)")
    ap.add_argument("--episodes", type=int, default=10, help="episodes per task (default: 10)")
    ap.add_argument("--seed", type=int, default=DEFAULT_COLLECT_SEED, help="episode i uses seed + i (default 100000)")
    ap.add_argument("--workers", type=int, default=0, help="worker processes (default: 0, this process)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench/metaworld_experts"), help="output folder")
    args = ap.parse_args(argv)

    from hy_vla.cli.eval import resolve_tasks
    from hy_vla.eval.runner import EvalConfig, Evaluator
    from hy_vla.rollout.factories import ScriptedExpertFactory

    config = EvalConfig(
        suite="metaworld",
        tasks=resolve_tasks("metaworld", args.tasks),
        episodes=args.episodes,
        base_seed=args.seed,
        workers=args.workers,
        cameras=(),  # the experts read the simulator state: nothing is rendered
        out=str(args.out),
        extra={"policy": "scripted", "bench": "metaworld_experts"},
    )
    command = ["python", "bench/metaworld_experts.py", *(sys.argv[1:] if argv is None else argv)]
    report = Evaluator(config, progress=sys.stderr.isatty(), command=command).run(ScriptedExpertFactory("metaworld"))
    lines = markdown(report)
    lines.append(
        f"\n{len(config.tasks)} tasks x {args.episodes} episodes (seeds {args.seed}..{args.seed + args.episodes - 1}), "
        f"wall {report['wall_s']:.0f} s, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}."
    )
    text = "\n".join(lines)
    (args.out / "experts.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
