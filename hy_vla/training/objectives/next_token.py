"""Vision-language co-training's next-token loss (stage "cotrain"; DESIGN.md section 5) as a training objective.

The caption of each sample (`text_target`, e.g. the motion captions of `hy_vla.data.text_targets`) runs as a
causal suffix after the observation prefix through the backbone's own text towers, reading the same prefix
keys/values the action decoder reads, computed without the caption; the LM head is tied to the token embedding
(`hy_vla.models.text_loss`), so the objective has no parameters of its own. Only the shared weights couple the
caption to the actions, which is the point of co-training:

    loss = action loss + lm_weight * mean over valid caption tokens of CE(next token)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from hy_vla import keys
from hy_vla.models.objective_context import ObjectiveContext
from hy_vla.models.text_loss import text_target_loss


class NextTokenObjective(nn.Module):
    name = "next_token"

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, ctx: ObjectiveContext, batch: dict[str, Any]) -> dict[str, Tensor]:
        texts = batch.get(keys.TEXT_TARGET)
        if texts is None:
            raise KeyError(f"stage 'cotrain' needs a {keys.TEXT_TARGET!r} per sample (data.text_target=motion)")
        b = ctx.prefix.x.shape[0]
        if isinstance(texts, str) or len(texts) != b:
            raise ValueError(f"{keys.TEXT_TARGET!r} must be a list of {b} strings, got {texts!r:.80}")
        lm = text_target_loss(ctx.tokenizer, ctx.backbone, ctx.prefix, ctx.kv, list(texts))
        return {"lm_loss": self.weight * lm}
