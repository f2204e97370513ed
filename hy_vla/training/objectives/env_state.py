"""Auxiliary simulator-state target: the image tokens must also say where the objects and the goal are.

In simulation a dataset can carry the object and goal positions (LeRobot's `observation.environment_state`,
recorded by `hy-vla collect` for Meta-World). They are never a policy input. During training a small MLP reads
the backbone's final hidden states of each camera's image block (mean over the block, cameras concatenated) and
its prediction of the normalized vector is pulled to the recorded one by MSE; the gradient teaches the image
tokens to locate what goal-conditioned tasks (reach, push, pick-place) hinge on, which the flow loss alone learns
slowly from a few dozen demonstrations. Inference never runs the head, so it is not part of the saved network:
its weights travel in the training state (`objectives.env_state.*`), for resuming only.

Which frame (`frame`): on the sample's own frame ("current") the arm's pose mid-episode gives the goal away, and a
Meta-World probe trained that way located the goal only as well as the average goal at frame 0. With "first" the
target and the images it is predicted from are the episode's first frame, where the arm is at its home pose and
only the scene can explain the target; that costs one more image-only backbone pass over `PROBE_SAMPLES` samples
of each batch. The measurements behind both choices are in bench/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hy_vla import keys
from hy_vla.models.objective_context import ObjectiveContext
from hy_vla.sim.privileged import ENV_STATE_COLUMN

FRAMES = ("current", "first")
# Samples per batch whose first frames get the extra image-only pass (frame "first"): 16 bought nothing measurable
# over 8 for 12% fewer steps per budget (bench/RESULTS.md).
PROBE_SAMPLES = 8


@dataclass
class EnvStateConfig:
    weight: float = 0.0  # 0 = off
    dim: int = 0  # E, the width of the column (Meta-World: object xyz + goal xyz = 6)
    frame: str = "current"  # "current" | "first" (module docstring)
    column: str = ENV_STATE_COLUMN  # the dataset column holding the target

    def __post_init__(self) -> None:
        if not self.weight >= 0:
            raise ValueError(f"env_state.weight must be >= 0, got {self.weight}")
        if self.frame not in FRAMES:
            raise ValueError(f"env_state.frame must be one of {FRAMES}, got {self.frame!r}")
        if self.weight > 0 and self.dim < 1:
            raise ValueError("env_state.weight > 0 needs env_state.dim >= 1 (the width of the recorded vector)")

    @property
    def enabled(self) -> bool:
        return self.weight > 0


def pooled_image_tokens(hidden: Tensor, n_cam: int, per_img: int) -> Tensor:
    """(B, >= C * P, D) hidden states, images first -> (B, C * D): each image block's mean, concatenated."""
    b = hidden.shape[0]
    return hidden[:, : n_cam * per_img].reshape(b, n_cam, per_img, -1).mean(dim=2).flatten(1)


class EnvStateObjective(nn.Module):
    """weight * MSE(head(pooled image tokens), normalized env state): `forward(ctx, batch) -> {term: loss}`."""

    name = "env_state"

    def __init__(self, cfg: EnvStateConfig, width: int, n_cam: int) -> None:
        super().__init__()
        self.cfg, self.n_cam = cfg, n_cam
        self.head = nn.Sequential(nn.Linear(n_cam * width, width), nn.GELU(), nn.Linear(width, cfg.dim))

    @property
    def target_key(self) -> str:
        return keys.EXTRA_PREFIX + self.name  # delivered by the sample builder (`objectives.sample_inputs`)

    def predict(self, image_states: Tensor, per_img: int) -> Tensor:
        """(B, C * P, D) image-block hidden states -> (B, E) normalized prediction."""
        return self.head(pooled_image_tokens(image_states, self.n_cam, per_img))

    def forward(self, ctx: ObjectiveContext, batch: dict[str, Any]) -> dict[str, Tensor]:
        if ctx.num_cameras == 0:  # a text-only prefix (T2A) has no image tokens to read
            return {}
        target = batch.get(self.target_key)
        if target is None:
            raise KeyError(
                f"env_state.weight > 0 but the batch has no {self.target_key!r}: the dataset must record "
                f"{self.cfg.column!r} (as `hy-vla collect` does for Meta-World)"
            )
        target = target.to(ctx.hidden.device, torch.float32)
        if target.shape[-1] != self.cfg.dim:
            raise ValueError(f"{self.cfg.column} has width {target.shape[-1]}; env_state.dim is {self.cfg.dim}")
        if self.cfg.frame == "first":
            n = min(PROBE_SAMPLES, target.shape[0])
            states = ctx.encode_images(first_frame_images(ctx, batch, n), n)
            pred, target = self.predict(states, ctx.tokens_per_image), target[:n]
        else:
            pred = self.predict(ctx.image_states(), ctx.tokens_per_image)
        return {"env_state_loss": self.cfg.weight * F.mse_loss(pred.float(), target)}


def first_frame_images(ctx: ObjectiveContext, batch: dict[str, Any], n: int) -> dict[str, Any]:
    """The first n samples' episode-start frames as a camera batch {image key: (n, K, 3, H, W)}.

    With K > 1 history frames the start frame has no past: it is repeated K times and marked padded.
    """
    k = ctx.history_frames
    sub: dict[str, Any] = {}
    for key in ctx.camera_keys:
        frame_key = keys.FIRST_FRAME_PREFIX + key
        first = batch.get(frame_key)
        if first is None:
            raise KeyError(f"env_state.frame='first' but the batch has no {frame_key!r} (data.first_frame_images)")
        sub[key] = first[:n].unsqueeze(1).expand(-1, k, -1, -1, -1)  # (n, K, 3, H, W)
    if k > 1:
        sub[keys.HISTORY_IS_PAD] = (torch.arange(k) < k - 1).expand(n, -1)
    return sub
