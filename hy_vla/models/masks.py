"""Attention masks as pure functions of per-token block ids.

Every token carries a block id; blocks are ordered. A query may see a key when
the key is valid and either sits in an earlier block, or in the same block and
the block is bidirectional (or the key is not after the query). This one rule
gives every pattern the model needs:

- each image (+ its latent tokens) is one bidirectional block: its tokens see each other;
- each text token is its own block: text is causal;
- the action expert's state token and action block come last: the prefix can
  never see them, and actions see each other bidirectionally;
- a causal suffix of tokens run after the prefix (HybridVLA's AR action tokens, co-training text
  targets) sees the whole valid prefix and its own earlier tokens; the prefix never sees it.
"""

from __future__ import annotations

import torch
from torch import Tensor


def block_attention_mask(block_ids: Tensor, bidirectional: Tensor, valid: Tensor) -> Tensor:
    """allowed[b, i, j] = query i may attend to key j.

    block_ids: (B, T) int, non-decreasing along T; bidirectional: (B, T) bool (per token, constant within a
    block); valid: (B, T) bool, False for padding keys. Returns (B, T, T) bool.
    """
    if block_ids.shape != bidirectional.shape or block_ids.shape != valid.shape:
        raise ValueError("block_ids, bidirectional and valid must have the same (B, T) shape")
    bq = block_ids.unsqueeze(-1)  # (B, T, 1)
    bk = block_ids.unsqueeze(-2)  # (B, 1, T)
    t = block_ids.shape[-1]
    idx = torch.arange(t, device=block_ids.device)
    not_after = idx.view(1, 1, t) <= idx.view(1, t, 1)  # key j <= query i
    same = bq == bk
    allowed = (bk < bq) | (same & (bidirectional.unsqueeze(-1) | not_after))
    return allowed & valid.unsqueeze(-2)


def causal_frames_mask(num_frames: int, frame_valid: Tensor) -> Tensor:
    """Temporal attention of the memory encoder: frame k sees frames <= k that are valid.

    frame_valid: (N, K) bool. Returns (N, K, K) bool.
    """
    k = num_frames
    causal = torch.ones(k, k, dtype=torch.bool, device=frame_valid.device).tril()
    return causal.unsqueeze(0) & frame_valid.unsqueeze(-2)


def causal_suffix_mask(prefix_valid: Tensor, n: int) -> Tensor:
    """n causal suffix queries see every valid prefix key and the suffix up to themselves -> (B, n, Tp + n).

    prefix_valid: (B, Tp) bool.
    """
    b = prefix_valid.shape[0]
    dev = prefix_valid.device
    ids = torch.arange(n, device=dev).expand(b, n)
    own = block_attention_mask(
        ids, torch.zeros(b, n, dtype=torch.bool, device=dev), torch.ones_like(ids, dtype=torch.bool)
    )
    return torch.cat([prefix_valid.unsqueeze(1).expand(b, n, prefix_valid.shape[1]), own], dim=-1)
