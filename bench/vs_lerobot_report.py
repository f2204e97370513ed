"""The side-by-side report of bench/vs_lerobot.py: time-to-success, ratios and the markdown tables (pure functions).

A result per policy (a dict, JSON-ready):

    {"name", "parameters", "steps", "batch_size", "train_s", "samples_per_s", "prep_s",
     "curve": [{"step", "train_s", "mean", "ci95", "tasks": {task: {"success_rate", "ci95", "n", "successes"}}}],
     "latency": {"chunk_ms", "compute_ms", "observe_ms", "executed_per_chunk", "step_ms"}}

`curve` lists the evaluated checkpoints in training order; its last entry is the final policy.
"""

from __future__ import annotations

import math
from typing import Any

THRESHOLDS = (0.5, 0.8)


def time_to_success(curve: list[dict[str, Any]], threshold: float) -> float | None:
    """Training wall time (s) of the first checkpoint whose mean success reaches `threshold`; None if none does."""
    for point in curve:
        if point["mean"] >= threshold - 1e-12:
            return float(point["train_s"])
    return None


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, or None when either is missing, not finite, or the peer's value is 0."""
    if ours is None or theirs is None or not math.isfinite(ours) or not math.isfinite(theirs) or theirs == 0:
        return None
    return ours / theirs


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The comparable numbers of one policy (final checkpoint, time-to-success, speed, size)."""
    final = result["curve"][-1] if result["curve"] else None
    lat = result.get("latency") or {}
    return {
        "parameters": result.get("parameters"),
        "steps": result.get("steps"),
        "samples_per_s": result.get("samples_per_s"),
        "mean_success": final["mean"] if final else None,
        "mean_ci95": final["ci95"] if final else None,
        "tasks": final["tasks"] if final else {},
        **{f"time_to_{round(t * 100)}_s": time_to_success(result["curve"], t) for t in THRESHOLDS},
        # checkpoints left unevaluated (--evaluate last): a threshold may have been crossed earlier than shown
        "partial_curve": bool(result.get("skipped_steps")),
        "chunk_ms": lat.get("chunk_ms"),
        "step_ms": lat.get("step_ms"),
    }


def _pct(rate: float | None, ci: list[float] | None = None) -> str:
    if rate is None:
        return "-"
    return f"{rate:.0%}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _minutes(seconds: float | None, partial: bool = False) -> str:
    """Time-to-success cell; with unevaluated checkpoints only an upper bound (or 'not at the final') is known."""
    if partial:
        return "not reached at the final checkpoint" if seconds is None else f"<= {seconds / 60:.1f} min"
    return "not reached" if seconds is None else f"{seconds / 60:.1f} min"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def comparison_table(results: list[dict[str, Any]], tasks: list[str], ours: str = "hy-vla") -> str:
    """Markdown: one column per policy, then one `ours / peer` ratio column per peer."""
    sums = {r["name"]: summarize(r) for r in results}
    names = [r["name"] for r in results]
    peers = [n for n in names if n != ours] if ours in sums else []
    head = "| | " + " | ".join(names) + "".join(f" | {ours} / {p}" for p in peers) + " |"
    lines = [head, "|---" * (1 + len(names) + len(peers)) + "|"]

    def row(label: str, cell: Any, key: str | None = None, better_lower: bool = False) -> None:
        cells = [cell(sums[n]) for n in names]
        ratios = []
        for p in peers:
            r = ratio(sums[ours].get(key), sums[p].get(key)) if key else None
            if key and key.startswith("time_to") and (sums[ours]["partial_curve"] or sums[p]["partial_curve"]):
                r = None  # an upper bound divided by a time is not a ratio of times
            ratios.append(_ratio_cell(r))
        lines.append(f"| {label} | " + " | ".join(cells) + "".join(f" | {c}" for c in ratios) + " |")

    row("parameters", lambda s: _num(s["parameters"] and s["parameters"] / 1e6, ".1f") + "M", "parameters")
    row("training steps", lambda s: _num(s["steps"], "d"))
    row("training samples/s", lambda s: _num(s["samples_per_s"], ".1f"), "samples_per_s")
    for task in tasks:
        row(task, lambda s, t=task: _pct(s["tasks"].get(t, {}).get("success_rate"), s["tasks"].get(t, {}).get("ci95")))
    row("**mean success**", lambda s: _pct(s["mean_success"], s["mean_ci95"]), "mean_success")
    for t in THRESHOLDS:
        key = f"time_to_{round(t * 100)}_s"
        row(f"time to {t:.0%} mean success", lambda s, k=key: _minutes(s[k], s["partial_curve"]), key)
    row("latency per chunk (ms)", lambda s: _num(s["chunk_ms"], ".1f"), "chunk_ms")
    row("latency per control step (ms)", lambda s: _num(s["step_ms"], ".1f"), "step_ms")
    return "\n".join(lines)


def curve_table(results: list[dict[str, Any]]) -> str:
    """Markdown: mean success of every evaluated checkpoint, by training wall time."""
    lines = ["| policy | checkpoint step | training time | mean success | 95% CI |", "|---|---|---|---|---|"]
    for r in results:
        for p in r["curve"]:
            lo, hi = p["ci95"]
            lines.append(f"| {r['name']} | {p['step']} | {p['train_s'] / 60:.1f} min | {p['mean']:.0%} | "
                         f"[{lo:.2f}, {hi:.2f}] |")  # fmt: skip
    return "\n".join(lines)
