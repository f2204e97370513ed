"""Reading what older versions wrote: retired config fields and weights are converted on load.

Every retired field was a training-time setting (an auxiliary target, a way of drawing training noise, an
initialisation), so dropping it leaves the saved network and its predictions unchanged; each one's measurements
are in bench/RESULTS.md. Auxiliary-target settings that still exist moved from the model config to the training
config (`TrainConfig.env_state`), and their heads' weights from the model to the training state.
"""

from __future__ import annotations

import copy
from typing import Any

# top-level HyVLAConfig fields and nested "<section>.<field>" entries that no longer exist
RETIRED_MODEL_FIELDS = ("env_state", "aux", "flow", "keypoint_targets", "vision.pos_init")
# weights of retired in-model heads: old name prefix -> new training-state name prefix
RENAMED_WEIGHTS = {"env_state_head.mlp.": "objectives.env_state.head.", "aux_losses.": "objectives.hy_embodied."}


def upgrade_model_config(d: dict[str, Any]) -> dict[str, Any]:
    """A config.json dict without retired fields (a copy; `d` is unchanged)."""
    if not any(_has(d, name) for name in RETIRED_MODEL_FIELDS):
        return d
    d = copy.deepcopy(d)
    for name in RETIRED_MODEL_FIELDS:
        *parents, leaf = name.split(".")
        node = d
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return d


KEPT_ENV_STATE_FRAMES = ("current", "first")  # "both" was measured and rejected (bench/RESULTS.md)


def _kept_frame(frame: str) -> str:
    if frame not in KEPT_ENV_STATE_FRAMES:
        raise ValueError(f"this run trained the env-state target on frame {frame!r}, an option that was removed")
    return frame


def legacy_env_state(model: dict[str, Any]) -> dict[str, Any] | None:
    """An old model config's env-state target settings as `TrainConfig.env_state` (None when it had none on)."""
    old = model.get("env_state")
    if not isinstance(old, dict) or not old.get("weight"):
        return None
    return {"weight": old["weight"], "dim": old.get("dim", 0), "frame": _kept_frame(old.get("frame", "current"))}


def upgrade_sample_config(d: dict[str, Any]) -> dict[str, Any]:
    """An older train_config.json's data section: its env-state fields as `extra_columns` (same samples)."""
    if not {"env_state_key", "env_state_frame", "env_pixels_key"} & set(d):
        return d
    d = dict(d)
    key, frame = d.pop("env_state_key", None), d.pop("env_state_frame", "current")
    d.pop("env_pixels_key", None)
    if key is not None:
        d["extra_columns"] = {**d.get("extra_columns", {}), "env_state": [key, _kept_frame(frame)]}
        d["first_frame_images"] = frame == "first"
    return d


def legacy_flow(model: dict[str, Any]) -> dict[str, Any] | None:
    """An old model config's flow-time sampling as `TrainConfig.flow` (without the retired `train_draws`)."""
    old = model.get("flow")
    if not isinstance(old, dict):
        return None
    return {k: v for k, v in old.items() if k != "train_draws"}


def legacy_aux(model: dict[str, Any]) -> dict[str, Any] | None:
    """An old model config's HY-Embodied loss settings as `TrainConfig.aux` (None when they were off)."""
    old = model.get("aux")
    if not isinstance(old, dict) or not (old.get("latent_align_weight") or old.get("next_code_weight")):
        return None
    return old


def rename_weights(weights: dict[str, Any]) -> dict[str, Any]:
    """Weights with retired in-model heads under their training-state names."""
    out = {}
    for key, value in weights.items():
        for old, new in RENAMED_WEIGHTS.items():
            if key.startswith(old):
                key = new + key[len(old) :]
        out[key] = value
    return out


def _has(d: dict[str, Any], dotted: str) -> bool:
    node: Any = d
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
