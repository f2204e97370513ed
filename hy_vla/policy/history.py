"""Per-session frame history: the K frames (at a stride) the memory encoder needs, from a live stream.

Indexes frames with the training sample builder's own function (`hy_vla.data.samples.history_indices`):
frames before the session start are the first frame repeated, flagged as padding.
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor

from hy_vla.data.samples import history_indices


class FrameHistory:
    """Keeps the last (K - 1) * stride + 1 frames of each camera."""

    def __init__(self, cameras: tuple[str, ...], frames: int, stride: int) -> None:
        self.cameras, self.frames, self.stride = cameras, frames, stride
        self.span = (frames - 1) * stride + 1
        self.reset()

    def reset(self) -> None:
        self.buffers: dict[str, deque[Tensor]] = {c: deque(maxlen=self.span) for c in self.cameras}
        self.seen = 0  # frames pushed since the reset

    def push(self, images: dict[str, Tensor]) -> None:
        """images: camera -> (3, H, W) uint8 of the current step (every camera, every step)."""
        for c in self.cameras:
            self.buffers[c].append(images[c])
        self.seen += 1

    def stacked(self) -> tuple[dict[str, Tensor], Tensor]:
        """-> camera -> (K, 3, H, W) oldest first, and is_pad (K,) bool (True: before the session start)."""
        if self.seen == 0:
            raise RuntimeError("FrameHistory.stacked() before any frame was pushed")
        steps, is_pad = history_indices(self.seen - 1, self.frames, self.stride)  # the sample builder's indexing
        first = self.seen - len(self.buffers[self.cameras[0]])  # step number of the oldest kept frame
        out = {c: torch.stack([self.buffers[c][int(s) - first] for s in steps]) for c in self.cameras}
        return out, torch.from_numpy(is_pad)
