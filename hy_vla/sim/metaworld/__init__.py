"""Meta-World v3 suite: 50 tasks, an instruction per task, scripted experts.

The suite interface of `hy_vla.sim.registry`: `list_tasks`, `expand_task`, `task_groups`,
`suggest`, `make_env`, `make_expert`. Set names (``mt10``, ``mt50``, the difficulty tiers ``easy``,
``medium``, ``hard``, ``very_hard``; `hy_vla.sim.metaworld.task_sets`) expand to their tasks, and
evaluation reports give per-tier success. MuJoCo and Meta-World are imported only when an env or an
expert is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hy_vla.sim.metaworld import task_sets
from hy_vla.sim.metaworld.instructions import INSTRUCTIONS
from hy_vla.sim.metaworld.task_sets import TASK_SETS, expand_task, task_groups
from hy_vla.sim.rendering import select_gl_backend

# MuJoCo reads MUJOCO_GL once, at import: pick a headless backend before anything imports it.
select_gl_backend()


def list_tasks() -> list[str]:
    """The v3 task names of the installed Meta-World (sorted)."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return sorted(ALL_V3_ENVIRONMENTS)


def suggest(name: str) -> str:
    """Did-you-mean text for an unknown task or set name."""
    return task_sets.suggest(name, list_tasks())


def make_env(
    task: str,
    *,
    cameras: Sequence[str] | None = None,
    image_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    max_steps: int = 500,
    privileged: bool = False,
    **kwargs: Any,
):
    """Build the adapter of `task` (not reset: call ``env.reset(seed)``; `seed` is accepted for the suite contract).

    Args:
        cameras: camera names (default ``("corner2",)``); ``()`` renders nothing.
        image_size: side or (H, W) of every camera image (default 128).
        max_steps: episode cap (Meta-World's standard is 500).
        privileged: include the full simulator observation for scripted experts.
    """
    from hy_vla.sim.metaworld.env import DEFAULT_CAMERAS, DEFAULT_IMAGE_SIZE, MetaWorldEnv, MetaWorldEnvConfig

    if kwargs:
        raise TypeError(f"unexpected Meta-World options: {', '.join(sorted(kwargs))}")
    size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    hw = (size, size) if isinstance(size, int) else tuple(size)
    config = MetaWorldEnvConfig(
        task=task,
        cameras=DEFAULT_CAMERAS if cameras is None else tuple(cameras),
        image_size=hw,
        max_steps=max_steps,
        privileged=privileged,
    )
    return MetaWorldEnv(config)


def make_expert(task: str):
    """Meta-World's scripted expert for `task` as a PolicyLike (reads the privileged simulator state)."""
    from hy_vla.sim.metaworld.expert import MetaWorldExpert

    return MetaWorldExpert(task)


__all__ = [
    "INSTRUCTIONS",
    "TASK_SETS",
    "expand_task",
    "list_tasks",
    "make_env",
    "make_expert",
    "suggest",
    "task_groups",
]
