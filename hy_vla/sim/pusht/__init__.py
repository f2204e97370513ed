"""PushT suite (gym-pusht): one task, "pusht", with our scripted pushing expert.

Registry entry points (`hy_vla.sim.registry`): `list_tasks`, `make_env`, `make_expert`.
gym-pusht (pymunk, pygame) is imported on first use.

The expert reads the privileged block pose: build its environment with ``make_env("pusht", privileged=True)``.
"""

from __future__ import annotations

from typing import Any

TASK_NAMES = ("pusht",)


def list_tasks() -> list[str]:
    return list(TASK_NAMES)


def _check(task: str) -> None:
    if task not in TASK_NAMES:
        raise ValueError(f"unknown pusht task {task!r}; known: {', '.join(TASK_NAMES)}")


def make_env(
    task: str = "pusht",
    *,
    cameras: tuple[str, ...] | list[str] | None = None,
    image_size: tuple[int, int] | None = None,
    seed: int = 0,
    privileged: bool = False,
) -> Any:
    """Build a `PushTAdapter`. `seed` is accepted for the registry signature; episodes are seeded by `reset(seed)`."""
    _check(task)
    from hy_vla.sim.pusht.env import PushTAdapter

    del seed  # the layout is a function of the reset seed only
    return PushTAdapter(cameras=cameras, image_size=image_size, privileged=privileged)


def make_expert(task: str = "pusht") -> Any:
    """Scripted pushing expert (a `PolicyLike`); it needs an env built with ``privileged=True``."""
    _check(task)
    from hy_vla.sim.pusht.expert import PushTExpert

    return PushTExpert()
