"""The one registry of named presets: whole recipes (architecture + training settings).

A preset names a model config (a plain function; variants are `dataclasses.replace` of another
preset) and the training settings that go with it (`TrainConfig`, including auxiliary training
objectives). Sample settings follow from both (`run_config.sample_config_for`). `hy-vla train
--preset P` and `hy-vla demo --preset P` train exactly the same thing from the same dataset.
Unknown names get "did you mean" suggestions. Tiny presets run on a laptop CPU (tests, the demo);
`debug` trains in seconds.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hy_vla.models.action_expert import ActionExpertConfig
from hy_vla.models.backbone import BackboneConfig
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.decoders.dit import DiTConfig
from hy_vla.models.decoders.hybrid import HybridConfig
from hy_vla.models.decoders.mixture_of_flow import MoFConfig
from hy_vla.models.decoders.mpg import MPGConfig
from hy_vla.models.hf_backbone import HFBackboneConfig
from hy_vla.models.vision import VisionConfig
from hy_vla.models.vlm_configs import PALIGEMMA_3B, QWEN3VL_2B, QWEN25VL_3B, SMOLVLM2_500M, tiny
from hy_vla.training.config import TrainConfig
from hy_vla.training.objectives.env_state import EnvStateConfig
from hy_vla.utils.names import did_you_mean


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: Callable[[], HyVLAConfig]
    train: Callable[[], TrainConfig] = TrainConfig  # the training settings measured with this model


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
        max_state_dim=8,
        max_action_dim=7,
        state_dim=8,  # the LIBERO embodiment's state: eef xyz + axis-angle + 2 finger positions
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
    token ("state in DiT", Table 12); Beta time sampling for SFT is the training default (`TrainConfig.flow`;
    Sigmoid-Normal is for T2A).
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


def cpu_train() -> TrainConfig:
    """Training settings measured with the tiny presets on 2 CPU cores (bench/RESULTS.md): lr 7e-4
    (3e-4: 59%, 7e-4: 70%, 1e-3: 73%, 2e-3: 43% on the demo at an equal step count), EMA 0.995, batch 32."""
    return TrainConfig(batch_size=32, lr=7e-4, warmup_steps=100, ema_decay=0.995)


METAWORLD_CAMERAS = ("topview", "behindGripper")  # a fixed overview + a gripper-mounted view
METAWORLD_ENV_STATE_DIM = 6  # object xyz + goal xyz (hy_vla.sim.metaworld.env.ENV_STATE_NAMES)


def metaworld_model(base: HyVLAConfig) -> HyVLAConfig:
    """A tiny preset's model shaped for Meta-World from two 128 px cameras (the demo's; bench/RESULTS.md):
    K=1 (K=6 scored lower: its tasks are fully observable from one frame), H=16 at stride 1, 16 px patches merged
    2 x 2 (128 px lifted success 23% -> 32% at equal steps over 64 px), a conv patch stem with 32 spatial-softmax
    keypoints as one extra token per image (38% vs 27% at an equal budget), and instruction bytes merged four to a
    token (text_patch=4: ~13% more steps per budget at equal success)."""
    return dataclasses.replace(
        base,
        camera_names=METAWORLD_CAMERAS,
        history_frames=1,
        horizon=16,
        action_stride=1,
        embodiment="metaworld_sawyer",
        state_dim=4,
        action_dim=4,
        text_patch=1 if base.hf_backbone.enabled else 4,
        # the longest Meta-World instruction is 64 bytes, 66 byte tokens with begin and end: 64 cut two off
        max_text_len=max(base.max_text_len, 96),
        vision=dataclasses.replace(
            base.vision, image_size=128, patch_size=16, token_merge=2, stem="conv", keypoints=32
        ),
    )


def metaworld_train() -> TrainConfig:
    """The demo's training: `cpu_train` without image shifts (the simulator's cameras never move, so where a thing
    is in the image says where it is on the table: 49% vs 43% at an equal step count), the env-state target on each
    episode's first frame (59% vs 49%; hy_vla.training.objectives.env_state), frames cached in RAM."""
    return dataclasses.replace(
        cpu_train(),
        augment_shift=0,
        cache_frames=True,
        save_every=500,
        keep_last=2,
        env_state=EnvStateConfig(weight=1.0, dim=METAWORLD_ENV_STATE_DIM, frame="first"),
    )


