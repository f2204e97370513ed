"""Auxiliary environment-state prediction: a training-time probe that makes the image tokens locate things.

In simulation the dataset can carry the object and goal positions (`observation.environment_state`,
recorded by `hy_vla.sim.collect`). They are never a model input: a small MLP reads the backbone's
final hidden states of each camera's tokens (mean over the image block), and its normalized
prediction is pulled to the recorded vector by MSE. The gradient teaches the vision tokens to
encode where the object and the goal are, the cue that goal-conditioned tasks (reach, push,
pick-place) hinge on and that a flow loss alone learns slowly from a few dozen demonstrations.
Inference never runs the head; a checkpoint keeps its weights only so training can resume.

Which frame: predicting the state of the sample's own frame (`frame="current"`) lets the model take
a shortcut. Mid-episode the arm is already on its way, so its pose tells where the goal is, and a
Meta-World reach probe trained that way predicted the goal to 1 cm after 30 expert steps but only as
well as the average goal at frame 0, where nothing but the scene can tell (bench/RESULTS.md,
2026-11-29). With `frame="first"` the target and the images it is predicted from are the episode's
FIRST frame (`env_state.images.<cam>`, delivered by the sample builder), where the arm is always at its
home pose: only the goal marker and the objects can explain the target. That probe runs a second,
image-only backbone pass on the first `probe_batch` samples of each batch. It is what the demo recipe uses:
with unshifted images it doubled the goal tasks' successes at an equal step count and lifted the demo's mean from
43% to 59% (30 episodes per task; bench/RESULTS.md, session 7). A probe of the resulting policy reads the puck's
position from the first frame to ~2 cm (its spread is ~4.5 cm), which policies trained with `frame="current"` did
not do at all within 10 minutes. (An earlier measurement of "first", 39%, is void: until 2026-11-29 the frame
Meta-World rendered at reset drew the goal marker at a stale position, fixed in `hy_vla.sim.metaworld.env`.)

`frame="both"` adds the two terms: the first frame's (the scene readout at the start) and the sample's own
frame's from the main pass's hidden states (no extra pass), which asks the mid-episode tokens, too, to say where
the object is while the gripper closes in on it.

total = action loss + weight * mean((head(pooled image tokens) - env_state)^2) over the E channels (summed over
the two frames with "both").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hy_vla import keys


@dataclass
class EnvStateConfig:
    weight: float = 0.0  # 0 = off
    dim: int = 0  # E, width of observation.environment_state (Meta-World: object xyz + goal xyz = 6)
    frame: str = "current"  # "current": the sample's own frame; "first": the episode's first frame; "both" (docstring)
    probe_batch: int = 8  # "first"/"both": samples per batch whose first frames are probed (0 = all)

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"env_state.weight must be >= 0, got {self.weight}")
        if self.frame not in keys.ENV_STATE_FRAMES:
            raise ValueError(f"env_state.frame must be one of {keys.ENV_STATE_FRAMES}, got {self.frame!r}")
        if self.probe_batch < 0:
            raise ValueError(f"env_state.probe_batch must be >= 0, got {self.probe_batch}")
        if self.weight > 0 and self.dim < 1:
            raise ValueError("env_state.weight > 0 needs env_state.dim >= 1 (the width of the recorded vector)")

    @property
    def enabled(self) -> bool:
        return self.weight > 0


def pooled_image_tokens(hidden: Tensor, n_cam: int, per_img: int) -> Tensor:
    """(B, Tp, D) prefix hidden states, images first -> (B, n_cam * D): each image block's mean, concatenated."""
    b = hidden.shape[0]
    return hidden[:, : n_cam * per_img].reshape(b, n_cam, per_img, -1).mean(dim=2).flatten(1)


class EnvStateHead(nn.Module):
    def __init__(self, cfg: EnvStateConfig, width: int, n_cam: int) -> None:
        super().__init__()
        self.cfg, self.n_cam = cfg, n_cam
        self.mlp = nn.Sequential(nn.Linear(n_cam * width, width), nn.GELU(), nn.Linear(width, cfg.dim))

    def forward(self, hidden: Tensor, per_img: int) -> Tensor:
        """-> (B, E) predicted normalized environment state."""
        return self.mlp(pooled_image_tokens(hidden, self.n_cam, per_img))


