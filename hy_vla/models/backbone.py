"""Mixture-of-Transformers backbone (HY-Embodied-0.5, Being-H0.5).

Each layer owns one `TowerBlock` per modality (vision, text): its norms, QKV,
output projection and MLP apply only to that modality's tokens, while ONE global
attention runs over the whole interleaved sequence. `dense=True` shares a single
block between modalities: the same network without modality-specific weights,
for the MoT-vs-dense ablation.

The sequence is a list of contiguous segments (image 1, its latents, image 2, ...,
text); segment boundaries are the same for every sample of a batch, so routing a
token to its modality's weights is a slice, not a gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hy_vla.models.layers import RMSNorm, attention, rope_cos_sin
from hy_vla.models.tower import TowerBlock

MODALITIES = ("vision", "text")


@dataclass
class BackboneConfig:
    width: int = 2048
    depth: int = 28
    num_heads: int = 16
    head_dim: int = 128
    mlp_hidden: int = 6144
    vocab_size: int = 259  # set from the tokenizer
    dense: bool = False  # True: one set of weights for all modalities (ablation of MoT)
    num_latent_tokens: int = 0  # learnable visual latent tokens appended after each image
    qk_norm: bool = True
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        for name in ("width", "depth", "num_heads", "head_dim", "mlp_hidden", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"backbone.{name} must be >= 1, got {getattr(self, name)}")
        if self.head_dim % 2:
            raise ValueError(f"backbone.head_dim must be even for rotary embeddings, got {self.head_dim}")
        if self.num_latent_tokens < 0:
            raise ValueError("backbone.num_latent_tokens must be >= 0")


@dataclass(frozen=True)
class Segment:
    """Tokens [start, end) of the sequence belong to `modality` (an index into MODALITIES)."""

    modality: int
    start: int
    end: int


LayerKV = tuple[Tensor, Tensor]  # (k, v), each (B, nh, T, hd), rotary already applied to k


class MoTBackbone(nn.Module):
    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_towers = 1 if cfg.dense else len(MODALITIES)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.width)
        self.layers = nn.ModuleList(
            nn.ModuleList(
                TowerBlock(cfg.width, cfg.num_heads, cfg.head_dim, cfg.mlp_hidden, cfg.qk_norm) for _ in range(n_towers)
            )
            for _ in range(cfg.depth)
        )
        self.final_norms = nn.ModuleList(RMSNorm(cfg.width) for _ in range(n_towers))
        if cfg.num_latent_tokens:
            self.latents = nn.Parameter(torch.randn(cfg.num_latent_tokens, cfg.width) * 0.02)

    def tower(self, layer: int, modality: int) -> TowerBlock:
        blocks = self.layers[layer]
        return blocks[0] if self.cfg.dense else blocks[modality]

    def rope(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        return rope_cos_sin(positions, self.cfg.head_dim, self.cfg.rope_theta)

    def layer_qkv(
        self, layer: int, x: Tensor, segments: list[Segment], cos: Tensor, sin: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Per-modality projections of one layer, concatenated in sequence order -> (B, nh, T, hd) x3."""
        parts = [
            self.tower(layer, s.modality).project_qkv(
                x[:, s.start : s.end], cos[:, :, s.start : s.end], sin[:, :, s.start : s.end]
            )
            for s in segments
        ]
        return tuple(torch.cat([p[i] for p in parts], dim=2) for i in range(3))  # type: ignore[return-value]

    def layer_finish(self, layer: int, x: Tensor, segments: list[Segment], attn_out: Tensor) -> Tensor:
        return torch.cat(
            [
                self.tower(layer, s.modality).finish(x[:, s.start : s.end], attn_out[:, :, s.start : s.end])
                for s in segments
            ],
            dim=1,
        )

    def final_norm(self, x: Tensor, segments: list[Segment]) -> Tensor:
        norms = self.final_norms
        return torch.cat([norms[0 if self.cfg.dense else s.modality](x[:, s.start : s.end]) for s in segments], dim=1)

    def forward(
        self, x: Tensor, segments: list[Segment], positions: Tensor, allowed: Tensor
    ) -> tuple[Tensor, list[LayerKV]]:
        """x: (B, T, width) embedded prefix; positions: (B, T); allowed: (B, T, T).

        Returns the final hidden states (B, T, width) and every layer's keys/values, which the
        action expert attends to (and which are the KV cache at inference).
        """
        if segments[0].start != 0 or segments[-1].end != x.shape[1]:
            raise ValueError("segments must cover the whole sequence")
        cos, sin = self.rope(positions)
        kv: list[LayerKV] = []
        for i in range(self.cfg.depth):
            q, k, v = self.layer_qkv(i, x, segments, cos, sin)
            kv.append((k, v))
            x = self.layer_finish(i, x, segments, attention(q, k, v, allowed))
        return self.final_norm(x, segments), kv