LIBERO_CAMERAS = ("agentview", "robot0_eye_in_hand")  # LIBERO's fixed front view + the wrist camera


def libero_demo() -> HyVLAConfig:
    """hy-vla-tiny for LIBERO (`hy-vla demo --env libero`): the Meta-World demo's vision (two 128 px cameras, conv
    stem with keypoints, 2 x 2 merged patches), K=1, H=16 at stride 1 of LIBERO's native 7-D end-effector delta
    commands at 20 Hz (`libero_franka_eef`), instructions up to 96 bytes (LIBERO's longest is 88) merged four to a
    token. Not tuned on LIBERO: the Meta-World measurements are why each setting is what it is."""
    return dataclasses.replace(
        metaworld_model(hy_vla_tiny()),
        camera_names=LIBERO_CAMERAS,
        embodiment="libero_franka_eef",
        state_dim=8,
        action_dim=7,
        max_text_len=96,
    )


def libero_train() -> TrainConfig:
    """The Meta-World demo's training on LIBERO: its cameras are fixed too (no image shifts), and the env-state target
    is the first frame's goal object and target xyz (`hy_vla.sim.libero.env.ENV_STATE_NAMES`, 6 values)."""
    return metaworld_train()


ALOHA_CAMERAS = ("top_head", "hand_left", "hand_right")  # the model card's names for ALOHA's top and wrist views


def aloha_flagship() -> HyVLAConfig:
    """The Hy-VLA design at CPU scale on bimanual ALOHA (`hy-vla demo --env aloha`): the model card's three cameras,
    one frame per camera (K=1: a K=2 step costs 2.4x, and at about the same training compute K=1 for 2500 steps
    scored 43% against K=2's 23% for 1200 steps, disjoint intervals; `--set model.history_frames=2` turns the memory
    encoder on over frames 5 control steps = 0.1 s apart; bench/RESULTS.md "ALOHA"), delta end-effector chunks
    (`aloha_eef`: per arm xyz + rot6d + gripper) of H=20 actions at stride 1 (0.4 s at 50 Hz; the card's stride 3
    fails here: the scripted expert's own commands, each held for 3 control steps, solve 1 of 40 replays,
    `bench/aloha_replay.py`), the dual-tower flow expert, the env-state target (`aloha_train`). Vision as the
    Meta-World demo measured it: a conv patch stem with spatial-softmax keypoints, patches merged 2 x 2 (128 px
    frames, 16 px patches: 16 tokens per frame), instruction bytes merged four to a token."""
    base = hy_vla_tiny()
    return dataclasses.replace(
        base,
        camera_names=ALOHA_CAMERAS,
        history_frames=1,
        history_stride=5,  # used when the memory encoder is turned on (history_frames > 1)
        horizon=20,
        action_stride=1,
        embodiment="aloha_eef",
        state_dim=20,
        action_dim=20,
        max_text_len=96,  # the transfer-cube instruction is 65 bytes
        text_patch=4,
        vision=dataclasses.replace(
            base.vision, image_size=128, patch_size=16, token_merge=2, stem="conv", keypoints=32
        ),
    )


def aloha_train() -> TrainConfig:
    """`cpu_train` for the ALOHA recipe: no image shifts (where the objects are in the fixed top view is where they
    are on the table), frames cached in RAM, and the env-state target (the image tokens of each episode's first
    frame predict the objects' xyz, `hy_vla.sim.aloha.env.ENV_STATE_NAMES`) as in the Meta-World demo."""
    return dataclasses.replace(
        cpu_train(),
        augment_shift=0,
        cache_frames=True,
        save_every=500,
        keep_last=2,
        env_state=EnvStateConfig(weight=1.0, dim=6, frame="first"),
    )


