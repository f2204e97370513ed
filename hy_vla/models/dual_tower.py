"""How the backbone and the action expert share attention, in two equivalent forms.

- `expert_forward` (used for training and inference): the expert attends to the
  per-layer prefix keys/values the backbone already produced. At inference these
  are computed once per observation and reused by every Euler step: the KV cache.
- `joint_forward` (reference): one attention per layer over the concatenated
  [prefix, suffix] sequence with the full block mask, recomputing the prefix.
  Because the prefix never sees the suffix, both give the same actions; the test
  suite checks that, which also checks the masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from hy_vla.models.action_expert import ActionExpert, suffix_mask
from hy_vla.models.backbone import LayerKV, MoTBackbone, Segment
from hy_vla.models.layers import attention
from hy_vla.models.masks import block_attention_mask
from hy_vla.models.suffix_attention import attend_suffix


@dataclass
class Prefix:
    """The embedded observation (images, latents, text) before the backbone."""

    x: Tensor  # (B, Tp, D)
    segments: list[Segment]
    block_ids: Tensor  # (B, Tp) long
    bidirectional: Tensor  # (B, Tp) bool
    valid: Tensor  # (B, Tp) bool, False on text padding
    positions: Tensor  # (B, Tp) long, counts only valid tokens (padding-invariant)
    # What a pretrained transformers backbone runs on besides x (its processor's ids, the vision tower's output;
    # hf_backbone.HFBackbone.embed_prefix); empty for the native MoT
    backbone_inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_valid(self) -> Tensor:
        return self.valid.sum(dim=1)  # (B,)

    def mask(self) -> Tensor:
        return block_attention_mask(self.block_ids, self.bidirectional, self.valid)  # (B, Tp, Tp)


def suffix_positions(prefix: Prefix, horizon: int) -> Tensor:
    """State and action tokens continue after the prefix's largest valid position -> (B, 1 + H).

    For the native prefix (positions count valid tokens) that is `num_valid`; a pretrained VLM numbers its
    tokens its own way (Qwen's M-RoPE image positions, PaliGemma's from 1), and the seeds append the state
    and action tokens after it.
    """
    offs = torch.arange(1 + horizon, device=prefix.valid.device)
    last = prefix.positions.masked_fill(~prefix.valid, -1).amax(dim=1, keepdim=True)  # (B, 1)
    return last + 1 + offs


def encode_prefix(backbone: MoTBackbone, prefix: Prefix) -> tuple[Tensor, list[LayerKV]]:
    """Run the backbone once: final hidden states (B, Tp, D) and per-layer keys/values."""
    return backbone(prefix.x, prefix.segments, prefix.positions, prefix.mask(), **prefix.backbone_inputs)


def expert_forward(
    backbone: MoTBackbone, expert: ActionExpert, prefix: Prefix, prefix_kv: list[LayerKV], suffix: Tensor
) -> Tensor:
    """suffix: (B, 1 + H, w) embedded expert tokens -> final expert hidden states (B, 1 + H, w)."""
    horizon = suffix.shape[1] - 1
    positions, allowed = suffix_positions(prefix, horizon), suffix_mask(prefix.valid, horizon)  # (B, 1 + H, Tp + 1 + H)
    return attend_suffix(backbone, expert.layers, prefix_kv, suffix, positions, allowed)


def joint_forward(backbone: MoTBackbone, expert: ActionExpert, prefix: Prefix, suffix: Tensor) -> tuple[Tensor, Tensor]:
    """Reference path: joint attention over [prefix, suffix] in every layer -> (prefix hidden, suffix hidden)."""
    b, tp = prefix.valid.shape
    horizon = suffix.shape[1] - 1
    dev = prefix.valid.device
    top = prefix.block_ids.max(dim=1, keepdim=True).values
    ids = torch.cat([prefix.block_ids, top + 1, (top + 2).expand(b, horizon)], dim=1)
    ones = torch.ones(b, 1 + horizon, dtype=torch.bool, device=dev)
    allowed = block_attention_mask(
        ids, torch.cat([prefix.bidirectional, ones], dim=1), torch.cat([prefix.valid, ones], dim=1)
    )
    cos_p, sin_p = backbone.rope(prefix.positions)
    cos_s, sin_s = backbone.rope(suffix_positions(prefix, horizon))
    xp, xs = prefix.x, suffix
    for i, block in enumerate(expert.layers):
        qp, kp, vp = backbone.layer_qkv(i, xp, prefix.segments, cos_p, sin_p)
        qs, ks, vs = block.project_qkv(xs, cos_s, sin_s)
        out = attention(torch.cat([qp, qs], 2), torch.cat([kp, ks], 2), torch.cat([vp, vs], 2), allowed)
        xp = backbone.layer_finish(i, xp, prefix.segments, out[:, :, :tp])
        xs = block.finish(xs, out[:, :, tp:])
    return backbone.final_norm(xp, prefix.segments), xs
