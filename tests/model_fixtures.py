"""Very small model configs and batches so every model test runs in well under a second."""

from __future__ import annotations

import dataclasses

import torch

from hy_vla.embodiments.registry import EMBODIMENTS
from hy_vla.models.action_expert import ActionExpertConfig
from hy_vla.models.backbone import BackboneConfig
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.decoders.dit import DiTConfig
from hy_vla.models.vision import VisionConfig


def micro_config(**changes) -> HyVLAConfig:
    """A few-hundred-thousand-parameter Hy-VLA with every feature of the real one."""
    cfg = HyVLAConfig(
        camera_names=("top_head", "hand_left"),
        history_frames=3,
        horizon=4,
        action_stride=1,
        max_state_dim=8,
        max_action_dim=6,
        state_dim=5,
        action_dim=4,
        num_inference_steps=3,
        # an unregistered robot: registered embodiments fix the state/action widths (tests pass one with them)
        embodiment="micro_robot",
        max_text_len=32,
        vision=VisionConfig(image_size=16, patch_size=8, width=32, depth=2, num_heads=2, mlp_ratio=2.0),
        backbone=BackboneConfig(width=48, depth=2, num_heads=2, head_dim=16, mlp_hidden=96, vocab_size=259),
        expert=ActionExpertConfig(width=32, mlp_hidden=64),
    )
    if changes.get("decoder") == "dit":  # the section's default is Qwen-VLA's full-size DiT (16 x 1024)
        changes.setdefault("dit", DiTConfig(width=32, depth=2, num_heads=2, mlp_hidden=64))
    emb = EMBODIMENTS.get(changes.get("embodiment", ""))
    if emb is not None:  # a registered robot fixes the widths: take them unless the test gives its own
        changes.setdefault("state_dim", emb.state_dim)
        changes.setdefault("action_dim", emb.action_dim)
        changes.setdefault("max_state_dim", max(cfg.max_state_dim, changes["state_dim"]))
        changes.setdefault("max_action_dim", max(cfg.max_action_dim, changes["action_dim"]))
    return dataclasses.replace(cfg, **changes)


def micro_batch(cfg: HyVLAConfig, b: int = 2, seed: int = 0, with_action: bool = True) -> dict:
    g = torch.Generator().manual_seed(seed)
    s = cfg.image_size
    batch: dict = {key: torch.rand(b, cfg.history_frames, 3, s, s, generator=g) for key in cfg.image_keys}
    batch["observation.state"] = torch.randn(b, cfg.state_dim, generator=g)
    batch["task"] = [f"task number {i}" for i in range(b)]
    if with_action:
        batch["action"] = torch.randn(b, cfg.horizon, cfg.action_dim, generator=g)
    return batch
