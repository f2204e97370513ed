"""The one decoder interface: flow training inputs, the context, suffix attention, the sampler.

Every action decoder (dual tower, MoT expert, DiT, hybrid) is a `FlowDecoder`: it reads a
`DecoderContext` (the backbone run once over the observation prefix: final hidden states,
per-layer keys/values, the backbone itself), predicts a flow velocity for noisy actions,
and may add its own loss terms (`extra_losses`) or its own sampler (`sample`). It never
sees the `HyVLA` object. `HyVLA.compute_loss` and `HyVLA.sample_actions` are the one
training/inference loop for all of them; the math is `hy_vla.flow.flow_matching`.
A capability only some decoders have is a class attribute (`supports_uncached`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from hy_vla import keys
from hy_vla.flow import flow_matching as fm
from hy_vla.flow import stochastic
from hy_vla.models.backbone import LayerKV
from hy_vla.models.dual_tower import Prefix, encode_prefix


@dataclass
class DecoderContext:
    """The observation as every decoder sees it; computed once per observation (the inference cache)."""

    prefix: Prefix
    hidden: Tensor | None  # (B, Tp, D) final backbone hidden states (None on the uncached reference path)
    kv: list[LayerKV] | None  # per backbone layer, each (B, nh, Tp, hd) (None on the uncached reference path)
    batch: dict[str, Any]
    backbone: Any = None  # the backbone the prefix was encoded by (decoders attending to its layers use it)
    extra: dict[str, Any] = field(default_factory=dict)  # decoder-specific precomputation (e.g. DiT cross-attn KV)


@dataclass
class FlowInputs:
    """One training draw of the flow: clean target, mask, noise, per-step time and the noisy chunk."""

    actions: Tensor  # (B, H, A) float32
    mask: Tensor  # (B, H, A) bool
    noise: Tensor  # (B, H, A) float32
    t: Tensor  # (B, H)
    x_t: Tensor  # (B, H, A) float32


def flow_training_inputs(
    times: fm.FlowConfig, actions: Tensor, mask: Tensor, batch: dict[str, Any], generator: torch.Generator | None
) -> FlowInputs:
    """Draw noise and times (from `times`, a training setting) for a target chunk (B, H, A) on its device (incl.
    UAC's clean committed prefix)."""
    dev = actions.device
    horizon = actions.shape[1]
    b = actions.shape[0]
    noise = torch.randn(actions.shape, generator=generator).to(dev)
    t = times.sample((b,), generator).to(dev).unsqueeze(1).expand(b, horizon).clone()  # (B, H)
    if keys.ACTION_PREFIX_LEN in batch:
        d = torch.as_tensor(batch[keys.ACTION_PREFIX_LEN], device=dev).view(-1, 1)
        committed = torch.arange(horizon, device=dev).view(1, -1) < d  # (B, H)
        t = torch.where(committed, torch.ones_like(t), t)
        mask = mask & ~committed.unsqueeze(-1)
    return FlowInputs(actions, mask, noise, t, fm.interpolate(noise, actions, t))


class FlowDecoder(nn.Module):
    """Base of every decoder: context once, velocity per Euler step, optional extra losses and sampler."""

    uses_kv: bool = True  # False: only final hidden states are needed (DiT)
    # True: `context(use_cache=False)` leaves hidden/kv empty and `velocity` recomputes the prefix jointly with the
    # suffix every step (a reference path for tests); decoders without it refuse use_cache=False
    supports_uncached: bool = False

    def context(self, backbone: Any, prefix: Prefix, batch: dict[str, Any], use_cache: bool = True) -> DecoderContext:
        if not use_cache:
            if not self.supports_uncached:
                raise ValueError(f"{type(self).__name__} has no uncached reference path: use use_cache=True")
            return DecoderContext(prefix, None, None, batch, backbone)
        hidden, kv = encode_prefix(backbone, prefix)
        return DecoderContext(prefix, hidden, kv, batch, backbone)

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

    def stepper(
        self, ctx: DecoderContext, state: Tensor, state_mask: Tensor, guide: tuple[Tensor, Tensor] | None = None
    ) -> Callable[[Tensor, float], Tensor]:
        """The velocity field of one denoising chain, called once per Euler step in time order: (x, t) -> v.

        It keeps the running clean estimate (for MPG), so the same calls on the same states give the same
        velocities: the deterministic sampler, the stochastic chain and its recomputation all use it.
        guide: (target, weights) of `hy_vla.flow.guidance.full_prefix` (inference-time real-time chunking).
        """
        dtype = state.dtype
        memo: dict[str, Tensor | None] = {"clean": None}

        def velocity(x: Tensor, t: float) -> Tensor:
            tt = torch.full(x.shape[:2], t, device=x.device)
            v = self.velocity(ctx, state, state_mask, x.to(dtype), tt, memo["clean"])
            if guide is not None:
                from hy_vla.flow.guidance import guided_velocity

                v = guided_velocity(x, v, t, *guide)
            memo["clean"] = x + (1.0 - t) * v  # one-step estimate of the clean chunk
            return v

        return velocity

    def check_chain(self, ctx: DecoderContext) -> None:
        """Raise a ValueError when this decoder, as configured, has no Gaussian denoising chain (post-training)."""

    def sample(
        self,
        ctx: DecoderContext,
        state: Tensor,
        state_mask: Tensor,
        noise: Tensor,
        num_steps: int,
        guide: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """Euler integration from noise (t=0) to actions (t=1) -> (B, H, A)."""
        return fm.integrate(self.stepper(ctx, state, state_mask, guide), noise, num_steps)

    def sample_chain(
        self,
        ctx: DecoderContext,
        state: Tensor,
        state_mask: Tensor,
        noise: Tensor,
        num_steps: int,
        sigma: float,
        mask: Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The stochastic chain (`hy_vla.flow.stochastic`): noise (B, H, A) -> (states x_0..x_K (K+1, B, H, A),
        the transitions' means (K, B, H, A)).

        mask (B, H, A) bool: the channels that get noise (the others follow the deterministic Euler step).
        sigma 0 gives the deterministic chain.
        """
        self.check_chain(ctx)
        velocity = self.stepper(ctx, state, state_mask)
        x, dt, states, means = noise, 1.0 / num_steps, [noise], []
        for t in fm.euler_times(num_steps):
            mean = stochastic.transition_mean(x, velocity(x, t).float(), dt)
            eps = torch.randn(x.shape, generator=generator).to(x.device)
            x = stochastic.noisy_step(mean, sigma, mask, eps)
            states.append(x)
            means.append(mean)
        return torch.stack(states), torch.stack(means)

    def chain_means(self, ctx: DecoderContext, state: Tensor, state_mask: Tensor, states: Tensor) -> Tensor:
        """Each transition's mean under the current parameters: states (K+1, B, H, A) -> means (K, B, H, A).

        Differentiable; with unchanged parameters it reproduces the means `sample_chain` drew around.
        """
        self.check_chain(ctx)
        num_steps = states.shape[0] - 1
        velocity = self.stepper(ctx, state, state_mask)
        dt = 1.0 / num_steps
        return torch.stack(
            [stochastic.transition_mean(states[k], velocity(states[k], t).float(), dt) for k, t in
             enumerate(fm.euler_times(num_steps))]
        )  # fmt: skip
