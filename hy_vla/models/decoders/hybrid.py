"""HybridVLA decoder (seed 003): diffusion/flow action tokens AND autoregressive action tokens in one LM.

Both kinds of action tokens run through the language model's own weights (the text
tower of each backbone layer; no separate expert), attending to the observation
prefix's keys/values:

- flow tokens [state, a_1 .. a_H]: noisy actions + flow time in, velocity out, exactly
  like the dual tower but with the LM's layers; trained with the flow loss;
- AR tokens: every used action channel of every step discretised into `num_bins`
  uniform bins (`action_tokenizer.py`), appended to the vocabulary and predicted one
  after another by the LM head (tied to the embedding); trained with cross-entropy.

Training loss = flow loss + ar_weight * CE. The AR tokens see the prefix and earlier AR
tokens but not the noisy flow tokens: the noisy chunk contains the answer (at t near 1
it IS the answer), and it is what keeps the AR prediction usable on its own.

`predict_mode` (as in the seed's `predict_action`): "diff" returns the flow actions,
"ar" the decoded AR actions, "diff+ar" the collaborative ensemble: per sample, when the
AR tokens' mean confidence (mean probability of the greedily chosen tokens) exceeds
`ensemble_threshold` (0.96, the HybridVLA paper's value; the seed README does not
state it), the two predictions are averaged, otherwise the flow prediction is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hy_vla.models.action_expert import embed_suffix, suffix_mask
from hy_vla.models.action_tokenizer import action_token_ids, mean_confidence
from hy_vla.models.decoders.common import DecoderContext, FlowDecoder, FlowInputs
from hy_vla.models.dual_tower import suffix_positions
from hy_vla.models.suffix_attention import attend_suffix
from hy_vla.models.text_loss import TEXT, causal_text_hidden, text_towers, tied_lm_logits

PREDICT_MODES = ("diff", "ar", "diff+ar")


@dataclass
class HybridConfig:
    predict_mode: str = "diff+ar"
    num_bins: int = 256  # uniform bins per action channel over [-1, 1], added to the vocabulary
    ar_weight: float = 1.0  # weight of the AR cross-entropy in the training loss
    ensemble_threshold: float = 0.96  # mean AR confidence above which diff and AR are averaged

    def __post_init__(self) -> None:
        if self.predict_mode not in PREDICT_MODES:
            raise ValueError(f"hybrid.predict_mode {self.predict_mode!r} not in {PREDICT_MODES}")
        if self.num_bins < 2 or self.ar_weight < 0 or not 0.0 <= self.ensemble_threshold <= 1.0:
            raise ValueError("hybrid: num_bins >= 2, ar_weight >= 0, 0 <= ensemble_threshold <= 1")


class HybridDecoder(FlowDecoder):
    def __init__(
        self,
        cfg: HybridConfig,
        backbone: nn.Module,
        horizon: int,
        action_dim: int,
        max_state_dim: int,
        max_action_dim: int,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.horizon, self.action_dim = horizon, action_dim
        self._backbone = [backbone]  # not a submodule: its weights belong to HyVLA.backbone
        w = backbone.cfg.width
        self.tokens = action_token_ids(cfg.num_bins, backbone.cfg.vocab_size)
        self.state_in = nn.Linear(2 * max_state_dim, w)
        self.action_in = nn.Linear(max_action_dim, w)
        self.action_time_mlp = nn.Sequential(nn.Linear(2 * w, w), nn.SiLU(), nn.Linear(w, w))
        self.action_out = nn.Linear(w, max_action_dim)
        self.ar_start = nn.Parameter(torch.randn(w) * 0.02)  # the "begin action" input of the AR stream

    @property
    def backbone(self) -> Any:
        return self._backbone[0]

    def lm_blocks(self) -> list[nn.Module]:
        return text_towers(self.backbone)

    def lm_logits(self, hidden: Tensor) -> Tensor:
        """LM head tied to the token embedding: (B, T, w) -> (B, T, vocab) (`text_loss.tied_lm_logits`)."""
        return tied_lm_logits(self.backbone, hidden)

    # -- flow tokens ----------------------------------------------------------------------------
    def velocity(
        self, ctx: DecoderContext, state: Tensor, state_mask: Tensor, x: Tensor, t: Tensor, clean: Tensor | None
    ) -> Tensor:
        suffix = embed_suffix(self, state, state_mask, x, t, self.backbone.cfg.width)  # (B, 1 + H, w)
        h = x.shape[1]
        hidden = attend_suffix(
            self.backbone,
            self.lm_blocks(),
            ctx.kv,
            suffix,
            suffix_positions(ctx.prefix, h),
            suffix_mask(ctx.prefix.valid, h),
        )
        bb = self.backbone
        return self.action_out(bb.final_norms[0 if bb.cfg.dense else TEXT](hidden[:, 1:])).float()

    # -- AR tokens ------------------------------------------------------------------------------
    def ar_hidden(self, ctx: DecoderContext, ids: Tensor) -> Tensor:
        """ids: (B, n) action token ids given so far (n may be 0) -> hidden of the n + 1 AR inputs."""
        b = ids.shape[0]
        start = self.ar_start.view(1, 1, -1).expand(b, 1, -1).to(ctx.prefix.x.dtype)
        x = torch.cat([start, self.backbone.embed(ids)], dim=1)  # (B, n + 1, w)
        return causal_text_hidden(self.backbone, ctx.prefix, ctx.kv, x)  # the LM's causal text stream

    def extra_losses(self, ctx: DecoderContext, flow: FlowInputs) -> dict[str, Tensor]:
        a = self.action_dim
        targets = self.tokens.encode(flow.actions[..., :a]).flatten(1)  # (B, H * a) step-major
        valid = flow.mask[..., :a].flatten(1)
        logits = self.lm_logits(self.ar_hidden(ctx, targets[:, :-1]))  # (B, H * a, vocab)
        ce = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # (B, N)
        v = valid.float()
        ar_loss = (ce * v).sum() / v.sum().clamp(min=1.0)
        return {"ar_loss": self.cfg.ar_weight * ar_loss}

    @torch.no_grad()
    def generate_ar(self, ctx: DecoderContext, max_action_dim: int) -> tuple[Tensor, Tensor]:
        """Greedy decoding restricted to action ids -> actions (B, H, max_action_dim), mean confidence (B,)."""
        b = ctx.prefix.x.shape[0]
        lo, hi = self.tokens.id_range()
        ids = torch.zeros(b, 0, dtype=torch.long, device=ctx.prefix.x.device)
        probs = []
        for _ in range(self.horizon * self.action_dim):
            p = torch.softmax(self.lm_logits(self.ar_hidden(ctx, ids)[:, -1]).float(), dim=-1)  # (B, vocab)
            best = p[:, lo:hi].max(dim=-1)
            ids = torch.cat([ids, (best.indices + lo).unsqueeze(1)], dim=1)
            probs.append(best.values)
        actions = self.tokens.decode(ids).view(b, self.horizon, self.action_dim)
        return F.pad(actions, (0, max_action_dim - self.action_dim)), mean_confidence(torch.stack(probs, dim=1))

    def check_chain(self, ctx: DecoderContext) -> None:
        mode = ctx.extra.get("predict_mode", self.cfg.predict_mode)
        if mode != "diff":
            raise ValueError(
                f"HybridVLA predict_mode {mode!r} mixes in autoregressive tokens, which have no Gaussian denoising "
                "chain: post-train with predict_mode 'diff'"
            )

    def sample(
        self,
        ctx: DecoderContext,
        state: Tensor,
        state_mask: Tensor,
        noise: Tensor,
        num_steps: int,
        guide: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        mode = ctx.extra.get("predict_mode", self.cfg.predict_mode)  # HyVLA.sample_actions(predict_mode=)
        if mode not in PREDICT_MODES:
            raise ValueError(f"predict_mode {mode!r} not in {PREDICT_MODES}")
        diff = super().sample(ctx, state, state_mask, noise, num_steps, guide) if mode != "ar" else None
        if mode == "diff":
            return diff
        ar, conf = self.generate_ar(ctx, noise.shape[-1])
        ctx.extra["ar_confidence"] = conf
        if mode == "ar":
            return ar
        return ensemble(diff, ar, conf, self.cfg.ensemble_threshold)


def ensemble(diff: Tensor, ar: Tensor, confidence: Tensor, threshold: float) -> Tensor:
    """Collaborative action ensemble: average where the AR confidence > threshold, else the flow actions."""
    use_both = (confidence > threshold).view(-1, 1, 1)
    return torch.where(use_both, 0.5 * (diff + ar), diff)
