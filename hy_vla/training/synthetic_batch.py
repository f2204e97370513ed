"""A training batch of a model's real shapes with random contents, for timing a step before any data exists
(the demo's up-front time estimate, `bench/step_profile.py`). Values do not change a step's cost."""

from __future__ import annotations

from typing import Any

import torch

from hy_vla import keys


def synthetic_batch(model: Any, batch_size: int, *, with_actions: bool = True, seed: int = 0) -> dict[str, Any]:
    """A `HyVLA.compute_loss` batch (or, without actions, a `sample_actions` one): every camera's K frames as
    uint8, the state, the action chunk, an instruction, and the attached objectives' inputs (the env-state
    target's vector and first frames)."""
    cfg, g = model.config, torch.Generator().manual_seed(seed)
    b, s, k = batch_size, cfg.image_size, cfg.history_frames
    batch: dict[str, Any] = {
        key: torch.randint(0, 256, (b, k, 3, s, s), generator=g, dtype=torch.uint8) for key in cfg.image_keys
    }
    batch[keys.STATE] = torch.randn(b, cfg.state_dim, generator=g)
    batch[keys.TASK] = ["pick up the puck and place it at the goal"] * b
    if not with_actions:
        return batch
    batch[keys.ACTION] = torch.randn(b, cfg.horizon, cfg.action_dim, generator=g)
    objectives = getattr(model, "objectives", {})
    if "env_state" in objectives:
        batch[keys.EXTRA_PREFIX + "env_state"] = torch.randn(b, objectives["env_state"].cfg.dim, generator=g)
        for key in cfg.image_keys:
            batch[keys.FIRST_FRAME_PREFIX + key] = torch.randint(0, 256, (b, 3, s, s), generator=g, dtype=torch.uint8)
    return batch
