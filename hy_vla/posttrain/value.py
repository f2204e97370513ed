"""PPO's critic: a small value head on the policy's observation features (`HyVLA.observation_features`).

The features are read without gradient, so the critic never changes the policy; it has its own optimizer and is
saved beside the run's checkpoints (OUT/value/<iteration>.safetensors + .json, weights and optimizer state) so a
resumed run continues identically.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn


class ValueHead(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, features: Tensor) -> Tensor:
        """(B, in_dim) -> (B,) value estimates."""
        return self.net(features).squeeze(-1)


class Critic:
    """The value head and its optimizer (created on the first features seen: their width is the model's)."""

    def __init__(self, lr: float, seed: int) -> None:
        self.lr, self.seed = lr, seed
        self.head: ValueHead | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def ensure(self, in_dim: int) -> ValueHead:
        if self.head is None:
            with torch.random.fork_rng():
                torch.manual_seed(self.seed)
                self.head = ValueHead(in_dim)
            self.optimizer = torch.optim.Adam(self.head.parameters(), lr=self.lr)
        return self.head

    def step(self, features: Tensor, returns: Tensor) -> float:
        """One regression step toward the returns -> the value loss (MSE)."""
        head = self.ensure(features.shape[-1])
        assert self.optimizer is not None
        loss = (head(features) - returns).pow(2).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        self.optimizer.step()
        return float(loss.detach())

    def save(self, directory: Path, iteration: int) -> None:
        from hy_vla.training.checkpointing import flatten_optimizer
        from hy_vla.utils.atomic import atomic_save_tensors, atomic_write_json

        if self.head is None or self.optimizer is None:
            return
        opt_tensors, opt_meta = flatten_optimizer(self.optimizer.state_dict())
        tensors = {f"head.{k}": v.contiguous() for k, v in self.head.state_dict().items()}
        tensors.update(opt_tensors)  # keys "optim.<param>.<name>"
        stem = directory / f"{iteration:05d}"
        atomic_save_tensors(tensors, stem.with_name(stem.name + ".safetensors"))
        atomic_write_json(stem.with_name(stem.name + ".json"), {"in_dim": self.head.in_dim, "optimizer": opt_meta})

    def load(self, directory: Path, iteration: int) -> None:
        """The critic saved with checkpoint `iteration` (every checkpoint of a ppo run has one)."""
        from safetensors.torch import load_file

        from hy_vla.training.checkpointing import unflatten_optimizer

        stem = directory / f"{iteration:05d}"
        if not stem.with_name(stem.name + ".json").is_file():
            raise FileNotFoundError(f"{stem}.json: the critic of checkpoint {iteration} is missing; use another --out")
        meta = json.loads(stem.with_name(stem.name + ".json").read_text())
        tensors = load_file(str(stem.with_name(stem.name + ".safetensors")))
        head = self.ensure(int(meta["in_dim"]))
        head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
        assert self.optimizer is not None
        self.optimizer.load_state_dict(unflatten_optimizer(tensors, meta["optimizer"]))
