"""Named Meta-World task sets for ``--tasks``: the MT10 and MT50 benchmarks and the four difficulty tiers.

- ``mt10``: Meta-World's own MT10 benchmark (``metaworld.env_dict.MT10_V3``), in its order.
- ``easy`` (28), ``medium`` (11), ``hard`` (6), ``very_hard`` (5): the difficulty split of the MT50 tasks
  introduced by Seo et al. 2022 ("Masked World Models for Visual Control"), which later MT50 reports and
  LeRobot's Meta-World evaluation use to give per-tier success rates. The tiers partition the 50 tasks.
- ``mt50``: all 50 tasks (the union of the tiers), sorted.

Plain data: nothing here imports Meta-World. `tests/sim/test_metaworld_task_sets.py` checks the tables
against the installed package (the 50 v3 task names, MT10).
"""

from __future__ import annotations

from hy_vla.utils.names import did_you_mean

MT10: tuple[str, ...] = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
)

# The MT50 difficulty tiers of Seo et al. 2022 (v2 names there; the v3 tasks are the same tasks).
TIERS: dict[str, tuple[str, ...]] = {
    "easy": (
        "button-press-topdown-v3",
        "button-press-topdown-wall-v3",
        "button-press-v3",
        "button-press-wall-v3",
        "coffee-button-v3",
        "dial-turn-v3",
        "door-close-v3",
        "door-lock-v3",
        "door-open-v3",
        "door-unlock-v3",
        "drawer-close-v3",
        "drawer-open-v3",
        "faucet-close-v3",
        "faucet-open-v3",
        "handle-press-side-v3",
        "handle-press-v3",
        "handle-pull-side-v3",
        "handle-pull-v3",
        "lever-pull-v3",
        "peg-unplug-side-v3",
        "plate-slide-back-side-v3",
        "plate-slide-back-v3",
        "plate-slide-side-v3",
        "plate-slide-v3",
        "reach-v3",
        "reach-wall-v3",
        "window-close-v3",
        "window-open-v3",
    ),
    "medium": (
        "basketball-v3",
        "bin-picking-v3",
        "box-close-v3",
        "coffee-pull-v3",
        "coffee-push-v3",
        "hammer-v3",
        "peg-insert-side-v3",
        "push-wall-v3",
        "soccer-v3",
        "sweep-into-v3",
        "sweep-v3",
    ),
    "hard": (
        "assembly-v3",
        "hand-insert-v3",
        "pick-out-of-hole-v3",
        "pick-place-v3",
        "push-back-v3",
        "push-v3",
    ),
    "very_hard": (
        "disassemble-v3",
        "pick-place-wall-v3",
        "shelf-place-v3",
        "stick-pull-v3",
        "stick-push-v3",
    ),
}

MT50: tuple[str, ...] = tuple(sorted(task for tier in TIERS.values() for task in tier))

TASK_SETS: dict[str, tuple[str, ...]] = {"mt10": MT10, "mt50": MT50, **TIERS}


def expand_task(name: str) -> list[str]:
    """The tasks of the set `name` (``mt10``, ``mt50``, ``easy``, ...); ``[]`` for any other name."""
    return list(TASK_SETS.get(name.strip().lower(), ()))


def task_groups() -> dict[str, list[str]]:
    """The difficulty tiers, for per-tier evaluation reporting ({tier: tasks})."""
    return {tier: list(tasks) for tier, tasks in TIERS.items()}


def suggest(name: str, tasks: list[str]) -> str:
    """Did-you-mean text for an unknown name, comparing set names and task names."""
    return did_you_mean(name, [*TASK_SETS, *tasks])