def debug() -> HyVLAConfig:
    """A model that trains in seconds on a CPU: one 32 px camera, two layers everywhere."""
    return dataclasses.replace(
        hy_vla_tiny(),
        camera_names=("top_head",),
        history_frames=1,
        horizon=4,
        action_stride=1,
        max_text_len=32,
        vision=VisionConfig(image_size=32, patch_size=8, width=32, depth=1, num_heads=2, mlp_ratio=2.0),
        backbone=BackboneConfig(width=48, depth=2, num_heads=2, head_dim=24, mlp_hidden=96, vocab_size=259),
        expert=ActionExpertConfig(width=32, mlp_hidden=64),
    )


def debug_train() -> TrainConfig:
    return TrainConfig(steps=20, batch_size=4, lr=1e-3, warmup_steps=2, save_every=10, log_every=5)


def _metaworld(tiny_model: Callable[[], HyVLAConfig]) -> Callable[[], HyVLAConfig]:
    def build() -> HyVLAConfig:
        return metaworld_model(tiny_model())

    return build


# -- published VLMs + an action expert ------------------------------------------------------------------------------
# Each carries its VLM's published architecture (hy_vla.models.vlm_configs) as hf_backbone.hf_config: it counts on
# the meta device (`hy-vla presets`) without files, and trains once pointed at the model's directory:
# `--set model.hf_backbone.path=DIR` (weights, tokenizer, chat template and image processor are read from there).


def _vlm(family: str, hf_config: dict[str, Any], image_size: int, patch_size: int) -> dict[str, Any]:
    """The settings every VLM preset shares: the family's tokenizer and backbone, and the frame size handed to its
    image processor (the only field of `vision` a transformers backbone reads)."""
    return {
        "tokenizer": "hf",
        "history_frames": 1,  # the VLM's vision tower reads each camera's current frame only
        "vision": VisionConfig(image_size=image_size, patch_size=patch_size),
        "hf_backbone": HFBackboneConfig(family=family, hf_config=copy.deepcopy(hf_config)),
    }


def hy_vla_qwen25vl_3b() -> HyVLAConfig:
    """Hy-VLA's recipe on Qwen2.5-VL-3B: the seed's three cameras, H=20 at stride 3, dual-arm EEF, 10 Euler steps,
    and its dual-tower action expert (width 768, SwiGLU 3072) at the LM's 36 layers and 16 x 128 heads (~480M).
    224 px frames are 16 x 16 patches of 14 px merged 2 x 2: 64 tokens per camera at the processor's native size."""
    return dataclasses.replace(hy_vla(), **_vlm("qwen2_5_vl", QWEN25VL_3B, image_size=224, patch_size=14))


def qwen_vla_qwen3vl_2b() -> HyVLAConfig:
    """Qwen-VLA's recipe (`qwen_vla`: ALOHA, chunk 50, embodiment prompt, 16-block DiT of width 1024 reading the
    last hidden states) on Qwen3-VL-2B, the smallest published Qwen3-VL (the seed's Qwen3.5-VL is not a transformers
    family here). 224 px frames: 14 x 14 patches of 16 px merged 2 x 2, 49 tokens per camera."""
    return dataclasses.replace(qwen_vla(), **_vlm("qwen3_vl", QWEN3VL_2B, image_size=224, patch_size=16))


def smolvlm_500m_expert() -> HyVLAConfig:
    """SmolVLA's composition: SmolVLM2-500M and an action expert of 0.75 x its width (720; SwiGLU 1920, the LM's
    8/3 ratio) over its 32 layers and 15 x 64 heads; LIBERO setting (2 cameras, 8-D state, 7-D actions), chunk 50,
    10 steps, 512 px frames (one SigLIP tile: 64 tokens after the pixel shuffle, when the directory's image processor
    does not split images)."""
    return HyVLAConfig(
        camera_names=("agentview", "wrist"),
        horizon=50,
        action_stride=1,
        max_state_dim=32,
        max_action_dim=32,
        state_dim=8,
        action_dim=7,
        num_inference_steps=10,
        embodiment="libero_franka_eef",
        expert=ActionExpertConfig(width=720, mlp_hidden=1920),
        **_vlm("smolvlm", SMOLVLM2_500M, image_size=512, patch_size=16),
    )


