"""The learning-rate schedule: linear warmup, then cosine decay to a floor (a pure function of the step)."""

from __future__ import annotations

import math


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Learning rate for optimizer step `step` (0-based).

    Steps 0 .. warmup-1 rise linearly to `base_lr` (step 0 gets base_lr / warmup, never 0, so the
    first update is not wasted); then a half cosine falls from `base_lr` to `min_lr` at `total_steps`
    and stays there past it.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)  # in [0, 1)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
