"""Low-rank adaptation (LoRA) of nn.Linear layers chosen by name pattern.

W x + b  becomes  W x + b + (alpha / r) * B A x,  A: (r, in) small random, B: (out, r) zero,
so a freshly wrapped model computes exactly what it computed before. `LoRALinear` IS an
nn.Linear (same `weight`/`bias` names), so a LoRA model still loads a plain checkpoint
(strict=False for the adapters) and its state dict holds the adapters as `lora_A`/`lora_B`.

- `apply_lora(model, cfg)`: wrap every Linear whose qualified name matches one of
  `cfg.targets` (regular expressions, `re.search`), freeze everything except the adapters
  and the modules matching `cfg.trainable` (e.g. the action decoder, trained fully);
- `merge_lora` / `unmerge_lora`: fold the update into `weight` for inference speed, and back;
- `plain_state_dict`: the weights with every update folded in and no adapter tensors, what a model
  without LoRA loads (`hy-vla export`).

The default targets are the attention projections of the language model under both naming schemes:
the native MoT's `qkv` / `out`, and transformers' `q_proj` / `k_proj` / `v_proj` / `o_proj` inside a
pretrained backbone's language model (its vision tower is left alone).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NATIVE_TARGETS = r"^backbone\.layers\..*\.(qkv|out)$"  # MoTBackbone towers
TRANSFORMERS_TARGETS = r"^backbone\.model\.model\.(language_model|text_model)\..*\.(q_proj|k_proj|v_proj|o_proj)$"


@dataclass
class LoRAConfig:
    rank: int = 0  # 0 = LoRA off
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = (NATIVE_TARGETS, TRANSFORMERS_TARGETS)
    trainable: tuple[str, ...] = (r"^expert\.",)  # modules left fully trainable next to the adapters

    def __post_init__(self) -> None:
        self.targets, self.trainable = tuple(self.targets), tuple(self.trainable)
        if self.rank < 0 or self.alpha <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("lora: rank >= 0, alpha > 0 and 0 <= dropout < 1")
        for p in (*self.targets, *self.trainable):
            re.compile(p)

    @property
    def enabled(self) -> bool:
        return self.rank > 0


class LoRALinear(nn.Linear):
    """nn.Linear plus a low-rank update; `merged` tells whether the update is folded into `weight`."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__(
            base.in_features,
            base.out_features,
            bias=base.bias is not None,
            device=base.weight.device,
            dtype=base.weight.dtype,
        )
        self.weight, self.bias = base.weight, base.bias
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(
            torch.empty(rank, base.in_features, device=base.weight.device, dtype=base.weight.dtype)
        )
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, rank, device=base.weight.device, dtype=base.weight.dtype)
        )
        if not self.lora_A.is_meta:
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # A buffer, not a Python flag: a checkpoint saved merged loads merged (never applied twice).
        self.register_buffer("lora_merged", torch.zeros((), dtype=torch.bool, device=base.weight.device))

    @property
    def merged(self) -> bool:
        return bool(self.lora_merged)

    def delta(self) -> Tensor:
        return (self.lora_B @ self.lora_A) * self.scaling  # (out, in)

    def forward(self, x: Tensor) -> Tensor:
        out = F.linear(x, self.weight, self.bias)
        if self.merged:
            return out
        return out + F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.weight.add_(self.delta().to(self.weight.dtype))
            self.lora_merged.fill_(True)

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.weight.sub_(self.delta().to(self.weight.dtype))
            self.lora_merged.fill_(False)


def apply_lora(model: nn.Module, cfg: LoRAConfig) -> list[str]:
    """Wrap matching Linears in place, set requires_grad accordingly; returns the wrapped names."""
    patterns = [re.compile(p) for p in cfg.targets]
    wrapped = []
    for name, module in list(model.named_modules()):
        if type(module) is nn.Linear and any(p.search(name) for p in patterns):
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attr, LoRALinear(module, cfg.rank, cfg.alpha, cfg.dropout))
            wrapped.append(name)
    if not wrapped:
        raise ValueError(f"lora.targets {cfg.targets} matched no nn.Linear")
    keep = [re.compile(p) for p in cfg.trainable]
    for name, p in model.named_parameters():
        p.requires_grad = "lora_" in name.rsplit(".", 1)[-1] or any(k.search(name) for k in keep)
    return wrapped


def lora_modules(model: nn.Module) -> list[LoRALinear]:
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def merge_lora(model: nn.Module) -> int:
    """Fold every adapter into its base weight; returns how many were merged."""
    mods = lora_modules(model)
    for m in mods:
        m.merge()
    return len(mods)


def unmerge_lora(model: nn.Module) -> int:
    mods = lora_modules(model)
    for m in mods:
        m.unmerge()
    return len(mods)


def plain_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The model's weights with every adapter folded into its base weight and the adapter tensors dropped."""
    state = dict(model.state_dict())
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            prefix = f"{name}." if name else ""
            if not module.merged:
                state[f"{prefix}weight"] = (module.weight + module.delta().to(module.weight.dtype)).detach()
            for key in ("lora_A", "lora_B", "lora_merged"):
                state.pop(f"{prefix}{key}")
    return state
