"""Where a robot's state and action channels sit in the model's fixed-width vectors (`HyVLAConfig.slot_layout`).

- "leading" (default; Qwen-VLA): a robot's d channels are the first d of the max_*_dim-wide vector,
  the rest zero and masked;
- "unified" (Being-H0.5): each channel goes to its slot of the unified slot space
  (`hy_vla.embodiments.slots`, named by the embodiment's sub-vectors), so the same physical quantity
  (the hand position, the right gripper) is on the same channel of the expert's input and output
  for every robot: what a checkpoint learned about it carries over when fine-tuning onto another one.

Callers always speak the robot's own (leading) layout: batches in, `sample_actions` out, guidance
prefixes in. The model places vectors into its layout at its input and takes them back at its output,
so policies, servers and runtimes need not know which layout a checkpoint uses.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hy_vla import keys

LAYOUTS = ("leading", "unified")


def check_unified(embodiment: str, state_dim: int, action_dim: int, max_state_dim: int, max_action_dim: int) -> None:
    """Raise a ValueError unless the embodiment is registered and its slots fit the widths (config validation)."""
    from hy_vla.embodiments.registry import get_embodiment

    emb = get_embodiment(embodiment)  # unknown names: "did you mean"
    for part, dim, width in (("state", state_dim, max_state_dim), ("action", action_dim, max_action_dim)):
        if emb.dim(part) != dim:
            raise ValueError(f"slot_layout 'unified': embodiment {embodiment!r} has a {emb.dim(part)}-wide {part}, "
                             f"the config says {part}_dim={dim}")  # fmt: skip
        need = int(emb.slot_indices(part).max()) + 1
        if need > width:
            raise ValueError(f"slot_layout 'unified': embodiment {embodiment!r} uses {part} slots up to {need - 1}, "
                             f"max_{part}_dim={width} must be at least {need}")  # fmt: skip


def batch_slots(batch: dict[str, Any], cfg: Any, part: str) -> Tensor | None:
    """(d,) unified slot of each channel of the batch's robot vector, or None in the leading layout.

    The batch's embodiment (`embodiment`, one name for the whole batch) or else the config's.
    """
    if cfg.slot_layout != "unified":
        return None
    from hy_vla.embodiments.registry import get_embodiment

    names = batch.get(keys.EMBODIMENT) or cfg.embodiment
    names = [names] if isinstance(names, str) else list(names)
    if len(set(names)) != 1:
        raise ValueError(f"slot_layout 'unified' places one embodiment per batch, got {sorted(set(names))}")
    return get_embodiment(names[0]).slot_indices(part)


def place(x: Tensor, slots: Tensor | None, width: int) -> Tensor:
    """(..., >= d) robot vector in the leading layout -> (..., width) in the model's layout (zeros elsewhere)."""
    if slots is None:
        return x
    slots = slots.to(x.device)
    out = x.new_zeros(*x.shape[:-1], width)
    out[..., slots] = x[..., : len(slots)]
    return out


def unplace(x: Tensor, slots: Tensor | None) -> Tensor:
    """(..., width) in the model's layout -> (..., width) with the robot's channels first (the leading layout)."""
    if slots is None:
        return x
    out = torch.zeros_like(x)
    out[..., : len(slots)] = x[..., slots.to(x.device)]
    return out
