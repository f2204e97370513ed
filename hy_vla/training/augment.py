"""Image augmentation applied to training batches (never at evaluation).

Random shift (DrQ-style): pad each image by `pad` pixels (edge replication) and crop back to
the original size at a random offset. With small demonstration sets it is the single most
effective regulariser for visuomotor policies. All K history frames of one sample (and all
its cameras) get the SAME shift, so the motion between frames stays intact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_shift(
    images: list[Tensor], pad: int, generator: torch.Generator | None = None, offsets: Tensor | None = None
) -> list[Tensor]:
    """images: per camera (B, K, 3, H, W) uint8 or float -> same shapes/dtypes, shifted by up to +-pad pixels.

    offsets: (B, 2) crop corners (dy, dx) in [0, 2 pad] (`shift_offsets`); drawn here when None.
    """
    if pad <= 0 or not images:
        return images
    b = images[0].shape[0]
    offsets = shift_offsets(b, pad, generator) if offsets is None else offsets  # (B, 2): dy, dx
    out = []
    for x in images:
        n, k, c, h, w = x.shape
        padded = F.pad(x.flatten(1, 2).float(), (pad, pad, pad, pad), mode="replicate")  # (B, K*3, H+2p, W+2p)
        crops = torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])
        out.append(crops.view(n, k, c, h, w).to(x.dtype))
    return out


def shift_offsets(b: int, pad: int, generator: torch.Generator | None = None) -> Tensor:
    """(B, 2) random crop corners (dy, dx), each in [0, 2 pad]; (pad, pad) leaves an image unchanged."""
    return torch.randint(0, 2 * pad + 1, (b, 2), generator=generator)