def add_env_state_loss(
    model: Any, batch: dict[str, Any], hidden: Tensor, loss: Tensor, metrics: dict[str, float]
) -> Tensor:
    """loss + weight * the env-state MSE (metrics updated in place); unchanged when the head is off."""
    head = getattr(model, "env_state_head", None)
    if head is None or batch.get(keys.TEXT_ONLY):  # a text-only prefix has no image tokens to probe
        return loss
    target = batch.get(keys.ENV_STATE)
    if target is None:
        raise KeyError(
            f"model.env_state.weight > 0 but the batch has no {keys.ENV_STATE!r}: set data.env_state_key "
            "(the dataset must record it, as `hy-vla collect` does for Meta-World)"
        )
    target = target.to(hidden.device, torch.float32)
    if target.shape[-1] != head.cfg.dim:
        raise ValueError(f"{keys.ENV_STATE} has width {target.shape[-1]}; model.env_state.dim is {head.cfg.dim}")
    if head.cfg.frame == "first":
        mse = first_frame_mse(model, batch, target)
    else:
        mse = F.mse_loss(head(hidden, model.config.tokens_per_image).float(), target)
        if head.cfg.frame == "both":
            first = batch.get(keys.ENV_STATE_FIRST)
            if first is None:
                raise KeyError(f"model.env_state.frame='both' but the batch has no {keys.ENV_STATE_FIRST!r}")
            metrics["env_state_mse_current"] = float(mse.detach())
            mse = mse + first_frame_mse(model, batch, first.to(hidden.device, torch.float32))
    metrics["env_state_mse"] = float(mse.detach())
    return loss + head.cfg.weight * mse


def first_frame_mse(model: Any, batch: dict[str, Any], target: Tensor) -> Tensor:
    """MSE of the head's prediction from the first `probe_batch` samples' episode-start frames; target (B, E)."""
    probe = model.env_state_head.cfg.probe_batch
    n = target.shape[0] if probe == 0 else min(probe, target.shape[0])
    return F.mse_loss(predict_from_images(model, first_frame_images(model, batch, n), n).float(), target[:n])


def first_frame_images(model: Any, batch: dict[str, Any], n: int) -> dict[str, Any]:
    """The first n samples' episode-start frames as a camera batch {image key: (n, K, 3, H, W)}.

    With K > 1 history frames the start frame has no past: it is repeated K times and marked padded.
    """
    cfg = model.config
    k = cfg.history_frames
    sub: dict[str, Any] = {}
    for cam, key in zip(cfg.camera_names, cfg.image_keys, strict=True):
        probe = batch.get(keys.ENV_STATE_IMAGE_PREFIX + cam)
        if probe is None:
            raise KeyError(
                f"model.env_state.frame={cfg.env_state.frame!r} but the batch has no "
                f"{keys.ENV_STATE_IMAGE_PREFIX + cam!r}: use the same data.env_state_frame (sample_config_for sets it)"
            )
        sub[key] = probe[:n].unsqueeze(1).expand(-1, k, -1, -1, -1)  # (n, K, 3, H, W)
    if k > 1:
        sub[keys.HISTORY_IS_PAD] = (torch.arange(k) < k - 1).expand(n, -1)
    return sub


def predict_from_images(model: Any, images: dict[str, Any], b: int) -> Tensor:
    """(B, E) normalized env-state prediction from a camera batch alone: image tokens never attend to the text
    or the state, so an image-only backbone pass gives the same hidden states as the full prefix."""
    from hy_vla.models.dual_tower import encode_prefix  # lazy: dual_tower -> backbone -> config -> this module

    prefix, per_img = model.image_prefix(images, b)
    hidden, _ = encode_prefix(model.backbone, prefix)
    return model.env_state_head(hidden, per_img)
