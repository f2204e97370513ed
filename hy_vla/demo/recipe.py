"""The demo recipe: every setting of `hy-vla demo` in one validated, JSON-serializable place.

The defaults are the product: they were tuned on the demo tasks (numbers in bench/RESULTS.md)
and are used unchanged on other Meta-World tasks via `--tasks`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEMO_TASKS = ("reach-v3", "push-v3", "pick-place-v3", "drawer-open-v3", "door-open-v3")


@dataclass
class DemoRecipe:
    tasks: tuple[str, ...] = DEMO_TASKS
    # data
    # 50 gave no gain at the recipe's learning rate (65% vs 73%, bench/RESULTS.md, session 8) for ~2.5 more minutes
    demos_per_task: int = 30
    cameras: tuple[str, ...] = ("topview", "behindGripper")  # a fixed overview + a gripper-mounted view
    # Collection and evaluation render at this size. 128 px with 16 px patches (the same 8 x 8 patch grid and
    # backbone token count as 64 px / 8 px patches) lifted success from 23% to 32% at equal steps
    # (bench/RESULTS.md, 2026-11-28): the goal markers and handles are 1-2 px at 64 px.
    render_size: int = 128
    collect_seed: int = 100_000  # disjoint from the evaluation seeds 0..episodes-1
    # Task i's demos start at collect_seed + i * task_seed_offset: each task gets its own object/goal layouts
    # (Meta-World draws them from the seed alone, so 0 repeats the same 30 layouts in every task).
    task_seed_offset: int = 0
    # model: the hy-vla-tiny preset with these overrides (see `model_overrides`)
    preset: str = "hy-vla-tiny"
    history_frames: int = 1
    horizon: int = 16
    image_size: int = 128  # model input side (pixels)
    patch_size: int = 16
    token_merge: int = 2
    # Conv patch stem + 32 spatial-softmax keypoints as one extra token per image (models/spatial_softmax.py):
    # 38% vs 27% mean at the same 10-minute budget though each step costs ~20% more (bench/RESULTS.md, 2026-11-29).
    stem: str = "conv"
    # Instruction bytes merged per backbone token (models/text_patch.py): 4 turns the ~43 byte tokens into ~11,
    # ~13% more steps in the 10-minute budget at equal success (58% vs 59%, bench/RESULTS.md, session 7).
    text_patch: int = 4
    keypoints: int = 32
    # Weight of the env-state auxiliary target (models/env_state_head.py): the image tokens must also predict the
    # recorded object and goal xyz (a training target only, never an input; 0 = off). 42% and 42% (two seeds) vs 38%
    # at the same 10-minute budget, drawer-open 96-98% vs 74% (bench/RESULTS.md, 2026-11-29).
    env_state_weight: float = 1.0
    # "current" (the sample's frame) or "first": predicted from the episode's first frame, where the arm is at its
    # home pose and cannot give the object or the goal away. With the images unshifted (augment_shift below), "first"
    # doubled the goal tasks' successes at an equal step count (31/90 vs 14/90; bench/RESULTS.md, session 7).
    env_state_frame: str = "first"
    # Weight of the keypoint targets (models/keypoint_targets.py): the first two spatial-softmax keypoints of each
    # camera are pulled to where the object and the goal appear in its image (recorded at collection from the
    # camera poses; a training target only, never an input; 0 = off).
    keypoint_target_weight: float = 0.0
    # Flow (noise, time) draws per observation and step, sharing one backbone pass (flow.train_draws; presets
    # with another decoder than the dual tower draw once). 4 draws cost ~20% more per step; at an equal 10-minute
    # budget one run doubled the goal tasks' successes (30 episodes per task) but the full 50-episode demo run
    # gave 37% against 42-43% with 1 draw (bench/RESULTS.md, 2026-11-29): not the default.
    flow_draws: int = 1
    # training
    # 12 minutes keeps the whole run from scratch (collection ~4 min, evaluation ~3) within 20 minutes on 2 cores.
    minutes: float = 12.0
    steps: int | None = None  # fixed optimizer steps instead of the wall-clock budget (reproducible comparisons)
    batch_size: int = 32
    # At the 10-minute step count (30 episodes per task, bench/RESULTS.md, session 8): 3e-4 59%, 7e-4 70%, 1e-3 73%,
    # 2e-3 43%. 7e-4 keeps a margin from the cliff above 1e-3 at about the same success.
    lr: float = 7e-4
    warmup_steps: int = 100
    # Random-shift augmentation (+- px). Off: the simulator's cameras never move, so where a puck or a goal marker
    # sits in the image says where it is on the table, and a +-8 px shift (about +-6 cm of table at 128 px, as much
    # as the objects' own spread) hid exactly that. 49% vs 43% at an equal step count, 59% with env_state_frame
    # "first" (bench/RESULTS.md, session 7). Real cameras that move between episodes want it back (e.g. 8).
    augment_shift: int = 0
    ema_decay: float | None = 0.995
    # evaluation
    eval_episodes: int = 50
    n_action_steps: int = 8  # execute this many actions of each chunk, then re-plan
    max_steps: int = 200  # Meta-World's experts finish in 50-120 steps; failures stop here
    videos: int = 2
    workers: int = 2
    # `hy-vla train --set` style overrides applied last (model.<field>, data.<field>, TrainConfig fields):
    # ablations and other presets run with the same recipe (`hy-vla demo --preset X --set model.backbone.dense=true`)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks)
        self.cameras = tuple(self.cameras)
        if not self.tasks or not self.cameras:
            raise ValueError("the demo needs at least one task and one camera")
        for name in (
            "demos_per_task",
            "eval_episodes",
            "n_action_steps",
            "max_steps",
            "batch_size",
            "workers",
            "flow_draws",
            "text_patch",
        ):
            if getattr(self, name) < (0 if name == "workers" else 1):
                raise ValueError(f"demo recipe: {name} must be positive, got {getattr(self, name)}")
        if not self.minutes > 0:
            raise ValueError(f"demo recipe: minutes must be > 0, got {self.minutes}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"demo recipe: steps must be >= 1, got {self.steps}")
        for name in ("env_state_weight", "keypoint_target_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"demo recipe: {name} must be >= 0, got {getattr(self, name)}")
        if self.n_action_steps > self.horizon:
            raise ValueError(f"n_action_steps {self.n_action_steps} > horizon {self.horizon}")

    def model_overrides(self) -> dict[str, Any]:
        return {
            "model.camera_names": list(self.cameras),
            "model.history_frames": self.history_frames,
            "model.horizon": self.horizon,
            "model.action_stride": 1,
            "model.vision.image_size": self.image_size,
            "model.vision.patch_size": self.patch_size,
            "model.vision.token_merge": self.token_merge,
            "model.vision.stem": self.stem,
            "model.vision.keypoints": self.keypoints,
            **({"model.text_patch": self.text_patch} if self.text_patch > 1 else {}),
            **self.flow_draw_overrides(),
            **self.env_state_overrides(),
            **({"model.keypoint_targets.weight": self.keypoint_target_weight} if self.keypoint_target_weight else {}),
        }

    def flow_draw_overrides(self) -> dict[str, Any]:
        """flow.train_draws for presets whose decoder shares one prefix pass (the dual tower); others draw once."""
        from hy_vla.presets import model_config

        decoder = self.overrides.get("model.decoder", model_config(self.preset).decoder)
        return {"model.flow.train_draws": self.flow_draws} if decoder == "dual_tower" else {}

    def env_state_overrides(self) -> dict[str, Any]:
        if not self.env_state_weight:
            return {}
        from hy_vla.sim.metaworld.env import ENV_STATE_NAMES

        # the data side follows the model (`sample_config_for` reads observation.environment_state)
        return {
            "model.env_state.weight": self.env_state_weight,
            "model.env_state.dim": len(ENV_STATE_NAMES),
            "model.env_state.frame": self.env_state_frame,
        }

    def effective_history_frames(self) -> int:
        """K as trained: the recipe's, unless `overrides` sets model.history_frames."""
        return int(self.overrides.get("model.history_frames", self.history_frames))

    def effective_env_state_frame(self) -> str:
        """The env-state target's frame as trained: the recipe's, unless `overrides` sets model.env_state.frame."""
        return str(self.overrides.get("model.env_state.frame", self.env_state_frame))

    def train_overrides(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "lr": self.lr,
            "warmup_steps": self.warmup_steps,
            "augment_shift": self.augment_shift,
            "ema_decay": self.ema_decay,
            "cache_frames": True,
        }

    def run_overrides(self) -> dict[str, Any]:
        """Everything `resolve_run` applies on top of the preset: model, then training, then `overrides`."""
        return {**self.model_overrides(), **self.train_overrides(), **self.overrides}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tasks"], d["cameras"] = list(self.tasks), list(self.cameras)
        return d

    def replace(self, **changes: Any) -> DemoRecipe:
        return dataclasses.replace(self, **changes)
