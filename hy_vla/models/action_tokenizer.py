"""Discrete action tokens (HybridVLA, seed 003; the OpenVLA-style binning it builds on).

Every normalized action channel is cut into `num_bins` equal bins over [low, high]
(default [-1, 1], the range the normalizer maps actions to). Bin `i` becomes token
`offset + i`: the bins occupy the LAST `num_bins` ids of the backbone vocabulary,
added after the text tokenizer's ids, so no text token is ever overwritten.
Decoding maps a bin back to its centre, so the round-trip error is at most half a bin.
"""

from __future__ import annotations

import torch
from torch import Tensor


class UniformActionTokenizer:
    """Per-dimension uniform binning of normalized actions into vocabulary ids."""

    def __init__(self, num_bins: int, offset: int, low: float = -1.0, high: float = 1.0) -> None:
        if num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        if not high > low:
            raise ValueError(f"action token range needs high > low, got [{low}, {high}]")
        self.num_bins, self.offset, self.low, self.high = num_bins, offset, low, high

    @property
    def bin_width(self) -> float:
        return (self.high - self.low) / self.num_bins

    def to_bins(self, actions: Tensor) -> Tensor:
        """(...) float -> (...) long in [0, num_bins); values outside the range are clamped."""
        x = actions.float().clamp(self.low, self.high)
        return ((x - self.low) / self.bin_width).floor().long().clamp(0, self.num_bins - 1)

    def from_bins(self, bins: Tensor) -> Tensor:
        """(...) long bin indices -> (...) float32 bin centres."""
        return self.low + (bins.float() + 0.5) * self.bin_width

    def encode(self, actions: Tensor) -> Tensor:
        """Normalized actions -> vocabulary ids (same shape)."""
        return self.to_bins(actions) + self.offset

    def decode(self, ids: Tensor) -> Tensor:
        """Vocabulary ids -> actions; ids outside the action range are clamped onto the nearest bin."""
        return self.from_bins((ids - self.offset).clamp(0, self.num_bins - 1))

    def id_range(self) -> tuple[int, int]:
        """[start, end) of the action ids in the vocabulary."""
        return self.offset, self.offset + self.num_bins


def action_token_ids(num_bins: int, vocab_size: int) -> UniformActionTokenizer:
    """The tokenizer whose bins are the last `num_bins` ids of a `vocab_size` vocabulary."""
    if num_bins >= vocab_size:
        raise ValueError(f"num_bins {num_bins} must be smaller than vocab_size {vocab_size}")
    return UniformActionTokenizer(num_bins, vocab_size - num_bins)


def mean_confidence(probs: Tensor, valid: Tensor | None = None) -> Tensor:
    """Mean probability of the chosen tokens per sample. probs: (B, N); valid: (B, N) bool -> (B,)."""
    if valid is None:
        return probs.float().mean(dim=1)
    v = valid.to(torch.float32)
    return (probs.float() * v).sum(dim=1) / v.sum(dim=1).clamp(min=1.0)
