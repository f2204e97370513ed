"""The backbone as a language model: next-token loss on text targets and the tied LM head.

Used by vision-language co-training (`hy_vla.training.objectives.next_token`, DESIGN.md section 5) and by the
HybridVLA decoder's autoregressive action tokens.

The target text is tokenized ([BOS] t_1 .. t_n [EOS] with the byte tokenizer) and run as a causal
suffix AFTER the observation prefix, through the backbone's own text towers: each target token
attends to every valid prefix key/value of the same layer and to the target tokens before it
(`masks.causal_suffix_mask`). The prefix is encoded once, without the suffix, and those same
keys/values are what the action expert reads, so a caption (which describes the future) can never
reach the action prediction; the only coupling is through the shared weights, which is the point
of co-training. The LM head is tied to the token embedding (no new parameters), the same head as
the HybridVLA decoder's AR action tokens.

    loss = action loss + lm_weight * mean over valid target tokens of CE(next token)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hy_vla.models.backbone import LayerKV
from hy_vla.models.dual_tower import Prefix
from hy_vla.models.masks import causal_suffix_mask
from hy_vla.models.suffix_attention import attend_suffix

TEXT = 1  # modality index of the text tower in MoTBackbone
MAX_TARGET_TOKENS = 128  # captions are short; longer targets are truncated (with a warning) to bound the cost


def text_towers(backbone: Any) -> list[nn.Module]:
    """The text tower of every backbone layer (the one shared block per layer when dense)."""
    return [backbone.tower(i, TEXT) for i in range(backbone.cfg.depth)]


def tied_lm_logits(backbone: Any, hidden: Tensor) -> Tensor:
    """LM head tied to the token embedding: (B, T, w) text-tower hidden states -> (B, T, vocab).

    The native embedding has unit-variance rows, so the tied logits are scaled by 1/sqrt(width)
    to start at unit scale (a uniform CE of log(vocab), not tens of nats).
    """
    h = backbone.final_norms[0 if backbone.cfg.dense else TEXT](hidden)
    return (h @ backbone.embed.weight.T) * backbone.cfg.width**-0.5


def causal_text_hidden(backbone: Any, prefix: Prefix, kv: list[LayerKV], x: Tensor) -> Tensor:
    """x: (B, n, w) embedded suffix tokens -> their last-layer hidden states (B, n, w), before the final norm.

    Positions continue the prefix's (which count only its valid tokens).
    """
    n = x.shape[1]
    positions = prefix.num_valid.unsqueeze(1) + torch.arange(n, device=x.device)  # (B, n)
    return attend_suffix(
        backbone, text_towers(backbone), kv, x.to(prefix.x.dtype), positions, causal_suffix_mask(prefix.valid, n)
    )


def text_target_loss(tokenizer: Any, backbone: Any, prefix: Prefix, kv: list[LayerKV], texts: list[str]) -> Tensor:
    """Mean next-token cross-entropy of `texts` (B strings) given the encoded prefix -> scalar."""
    ids, valid = tokenizer.encode_batch(list(texts), MAX_TARGET_TOKENS)  # (B, L) each
    ids, valid = ids.to(prefix.x.device), valid.to(prefix.x.device)
    if ids.shape[1] < 2:
        raise ValueError("text targets must have at least two tokens (the tokenizer adds none around them?)")
    hidden = causal_text_hidden(backbone, prefix, kv, backbone.embed(ids[:, :-1]))  # (B, L - 1, w)
    logits = tied_lm_logits(backbone, hidden).float()  # (B, L - 1, vocab)
    ce = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")  # (B, L - 1)
    weight = valid[:, 1:].float()  # a padded position predicts nothing
    return (ce * weight).sum() / weight.sum().clamp(min=1.0)
