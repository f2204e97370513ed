"""The demo's pipeline settings: which simulator and tasks, how many demonstrations, which cameras, the budget,
the protocol.

What is trained (architecture and training settings) is a preset, `metaworld-demo` by default
(`hy_vla.presets`), the same one `hy-vla train --preset metaworld-demo` trains. The Meta-World defaults were
tuned on the demo tasks (numbers in bench/RESULTS.md) and are used unchanged on other Meta-World
tasks via `--tasks`. `DEMO_ENVS` holds one default recipe per `hy-vla demo --env`: `aloha` runs the
flagship design (`aloha-flagship`) on bimanual ALOHA under end-effector control, `libero` the LIBERO-Object suite
under the standard protocol (episode i starts from the benchmark's initial state i).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEMO_TASKS = ("reach-v3", "push-v3", "pick-place-v3", "drawer-open-v3", "door-open-v3")


@dataclass
class DemoRecipe:
    suite: str = "metaworld"  # the simulator suite (hy_vla.sim.registry) collected in and evaluated on
    tasks: tuple[str, ...] = DEMO_TASKS
    # data
    # 50 gave no gain at the recipe's learning rate (65% vs 73%, bench/RESULTS.md) for ~2.5 more minutes
    demos_per_task: int = 30
    cameras: tuple[str, ...] = ("topview", "behindGripper")  # a fixed overview + a gripper-mounted view
    # Collection and evaluation render at this size. 128 px with 16 px patches (the same 8 x 8 patch grid and
    # backbone token count as 64 px / 8 px patches) lifted success from 23% to 32% at equal steps
    # (bench/RESULTS.md): the goal markers and handles are 1-2 px at 64 px.
    render_size: int = 128
    collect_seed: int = 100_000  # disjoint from the evaluation seeds 0..episodes-1
    # what is trained: a preset (model + training settings); the cameras above replace its camera names
    preset: str = "metaworld-demo"
    # Training length: a fixed step count, so the result is the same on every machine (a wall-clock budget bought
    # 2298 steps and 72% on a 2-core Xeon but 822 steps and 46% on a 2-core AMD EPYC). 2300 steps scored 73%
    # [0.67, 0.78] (bench/RESULTS.md); the time it takes is measured and printed up front (`demo.estimate`).
    steps: int | None = 2300
    minutes: float | None = None  # a wall-clock budget instead of `steps` (steps calibrated on this machine)
    # evaluation
    eval_episodes: int = 50
    n_action_steps: int = 8  # execute this many actions of each chunk, then re-plan
    # ACT's temporal ensembling instead (m of its weights; a query every control step, `n_action_steps` unused).
    # Off by default: on ALOHA at 10000 steps it won 29 episodes and lost 7 of 200 (bench/RESULTS.md) for ~7x the
    # evaluation time; not measured at the default step counts.
    temporal_ensemble: float | None = None
    # Meta-World's experts finish in 50-120 steps; failures stop here. None: each task's customary cap, for
    # suites that define one (LIBERO's standard protocol: spatial 220, object 280, goal 300, libero_10 520).
    max_steps: int | None = 200
    videos: int = 2
    workers: int = 2
    # `hy-vla train --set` style overrides applied last (model.<field>, data.<field>, TrainConfig fields):
    # ablations run with the same pipeline (`hy-vla demo --set model.backbone.dense=true`)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks)
        self.cameras = tuple(self.cameras)
        if not self.tasks or not self.cameras:
            raise ValueError("the demo needs at least one task and one camera")
        for name in ("demos_per_task", "eval_episodes", "n_action_steps", "max_steps", "render_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"demo recipe: {name} must be positive, got {getattr(self, name)}")
        if self.workers < 0 or self.videos < 0:
            raise ValueError("demo recipe: workers and videos must be >= 0")
        if (self.steps is None) == (self.minutes is None):
            raise ValueError("demo recipe: give exactly one of steps and minutes")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"demo recipe: minutes must be > 0, got {self.minutes}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"demo recipe: steps must be >= 1, got {self.steps}")
        if self.temporal_ensemble is not None and not self.temporal_ensemble >= 0:
            raise ValueError(f"demo recipe: temporal_ensemble must be >= 0, got {self.temporal_ensemble}")

    @property
    def actions_per_query(self) -> int:
        """Control steps executed per policy query in evaluation (1 under temporal ensembling)."""
        return 1 if self.temporal_ensemble is not None else self.n_action_steps

    def run_overrides(self) -> dict[str, Any]:
        """What `resolve_run` applies on top of the preset: the recipe's cameras, then `overrides`."""
        return {"model.camera_names": list(self.cameras), **self.overrides}

    def episode_caps(self) -> dict[str, int]:
        """{task: its evaluation episode cap}: `max_steps`, or with None each task's customary cap (the tasks must
        be expanded task names; a suite without customary caps needs `max_steps`)."""
        if self.max_steps is not None:
            return dict.fromkeys(self.tasks, self.max_steps)
        from hy_vla.sim.registry import episode_cap

        caps = {task: episode_cap(self.suite, task) for task in self.tasks}
        missing = [task for task, cap in caps.items() if cap is None]
        if missing:
            raise ValueError(f"{self.suite} tasks have no customary episode cap ({missing[0]}): give max_steps")
        return {task: int(cap) for task, cap in caps.items() if cap is not None}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tasks"], d["cameras"] = list(self.tasks), list(self.cameras)
        return d

    def replace(self, **changes: Any) -> DemoRecipe:
        return dataclasses.replace(self, **changes)


ALOHA_RECIPE = DemoRecipe(
    suite="aloha-eef",  # ALOHA under end-effector pose control (hy_vla.sim.aloha.eef)
    tasks=("transfer-cube", "insertion"),
    demos_per_task=50,
    cameras=("top_head", "hand_left", "hand_right"),  # ALOHA's top and wrist views under the model card's names
    render_size=128,
    preset="aloha-flagship",
    steps=2500,  # ~24 min of training on a 2-core AMD EPYC with AVX-512 (0.43 s per step)
    n_action_steps=10,  # half of a 20-step chunk, then re-plan
    max_steps=300,  # gym-aloha's episode length (6 s at 50 Hz)
)

LIBERO_RECIPE = DemoRecipe(
    suite="libero",  # needs the libero extra (scripts/setup.sh --with-libero)
    tasks=("libero_object",),  # a suite name: its 10 tasks (expanded when the recipe is resolved)
    demos_per_task=20,  # scripted expert episodes of ~150-250 steps: ~30 s each on 2 cores with two cameras
    cameras=("agentview", "robot0_eye_in_hand"),
    render_size=128,
    preset="libero-demo",
    steps=3000,
    n_action_steps=8,
    max_steps=None,  # each task's suite's customary cap (LIBERO-Object 280, LIBERO-Spatial 220, ...)
)

DEMO_ENVS: dict[str, DemoRecipe] = {"metaworld": DemoRecipe(), "aloha": ALOHA_RECIPE, "libero": LIBERO_RECIPE}


def default_recipe(env: str) -> DemoRecipe:
    if env not in DEMO_ENVS:
        raise ValueError(f"no demo for env {env!r}; demos exist for: {', '.join(DEMO_ENVS)}")
    return DEMO_ENVS[env]
