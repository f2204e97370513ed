"""Spatial-softmax keypoints (Levine et al. 2016; robomimic's and Diffusion Policy's image encoders).

Each of K learned detector maps is turned into a probability distribution over the image by a
softmax over its cells; the expected (x, y) under it is a keypoint. The coordinates are what a
goal-reaching task needs ("where is the red dot, where is the puck") in explicit form, with
sub-cell precision, instead of leaving the transformer to decode them from which patch token a
2-4 px marker happened to fall into. Hy-VLA feeds them to the backbone as one extra token per image.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def cell_centers(n: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """(n,) coordinates of n equal cells' centres on [-1, 1] (the image edges are -1 and 1)."""
    return (torch.arange(n, device=device, dtype=dtype) + 0.5) * (2.0 / n) - 1.0


def spatial_soft_argmax(logits: Tensor, temperature: Tensor | float = 1.0) -> Tensor:
    """(N, K, H, W) detector logits -> (N, K, 2) expected (x, y) in [-1, 1] (x = column, y = row)."""
    n, k, h, w = logits.shape
    p = torch.softmax(logits.flatten(2).float() / temperature, dim=-1).view(n, k, h, w)
    x = (p.sum(dim=2) * cell_centers(w, logits.device)).sum(dim=-1)  # marginal over rows -> columns
    y = (p.sum(dim=3) * cell_centers(h, logits.device)).sum(dim=-1)
    return torch.stack([x, y], dim=-1).to(logits.dtype)


class KeypointToken(nn.Module):
    """Feature map (N, C, H, W) -> K keypoints -> one token (N, 1, out_dim)."""

    def __init__(self, in_channels: int, keypoints: int, out_dim: int) -> None:
        super().__init__()
        self.detect = nn.Conv2d(in_channels, keypoints, 1)
        self.log_temperature = nn.Parameter(torch.zeros(()))  # learned sharpness, starts at 1
        self.embed = nn.Sequential(nn.Linear(2 * keypoints, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def keypoints(self, feats: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, K, 2)."""
        return spatial_soft_argmax(self.detect(feats), self.log_temperature.exp())

    def embed_points(self, points: Tensor) -> Tensor:
        """(N, K, 2) keypoints -> (N, 1, out_dim) token."""
        return self.embed(points.flatten(1)).unsqueeze(1)

    def forward(self, feats: Tensor) -> Tensor:
        return self.embed_points(self.keypoints(feats))  # (N, 1, out_dim)
