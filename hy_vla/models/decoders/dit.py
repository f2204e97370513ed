"""DiT action decoder (Qwen-VLA, seed 004): cross-attention to the backbone, adaLN time conditioning.

Qwen-VLA keeps the VLM intact and puts a separate diffusion transformer behind it. Its
tokens are [state, a_1 .. a_H] (the "state in DiT" variant of the seed's Table 12; the
state token can be switched off). Every block:

    self-attention over the decoder tokens (bidirectional), modulated by adaLN,
    cross-attention from the decoder tokens to the backbone's final hidden states,
    MLP, modulated by adaLN,

where adaLN turns the flow-time embedding of each token into shift/scale/gate
(DiT's adaLN with gates; the state token is clean, so it carries t = 1). The backbone's
hidden states are projected to the decoder width once per observation and every
block's cross-attention keys/values are cached in the context, so Euler steps only
run the DiT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hy_vla.models.decoders.common import DecoderContext, FlowDecoder
from hy_vla.models.layers import GeluMLP, RMSNorm, attention, merge_heads, sincos_embedding, split_heads


@dataclass
class DiTConfig:
    width: int = 1024
    depth: int = 16
    num_heads: int = 16
    mlp_hidden: int = 4096
    use_state: bool = True  # a state token in the DiT ("state in DiT")

    def __post_init__(self) -> None:
        if min(self.width, self.depth, self.num_heads, self.mlp_hidden) < 1:
            raise ValueError("dit: width, depth, num_heads and mlp_hidden must be >= 1")
        if self.width % self.num_heads:
            raise ValueError(f"dit.width {self.width} is not divisible by num_heads {self.num_heads}")


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1.0 + scale) + shift


class DiTBlock(nn.Module):
    def __init__(self, width: int, num_heads: int, mlp_hidden: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm_x = nn.LayerNorm(width, eps=1e-6)
        self.cross_q = nn.Linear(width, width)
        self.cross_kv = nn.Linear(width, 2 * width)
        self.cross_proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = GeluMLP(width, mlp_hidden)
        self.ada = nn.Linear(width, 6 * width)  # shift, scale, gate for attention and for the MLP
        nn.init.normal_(self.ada.weight, std=0.02)  # near-identity blocks at init (adaLN-Zero in spirit)
        nn.init.zeros_(self.ada.bias)

    def cross_kv_of(self, ctx: Tensor) -> tuple[Tensor, Tensor]:
        """ctx: (B, Tp, w) -> cross-attention keys, values (B, nh, Tp, hd); cached per observation."""
        k, v = self.cross_kv(ctx).chunk(2, dim=-1)
        return split_heads(k, self.num_heads), split_heads(v, self.num_heads)

    def forward(self, x: Tensor, cond: Tensor, kv: tuple[Tensor, Tensor], ctx_allowed: Tensor) -> Tensor:
        """x, cond: (B, T, w); kv: cached cross KV; ctx_allowed: (B, T, Tp) bool."""
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(nn.functional.silu(cond)).chunk(6, dim=-1)
        q, k, v = self.qkv(modulate(self.norm1(x), sh1, sc1)).chunk(3, dim=-1)
        q, k, v = (split_heads(a, self.num_heads) for a in (q, k, v))
        x = x + g1 * self.proj(merge_heads(attention(q, k, v, None)))
        cq = split_heads(self.cross_q(self.norm_x(x)), self.num_heads)
        x = x + self.cross_proj(merge_heads(attention(cq, kv[0].to(cq.dtype), kv[1].to(cq.dtype), ctx_allowed)))
        return x + g2 * self.mlp(modulate(self.norm2(x), sh2, sc2))


class DiTDecoder(FlowDecoder):
    uses_kv = False

    def __init__(self, cfg: DiTConfig, context_width: int, max_state_dim: int, max_action_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.ctx_norm = RMSNorm(context_width)
        self.ctx_proj = nn.Linear(context_width, w)
        if cfg.use_state:
            self.state_in = nn.Linear(2 * max_state_dim, w)
        self.action_in = nn.Linear(max_action_dim, w)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(DiTBlock(w, cfg.num_heads, cfg.mlp_hidden) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(w, 2 * w)
        nn.init.normal_(self.final_ada.weight, std=0.02)
        nn.init.zeros_(self.final_ada.bias)
        self.action_out = nn.Linear(w, max_action_dim)

    def context(self, backbone: Any, prefix: Any, batch: dict[str, Any], use_cache: bool = True) -> DecoderContext:
        ctx = super().context(backbone, prefix, batch, use_cache)
        c = self.ctx_proj(self.ctx_norm(ctx.hidden))  # (B, Tp, w)
        ctx.extra["cross_kv"] = [blk.cross_kv_of(c) for blk in self.blocks]
        return ctx

    def velocity(
        self, ctx: DecoderContext, state: Tensor, state_mask: Tensor, x: Tensor, t: Tensor, clean: Tensor | None
    ) -> Tensor:
        b, h, _ = x.shape
        w = self.cfg.width
        tokens = self.action_in(x)  # (B, H, w)
        times = t
        if self.cfg.use_state:
            s = self.state_in(torch.cat([state, state_mask.to(state.dtype)], dim=-1)).unsqueeze(1)  # (B, 1, w)
            tokens = torch.cat([s, tokens], dim=1)
            times = torch.cat([torch.ones(b, 1, device=t.device, dtype=t.dtype), t], dim=1)  # the state is clean
        n = tokens.shape[1]
        pos = sincos_embedding(torch.arange(n, device=x.device, dtype=torch.float32), w, scale=1.0)
        tokens = tokens + pos.to(tokens.dtype)
        cond = self.time_mlp(sincos_embedding(times, w).to(tokens.dtype))  # (B, T, w)
        allowed = ctx.prefix.valid.unsqueeze(1).expand(b, n, -1)  # (B, T, Tp): padding never attended
        for blk, kv in zip(self.blocks, ctx.extra["cross_kv"], strict=True):
            tokens = blk(tokens, cond, kv, allowed)
        shift, scale = self.final_ada(nn.functional.silu(cond)).chunk(2, dim=-1)
        out = self.action_out(modulate(self.final_norm(tokens), shift, scale))
        return out[:, -h:].float()  # (B, H, A)
