"""Exponential moving average of the trainable parameters, kept in float32 on the model's device.

Under FSDP the parameters are DTensor shards and so are their averages (each rank averages its own
share); `state_dict` gathers full tensors and `load_state_dict` takes full tensors and keeps the share.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EMA:
    """shadow <- decay * shadow + (1 - decay) * param, after every optimizer step.

    Only trainable parameters are tracked: frozen ones never change, so their average is themselves.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow: dict[str, Tensor] = {
            name: p.detach().float().clone() for name, p in model.named_parameters() if p.requires_grad
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, p in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(p.detach().float(), 1.0 - self.decay)

    def state_dict(self) -> dict[str, Tensor]:
        """Full averages by name (a collective under FSDP: every rank must call it)."""
        from hy_vla.training.sharding import full_tensor

        return {name: full_tensor(t.detach()).cpu().contiguous() for name, t in self.shadow.items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise ValueError(f"EMA state lacks {len(missing)} parameters, e.g. {sorted(missing)[:3]}")
        from hy_vla.training.sharding import shard_like

        for name, shadow in self.shadow.items():
            shadow.copy_(shard_like(state[name], shadow))

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the model's trainable parameters with their averages (for export / evaluation)."""
        for name, p in model.named_parameters():
            if name in self.shadow:
                p.copy_(self.shadow[name].to(p.dtype))
