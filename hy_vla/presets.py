"""The one registry of named presets.

A preset is a plain function returning a complete config; variants are
`dataclasses.replace` of another preset. Unknown names get "did you mean"
suggestions. Tiny presets run on a laptop CPU in seconds (tests, demo).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass

from hy_vla.models.action_expert import ActionExpertConfig
from hy_vla.models.backbone import BackboneConfig
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.vision import VisionConfig


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: Callable[[], HyVLAConfig]


def hy_vla() -> HyVLAConfig:
    """Hy-VLA at the seed's scale (seed 000 + DESIGN.md section 9).

    SFT settings: K=6 frames, H=20 actions at stride 3, 10 Euler steps, 3 cameras,
    dual-arm EEF state/actions (2 x [xyz + rot6d + gripper] = 20). Backbone sized like
    a 2B-activated MoT (28 layers, width 2048, per-modality weights); the action expert
    (width 768, SwiGLU 3072, same depth and 16 x 128 heads for joint attention) has
    ~370M parameters, the figure the public release gives.
    """
    return HyVLAConfig(
        camera_names=("top_head", "hand_left", "hand_right"),
        history_frames=6,
        horizon=20,
        action_stride=3,
        max_state_dim=32,
        max_action_dim=32,
        state_dim=20,
        action_dim=20,
        num_inference_steps=10,
        embodiment="robotwin_dual_eef",
        max_text_len=128,
        vision=VisionConfig(image_size=224, patch_size=14, width=1152, depth=27, num_heads=16, mlp_ratio=3.7362),
        backbone=BackboneConfig(width=2048, depth=28, num_heads=16, head_dim=128, mlp_hidden=6144, vocab_size=259),
        expert=ActionExpertConfig(width=768, mlp_hidden=3072),
    )


def hy_vla_tiny() -> HyVLAConfig:
    """CPU-sized Hy-VLA (~3M parameters): same design, the model card's three cameras and K=6."""
    return dataclasses.replace(
        hy_vla(),
        max_text_len=64,
        vision=VisionConfig(image_size=64, patch_size=8, width=96, depth=3, num_heads=3, mlp_ratio=2.0),
        backbone=BackboneConfig(width=128, depth=4, num_heads=4, head_dim=32, mlp_hidden=384, vocab_size=259),
        expert=ActionExpertConfig(width=96, mlp_hidden=256),
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("hy-vla", "Hy-VLA at the seed's scale (K=6, H=20 @ stride 3, MoT backbone, ~370M expert)", hy_vla),
        Preset("hy-vla-tiny", "CPU Hy-VLA for tests and the demo (same design, ~3M parameters)", hy_vla_tiny),
    ]
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown preset {name!r}.{hint} Known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def model_config(name: str) -> HyVLAConfig:
    return get_preset(name).model()
