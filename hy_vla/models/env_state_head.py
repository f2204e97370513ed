"""Auxiliary environment-state prediction: a training-time probe that makes the image tokens locate things.

In simulation the dataset can carry the object and goal positions (`observation.environment_state`,
recorded by `hy_vla.sim.collect`). They are never a model input: a small MLP reads the backbone's
final hidden states of each camera's tokens (mean over the image block), and its normalized
prediction is pulled to the recorded vector by MSE. The gradient teaches the vision tokens to
encode where the object and the goal are, the cue that goal-conditioned tasks (reach, push,
pick-place) hinge on and that a flow loss alone learns slowly from a few dozen demonstrations.
Inference never runs the head; a checkpoint keeps its weights only so training can resume.

total = action loss + weight * mean((head(pooled image tokens) - env_state)^2) over the E channels.
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

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"env_state.weight must be >= 0, got {self.weight}")
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
    vc = model.config.vision  # an image block: merged patches, the keypoint token, the latents (HyVLA.image_tokens)
    per_img = vc.num_tokens + vc.extra_tokens + model.config.backbone.num_latent_tokens
    mse = F.mse_loss(head(hidden, per_img).float(), target)
    metrics["env_state_mse"] = float(mse.detach())
    return loss + head.cfg.weight * mse
