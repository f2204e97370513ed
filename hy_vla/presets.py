"""The one registry of named presets.

A preset is a plain function returning a complete config; variants are
`dataclasses.replace` of another preset. Unknown names get "did you mean"
suggestions. Tiny presets run on a laptop CPU in seconds (tests, demo).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from hy_vla.flow.flow_matching import FlowConfig
from hy_vla.models.action_expert import ActionExpertConfig
from hy_vla.models.backbone import BackboneConfig
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.decoders.dit import DiTConfig
from hy_vla.models.decoders.hybrid import HybridConfig
from hy_vla.models.decoders.mixture_of_flow import MoFConfig
from hy_vla.models.decoders.mpg import MPGConfig
from hy_vla.models.vision import VisionConfig
from hy_vla.utils.names import did_you_mean


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


QWEN_VOCAB = 151_936  # Qwen3 / InternVL3.5 text vocabulary (the byte tokenizer uses its first 259 ids)
EMBODIMENT_ROUTES = ("libero_franka_eef", "robotwin_dual_eef", "aloha_bimanual", "metaworld_sawyer", "pusht")


def being_h05() -> HyVLAConfig:
    """Being-H0.5 at the seed's scale (seed 002).

    2B MoT (28 layers, width 2048; understanding towers for vision and text) whose action
    expert is a third modality of the same width sharing every layer's attention; unified
    200-slot state/action space; LIBERO setting of the released script (224 px RGB, chunk 16).
    Mixture-of-Flow: the lower 14 expert layers shared, the upper 14 routed over 2 experts by
    embodiment (the seed's freezing ablation puts the break near layer 14); MPG on with
    lambda 0.1 and 32 projections.
    """
    return HyVLAConfig(
        camera_names=("agentview", "wrist"),
        history_frames=1,
        horizon=16,
        action_stride=1,
        max_state_dim=200,
        max_action_dim=200,
        state_dim=8,
        action_dim=7,
        num_inference_steps=10,
        embodiment="libero_franka_eef",
        max_text_len=128,
        vision=VisionConfig(image_size=224, patch_size=14, width=1024, depth=24, num_heads=16, mlp_ratio=4.0),
        backbone=BackboneConfig(
            width=2048, depth=28, num_heads=16, head_dim=128, mlp_hidden=6144, vocab_size=QWEN_VOCAB
        ),
        expert=ActionExpertConfig(width=2048, mlp_hidden=6144),
        decoder="mot_expert",
        mof=MoFConfig(num_experts=2, shared_layers=14, top_k=1, route_by="embodiment", routes=EMBODIMENT_ROUTES),
        mpg=MPGConfig(enabled=True, lam=0.1, num_projections=32, proj_dim=256),
    )


def being_h05_tiny() -> HyVLAConfig:
    """CPU Being-H0.5: same composition (MoT expert, MoF 2 of 4 layers routed over 2 experts, MPG)."""
    return dataclasses.replace(
        being_h05(),
        max_text_len=64,
        vision=VisionConfig(image_size=64, patch_size=8, width=96, depth=3, num_heads=3, mlp_ratio=2.0),
        backbone=BackboneConfig(width=128, depth=4, num_heads=4, head_dim=32, mlp_hidden=384, vocab_size=259),
        expert=ActionExpertConfig(width=128, mlp_hidden=256),
        mof=MoFConfig(num_experts=2, shared_layers=2, top_k=1, route_by="embodiment", routes=EMBODIMENT_ROUTES),
        mpg=MPGConfig(enabled=True, lam=0.1, num_projections=32, proj_dim=32),
    )


def hybridvla() -> HyVLAConfig:
    """HybridVLA at the seed's scale (seed 003): 7B LLaMA-2-class dense LM, SigLIP-class 224 px ViT.

    Single-step actions (FUTURE_ACTION_STEPS=0, ACTION_DIM=7), diffusion tokens and 256-bin
    AR action tokens in the same LM (vocabulary 32000 + 256), 4 denoising steps at inference
    (num_ddim_steps=4), predict_mode "diff+ar" with the 0.96 confidence ensemble.
    """
    return HyVLAConfig(
        camera_names=("front", "wrist"),
        history_frames=1,
        horizon=1,
        action_stride=1,
        max_state_dim=7,
        max_action_dim=7,
        state_dim=7,
        action_dim=7,
        num_inference_steps=4,
        embodiment="libero_franka_eef",
        max_text_len=64,
        vision=VisionConfig(image_size=224, patch_size=14, width=1152, depth=27, num_heads=16, mlp_ratio=3.7362),
        backbone=BackboneConfig(
            width=4096,
            depth=32,
            num_heads=32,
            head_dim=128,
            mlp_hidden=11008,
            vocab_size=32_000 + 256,
            dense=True,
            qk_norm=False,
        ),
        decoder="hybrid",
        hybrid=HybridConfig(predict_mode="diff+ar", num_bins=256, ar_weight=1.0, ensemble_threshold=0.96),
    )


def hybridvla_tiny() -> HyVLAConfig:
    """CPU HybridVLA: dense 4-layer LM, byte text ids + 256 action ids."""
    return dataclasses.replace(
        hybridvla(),
        max_text_len=64,
        vision=VisionConfig(image_size=64, patch_size=8, width=96, depth=3, num_heads=3, mlp_ratio=2.0),
        backbone=BackboneConfig(
            width=128, depth=4, num_heads=4, head_dim=32, mlp_hidden=384, vocab_size=259 + 256, dense=True
        ),
    )


def qwen_vla() -> HyVLAConfig:
    """Qwen-VLA (seed 004): a dense 2B-class Qwen VLM, DiT flow decoder, embodiment prompt.

    The seed does not give the DiT's size; we use 16 blocks of width 1024 (16 heads), the usual
    size of a DiT action head behind a 2B VLM. Fixed 32-channel padded action/state tensor with
    masks, ALOHA real-robot setting (3 cameras, 14-D joints, 50 Hz, chunk 50), the state as a DiT
    token ("state in DiT", Table 12), Beta time sampling for SFT (Sigmoid-Normal is for T2A).
    """
    return HyVLAConfig(
        camera_names=("cam_high", "cam_left_wrist", "cam_right_wrist"),
        history_frames=1,
        horizon=50,
        action_stride=1,
        max_state_dim=32,
        max_action_dim=32,
        state_dim=14,
        action_dim=14,
        num_inference_steps=10,
        embodiment="aloha_bimanual",
        use_embodiment_prompt=True,
        max_text_len=256,  # the embodiment prompt alone is ~170 bytes
        vision=VisionConfig(image_size=224, patch_size=16, width=1024, depth=24, num_heads=16, mlp_ratio=4.0),
        backbone=BackboneConfig(
            width=2048, depth=28, num_heads=16, head_dim=128, mlp_hidden=6144, vocab_size=QWEN_VOCAB, dense=True
        ),
        decoder="dit",
        dit=DiTConfig(width=1024, depth=16, num_heads=16, mlp_hidden=4096, use_state=True),
        flow=FlowConfig(time_sampler="beta"),
    )


def qwen_vla_tiny() -> HyVLAConfig:
    """CPU Qwen-VLA: dense 4-layer backbone, 2-block DiT of width 96."""
    return dataclasses.replace(
        qwen_vla(),
        horizon=16,
        vision=VisionConfig(image_size=64, patch_size=8, width=96, depth=3, num_heads=3, mlp_ratio=2.0),
        backbone=BackboneConfig(
            width=128, depth=4, num_heads=4, head_dim=32, mlp_hidden=384, vocab_size=259, dense=True
        ),
        dit=DiTConfig(width=96, depth=2, num_heads=4, mlp_hidden=256, use_state=True),
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("hy-vla", "Hy-VLA at the seed's scale (K=6, H=20 @ stride 3, MoT backbone, ~370M expert)", hy_vla),
        Preset("hy-vla-tiny", "CPU Hy-VLA for tests and the demo (same design, ~3M parameters)", hy_vla_tiny),
        Preset("being-h05", "Being-H0.5 (2B MoT + MoT action expert, MoF, MPG, 200-slot unified space)", being_h05),
        Preset("being-h05-tiny", "CPU Being-H0.5 (MoT expert, MoF, MPG)", being_h05_tiny),
        Preset("hybridvla", "HybridVLA (7B dense LM, diffusion + 256-bin AR action tokens, 0.96 ensemble)", hybridvla),
        Preset("hybridvla-tiny", "CPU HybridVLA (diffusion + AR action tokens in one LM)", hybridvla_tiny),
        Preset("qwen-vla", "Qwen-VLA (2B dense Qwen-class VLM + 16-block DiT decoder, embodiment prompt)", qwen_vla),
        Preset("qwen-vla-tiny", "CPU Qwen-VLA (DiT decoder with cross-attention + adaLN)", qwen_vla_tiny),
    ]
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        hint = did_you_mean(name, PRESETS, cutoff=0.4)
        raise ValueError(f"unknown preset {name!r}.{hint} Known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def model_config(name: str) -> HyVLAConfig:
    return get_preset(name).model()