def paligemma_3b_expert() -> HyVLAConfig:
    """pi0's composition: PaliGemma-3B (224 px, 256 image tokens per camera, bidirectional prefix) and a Gemma-300M
    sized action expert (width 1024, MLP 4096) over its 18 layers and 8 x 256 heads; pi0's padded 32-D state and
    actions, chunk 50, 10 Euler steps; LIBERO setting (2 cameras, 8-D state, 7-D actions)."""
    return dataclasses.replace(
        smolvlm_500m_expert(),
        expert=ActionExpertConfig(width=1024, mlp_hidden=4096),
        **_vlm("paligemma", PALIGEMMA_3B, image_size=224, patch_size=14),
    )


def _tiny_vlm(full: Callable[[], HyVLAConfig]) -> Callable[[], HyVLAConfig]:
    """A VLM preset at CPU-test size: the family's tiny random architecture (vlm_configs.tiny), 64 px frames, H=8,
    a narrow expert / DiT. Point it at a small directory of the family (the tests write random ones)."""

    def build() -> HyVLAConfig:
        cfg = full()
        hf = dataclasses.replace(cfg.hf_backbone, hf_config=tiny(cfg.hf_backbone.hf_config))
        cfg = dataclasses.replace(
            cfg,
            horizon=8,
            vision=VisionConfig(image_size=64, patch_size=8),
            hf_backbone=hf,
            expert=ActionExpertConfig(width=32, mlp_hidden=64),
        )
        if cfg.decoder == "dit":  # (a decoder's section is set only when it is chosen: config.json round-trips)
            cfg = dataclasses.replace(cfg, dit=DiTConfig(width=32, depth=1, num_heads=2, mlp_hidden=64, use_state=True))
        return cfg

    return build


def vlm_train() -> TrainConfig:
    """Fine-tuning a pretrained VLM with a fresh action expert, as openpi fine-tunes pi0: AdamW (0.9, 0.95),
    weight decay 1e-10, gradients clipped at 1, lr 2.5e-5 after 1000 warm-up steps, cosine to 2.5e-6 over 30k steps,
    batch 32, EMA 0.99."""
    return TrainConfig(
        steps=30_000,
        batch_size=32,
        lr=2.5e-5,
        min_lr=2.5e-6,
        warmup_steps=1000,
        weight_decay=1e-10,
        ema_decay=0.99,
        save_every=5000,
    )


def expert_only_train() -> TrainConfig:
    """SmolVLA's training: the VLM frozen (vision tower, connector, LM), the expert and its projections trained at
    lr 1e-4 (cosine to 2.5e-6 after 1000 warm-up steps), batch 64, gradients clipped at 10, no EMA."""
    return dataclasses.replace(
        vlm_train(),
        batch_size=64,
        lr=1e-4,
        grad_clip=10.0,
        ema_decay=None,
        freeze_vision=True,
        freeze_projector=True,
        freeze_backbone=True,
    )


