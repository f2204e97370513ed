"""What a post-training rollout keeps: per policy call, the model batch and the denoising chain it sampled.

The states x_0..x_K stored here are exactly those the update scores again (`HyVLA.chain_means`), and
`log_prob` is their density under the policy that sampled them (the PPO denominator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hy_vla import keys


@dataclass
class ChunkRecord:
    """One policy call of a rollout (B = 1 tensors, CPU)."""

    batch: dict[str, Any]  # the model batch the policy built (images, history pad, normalized state, task)
    states: Tensor  # (K+1, 1, H, max_action_dim) x_0..x_K, model layout
    mask: Tensor  # (1, H, max_action_dim) bool: channels with noise (the robot's executed actions)
    log_prob: Tensor  # (K,) per-transition log-density under the sampling policy (zeros when sigma = 0)
    robot_state: np.ndarray  # (S,) robot-unit state of the observation (maps expert actions into model space)
    step: int  # env steps executed before this call

    def action_batch(self, cfg: Any) -> dict[str, Any]:
        """The batch with its own sampled chunk as a supervised target on the executed steps (rejection sampling)."""
        return with_target(self.batch, self.actions(cfg), self.executed_steps(cfg))

    def actions(self, cfg: Any) -> Tensor:
        """(1, H, action_dim) the sampled chunk, normalized, in the robot's leading layout."""
        from hy_vla.models import slot_layout

        slots = slot_layout.batch_slots(self.batch, cfg, "action")
        return slot_layout.unplace(self.states[-1], slots)[..., : cfg.action_dim]

    def executed_steps(self, cfg: Any) -> int:
        return int(self.mask[0].any(dim=-1).sum())


@dataclass
class EpisodeRollout:
    """One rollout episode: its outcome, the executed actions (for replays) and one record per policy call."""

    task: str
    seed: int  # env layout
    rollout: int  # index within its group
    success: bool
    length: int
    reward: float  # sparse success (1/0), plus the scaled shaped return when asked
    actions: np.ndarray  # (T, A) executed actions, robot units (clipped to the env bounds)
    records: list[ChunkRecord] = field(default_factory=list)


def with_target(batch: dict[str, Any], actions: Tensor, executed: int) -> dict[str, Any]:
    """`batch` plus a normalized target chunk (1, H, A) whose steps past `executed` are padding."""
    out = dict(batch)
    out[keys.ACTION] = actions.float()
    pad = torch.ones(actions.shape[:2], dtype=torch.bool)
    pad[:, :executed] = False
    out[keys.ACTION_IS_PAD] = pad
    return out


def collate_batches(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Concatenate B=1 (or B=n) model batches along the batch dimension (lists are joined)."""
    out: dict[str, Any] = {}
    for key in batches[0]:
        vals = [b[key] for b in batches]
        if isinstance(vals[0], Tensor):
            out[key] = torch.cat(vals)
        elif isinstance(vals[0], list):
            out[key] = [v for val in vals for v in val]
        else:
            out[key] = vals[0]
    return out


def collate_chains(records: list[ChunkRecord]) -> tuple[dict[str, Any], Tensor, Tensor, Tensor]:
    """Records -> (batch, states (K+1, B, H, A), mask (B, H, A), old log-probs (B, K))."""
    batch = collate_batches([r.batch for r in records])
    states = torch.cat([r.states for r in records], dim=1)
    mask = torch.cat([r.mask for r in records])
    return batch, states, mask, torch.stack([r.log_prob for r in records])
