"""Render an evaluation report.json as the Markdown table used in bench/RESULTS.md.

.venv/bin/python bench/report_table.py runs/eval/report.json [--columns 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def rows(report: dict) -> list[str]:
    out = []
    for task, t in sorted(report["tasks"].items()):
        lo, hi = t["ci95"]
        rate, length = f"{t['success_rate']:.0%}", f"{t['mean_length']:.0f}"
        out.append(f"| {task} | {t['successes']}/{t['n']} | {rate} | [{lo:.2f}, {hi:.2f}] | {length} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    args = ap.parse_args()
    report = json.loads(args.report.read_text())
    o = report["overall"]
    print("| task | successes | rate | 95% Wilson CI | mean length |")
    print("|---|---|---|---|---|")
    print("\n".join(rows(report)))
    for name, g in report.get("groups", {}).items():  # per tier (Meta-World): pooled episodes
        lo, hi = g["ci95"]
        label = f"*{name}* ({g['tasks']}/{g['group_tasks']} tasks)"
        print(f"| {label} | {g['successes']}/{g['episodes']} | {g['success_rate']:.0%} | [{lo:.2f}, {hi:.2f}] | |")
    lo, hi = o["ci95"]
    rate, length = f"{o['success_rate']:.1%}", f"{o['mean_length']:.0f}"
    print(f"| **overall** | {o['successes']}/{o['episodes']} | **{rate}** | [{lo:.3f}, {hi:.3f}] | {length} |")
    print(
        f"\nCommand: `{' '.join(report['command'])}`; wall {report['wall_s']:.0f} s; finished {report['finished_at']}"
    )


if __name__ == "__main__":
    main()
