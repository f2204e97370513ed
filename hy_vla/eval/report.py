"""Evaluation report: per-task, per-group and overall statistics plus provenance, saved as JSON with a plot.

Layout of ``report.json``::

    {"overall": {"success_rate", "ci95", "episodes", "successes", "mean_length"},
     "tasks": {task: {"success_rate", "ci95": [low, high], "mean_length", "n", "successes",
                      "instruction", "episodes": [{"seed", "success", "length", ...}]}},
     "groups": {group: {"success_rate", "ci95", "episodes", "successes", "tasks", "group_tasks"}},
     "config", "env", "seeds", "command", "versions", "wall_s", "episodes_per_s"}

``groups`` summarizes the suite's task groups (`hy_vla.sim.registry.task_groups`; Meta-World: the
difficulty tiers) that the evaluated tasks touch: episodes pooled over the group's evaluated tasks, with
a Wilson interval; ``tasks`` of ``group_tasks`` says how much of the group was evaluated.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hy_vla.eval.stats import success_summary, wilson_interval
from hy_vla.rollout.episode import EpisodeResult
from hy_vla.utils.versions import package_versions


def _instruction(suite: str, task: str) -> str | None:
    if suite == "metaworld":
        from hy_vla.sim.metaworld.instructions import INSTRUCTIONS

        return INSTRUCTIONS.get(task)
    return None


def group_summary(tasks: dict[str, dict[str, Any]], groups: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Per group with at least one evaluated task: pooled success over its evaluated tasks' episodes.

    `tasks` maps a task to its summary (``n``, ``successes``, as in ``report["tasks"]``).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, members in groups.items():
        evaluated = [t for t in members if t in tasks]
        if not evaluated:
            continue
        n = sum(int(tasks[t]["n"]) for t in evaluated)
        k = sum(int(tasks[t]["successes"]) for t in evaluated)
        out[name] = {
            "success_rate": k / n if n else 0.0,
            "ci95": list(wilson_interval(k, n)),
            "episodes": n,
            "successes": k,
            "tasks": len(evaluated),
            "group_tasks": len(members),
        }
    return out


def table_lines(report: dict[str, Any]) -> list[str]:
    """The printed table: a line per task, then per group (tier), then the mean over tasks."""
    lines = []
    for task, t in report["tasks"].items():
        low, high = t["ci95"]
        lines.append(
            f"{task:32s} {t['success_rate']:6.1%}  [{low:.2f}, {high:.2f}]  mean length {t['mean_length']:.0f}"
        )
    for name, g in report.get("groups", {}).items():
        low, high = g["ci95"]
        label = f"[{name}] {g['tasks']}/{g['group_tasks']} tasks"
        lines.append(f"{label:32s} {g['success_rate']:6.1%}  [{low:.2f}, {high:.2f}]  {g['successes']}/{g['episodes']}")
    o = report["overall"]
    low, high = o["ci95"]
    mean = f"mean of {len(report['tasks'])} tasks"
    lines.append(f"{mean:32s} {o['success_rate']:6.1%}  [{low:.2f}, {high:.2f}]  {o['successes']}/{o['episodes']}")
    return lines


def build_report(
    config: dict[str, Any],
    env_recipe: Any,
    results: list[EpisodeResult],
    *,
    command: list[str],
    wall_s: float,
) -> dict[str, Any]:
    """Aggregate episode results (any order) into the report dict."""
    tasks: dict[str, Any] = {}
    for task in config["tasks"]:
        eps = sorted((r for r in results if r.task == task), key=lambda r: r.episode)
        summary = success_summary([r.success for r in eps], [r.length for r in eps])
        tasks[task] = {
            **summary,
            "instruction": _instruction(config["suite"], task),
            "episodes": [
                {k: v for k, v in r.to_dict().items() if k != "task"} for r in eps
            ],  # seed, success, length, ...
        }
    n = len(results)
    k = sum(r.success for r in results)
    rates = [t["success_rate"] for t in tasks.values()]
    overall = {
        "success_rate": sum(rates) / len(rates) if rates else 0.0,  # mean over tasks
        "ci95": list(wilson_interval(k, n)),  # pooled over all episodes
        "episodes": n,
        "successes": int(k),
        "mean_length": sum(r.length for r in results) / n if n else 0.0,
    }
    from hy_vla.sim.registry import task_groups

    return {
        "overall": overall,
        "tasks": tasks,
        "groups": group_summary(tasks, task_groups(config["suite"])),
        "config": config,
        "env": asdict(env_recipe),
        "seeds": [config["base_seed"] + i for i in range(config["episodes"])],
        "command": command,
        "versions": package_versions(),
        "wall_s": wall_s,
        "episodes_per_s": n / wall_s if wall_s > 0 else None,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_outputs(out: str | Path, report: dict[str, Any]) -> None:
    """Write ``report.json`` (atomically) and ``success.png``."""
    from hy_vla.eval.plot import plot_success

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "report.json.part"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out / "report.json")
    plot_success(report, out / "success.png")
