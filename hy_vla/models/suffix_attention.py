"""Suffix tokens attending to an encoded prefix layer by layer: the mechanics every expert tower shares.

Each layer's queries of the suffix see [the prefix's cached keys/values of that layer, the suffix's own keys/values]
under a mask; the prefix never sees the suffix, so its keys/values are computed once (`dual_tower.encode_prefix`).
Used by the MoT expert and HybridVLA's flow tokens (decoders) and by the next-token text loss (`text_loss`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from hy_vla.models.backbone import LayerKV
from hy_vla.models.layers import attention
from hy_vla.models.tower import TowerBlock


def attend_suffix(
    backbone: Any,
    blocks: list[TowerBlock] | nn.ModuleList,
    prefix_kv: list[LayerKV],
    x: Tensor,
    positions: Tensor,
    allowed: Tensor,
    finish: Callable[[int, TowerBlock, Tensor, Tensor], Tensor] | None = None,
) -> Tensor:
    """Run suffix tokens x (B, Ts, w) through `blocks`, each layer attending to [prefix KV, own KV].

    allowed: (B, Ts, Tp + Ts). `finish(i, block, x, attn_out)` replaces `block.finish` (routed MLPs).
    The same mechanics as `dual_tower.expert_forward`, for towers other than the dual-tower expert.
    """
    cos, sin = backbone.rope(positions)
    for i, (block, (kp, vp)) in enumerate(zip(blocks, prefix_kv, strict=True)):
        q, k, v = block.project_qkv(x, cos, sin)
        out = attention(q, torch.cat([kp, k.to(kp.dtype)], dim=2), torch.cat([vp, v.to(vp.dtype)], dim=2), allowed)
        x = finish(i, block, x, out) if finish is not None else block.finish(x, out)
    return x
