"""The architectures of the published VLMs the transformers backbone runs, and tiny random ones of each family.

The numbers are those of each model's released config.json, written in transformers 5's layout
(`rope_parameters`, text and vision sub-configs); only architecture keys, transformers fills in the rest:

- Qwen2.5-VL-3B-Instruct: 36-layer LM of width 2048 (16 query / 2 KV heads of 128, MLP 11008, RoPE 1e6,
  M-RoPE sections 16/24/24), 32-block ViT of width 1280 with 14 px patches merged 2 x 2 (window attention
  but in blocks 7, 15, 23, 31);
- Qwen3-VL-2B-Instruct: 28-layer LM of width 2048 (16 query / 8 KV heads of 128, MLP 6144, RoPE 5e6,
  interleaved M-RoPE 24/20/20), 24-block ViT of width 1024 with 16 px patches, deepstack from blocks 5, 11, 17;
- SmolVLM2-500M-Video-Instruct: 32-layer Llama LM of width 960 (15 query / 5 KV heads of 64, MLP 2560, RoPE 1e5),
  SigLIP-B/16 at 512 px (12 blocks of width 768), pixel shuffle by 4 (64 tokens per 512 px tile);
- PaliGemma-3B-pt-224 (pi0's backbone): 18-layer Gemma LM of width 2048 (8 query heads of 256, one KV head,
  MLP 16384), SigLIP So400m/14 at 224 px (27 blocks of width 1152, 256 image tokens).

A preset stores one of these as `hf_backbone.hf_config`: the full-size model then builds on the meta device
(parameter counts) without its files; pointed at a directory of real weights (`hf_backbone.path`), the
directory's own config.json takes its place. `tiny` keeps a family's structure at CPU-test widths.
"""

from __future__ import annotations

import copy
from typing import Any

QWEN_TOKENS = {"image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
               "vision_end_token_id": 151653}  # fmt: skip

QWEN25VL_3B: dict[str, Any] = {
    "model_type": "qwen2_5_vl",
    "text_config": {
        "model_type": "qwen2_5_vl_text",
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]},
        "bos_token_id": 151643,
        "eos_token_id": 151645,
    },
    "vision_config": {
        "model_type": "qwen2_5_vl_vision",
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    },
    "tie_word_embeddings": True,
    **QWEN_TOKENS,
}

QWEN3VL_2B: dict[str, Any] = {
    "model_type": "qwen3_vl",
    "text_config": {
        "model_type": "qwen3_vl_text",
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 6144,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5_000_000.0,
            "mrope_section": [24, 20, 20],
            "mrope_interleaved": True,
        },
        "bos_token_id": 151643,
        "eos_token_id": 151645,
    },
    "vision_config": {
        "model_type": "qwen3_vl",
        "depth": 24,
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [5, 11, 17],
    },
    "tie_word_embeddings": True,
    **QWEN_TOKENS,
}

SMOLVLM2_500M: dict[str, Any] = {
    "model_type": "smolvlm",
    "text_config": {
        "model_type": "llama",
        "vocab_size": 49280,
        "hidden_size": 960,
        "intermediate_size": 2560,
        "num_hidden_layers": 32,
        "num_attention_heads": 15,
        "num_key_value_heads": 5,
        "head_dim": 64,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "rope_parameters": {"rope_type": "default", "rope_theta": 100_000.0},
    },
    "vision_config": {
        "model_type": "smolvlm_vision",
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 512,
        "patch_size": 16,
    },
    "scale_factor": 4,
    "image_token_id": 49190,
}

PALIGEMMA_3B: dict[str, Any] = {
    "model_type": "paligemma",
    "text_config": {
        "model_type": "gemma",
        "vocab_size": 257216,
        "hidden_size": 2048,
        "intermediate_size": 16384,
        "num_hidden_layers": 18,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "num_image_tokens": 256,
    },
    "vision_config": {
        "model_type": "siglip_vision_model",
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_hidden_layers": 27,
        "num_attention_heads": 16,
        "image_size": 224,
        "patch_size": 14,
        "projection_dim": 2048,
        "vision_use_head": False,
    },
    "image_token_index": 257152,
    "projection_dim": 2048,
    "hidden_size": 2048,
    "vocab_size": 257216,
}

# Every family at CPU-test widths (2 LM layers of width 64, a 1-2 block vision tower of width 32), its structure
# kept: M-RoPE sections summing to half the head size, Qwen2.5-VL's full-attention block, Qwen3-VL's deepstack.
# The vocabulary and special-token ids stay the published ones, so the layout of the inputs is the family's.
_TINY_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
_TINY_MROPE = {"mrope_section": [2, 3, 3]}  # half of head size 16
_TINY_CHANGES: dict[str, dict[str, Any]] = {
    "qwen2_5_vl": {
        "text_config": dict(_TINY_TEXT, num_key_value_heads=2, rope_parameters=_TINY_MROPE),
        "vision_config": dict(
            depth=1,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            patch_size=8,
            window_size=16,
            fullatt_block_indexes=[0],
        ),
    },
    "qwen3_vl": {
        "text_config": dict(_TINY_TEXT, num_key_value_heads=2, head_dim=16, rope_parameters=_TINY_MROPE),
        "vision_config": dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            patch_size=8,
            num_position_embeddings=16,
            deepstack_visual_indexes=[0],
        ),
    },
    "smolvlm": {
        "text_config": dict(_TINY_TEXT, num_key_value_heads=2, head_dim=16),
        "vision_config": dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        "scale_factor": 2,
    },
    "paligemma": {
        "text_config": dict(_TINY_TEXT, num_key_value_heads=1, head_dim=16, num_image_tokens=16),
        "vision_config": dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
            projection_dim=64,
        ),
        "projection_dim": 64,
        "hidden_size": 64,
    },
}


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` written over it, nested dicts merged key by key (neither argument is modified)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def tiny(config: dict[str, Any]) -> dict[str, Any]:
    """A published config of one family -> the same family at CPU-test widths (random weights, seconds to build)."""
    family = config["model_type"]
    if family not in _TINY_CHANGES:
        raise ValueError(f"no tiny variant of model_type {family!r}; known: {sorted(_TINY_CHANGES)}")
    return merged(config, _TINY_CHANGES[family])