def expert_only_cpu_train() -> TrainConfig:
    """`cpu_train` with SmolVLA's freezing (only the expert trains)."""
    return dataclasses.replace(cpu_train(), freeze_vision=True, freeze_projector=True, freeze_backbone=True)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("hy-vla", "Hy-VLA at the seed's scale (K=6, H=20 @ stride 3, MoT backbone, ~370M expert)", hy_vla),
        Preset("hy-vla-tiny", "CPU Hy-VLA (same design, ~3M parameters; CPU-measured lr/EMA)", hy_vla_tiny, cpu_train),
        Preset("debug", "a seconds-long CPU run (one 32 px camera, 2-layer towers, 20 steps)", debug, debug_train),
        Preset(
            "metaworld-demo",
            "what `hy-vla demo` trains: hy-vla-tiny for Meta-World (2 x 128 px cameras, conv stem, env-state target)",
            _metaworld(hy_vla_tiny),
            metaworld_train,
        ),
        Preset(
            "libero-demo",
            "what `hy-vla demo --env libero` trains: hy-vla-tiny for LIBERO (agentview + wrist 128 px, 7-D deltas, "
            "env-state target)",
            libero_demo,
            libero_train,
        ),
        Preset(
            "aloha-flagship",
            "what `hy-vla demo --env aloha` trains: hy-vla-tiny on bimanual ALOHA (3 cameras, one frame each, "
            "delta-EEF rot6d chunks H=20 @ stride 1)",
            aloha_flagship,
            aloha_train,
        ),
        Preset(
            "metaworld-being-h05",
            "metaworld-demo with the Being-H0.5 model",
            _metaworld(lambda: being_h05_tiny()),
            metaworld_train,
        ),  # fmt: skip
        Preset(
            "metaworld-hybridvla",
            "metaworld-demo with the HybridVLA model",
            _metaworld(lambda: hybridvla_tiny()),
            metaworld_train,
        ),  # fmt: skip
        Preset(
            "metaworld-qwen-vla",
            "metaworld-demo with the Qwen-VLA model",
            _metaworld(lambda: qwen_vla_tiny()),
            metaworld_train,
        ),  # fmt: skip
        Preset("being-h05", "Being-H0.5 (2B MoT + MoT action expert, MoF, MPG, 200-slot unified space)", being_h05),
        Preset("being-h05-tiny", "CPU Being-H0.5 (MoT expert, MoF, MPG)", being_h05_tiny),
        Preset("hybridvla", "HybridVLA (7B dense LM, diffusion + 256-bin AR action tokens, 0.96 ensemble)", hybridvla),
        Preset("hybridvla-tiny", "CPU HybridVLA (diffusion + AR action tokens in one LM)", hybridvla_tiny),
        Preset("qwen-vla", "Qwen-VLA (2B dense Qwen-class VLM + 16-block DiT decoder, embodiment prompt)", qwen_vla),
        Preset("qwen-vla-tiny", "CPU Qwen-VLA (DiT decoder with cross-attention + adaLN)", qwen_vla_tiny),
        Preset(
            "hy-vla-qwen25vl-3b",
            "Hy-VLA's recipe and dual-tower expert on Qwen2.5-VL-3B (set model.hf_backbone.path to its weights)",
            hy_vla_qwen25vl_3b,
            vlm_train,
        ),
        Preset(
            "qwen-vla-qwen3vl-2b",
            "Qwen-VLA's recipe and DiT on Qwen3-VL-2B (set model.hf_backbone.path to its weights)",
            qwen_vla_qwen3vl_2b,
            vlm_train,
        ),
        Preset(
            "smolvlm-500m-expert",
            "SmolVLA-style: SmolVLM2-500M, frozen, + a 0.75-width expert (set model.hf_backbone.path)",
            smolvlm_500m_expert,
            expert_only_train,
        ),
        Preset(
            "paligemma-3b-expert",
            "pi0-style: PaliGemma-3B + a Gemma-300M-sized expert (set model.hf_backbone.path to its weights)",
            paligemma_3b_expert,
            vlm_train,
        ),
        Preset(
            "hy-vla-qwen25vl-tiny",
            "CPU hy-vla-qwen25vl-3b (tiny random Qwen2.5-VL)",
            _tiny_vlm(hy_vla_qwen25vl_3b),
            cpu_train,
        ),
        Preset(
            "qwen-vla-qwen3vl-tiny",
            "CPU qwen-vla-qwen3vl-2b (tiny random Qwen3-VL)",
            _tiny_vlm(qwen_vla_qwen3vl_2b),
            cpu_train,
        ),
        Preset(
            "smolvlm-expert-tiny",
            "CPU smolvlm-500m-expert (tiny random SmolVLM)",
            _tiny_vlm(smolvlm_500m_expert),
            expert_only_cpu_train,
        ),
        Preset(
            "paligemma-expert-tiny",
            "CPU paligemma-3b-expert (tiny random PaliGemma)",
            _tiny_vlm(paligemma_3b_expert),
            cpu_train,
        ),
    ]
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        hint = did_you_mean(name, PRESETS, cutoff=0.4)
        raise ValueError(f"unknown preset {name!r}.{hint} Known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def model_config(name: str) -> HyVLAConfig:
    return get_preset(name).model()


def train_config(name: str, **changes: Any) -> TrainConfig:
    """The preset's training settings, with `changes` (e.g. out_dir, steps)."""
    return get_preset(name).train().replace(**changes)
