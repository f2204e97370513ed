"""Action expert as a third MoT modality (Being-H0.5, seed 002), with optional MoF and MPG.

Being-H0.5 serialises vision, text, state and action into one packed sequence: the
understanding expert (our vision/text towers) and the action expert share every
layer's attention, and the state/action tokens own their QKV, output projection and
FFN at the backbone's full width. That is the dual tower's mechanics with an expert
as wide as the backbone, so this class reuses them (`ActionExpert` embedding and head,
prefix KV + suffix attention with the prefix never seeing the suffix); the tests check
it against a joint pass over the packed sequence.

Options (off by default): Mixture-of-Flow routed upper layers (`mixture_of_flow.py`)
and the MPG gate on the action features (`mpg.py`), fed with the clean chunk in
training and the previous Euler step's clean estimate at inference (none at step 0).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hy_vla.models.action_expert import ActionExpert, ActionExpertConfig, suffix_mask
from hy_vla.models.decoders.common import DecoderContext, FlowDecoder
from hy_vla.models.decoders.mixture_of_flow import MoFConfig, RoutedSwiGLU, Router
from hy_vla.models.decoders.mpg import ManifoldPreservingGate, MPGConfig
from hy_vla.models.dual_tower import suffix_positions
from hy_vla.models.layers import merge_heads
from hy_vla.models.suffix_attention import attend_suffix
from hy_vla.models.tower import TowerBlock


class MoTActionExpert(ActionExpert, FlowDecoder):
    def __init__(
        self,
        cfg: ActionExpertConfig,
        depth: int,
        num_heads: int,
        head_dim: int,
        width: int,
        max_state_dim: int,
        max_action_dim: int,
        mof: MoFConfig,
        mpg: MPGConfig,
        default_route: str,
    ) -> None:
        # The action modality lives inside the MoT: its tower has the backbone's width.
        super().__init__(
            ActionExpertConfig(width=width, mlp_hidden=cfg.mlp_hidden, qk_norm=cfg.qk_norm),
            depth,
            num_heads,
            head_dim,
            max_state_dim,
            max_action_dim,
        )
        self.mof_cfg, self.mpg_cfg, self.default_route = mof, mpg, default_route
        if mof.enabled:
            if mof.shared_layers >= depth:
                raise ValueError(f"mof.shared_layers {mof.shared_layers} leaves no routed layer of {depth}")
            self.router = Router(mof)
            for block in self.layers[mof.shared_layers :]:
                block.mlp = RoutedSwiGLU(width, cfg.mlp_hidden, mof.num_experts)
        if mpg.enabled:
            self.mpg = ManifoldPreservingGate(mpg, width)

    # -- routing --------------------------------------------------------------------------------
    def route_ids(self, batch: dict[str, Any], b: int, device: torch.device) -> Tensor:
        """(B,) router rows from the batch's embodiment names (or task strings)."""
        key = "embodiment" if self.mof_cfg.route_by == "embodiment" else "task"
        names = batch.get(key) or [self.default_route] * b
        if isinstance(names, str):
            names = [names] * b
        return torch.tensor([self.mof_cfg.route_id(n) for n in names], dtype=torch.long, device=device)

    def context(self, backbone: Any, prefix: Any, batch: dict[str, Any], use_cache: bool = True) -> DecoderContext:
        ctx = super().context(backbone, prefix, batch, use_cache)
        if self.mof_cfg.enabled:
            ctx.extra["gates"] = self.router(self.route_ids(batch, prefix.x.shape[0], prefix.x.device))  # (B, E)
        return ctx

    # -- forward --------------------------------------------------------------------------------
    def run(self, ctx: DecoderContext, suffix: Tensor) -> Tensor:
        """suffix: (B, 1 + H, w) -> final expert hidden states, attending to the prefix KV per layer."""
        horizon = suffix.shape[1] - 1
        gates = ctx.extra.get("gates")
        shared = self.mof_cfg.shared_layers if self.mof_cfg.enabled else len(self.layers)

        def finish(i: int, block: TowerBlock, x: Tensor, out: Tensor) -> Tensor:
            if i < shared:
                return block.finish(x, out)
            x = x + block.out(merge_heads(out))
            return x + block.mlp(block.norm2(x), gates)

        return attend_suffix(
            ctx.backbone,
            self.layers,
            ctx.kv,
            suffix,
            suffix_positions(ctx.prefix, horizon),
            suffix_mask(ctx.prefix.valid, horizon),
            finish,
        )

    def velocity(
        self, ctx: DecoderContext, state: Tensor, state_mask: Tensor, x: Tensor, t: Tensor, clean: Tensor | None
    ) -> Tensor:
        suffix = self.embed(state, state_mask, x, t)  # (B, 1 + H, w)
        if self.mpg_cfg.enabled and clean is not None:
            z = self.embed(state, state_mask, clean.to(x.dtype), torch.ones_like(t))[:, 1:]  # clean: t = 1
            suffix, g = self.mpg(suffix, z)
            ctx.extra["mpg_gate"] = g.detach()
        return self.velocity_head(self.run(ctx, suffix))

    def velocity_head(self, hidden: Tensor) -> Tensor:
        return self.head(hidden).float()
