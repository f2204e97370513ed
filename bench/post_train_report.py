"""Compare `hy-vla post-train` runs of one start checkpoint: a Markdown table and a learning-curve PNG.

    python bench/post_train_report.py runs/s11/grpo runs/s11/rft runs/s11/sft runs/s11/pref --png curves.png

Each run folder holds report.json (before/after on the evaluation seeds, Wilson intervals) and history.jsonl
(per-iteration rollout success on training layouts). The table gives per-task success before and after, the lift,
and the compute; the PNG plots rollout success on the training layouts (a running mean over 3 iterations) against
minutes of rollouts + updates, with the evaluated success before and after as markers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _load(run: Path) -> tuple[dict, list[dict]]:
    report = json.loads((run / "report.json").read_text())
    hist = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines() if x.strip()]
    return report, hist


def _cell(t: dict) -> str:
    lo, hi = t["ci95"] if "ci95" in t else (0.0, 1.0)
    return f"{t['success_rate']:.0%} [{lo:.2f}, {hi:.2f}]"


def table(runs: list[Path]) -> str:
    first, _ = _load(runs[0])
    tasks = list(first["before"]["tasks"])
    head = "| task | before | " + " | ".join(f"{r.name} after" for r in runs) + " |"
    lines = [head, "|" + "---|" * (len(runs) + 2)]
    reports = [_load(r)[0] for r in runs]
    for task in tasks:
        cells = [_cell(first["before"]["tasks"][task])] + [_cell(rep["after"]["tasks"][task]) for rep in reports]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    cells = [_cell(first["before"]["overall"])] + [_cell(rep["after"]["overall"]) for rep in reports]
    lines.append("| **mean** | " + " | ".join(cells) + " |")
    lines.append("| lift (points) | | " + " | ".join(f"{100 * rep['lift']:+.1f}" for rep in reports) + " |")
    for key in ("minutes", "iterations", "optimizer_steps", "rollout_episodes"):
        vals = [rep["compute"][key] for rep in reports]
        lines.append(f"| {key} | | " + " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in vals) + " |")
    return "\n".join(lines)


def _err(rate: dict) -> list[list[float]]:
    """Asymmetric error bar of a rate with its Wilson interval."""
    return [[rate["success_rate"] - rate["ci95"][0]], [rate["ci95"][1] - rate["success_rate"]]]


def plot(runs: list[Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, run in enumerate(runs):
        report, hist = _load(run)
        color = f"C{i}"
        rolled = [h for h in hist if "rollout_success" in h]  # offline preference rolls out once
        if len(rolled) > 1:
            xs = [h["minutes"] for h in rolled]
            ys = [h["rollout_success"] for h in rolled]
            smooth = [sum(ys[max(0, j - 2) : j + 1]) / len(ys[max(0, j - 2) : j + 1]) for j in range(len(ys))]
            ax.plot(xs, smooth, color=color, alpha=0.8, label=f"{run.name}: rollout success (training layouts)")
        end = report["compute"]["minutes"]
        b, a = report["before"]["overall"], report["after"]["overall"]
        ax.errorbar([0], [b["success_rate"]], yerr=_err(b), color="k", marker="o", capsize=3)
        ax.errorbar([end], [a["success_rate"]], yerr=_err(a), color=color, marker="s", capsize=3,
                    label=f"{run.name}: evaluated after")  # fmt: skip
    ax.set_xlabel("minutes of rollouts + updates (2-core CPU)")
    ax.set_ylabel("mean success rate")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("post-training from the Meta-World demo checkpoint (5 tasks)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="post-train run folders (same start checkpoint)")
    p.add_argument("--png", type=Path, default=None, help="write the learning curves here")
    args = p.parse_args()
    print(table(args.runs))
    if args.png:
        plot(args.runs, args.png)
        print(f"\ncurves: {args.png}")


if __name__ == "__main__":
    main()
