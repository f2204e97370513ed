"""Keypoint targets: spatial-softmax keypoints pulled to recorded object/goal image positions."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys
from hy_vla.models.keypoint_targets import KeypointTargetConfig, keypoint_target_mse
from hy_vla.models.vision import VisionConfig
from hy_vla.training.augment import random_shift, shift_points
from hy_vla.training.run_config import sample_config_for


def _cfg(weight: float = 2.0):
    vision = VisionConfig(image_size=16, patch_size=8, width=32, depth=1, num_heads=2, stem="conv", keypoints=3)
    return micro_config(vision=vision, keypoint_targets=KeypointTargetConfig(weight=weight), history_frames=1)


def test_mse_leaves_out_invisible_positions():
    points = torch.zeros(1, 2, 3, 2)
    target = torch.tensor([[[[0.5, 0.0], [2.0, 2.0]], [[0.0, -0.5], [0.1, 1.5]]]])  # (1, C=2, P=2, 2)
    # visible: cam 0 point 0 (error 0.25) and cam 1 point 0 (0.25); the others are out of view
    torch.testing.assert_close(keypoint_target_mse(points, target), torch.tensor(0.25))
    assert keypoint_target_mse(points, torch.full((1, 2, 2, 2), 2.0)) == 0
    with pytest.raises(ValueError, match="keypoints"):
        keypoint_target_mse(points, torch.zeros(1, 2, 4, 2))


def test_loss_adds_the_weighted_keypoint_error_and_trains_the_detector():
    cfg = _cfg()
    model = HyVLA(cfg).eval()
    batch = micro_batch(cfg)
    batch[keys.ENV_PIXELS] = torch.tensor([[0.5, -0.5], [0.0, 0.25]]).expand(2, 2, 2, 2).clone()  # (B, C, P, 2)
    g = torch.Generator().manual_seed(0)
    loss, metrics = model.compute_loss(batch, torch.Generator().manual_seed(0))
    plain = HyVLA(dataclasses.replace(cfg, keypoint_targets=KeypointTargetConfig()))
    plain.load_state_dict(model.state_dict())
    base, _ = plain.eval().compute_loss(batch, g)
    points = model.embed_prefix(batch).keypoints  # (B, C, Kp, 2)
    expected = base + 2.0 * keypoint_target_mse(points, batch[keys.ENV_PIXELS])
    torch.testing.assert_close(loss, expected)
    assert metrics["keypoint_target_mse"] > 0
    loss.backward()
    assert model.vision.keypoint_token.detect.weight.grad.abs().sum() > 0
    assert sample_config_for(cfg).env_pixels_key == keys.ENV_PIXELS
    assert sample_config_for(plain.config).env_pixels_key is None


def test_missing_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="vision.keypoints"):
        micro_config(keypoint_targets=KeypointTargetConfig(weight=1.0))
    cfg = _cfg()
    with pytest.raises(KeyError, match="env_pixels_key"):
        HyVLA(cfg).compute_loss(micro_batch(cfg))


def test_shifted_targets_follow_the_shifted_pixels():
    """The augmentation moves a marker's pixel and its recorded position by the same amount."""
    h, w, pad = 16, 24, 3
    img = torch.zeros(4, 1, 3, h, w)
    rows, cols = torch.tensor([2, 8, 13, 5]), torch.tensor([4, 12, 20, 1])
    img[torch.arange(4), 0, 0, rows, cols] = 255.0
    points = torch.stack([(cols + 0.5) * 2 / w - 1, (rows + 0.5) * 2 / h - 1], dim=-1).view(4, 1, 1, 2)
    offsets = torch.tensor([[0, 0], [6, 6], [3, 1], [1, 5]])  # (dy, dx) crop corners in [0, 2 pad]
    shifted = random_shift([img], pad, offsets=offsets)[0]
    moved = shift_points(points, offsets, pad, h, w).view(4, 2)
    for i in range(4):
        r, c = divmod(int(shifted[i, 0, 0].argmax()), w)
        if shifted[i, 0, 0].max() == 255:  # still inside the crop
            torch.testing.assert_close(moved[i], torch.tensor([(c + 0.5) * 2 / w - 1, (r + 0.5) * 2 / h - 1]))
    outside = torch.full((1, 1, 1, 2), 2.0)
    assert torch.equal(shift_points(outside, offsets[:1], pad, h, w), outside)  # out of view stays out of view
