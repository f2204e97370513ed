"""Per-group (Meta-World tier) success in the evaluation report, on hand-made episode results."""

from __future__ import annotations

import pytest

pytest.importorskip("metaworld")

from hy_vla.eval.report import build_report, group_summary, table_lines  # noqa: E402
from hy_vla.eval.stats import wilson_interval  # noqa: E402
from hy_vla.rollout.episode import EpisodeResult  # noqa: E402
from hy_vla.rollout.workers import EnvRecipe  # noqa: E402

# task -> successes out of 10 episodes; reach is an easy task, push and pick-place are hard, shelf-place very hard
SUCCESSES = {"reach-v3": 9, "push-v3": 3, "pick-place-v3": 6, "shelf-place-v3": 0}
N = 10


def _report(suite: str = "metaworld", successes: dict[str, int] = SUCCESSES) -> dict:
    results = [
        EpisodeResult(task, i, i, i < k, 100, 10, 0.1) for task, k in successes.items() for i in range(N)
    ]  # fmt: skip
    config = {"suite": suite, "tasks": list(successes), "episodes": N, "base_seed": 0}
    return build_report(config, EnvRecipe(suite, (), None, None), results[::-1], command=[], wall_s=1.0)


def test_tiers_pool_the_episodes_of_their_evaluated_tasks():
    groups = _report()["groups"]
    assert list(groups) == ["easy", "hard", "very_hard"]  # medium has no evaluated task: no entry
    hard = groups["hard"]
    assert (hard["successes"], hard["episodes"], hard["tasks"], hard["group_tasks"]) == (9, 20, 2, 6)
    assert hard["success_rate"] == pytest.approx(0.45)
    assert hard["ci95"] == pytest.approx(list(wilson_interval(9, 20)))
    assert groups["easy"]["ci95"] == pytest.approx(list(wilson_interval(9, 10))) and groups["easy"]["group_tasks"] == 28
    assert groups["very_hard"]["success_rate"] == 0.0 and groups["very_hard"]["ci95"][0] == 0.0


def test_pooled_rate_differs_from_the_task_mean_when_episode_counts_differ():
    tasks = {"a": {"n": 10, "successes": 10}, "b": {"n": 30, "successes": 0}}
    g = group_summary(tasks, {"g": ["a", "b", "c"], "other": ["d"]})
    assert list(g) == ["g"] and g["g"]["success_rate"] == 0.25 and (g["g"]["tasks"], g["g"]["group_tasks"]) == (2, 3)


def test_printed_table_has_tasks_tiers_and_mean():
    lines = table_lines(_report())
    assert len(lines) == len(SUCCESSES) + 3 + 1
    assert lines[0].startswith("reach-v3") and "90.0%" in lines[0]
    hard = next(line for line in lines if line.startswith("[hard]"))
    assert "2/6 tasks" in hard and "45.0%" in hard and "9/20" in hard
    assert lines[-1].startswith("mean of 4 tasks") and "45.0%" in lines[-1]  # (0.9 + 0.3 + 0.6 + 0) / 4


def test_suites_without_groups_report_none():
    report = _report("pusht", {"push-t": 5})
    assert report["groups"] == {}
    assert len(table_lines(report)) == 2
