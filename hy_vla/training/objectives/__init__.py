"""Training objectives: auxiliary losses that live outside the network.

An objective is an `nn.Module` with `forward(ctx: ObjectiveContext, batch) -> {term name: weighted loss}`; its
parameters train with the model's and are saved in the training state (`objectives.<name>.*`), never in
`model.safetensors`. `sample_inputs` names the extra dataset columns and frames they need from the sample
builder; `build_objectives` turns a `TrainConfig` into the enabled ones; `attach_objectives` hands them to a model
for its training pass.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from hy_vla.models.objective_context import OBJECTIVES_PREFIX
from hy_vla.training.objectives.env_state import EnvStateConfig, EnvStateObjective
from hy_vla.training.objectives.hy_embodied import AuxLossConfig, HYEmbodiedObjective, check_model
from hy_vla.training.objectives.next_token import NextTokenObjective

__all__ = [
    "AuxLossConfig",
    "EnvStateConfig",
    "EnvStateObjective",
    "HYEmbodiedObjective",
    "NextTokenObjective",
    "attach_objectives",
    "build_objectives",
    "check_objectives",
    "load_with_objectives",
    "sample_inputs",
]


def check_objectives(train: Any, model_config: Any) -> None:
    """Refuse objectives of `train` the model cannot feed (before any data is read or module built)."""
    if train.aux.enabled:
        check_model(train.aux, model_config)
    if train.env_state.enabled and model_config.hf_backbone.enabled:
        raise ValueError("env_state reads the native ViT's image blocks; it is not available with hf_backbone")
    if train.stage == "cotrain" and model_config.hf_backbone.enabled:
        raise ValueError(
            "vision-language co-training (stage cotrain) needs the built-in MoT backbone: a transformers backbone "
            "has no text towers / tied head here"
        )


def build_objectives(train: Any, model_config: Any, vision: nn.Module) -> dict[str, nn.Module]:
    """The objectives `train` (a TrainConfig) enables, sized for `model_config`; {} when none is on.
    vision: the model's image encoder (HY-Embodied's teacher starts as a copy of it)."""
    check_objectives(train, model_config)
    out: dict[str, nn.Module] = {}
    if train.aux.enabled:  # built first: the order the parameters had when these losses lived in the model
        out["hy_embodied"] = HYEmbodiedObjective(train.aux, model_config, vision)
    if train.env_state.enabled:
        width = model_config.backbone.width
        out["env_state"] = EnvStateObjective(train.env_state, width, len(model_config.camera_names))
    if train.stage == "cotrain":  # no parameters: the LM head is tied to the token embedding
        out["next_token"] = NextTokenObjective(train.lm_weight)
    return out


def sample_inputs(train: Any) -> dict[str, Any]:
    """SampleConfig fields the enabled objectives need: extra columns and whether to deliver first frames."""
    columns: dict[str, tuple[str, str]] = {}
    first = False
    if train.env_state.enabled:
        cfg = train.env_state
        columns["env_state"] = (cfg.column, cfg.frame)
        first = cfg.frame == "first"
    return {"extra_columns": columns, "first_frame_images": first} if columns else {}


def attach_objectives(model: Any, train: Any) -> Any:
    """Give `model` (a HyVLA) the objectives of `train`, built right after the model so that a run's initial
    weights are a function of its seed alone; returns the model."""
    for name, objective in build_objectives(train, model.config, getattr(model, "vision", None)).items():
        model.objectives[name] = objective
    return model


def load_with_objectives(path: Any) -> Any:
    """A training checkpoint (or a run folder: its newest one) as a HyVLA with its objectives attached and their
    trained weights loaded (the EMA average when the run kept one, as for the network). For analysis tools."""
    from pathlib import Path

    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.training.checkpointing import read_checkpoint, resolve_checkpoint
    from hy_vla.training.run_config import RUN_CONFIG, RunConfig

    ckpt = resolve_checkpoint(path)
    run_dir = Path(ckpt).parent.parent
    if not (run_dir / RUN_CONFIG).is_file():
        raise FileNotFoundError(f"{ckpt} is not inside a training run ({run_dir / RUN_CONFIG} is missing)")
    model = attach_objectives(HyVLA.from_pretrained(ckpt), RunConfig.load(run_dir).train)
    state = read_checkpoint(ckpt).state
    source = state.ema if state.ema is not None else state.weights
    n = len(OBJECTIVES_PREFIX)
    weights = {k[n:]: v for k, v in source.items() if k.startswith(OBJECTIVES_PREFIX)}
    model.objectives.load_state_dict(weights)
    return model
