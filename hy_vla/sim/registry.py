"""The single table of simulator suites.

Each suite module exposes:

- ``list_tasks() -> list[str]``
- ``make_env(task, *, cameras=None, image_size=None, seed=0, **kwargs) -> EnvAdapter``
- ``make_expert(task) -> PolicyLike`` (scripted expert; raises if the suite has none)
- optionally ``expand_task(name) -> list[str]``: the task names a group name (a LIBERO suite such as
  ``libero_object``) or a short alias stands for; ``[]`` for an unknown name
- optionally ``suggest(name) -> str``: did-you-mean text for an unknown name (default: closest task names)
- optionally ``episode_cap(task) -> int``: the task's customary episode length cap (LIBERO's per-suite caps of
  the standard protocol); where it is absent a caller gives the cap
- optionally ``task_groups() -> dict[str, list[str]]``: named groups of tasks that evaluation reports
  summarize separately (Meta-World: the difficulty tiers)

Suites are imported lazily so that `hy_vla.sim` does not pull in MuJoCo.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from hy_vla.policy.protocol import PolicyLike
from hy_vla.sim.base import EnvAdapter
from hy_vla.utils.names import did_you_mean

SUITES: dict[str, str] = {
    "metaworld": "hy_vla.sim.metaworld",
    "aloha": "hy_vla.sim.aloha",
    "aloha-eef": "hy_vla.sim.aloha.eef_suite",
    "pusht": "hy_vla.sim.pusht",
    "libero": "hy_vla.sim.libero",
}


def suite_module(suite: str) -> ModuleType:
    if suite not in SUITES:
        raise ValueError(f"unknown simulator suite {suite!r}; known: {', '.join(SUITES)}.{did_you_mean(suite, SUITES)}")
    try:
        return importlib.import_module(SUITES[suite])
    except ImportError as e:  # the simulator package is an optional extra
        raise ImportError(f"suite {suite!r} needs its simulator installed: pip install 'hy-vla[sim]' ({e})") from e


def list_tasks(suite: str) -> list[str]:
    return list(suite_module(suite).list_tasks())


def check_task(suite: str, task: str) -> None:
    """Raise a ValueError with suggestions if `task` is not a task of `suite` (nor an alias of exactly one)."""
    tasks = list_tasks(suite)
    if task in tasks:
        return
    module = suite_module(suite)
    expand = getattr(module, "expand_task", None)
    if expand is not None and len(expand(task)) == 1 and expand(task)[0] != task:
        return  # a short alias of one task; the suite's make_env resolves it
    suggest = getattr(module, "suggest", None)
    hint = suggest(task) if suggest is not None else did_you_mean(task, tasks)
    raise ValueError(f"unknown {suite} task {task!r}.{hint} ({len(tasks)} tasks: `hy-vla eval --list-tasks`)")


def expand_tasks(suite: str, name: str) -> list[str]:
    """The task names `name` stands for: itself, or a group's tasks / an alias's task where the suite defines them.

    Raises a ValueError with suggestions for an unknown name.
    """
    expand = getattr(suite_module(suite), "expand_task", None)
    names = list(expand(name)) if expand is not None else []
    if names:
        return names
    check_task(suite, name)
    return [name]


def task_groups(suite: str) -> dict[str, list[str]]:
    """The suite's reporting groups ({group: tasks}); ``{}`` when it defines none or its simulator is missing."""
    try:
        groups = getattr(suite_module(suite), "task_groups", None)
    except ImportError:
        return {}
    return {name: list(tasks) for name, tasks in groups().items()} if groups is not None else {}


def expand_task_list(suite: str, names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`expand_tasks` over several names: each task once, in order (set names such as mt10 or libero_object
    expand to their tasks; unknown names raise a ValueError with suggestions)."""
    return tuple(dict.fromkeys(t for name in names for t in expand_tasks(suite, name)))


def episode_cap(suite: str, task: str) -> int | None:
    """`task`'s customary episode cap in `suite`; None when the suite defines none (the caller must give one)."""
    check_task(suite, task)
    cap = getattr(suite_module(suite), "episode_cap", None)
    return None if cap is None else int(cap(task))


def make_env(suite: str, task: str, **kwargs: Any) -> EnvAdapter:
    check_task(suite, task)
    return suite_module(suite).make_env(task, **kwargs)


def make_expert(suite: str, task: str) -> PolicyLike:
    check_task(suite, task)
    return suite_module(suite).make_expert(task)
