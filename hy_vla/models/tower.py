"""One tower's weights for one layer of the shared-attention transformer.

A Mixture-of-Transformers layer holds one `TowerBlock` per modality (vision,
text), and the action expert holds its own, narrower one. Queries, keys and
values of all towers meet in ONE attention (`layers.attention`) over the joint
sequence; everything else (norms, projections, MLP) is per tower. All towers of
a layer share `num_heads` and `head_dim` so their keys/values can be joined.
"""

from __future__ import annotations

from torch import Tensor, nn

from hy_vla.models.layers import RMSNorm, SwiGLU, apply_rope, merge_heads, split_heads


class TowerBlock(nn.Module):
    """Pre-norm transformer block split around the (shared) attention call."""

    def __init__(self, width: int, num_heads: int, head_dim: int, mlp_hidden: int, qk_norm: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        inner = num_heads * head_dim
        self.norm1 = RMSNorm(width)
        self.qkv = nn.Linear(width, 3 * inner, bias=False)
        # Normalising q and k per head keeps attention logits bounded across towers of different widths.
        self.q_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        self.out = nn.Linear(inner, width, bias=False)
        self.norm2 = RMSNorm(width)
        self.mlp = SwiGLU(width, mlp_hidden)

    def project_qkv(self, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: (B, T, width) -> q, k, v: (B, nh, T, hd), rotary positions applied to q and k."""
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        q = self.q_norm(split_heads(q, self.num_heads))
        k = self.k_norm(split_heads(k, self.num_heads))
        v = split_heads(v, self.num_heads)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def finish(self, x: Tensor, attn_out: Tensor) -> Tensor:
        """Residual after attention, then the MLP. x: (B, T, width); attn_out: (B, nh, T, hd)."""
        x = x + self.out(merge_heads(attn_out))
        return x + self.mlp(self.norm2(x))
