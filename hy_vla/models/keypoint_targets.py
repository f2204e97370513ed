"""Keypoint targets: pull spatial-softmax keypoints onto where the object and the goal appear in each image.

The env-state head (`env_state_head.py`) asks the image tokens for the object and goal xyz and lets the network
find out where in the image those are; on the Meta-World demo it learned the goal mostly from the arm's motion
within 10 CPU minutes. Here the supervision is spatial and direct: the collector records, for every frame and
camera, the image position of the object and of the goal (`observation.environment_pixels`, projected with
the camera's pose, `hy_vla.sim.projection`), and the first P spatial-softmax keypoints of each camera
(`vision.keypoints`) are pulled to those P positions by MSE. The gradient lands on the detector maps at the
marker's pixels: "the goal is here". A training-time target only; inference never sees the recorded positions.

Positions outside the image (out of view, or shifted out by the random-shift augmentation, which moves the
targets with the pixels) are left out of the mean.

total = action loss + weight * mean over visible (camera, point) of ||keypoint - position||^2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from hy_vla import keys


@dataclass
class KeypointTargetConfig:
    weight: float = 0.0  # 0 = off

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"keypoint_targets.weight must be >= 0, got {self.weight}")

    @property
    def enabled(self) -> bool:
        return self.weight > 0


def keypoint_target_mse(points: Tensor, target: Tensor) -> Tensor:
    """points (B, C, Kp, 2) predicted; target (B, C, P, 2) with P <= Kp, |coordinate| > 1 = not visible ->
    mean squared distance of the first P keypoints to their targets over the visible ones (0 if none)."""
    p = target.shape[2]
    if p > points.shape[2]:
        raise ValueError(f"{p} target positions per camera but only {points.shape[2]} keypoints (vision.keypoints)")
    visible = (target.abs() <= 1).all(dim=-1)  # (B, C, P)
    err = ((points[:, :, :p].float() - target.float()) ** 2).sum(dim=-1)  # (B, C, P)
    return (err * visible).sum() / visible.sum().clamp(min=1)


def add_keypoint_target_loss(
    model: Any, batch: dict[str, Any], points: Tensor | None, loss: Tensor, metrics: dict[str, float]
) -> Tensor:
    """loss + weight * `keypoint_target_mse` (metrics updated in place); unchanged when off."""
    cfg = model.config.keypoint_targets
    if not cfg.enabled or batch.get(keys.TEXT_ONLY):
        return loss
    target = batch.get(keys.ENV_PIXELS)
    if target is None:
        raise KeyError(
            f"model.keypoint_targets.weight > 0 but the batch has no {keys.ENV_PIXELS!r}: set data.env_pixels_key "
            "(the dataset must record it, as `hy-vla collect` does for Meta-World)"
        )
    if points is None:
        raise ValueError("model.keypoint_targets needs vision.keypoints > 0 (the spatial-softmax keypoints)")
    mse = keypoint_target_mse(points, target.to(points.device))
    metrics["keypoint_target_mse"] = float(mse.detach())
    return loss + cfg.weight * mse
