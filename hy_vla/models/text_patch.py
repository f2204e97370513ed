"""Text patches: merge every `patch` consecutive instruction tokens into one backbone token.

With the byte tokenizer an instruction such as "pick up the puck and place it at the goal" is 43
tokens, more than the 2 x 17 image tokens of the Meta-World demo model, and those text tokens cost
about a quarter of a CPU training step. Concatenating the embeddings of `patch` neighbouring bytes
and projecting them back to the backbone width (the byte-patch embedding of byte-level language
models) shortens the text `patch`-fold; the order inside a patch survives in the concatenation.
Padding bytes are zeroed first, so a patch's token does not depend on how far the batch was padded,
and a patch is valid when any of its bytes is.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def patch_count(length: int, patch: int) -> int:
    """Text tokens after patching `length` tokens (the last patch may be partial)."""
    return -(-length // patch)


class TextPatcher(nn.Module):
    def __init__(self, patch: int, width: int) -> None:
        super().__init__()
        if patch < 2:
            raise ValueError(f"TextPatcher merges >= 2 tokens, got patch={patch}")
        self.patch = patch
        self.proj = nn.Linear(patch * width, width)

    def forward(self, emb: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """(B, L, D) token embeddings, (B, L) valid -> (B, ceil(L / p), D) patch tokens, (B, ceil(L / p)) valid."""
        b, length, d = emb.shape
        pad = patch_count(length, self.patch) * self.patch - length
        emb = F.pad(emb * valid.unsqueeze(-1).to(emb.dtype), (0, 0, 0, pad))  # (B, L', D), pads zeroed
        valid = F.pad(valid, (0, pad), value=False)
        n = emb.shape[1] // self.patch
        return self.proj(emb.reshape(b, n, self.patch * d)), valid.reshape(b, n, self.patch).any(dim=-1)


def apply_text_patch(patcher: TextPatcher | None, emb: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """The patched text, or the tokens unchanged when the model has no patcher (text_patch = 1)."""
    return (emb, valid) if patcher is None else patcher(emb, valid)
