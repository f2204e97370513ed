"""Manifold-Preserving Gating, MPG (Being-H0.5, seed 002, section 3.4 and its pseudocode).

Under a sensory shift, the observation-conditioned features that drive the flow can
leave the action manifold. MPG measures how far the suffix token features H are from
the embedding Z of a clean action chunk with a sliced Wasserstein distance (SWD) and
uses it to gate a residual on H:

    H_hat = LN(P_obs H)          (B, T, d)     Z_hat = LN(P_act mean_tokens(Z))   (B, 1, d)
    D     = SWD(H_hat, Z_hat)    with `num_projections` unit directions
    g     = min(exp(-D / tau), 1)
    H'    = H + lambda * (W_out (g * phi(W_in H)) + b_out)

The gate scales the feature-conditioned part of the residual before the output
projection, while the bias b_out (a learned prior offset) stays ungated, so a jittering
gate never rescales the offset (the seed's stated reason for this form).

Defaults follow the released training script: lambda 0.1, 32 projections, one
refinement (the clean estimate of the previous Euler step feeds the next one). Our
directions are a fixed buffer drawn at construction (saved with the weights), so
inference is deterministic; the seed redraws them each call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class MPGConfig:
    enabled: bool = False
    lam: float = 0.1  # residual strength (MPG_LAMBDA)
    num_projections: int = 32  # SWD directions (MPG_NUM_PROJECTIONS)
    tau: float = 1.0  # gate temperature
    proj_dim: int = 256  # width of the space the distributions are compared in

    def __post_init__(self) -> None:
        if self.num_projections < 1 or self.proj_dim < 1 or self.tau <= 0:
            raise ValueError("mpg: num_projections and proj_dim must be >= 1 and tau > 0")


def _quantiles(x: Tensor, n: int) -> Tensor:
    """Sorted samples (B, N, P) resampled to n quantiles by linear interpolation -> (B, n, P)."""
    if x.shape[1] == n:
        return x
    return F.interpolate(x.transpose(1, 2), size=n, mode="linear", align_corners=True).transpose(1, 2)


def sliced_wasserstein(x: Tensor, y: Tensor, directions: Tensor) -> Tensor:
    """Squared sliced 2-Wasserstein distance between two empirical distributions per sample.

    x: (B, N, d), y: (B, M, d) point sets; directions: (P, d) unit vectors. Each set is projected
    on every direction and sorted; the 1-D W2^2 between the sorted projections (compared at common
    quantiles when N != M) is averaged over quantiles and directions -> (B,).
    """
    px = torch.sort(x.float() @ directions.T.float(), dim=1).values  # (B, N, P)
    py = torch.sort(y.float() @ directions.T.float(), dim=1).values  # (B, M, P)
    n = max(px.shape[1], py.shape[1])
    return (_quantiles(px, n) - _quantiles(py, n)).pow(2).mean(dim=(1, 2))


class ManifoldPreservingGate(nn.Module):
    def __init__(self, cfg: MPGConfig, width: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.obs_proj = nn.Linear(width, cfg.proj_dim)
        self.act_proj = nn.Linear(width, cfg.proj_dim)
        self.res_in = nn.Linear(width, width)
        self.res_out = nn.Linear(width, width)  # its bias is the ungated prior offset
        dirs = torch.randn(cfg.num_projections, cfg.proj_dim, generator=torch.Generator().manual_seed(0))
        self.register_buffer("directions", dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-6))

    def gate(self, h: Tensor, z: Tensor) -> Tensor:
        """h: (B, T, w) suffix features; z: (B, T', w) clean action embeddings -> g (B,) in (0, 1]."""
        h_hat = F.layer_norm(self.obs_proj(h), (self.cfg.proj_dim,))
        z_hat = F.layer_norm(self.act_proj(z.mean(dim=1, keepdim=True)), (self.cfg.proj_dim,))  # token mean
        d = sliced_wasserstein(h_hat, z_hat, self.directions)
        return torch.exp(-d / self.cfg.tau).clamp(max=1.0)

    def forward(self, h: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """-> (gated features (B, T, w), gate (B,))."""
        g = self.gate(h, z)
        inner = F.silu(self.res_in(h)) * g.view(-1, 1, 1).to(h.dtype)
        return h + self.cfg.lam * self.res_out(inner), g
