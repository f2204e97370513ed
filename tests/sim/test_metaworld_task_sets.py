"""Meta-World task sets (mt10, mt50, the difficulty tiers) against the installed package, and `--tasks` expansion."""

from __future__ import annotations

import pytest

pytest.importorskip("metaworld")

from hy_vla.cli.eval import resolve_tasks  # noqa: E402
from hy_vla.sim.metaworld.task_sets import MT10, MT50, TASK_SETS, TIERS  # noqa: E402
from hy_vla.sim.registry import expand_tasks, list_tasks, task_groups  # noqa: E402

EXPECTED_SIZES = {"mt10": 10, "mt50": 50, "easy": 28, "medium": 11, "hard": 6, "very_hard": 5}


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_every_set_name_resolves_to_its_size(name):
    tasks = expand_tasks("metaworld", name)
    assert len(tasks) == EXPECTED_SIZES[name] and len(set(tasks)) == len(tasks)
    assert set(tasks) <= set(list_tasks("metaworld"))  # installed v3 names only


def test_tiers_partition_mt50_and_mt50_is_every_installed_task():
    seen: list[str] = [t for tier in TIERS.values() for t in tier]
    assert len(seen) == len(set(seen)) == 50  # no task in two tiers
    assert set(seen) == set(MT50) == set(list_tasks("metaworld"))
    assert list(MT50) == list_tasks("metaworld")  # same (sorted) order as `all`


def test_mt10_is_metaworlds_own_benchmark_and_inside_mt50():
    from metaworld.env_dict import MT10_V3

    assert list(MT10) == list(MT10_V3)
    assert set(MT10) < set(MT50)


def test_task_groups_are_the_tiers():
    groups = task_groups("metaworld")
    assert list(groups) == ["easy", "medium", "hard", "very_hard"]
    assert {k: len(v) for k, v in groups.items()} == {k: EXPECTED_SIZES[k] for k in groups}
    assert task_groups("pusht") == {}  # suites without groups


def test_cli_task_lists_mix_sets_and_tasks_without_duplicates():
    assert resolve_tasks("metaworld", "mt10") == MT10
    tasks = resolve_tasks("metaworld", "hard,reach-v3,very_hard,push-v3")  # push-v3 is also in `hard`
    assert tasks == (*TIERS["hard"], "reach-v3", *TIERS["very_hard"])
    assert resolve_tasks("metaworld", "MT50") == MT50  # set names ignore case
    assert set(TASK_SETS) == set(EXPECTED_SIZES)


@pytest.mark.parametrize(("name", "hint"), [("mt5", "mt50"), ("very-hard", "very_hard"), ("rech-v3", "reach-v3")])
def test_unknown_names_get_one_line_with_a_suggestion(name, hint):
    with pytest.raises(ValueError) as err:
        expand_tasks("metaworld", name)
    message = str(err.value)
    assert "\n" not in message and f"unknown metaworld task {name!r}" in message
    assert "Did you mean:" in message and hint in message.split("Did you mean:")[1]
