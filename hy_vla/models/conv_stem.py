"""Convolutional patch stem for the ViT (Xiao et al. 2021, "Early convolutions help transformers see better").

A plain ViT cuts the image into p x p patches with one strided linear map: a 2-4 px goal marker
inside a 16 px patch is a small perturbation of one patch vector, and a tiny ViT trained from
scratch on a few thousand frames learns slowly to read it. The conv stem replaces that map by
log2(p) stride-2 3x3 convolutions (each with GroupNorm and GELU) and a final 1x1 projection, so
the patch vector is built from local edge/colour detectors with translation equivariance built in.
The output grid, token count and everything after the stem are unchanged.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


def conv_stem_channels(patch_size: int, width: int) -> list[int]:
    """Output channels of the stride-2 convolutions: widths double from width / 2^(n-1), capped at width.

    patch 16, width 96 -> [12, 24, 48, 96]; patch 8, width 96 -> [24, 48, 96].
    """
    n = _log2_exact(patch_size, "the conv stem needs a power-of-two patch_size >= 2")
    return [max(8, width // 2 ** (n - 1 - i)) for i in range(n)]


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 when they divide the channels, else the largest divisor below 8."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ConvStem(nn.Module):
    """(N, 3, S, S) -> (N, width, S / p, S / p), as nn.Conv2d(3, width, p, stride=p) would return."""

    def __init__(self, patch_size: int, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in conv_stem_channels(patch_size, width):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.GroupNorm(_groups(c_out), c_out)]
            layers.append(nn.GELU())
            c_in = c_out
        layers.append(nn.Conv2d(c_in, width, 1))  # the ViT's token projection
        self.net = nn.Sequential(*layers)

    def forward(self, images: Tensor, tap_stride: int | None = None) -> tuple[Tensor, Tensor | None]:
        """-> (N, width, S / p, S / p) and, with `tap_stride` s, the feature map after the stride-s stage."""
        tap_after = None if tap_stride is None else 3 * tap_stage(tap_stride) + 2  # a stage: conv, norm, GELU
        x, tap = images, None
        for i, layer in enumerate(self.net):
            x = layer(x)
            if i == tap_after:
                tap = x
        return x, tap


def tap_stage(stride: int) -> int:
    """Index of the stride-2 stage whose output has total stride `stride` (2 -> 0, 4 -> 1, ...)."""
    return _log2_exact(stride, "a conv stem tap needs a power-of-two stride >= 2") - 1


def _log2_exact(value: int, requirement: str) -> int:
    """log2(value) for a power of two >= 2; otherwise ValueError(requirement)."""
    n = int(math.log2(value)) if value >= 2 else 0
    if n == 0 or 2**n != value:
        raise ValueError(f"{requirement}, got {value}")
    return n
