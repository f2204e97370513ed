"""Bar chart of per-task success rates with their 95% Wilson intervals."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MAX_LABEL = 32  # characters of a bar's label; longer ones are cut in the middle


def bar_labels(names: list[str]) -> list[str]:
    """Short, still distinct labels for task names: the words every name shares at its start and end go
    (``libero_object/pick_up_the_`` ... ``_and_place_it_in_the_basket`` leave ``alphabet_soup``), and what is still
    longer than `MAX_LABEL` is cut in the middle (less, when the cut would make two labels equal)."""
    if len(names) > 1:
        head = len(os.path.commonprefix(names))
        tail = len(os.path.commonprefix([n[::-1] for n in names]))
        head = max((i + 1 for i in range(head) if names[0][i] in "/_-"), default=0)  # cut after a separator
        tail = max((i + 1 for i in range(tail) if names[0][-1 - i] in "/_-"), default=0)
        trimmed = [n[head : len(n) - tail] for n in names]
        if all(trimmed) and len(set(trimmed)) == len(names):
            names = trimmed
    for limit in range(MAX_LABEL, max(map(len, names)) + 1):  # the shortest cut that keeps them distinct
        short = [n if len(n) <= limit else n[: (limit - 1) // 2] + "\u2026" + n[-((limit - 1) // 2) :] for n in names]
        if len(set(short)) == len(short):
            return short
    return names


def plot_success(report: dict[str, Any], path: str | Path) -> Path:
    """Save a bar per task (plus the overall mean) with asymmetric Wilson error bars, using the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")  # headless; never opens a window
    import matplotlib.pyplot as plt

    names = list(report["tasks"])
    labels = bar_labels(names) + ["overall"]
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

    # Room under the axes for the rotated labels (~0.07 inch per character at this font size).
    longest = max(len(label) for label in labels)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(names) + 1.5), 3.2 + 0.07 * longest))
    colors = ["tab:blue"] * (len(names) - 1) + ["tab:orange"]
    ax.bar(range(len(names)), rates, color=colors, yerr=[err_low, err_high], capsize=3)
    ax.set_xticks(range(len(names)), labels, rotation=75, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (95% Wilson CI)")
    n = report["config"]["episodes"]
    ax.set_title(f"{report['config']['suite']}: {n} episodes per task", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
