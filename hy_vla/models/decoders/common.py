"""What the alternative action decoders share: flow training inputs, the context, suffix attention.

Every decoder has the dual tower's interface (`HyVLA.compute_loss`, `sample_actions`):
it reads a `DecoderContext` (the backbone run once over the observation prefix: final
hidden states and per-layer keys/values), predicts a flow velocity for noisy actions,
and may add its own loss terms. `compute_loss` and `sample_actions` below are the one
training/inference loop for all of them; the math is `hy_vla.flow.flow_matching`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from hy_vla import keys
from hy_vla.flow import flow_matching as fm
from hy_vla.models.backbone import LayerKV
from hy_vla.models.dual_tower import Prefix, encode_prefix
from hy_vla.models.layers import attention
from hy_vla.models.tower import TowerBlock

if TYPE_CHECKING:
    from hy_vla.models.hy_vla import HyVLA


@dataclass
class DecoderContext:
    """The observation as every decoder sees it; computed once per observation (the inference cache)."""

    prefix: Prefix
    hidden: Tensor  # (B, Tp, D) final backbone hidden states
    kv: list[LayerKV]  # per backbone layer, each (B, nh, Tp, hd)
    batch: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)  # decoder-specific precomputation (e.g. DiT cross-attn KV)


@dataclass
class FlowInputs:
    """One training draw of the flow: clean target, mask, noise, per-step time and the noisy chunk."""

    actions: Tensor  # (B, H, A) float32
    mask: Tensor  # (B, H, A) bool
    noise: Tensor  # (B, H, A) float32
    t: Tensor  # (B, H)
    x_t: Tensor  # (B, H, A) float32


def flow_training_inputs(model: HyVLA, batch: dict[str, Any], generator: torch.Generator | None) -> FlowInputs:
    """Draw noise and times exactly as the dual tower does (incl. Being-H0.5 UAC's clean committed prefix)."""
    from hy_vla.models import inputs  # lazy: inputs imports the config, which imports the decoders' configs

    cfg, dev = model.config, model.device
    actions, mask = inputs.action_target(batch, cfg, torch.float32)
    actions, mask = actions.to(dev), mask.to(dev)
    b = actions.shape[0]
    noise = torch.randn(actions.shape, generator=generator).to(dev)
    t = cfg.flow.sample((b,), generator).to(dev).unsqueeze(1).expand(b, cfg.horizon).clone()  # (B, H)
    if keys.ACTION_PREFIX_LEN in batch:
        d = torch.as_tensor(batch[keys.ACTION_PREFIX_LEN], device=dev).view(-1, 1)
        committed = torch.arange(cfg.horizon, device=dev).view(1, -1) < d  # (B, H)
        t = torch.where(committed, torch.ones_like(t), t)
        mask = mask & ~committed.unsqueeze(-1)
    return FlowInputs(actions, mask, noise, t, fm.interpolate(noise, actions, t))


def attend_suffix(
    backbone: Any,
    blocks: list[TowerBlock] | nn.ModuleList,
    prefix_kv: list[LayerKV],
    x: Tensor,
    positions: Tensor,
    allowed: Tensor,
    finish: Callable[[int, TowerBlock, Tensor, Tensor], Tensor] | None = None,
) -> Tensor:
    """Run suffix tokens x (B, Ts, w) through `blocks`, each layer attending to [prefix KV, own KV].

    allowed: (B, Ts, Tp + Ts). `finish(i, block, x, attn_out)` replaces `block.finish` (routed MLPs).
    The same mechanics as `dual_tower.expert_forward`, for towers other than the dual-tower expert.
    """
    cos, sin = backbone.rope(positions)
    for i, (block, (kp, vp)) in enumerate(zip(blocks, prefix_kv, strict=True)):
        q, k, v = block.project_qkv(x, cos, sin)
        out = attention(q, torch.cat([kp, k.to(kp.dtype)], dim=2), torch.cat([vp, v.to(vp.dtype)], dim=2), allowed)
        x = finish(i, block, x, out) if finish is not None else block.finish(x, out)
    return x


class FlowDecoder(nn.Module):
    """Base of the alternative decoders: context once, velocity per Euler step, optional extra losses."""

    uses_kv: bool = True  # False: only final hidden states are needed (DiT)

    def context(self, model: HyVLA, prefix: Prefix, batch: dict[str, Any]) -> DecoderContext:
        hidden, kv = encode_prefix(model.backbone, prefix)
        return DecoderContext(prefix, hidden, kv, batch)

    def velocity(
        self, ctx: DecoderContext, state: Tensor, state_mask: Tensor, x: Tensor, t: Tensor, clean: Tensor | None
    ) -> Tensor:
        """x: (B, H, A) noisy actions, t: (B, H) -> velocity (B, H, A) float32.

        clean: the clean chunk (training) or the current clean estimate (inference), for decoders that use it.
        """
        raise NotImplementedError

    def extra_losses(self, ctx: DecoderContext, flow: FlowInputs) -> dict[str, Tensor]:
        """Weighted loss terms added to the flow loss (e.g. HybridVLA's AR cross-entropy)."""
        return {}

    def sample(
        self,
        ctx: DecoderContext,
        state: Tensor,
        state_mask: Tensor,
        noise: Tensor,
        num_steps: int,
        guide: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """Euler integration from noise (t=0) to actions (t=1); keeps the running clean estimate for MPG.

        guide: (target, weights) of `hy_vla.flow.guidance.full_prefix` (inference-time real-time chunking).
        """
        b, h, _ = noise.shape
        dtype = state.dtype
        memo: dict[str, Tensor | None] = {"clean": None}

        def velocity(x: Tensor, t: float) -> Tensor:
            tt = torch.full((b, h), t, device=x.device)
            v = self.velocity(ctx, state, state_mask, x.to(dtype), tt, memo["clean"])
            if guide is not None:
                from hy_vla.flow.guidance import guided_velocity

                v = guided_velocity(x, v, t, *guide)
            memo["clean"] = x + (1.0 - t) * v  # one-step estimate of the clean chunk
            return v

        return fm.integrate(velocity, noise, num_steps)


def compute_loss(
    model: HyVLA, batch: dict[str, Any], generator: torch.Generator | None = None
) -> tuple[Tensor, dict[str, float], DecoderContext]:
    """Flow loss (+ decoder terms) of a non-dual-tower decoder -> (loss, metrics, context)."""
    from hy_vla.models import inputs

    cfg, dev, dtype = model.config, model.device, model.dtype
    flow = flow_training_inputs(model, batch, generator)
    state, state_mask = (t.to(dev) for t in inputs.state(batch, cfg, dtype))
    prefix = model.embed_prefix(batch)
    ctx = model.expert.context(model, prefix, batch)
    v = model.expert.velocity(ctx, state, state_mask, flow.x_t.to(dtype), flow.t, flow.actions.to(dtype))
    flow_loss = fm.masked_flow_loss(v, fm.target_velocity(flow.noise, flow.actions), flow.mask)
    loss = flow_loss
    metrics = {"flow_loss": float(flow_loss.detach())}
    for name, term in model.expert.extra_losses(ctx, flow).items():
        loss = loss + term
        metrics[name] = float(term.detach())
    return loss, metrics, ctx


@torch.no_grad()
def sample_actions(
    model: HyVLA,
    batch: dict[str, Any],
    num_steps: int | None = None,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    guide: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """-> (B, H, max_action_dim) float32 normalized actions from a non-dual-tower decoder."""
    from hy_vla.models import inputs

    cfg, dev, dtype = model.config, model.device, model.dtype
    b = inputs.batch_size(batch, cfg)
    shape = (b, cfg.horizon, cfg.max_action_dim)
    if noise is None:
        noise = torch.randn(shape, generator=generator)
    elif tuple(noise.shape) != shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}; expected {shape}")
    state, state_mask = (t.to(dev) for t in inputs.state(batch, cfg, dtype))
    ctx = model.expert.context(model, model.embed_prefix(batch), batch)
    steps = num_steps or cfg.num_inference_steps
    return model.expert.sample(ctx, state, state_mask, noise.to(dev, torch.float32), steps, guide).float()
