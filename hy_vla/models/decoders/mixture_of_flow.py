"""Mixture-of-Flow, MoF (Being-H0.5, seed 002, section 3.4 and its Figure 12).

The action expert's lower `shared_layers` layers are shared by every embodiment and
task (motor primitives: reaching, grasping, avoiding collisions); every upper layer
replaces its MLP by `num_experts` routed MLPs, mixed with gates chosen by the sample's
embodiment (or task). Attention projections stay per layer, so the shared attention
of the MoT and the prefix KV cache are unchanged. Routing is per sample, not per token:
one robot's whole chunk goes through the same specialists.

The seed motivates the split with its freezing ablation: freezing the lower 0-7 of 28
expert layers barely hurts, past 14 it collapses, so the upper half is where
specialisation lives.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hy_vla.models.layers import SwiGLU

ROUTE_BY = ("embodiment", "task")


@dataclass
class MoFConfig:
    num_experts: int = 0  # 0: MoF off (every layer dense)
    shared_layers: int = 0  # lower layers shared by everyone
    top_k: int = 1  # experts mixed per sample
    route_by: str = "embodiment"  # which sample attribute picks the experts
    routes: tuple[str, ...] = ()  # known embodiment/task names, each with its own router row
    num_hash_routes: int = 8  # further rows for names not in `routes` (stable hash)

    def __post_init__(self) -> None:
        self.routes = tuple(self.routes)
        if self.num_experts < 0 or self.shared_layers < 0 or self.num_hash_routes < 1:
            raise ValueError("mof: num_experts, shared_layers must be >= 0 and num_hash_routes >= 1")
        if self.num_experts and not 1 <= self.top_k <= self.num_experts:
            raise ValueError(f"mof.top_k {self.top_k} must be in [1, num_experts={self.num_experts}]")
        if self.route_by not in ROUTE_BY:
            raise ValueError(f"mof.route_by {self.route_by!r} not in {ROUTE_BY}")

    @property
    def enabled(self) -> bool:
        return self.num_experts > 0

    def route_id(self, name: str) -> int:
        """Router row of a name: its index in `routes`, else a stable hash bucket after them."""
        if name in self.routes:
            return self.routes.index(name)
        return len(self.routes) + zlib.crc32(name.encode("utf-8")) % self.num_hash_routes


class Router(nn.Module):
    """Per-route learned logits over experts -> sparse gates (B, E) summing to 1 over the top-k."""

    def __init__(self, cfg: MoFConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.logits = nn.Embedding(len(cfg.routes) + cfg.num_hash_routes, cfg.num_experts)
        nn.init.normal_(self.logits.weight, std=0.02)

    def forward(self, route_ids: Tensor) -> Tensor:
        logits = self.logits(route_ids)  # (B, E)
        top = logits.topk(self.cfg.top_k, dim=-1)
        gates = torch.zeros_like(logits).scatter(-1, top.indices, torch.softmax(top.values, dim=-1))
        return gates


class RoutedSwiGLU(nn.Module):
    """num_experts SwiGLU MLPs mixed per sample: sum_e g_be * mlp_e(x_b)."""

    def __init__(self, width: int, hidden: int, num_experts: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(SwiGLU(width, hidden) for _ in range(num_experts))

    def forward(self, x: Tensor, gates: Tensor) -> Tensor:
        """x: (B, T, w); gates: (B, E) -> (B, T, w). Experts with zero gate for the whole batch are skipped."""
        out = torch.zeros_like(x)
        used = gates.sum(dim=0) > 0
        for e, mlp in enumerate(self.experts):
            if bool(used[e]):
                out = out + gates[:, e].view(-1, 1, 1).to(x.dtype) * mlp(x)
        return out
