"""Per-session frame history: the K frames (at a stride) the memory encoder needs, from a live stream.

Mirrors the training sample builder exactly (`hy_vla.data.samples.history_indices`): frames
before the session start are the first frame repeated, flagged as padding.
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor


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
        wanted = [self.seen - 1 - (self.frames - 1 - k) * self.stride for k in range(self.frames)]  # step numbers
        first = self.seen - len(self.buffers[self.cameras[0]])  # step number of the oldest kept frame
        is_pad = torch.tensor([w < 0 for w in wanted])
        out = {}
        for c in self.cameras:
            buf = self.buffers[c]
            out[c] = torch.stack([buf[max(w, 0) - first] for w in wanted])
        return out, is_pad
