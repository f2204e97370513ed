"""`TrainConfig`: optimisation, schedule, checkpointing and stage settings of one training run.

Architecture lives in `HyVLAConfig` and sample cutting in `SampleConfig`; this holds the rest
(DESIGN.md section 5). Validated on construction, round-trips through JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hy_vla.flow.flow_matching import FlowConfig
from hy_vla.training.objectives.env_state import EnvStateConfig
from hy_vla.training.objectives.hy_embodied import AuxLossConfig
from hy_vla.utils.configs import build_config

STAGES = ("sft", "t2a", "uac", "cotrain")
PARALLEL = ("ddp", "fsdp")


@dataclass
class TrainConfig:
    out_dir: str = "runs/hy-vla"  # checkpoints in OUT/checkpoints/<step>/, TensorBoard in OUT/tb
    # "sft" | "t2a" (text-to-action, no image tokens) | "uac" (random clean action prefix) | "cotrain" (action
    # loss + lm_weight * next-token loss on text targets; samples carry motion captions, hy_vla.data.text_targets)
    stage: str = "sft"
    max_delay: int = 0  # uac: per-sample delay d ~ U{0..max_delay} committed actions; must be < horizon
    lm_weight: float = 0.1  # cotrain: lambda, the weight of the next-token loss
    steps: int = 1000  # optimizer steps
    batch_size: int = 32  # samples per optimizer step (split into grad_accum micro-batches)
    grad_accum: int = 1  # micro-batches per optimizer step; batch_size must be divisible by it
    lr: float = 1e-4
    min_lr: float = 1e-5  # cosine floor
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float | None = 1.0  # max global grad norm; None = no clipping
    ema_decay: float | None = None  # e.g. 0.999; None = no EMA
    freeze_vision: bool = False
    freeze_backbone: bool = False
    freeze_projector: bool = False
    freeze_expert_layers: tuple[int, ...] = ()  # indices into model.expert.layers
    save_every: int = 1000  # steps between checkpoints (the last step is always saved)
    keep_last: int = 3  # complete checkpoints kept; older ones are deleted
    log_every: int = 10  # steps between TensorBoard scalars / progress-bar refreshes
    tensorboard: bool = True  # write OUT/tb (skipped with a note when tensorboard is not installed)
    wandb: bool = False  # also log to Weights & Biases (skipped with a note when wandb is not installed)
    wandb_project: str = "hy-vla"
    seed: int = 0  # data order, flow noise, UAC delays
    num_workers: int = 0  # DataLoader worker processes
    cache_frames: bool = False  # decode every frame once into RAM at the model's image size (small datasets)
    augment_shift: int = 0  # random-shift augmentation: +- pixels at the model's image size (0 = off)
    # How flow times are drawn for the action loss (hy_vla.flow.flow_matching.FlowConfig: beta by default, as pi0)
    flow: FlowConfig = field(default_factory=FlowConfig)
    # Auxiliary target on the simulator's object/goal positions (hy_vla.training.objectives.env_state; off)
    env_state: EnvStateConfig = field(default_factory=EnvStateConfig)
    # HY-Embodied pretraining losses: latent alignment, next visual code (hy_vla.training.objectives.hy_embodied; off)
    aux: AuxLossConfig = field(default_factory=AuxLossConfig)
    # Non-finite loss/gradient steps dropped (update skipped, counted, noted) before a run stops as diverged; 0: stop
    # at the first (a NaN from bad data should not be trained around silently)
    skip_nonfinite: int = 0
    max_minutes: float | None = None  # wall-clock budget: stop early (saving a checkpoint) when exceeded
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    parallel: str = "ddp"  # several torchrun ranks: "ddp" (replicated model) | "fsdp" (FSDP2, sharded); 1 rank: unused

    def __post_init__(self) -> None:
        if isinstance(self.env_state, dict):
            self.env_state = build_config(EnvStateConfig, self.env_state, "TrainConfig.env_state")
        if isinstance(self.flow, dict):
            self.flow = build_config(FlowConfig, self.flow, "TrainConfig.flow")
        if isinstance(self.aux, dict):
            self.aux = build_config(AuxLossConfig, self.aux, "TrainConfig.aux")
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        self.freeze_expert_layers = tuple(int(i) for i in self.freeze_expert_layers)
        if self.stage not in STAGES:
            raise ValueError(f"TrainConfig.stage: expected one of {STAGES}, got {self.stage!r}")
        for name in ("steps", "batch_size", "grad_accum", "save_every", "keep_last", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name}: expected >= 1, got {getattr(self, name)}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"TrainConfig.max_minutes: expected > 0 or None, got {self.max_minutes}")
        for name in ("warmup_steps", "num_workers", "max_delay", "seed", "augment_shift", "skip_nonfinite"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"TrainConfig.{name}: expected >= 0, got {getattr(self, name)}")
        if self.cache_frames and self.num_workers:
            # Workers start from a clean fork server (hy_vla.data.loader.worker_context): the cache would be
            # pickled into every worker at every epoch. Cached frames need no decoding workers anyway.
            raise ValueError(
                f"TrainConfig: cache_frames=true keeps the decoded frames in the training process, num_workers="
                f"{self.num_workers} would copy them into each worker: set one of them off"
            )
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"TrainConfig: batch_size={self.batch_size} is not divisible by grad_accum={self.grad_accum}"
            )
        if not self.lr > 0 or not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"TrainConfig: expected lr > 0 and 0 <= min_lr <= lr, got {self.lr=}, {self.min_lr=}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"TrainConfig.betas: expected two values in [0, 1), got {self.betas}")
        if self.weight_decay < 0:
            raise ValueError(f"TrainConfig.weight_decay: expected >= 0, got {self.weight_decay}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip: expected > 0 or None, got {self.grad_clip}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"TrainConfig.ema_decay: expected in (0, 1) or None, got {self.ema_decay}")
        if not self.lm_weight >= 0:
            raise ValueError(f"TrainConfig.lm_weight: expected >= 0, got {self.lm_weight}")
        if self.stage == "uac" and self.max_delay < 1:
            raise ValueError("TrainConfig: stage 'uac' needs max_delay >= 1 (the largest committed-prefix length)")
        if self.stage != "uac" and self.max_delay:
            raise ValueError(f"TrainConfig.max_delay={self.max_delay} applies to stage 'uac' only, not {self.stage!r}")
        if self.parallel not in PARALLEL:
            raise ValueError(f"TrainConfig.parallel: expected one of {PARALLEL}, got {self.parallel!r}")
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"TrainConfig.device: expected 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        d["freeze_expert_layers"] = list(self.freeze_expert_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return build_config(cls, d, "TrainConfig")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
