"""Fine-tuning from a checkpoint (`--init DIR`), also onto another embodiment.

What carries over and what may change:

- the architecture, and so every parameter's shape, is the checkpoint's: vision encoder, backbone,
  action expert, and max_state_dim / max_action_dim (the width of the expert's state and action
  layers);
- the robot interface is the new dataset's (`run_config.adopt_dataset(..., fixed_widths=True)`): its
  state and action widths, which must fit inside the checkpoint's max widths, its embodiment
  (prompt, normalization stats, action representation) and its cameras. Where the robot's channels
  go is the checkpoint's `slot_layout`: the leading channels, or, with "unified", each quantity's
  slot of the unified space, so that the hand position or the gripper of the new robot lands on the
  very channels the checkpoint learned them on (`hy_vla.models.slot_layout`);
- camera embeddings are one learned vector per camera: a camera of the new run takes the checkpoint's
  vector of the camera with the same name, else of the camera at the same position (the learned
  "which view" tags stay distinct), else starts at zero, a new model's initial value. The vision
  encoder is shared by all cameras and carries over whole; history K, horizon H and strides have no
  parameters and may change too.

Anything else that changes a parameter's shape (image size, widths, depths, decoder, vocabulary) is
refused, naming the parameter and the config fields that differ from the checkpoint's.

LoRA (`--set model.lora.rank=8`) on a checkpoint without adapters: the checkpoint loads into the plain
model, then fresh adapters are added (zero update: the run starts from the checkpoint's exact outputs)
and only they, plus `lora.trainable`, train. `export_plain` folds the adapters back in and writes a
plain checkpoint (`hy-vla export`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor

from hy_vla.models.config import HyVLAConfig

# Fields a fine-tuning run may set differently from the checkpoint (no parameter depends on them).
INTERFACE_FIELDS = (
    "camera_names", "state_dim", "action_dim", "embodiment", "history_frames", "history_stride", "horizon",
    "action_stride", "num_inference_steps", "use_embodiment_prompt", "max_text_len", "tokenizer_path",
)  # fmt: skip


def camera_embedding(old: Tensor, old_names: tuple[str, ...], new_names: tuple[str, ...]) -> Tensor:
    """(C_old, D) per-camera vectors -> (C_new, D): by name, else by position, else zero (see module doc)."""
    rows = []
    for i, name in enumerate(new_names):
        if name in old_names:
            rows.append(old[old_names.index(name)])
        elif i < len(old_names) and old_names[i] not in new_names:  # a renamed camera keeps its slot's tag
            rows.append(old[i])
        else:
            rows.append(torch.zeros_like(old[0]))
    return torch.stack(rows)


def architecture_changes(checkpoint: HyVLAConfig, run: HyVLAConfig) -> list[str]:
    """Dotted config fields (outside INTERFACE_FIELDS) whose values differ: "vision.image_size: 32 -> 64"."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    a, b = flat(checkpoint.to_dict()), flat(run.to_dict())
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(a.keys() | b.keys())
            if a.get(k) != b.get(k) and k not in INTERFACE_FIELDS]  # fmt: skip


def load_for_finetuning(directory: str | Path, config: HyVLAConfig) -> Any:
    """A HyVLA built from the run's `config` with the checkpoint's weights, adapted to its cameras."""
    from hy_vla.models.checkpoint import WEIGHTS_NAME, load_model
    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.models.lora import LoRAConfig, apply_lora

    directory = Path(directory)
    source = HyVLAConfig.from_pretrained(directory)
    weights = load_file(str(directory / WEIGHTS_NAME))
    if "camera_embed" in weights and source.camera_names != config.camera_names:
        weights["camera_embed"] = camera_embedding(weights["camera_embed"], source.camera_names, config.camera_names)
    fresh_lora = config.lora.enabled and not source.lora.enabled  # adapters are new: load, then add them
    try:
        model = load_model(
            HyVLA, directory, config=config.replace(lora=LoRAConfig()) if fresh_lora else config, weights=weights
        )
    except ValueError as e:
        changed = architecture_changes(source.replace(lora=config.lora) if fresh_lora else source, config)
        raise ValueError(
            f"--init {directory}: {e}. Fine-tuning keeps the checkpoint's architecture (only the robot interface "
            f"may change); fields that differ: {', '.join(changed) or 'none'}"
        ) from None
    if fresh_lora:
        apply_lora(model, config.lora)
        model.config = config
    return model


def export_plain(directory: str | Path, out: str | Path) -> Path:
    """Write the checkpoint at `directory` to `out` with its LoRA adapters folded into the weights: a plain
    checkpoint (config lora.rank 0, no adapter tensors) whose outputs equal the adapted model's."""
    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.models.lora import LoRAConfig, plain_state_dict

    model = HyVLA.from_pretrained(directory)
    if not model.config.lora.enabled:
        raise ValueError(f"{directory} has no LoRA adapters (lora.rank is 0): nothing to merge")
    plain = HyVLA(model.config.replace(lora=LoRAConfig(rank=0)), tokenizer=model.tokenizer)
    plain.load_state_dict(plain_state_dict(model), strict=True)
    plain.norm_stats = model.norm_stats
    return plain.save_pretrained(out)
