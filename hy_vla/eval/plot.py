"""Bar chart of per-task success rates with their 95% Wilson intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_success(report: dict[str, Any], path: str | Path) -> Path:
    """Save a bar per task (plus the overall mean) with asymmetric Wilson error bars, using the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")  # headless; never opens a window
    import matplotlib.pyplot as plt

    names = list(report["tasks"])
    rates = [report["tasks"][t]["success_rate"] for t in names]
    lows = [report["tasks"][t]["ci95"][0] for t in names]
    highs = [report["tasks"][t]["ci95"][1] for t in names]
    names.append("overall")
    rates.append(report["overall"]["success_rate"])
    lows.append(report["overall"]["ci95"][0])
    highs.append(report["overall"]["ci95"][1])
    # Error bars are distances from the bar top; the pooled overall interval need not contain the task mean.
    err_low = [max(0.0, r - lo) for r, lo in zip(rates, lows, strict=True)]
    err_high = [max(0.0, hi - r) for r, hi in zip(rates, highs, strict=True)]

    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(names) + 1.5), 4.0))
    colors = ["tab:blue"] * (len(names) - 1) + ["tab:orange"]
    ax.bar(range(len(names)), rates, color=colors, yerr=[err_low, err_high], capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=75, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (95% Wilson CI)")
    n = report["config"]["episodes"]
    ax.set_title(f"{report['config']['suite']}: {n} episodes per task", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
