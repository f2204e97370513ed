"""Small building blocks shared by every tower: norms, MLPs, rotary embeddings, attention.

Everything here is stateless beyond its parameters; masks are built in `masks.py`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """Root-mean-square norm (no mean subtraction), computed in float32 for bf16 stability."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


class SwiGLU(nn.Module):
    """Gated MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class GeluMLP(nn.Module):
    """ViT-style MLP: fc2(gelu(fc1(x)))."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def rope_cos_sin(positions: Tensor, head_dim: int, theta: float = 10000.0) -> tuple[Tensor, Tensor]:
    """Rotary tables for integer positions (B, T) -> cos, sin of shape (B, 1, T, head_dim)."""
    half = head_dim // 2
    inv_freq = 1.0 / (theta ** (torch.arange(half, device=positions.device, dtype=torch.float32) / half))
    ang = positions.float().unsqueeze(-1) * inv_freq  # (B, T, half)
    ang = torch.cat([ang, ang], dim=-1)  # (B, T, head_dim)
    return ang.cos().unsqueeze(1), ang.sin().unsqueeze(1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate (B, nh, T, hd) by the tables of `rope_cos_sin` (rotate-half formulation)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


def attention(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor | None) -> Tensor:
    """Scaled dot-product attention. q: (B, nh, Tq, hd); k, v: (B, nh, Tk, hd); allowed: (B, Tq, Tk) bool.

    Rows with no allowed key (e.g. queries sitting on padding) would give NaN in softmax; they are
    given one dummy allowed key and their output is meaningless but finite, and callers ignore it.
    """
    mask = None
    if allowed is not None:
        empty = ~allowed.any(dim=-1, keepdim=True)  # (B, Tq, 1)
        if bool(empty.any()):
            first = torch.zeros_like(allowed)
            first[..., 0] = True
            allowed = allowed | (empty & first)
        mask = allowed.unsqueeze(1)  # (B, 1, Tq, Tk)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, T, nh * hd) -> (B, nh, T, hd)."""
    b, t, _ = x.shape
    return x.view(b, t, num_heads, -1).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, nh, T, hd) -> (B, T, nh * hd)."""
    b, nh, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, nh * hd)


def sincos_embedding(t: Tensor, dim: int, max_period: float = 10000.0, scale: float = 1000.0) -> Tensor:
    """Sinusoidal embedding of a continuous scalar (e.g. flow time in [0, 1]) -> (..., dim).

    `scale` spreads t in [0, 1] over the frequency range the way diffusion models embed timesteps.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    ang = (t.float() * scale).unsqueeze(-1) * freqs
    emb = torch.cat([ang.cos(), ang.sin()], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb
