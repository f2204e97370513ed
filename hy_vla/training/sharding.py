"""FSDP2 (`torch.distributed.fsdp.fully_shard`) for the trainer: sharding units and full-state export.

    torchrun --nproc-per-node 2 -m hy_vla.cli.main train ... --set parallel=fsdp

Every rank keeps 1/N of each parameter, gradient and optimizer moment; a unit's full weights are
all-gathered just before it runs and freed after. The units:

- each ViT block (it runs through `forward`);
- each `TowerBlock` of the MoT backbone and of the action expert. The shared attention calls a
  tower's `project_qkv` and `finish` rather than `forward`, so both are registered as FSDP forward
  methods (each call gathers the block's weights). Skipped: expert layers whose `finish` is replaced
  by the decoder (Mixture-of-Flow's routed MLP reads `block.out` and `block.mlp` directly);
- the root, the whole model: everything else (embeddings, projector, heads, DiT / HF backbone modules).

Checkpoints hold FULL tensors in the single-process layout (model weights by name, optimizer moments
by parameter index, EMA by name), gathered on rank 0 with torch.distributed.checkpoint's state-dict
helpers, so a checkpoint written by an FSDP run loads with `HyVLA.from_pretrained` in one process and
resumes under FSDP, DDP or a single process alike.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import torch
from torch import Tensor, nn


def sharding_units(model: nn.Module) -> list[nn.Module]:
    """Submodules sharded as their own FSDP unit (see the module doc), outermost last is the root's job."""
    from hy_vla.models.tower import TowerBlock
    from hy_vla.models.vision import ViTBlock

    skip: set[int] = set()
    expert = getattr(model, "expert", None)
    mof = getattr(expert, "mof_cfg", None)
    if expert is not None and mof is not None and mof.enabled:
        skip = {id(m) for m in expert.layers}
    return [m for m in model.modules() if isinstance(m, (TowerBlock, ViTBlock)) and id(m) not in skip]


# torch 2.6's FSDP2 records events on its all-gather streams, and CPU streams have no `record_event` before 2.7
# (measured: the 2-process CPU run fails in 2.6.0's foreach_all_gather; passes in 2.7.0 and 2.13.0).
CPU_FSDP_TORCH = "2.7"


def check_fsdp_device(device_type: str, torch_version: str) -> None:
    """Refuse (one line) FSDP on CPU with a torch whose FSDP2 cannot run there."""
    from hy_vla.utils.versions import release

    if device_type == "cpu" and release(torch_version) < release(CPU_FSDP_TORCH):
        raise RuntimeError(
            f"FSDP on CPU needs torch >= {CPU_FSDP_TORCH} (torch {torch_version}'s FSDP2 records events on CPU "
            "streams, which cannot); use parallel=ddp on CPU or upgrade torch"
        )


def shard_model(model: nn.Module) -> nn.Module:
    """Apply FSDP2 in place: each unit of `sharding_units`, then the root. Call after loading weights
    and before building the optimizer (its parameters become the sharded DTensors)."""
    from hy_vla.utils.versions import require

    require("torch", "FSDP2 sharding")
    check_fsdp_device(next(model.parameters()).device.type, torch.__version__)
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    from hy_vla.models.tower import TowerBlock

    # FSDP warns when a unit returns a view (project_qkv's v is one) because an in-place op on it would
    # skip the backward all-gather; nothing writes into q, k or v in place, so the warning is noise.
    warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor", category=UserWarning)
    for unit in sharding_units(model):
        fully_shard(unit)
        if isinstance(unit, TowerBlock):
            register_fsdp_forward_method(unit, "project_qkv")
            register_fsdp_forward_method(unit, "finish")
    fully_shard(model)
    return model


def is_dtensor(t: Any) -> bool:
    # Looked up, not imported: torch.distributed.tensor costs ~1 s to import and is loaded by fully_shard anyway.
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(t, module.DTensor)


def is_sharded(model: nn.Module) -> bool:
    return any(is_dtensor(p) for p in model.parameters())


def full_tensor(t: Any) -> Any:
    """A DTensor's full value (a collective: every rank must call it in the same order); others unchanged."""
    return t.full_tensor() if is_dtensor(t) else t


def shard_like(full: Tensor, ref: Tensor) -> Tensor:
    """The local share of a full tensor, laid out like the DTensor `ref` (plain tensors pass through)."""
    if not is_dtensor(ref):
        return full
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(full.to(ref.device, ref.dtype), ref.device_mesh, ref.placements)


def _full_options() -> Any:
    """Full (unsharded) tensors, offloaded to the CPU: rank 0 receives them, the other ranks get {}."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def _optimizer_order(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """Parameter names in the optimizer's own order: index i of `optimizer.state_dict()` is names[i]."""
    name_of = {id(p): n for n, p in model.named_parameters()}
    return [name_of[id(p)] for group in optimizer.param_groups for p in group["params"]]


def full_model_state(model: nn.Module) -> dict[str, Tensor]:
    """Full weights by name on rank 0 (CPU), {} on the other ranks. Collective."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full_options())


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Full optimizer state in `torch.optim.Optimizer.state_dict()` layout (index-keyed) on rank 0,
    {} on the other ranks. Collective."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    by_name = get_optimizer_state_dict(model, optimizer, options=_full_options())
    if not by_name:
        return {}
    index = {name: i for i, name in enumerate(_optimizer_order(model, optimizer))}
    groups = [{**g, "params": [index[n] for n in g["params"]]} for g in by_name["param_groups"]]
    return {"state": {index[n]: s for n, s in by_name["state"].items()}, "param_groups": groups}


def load_full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Restore an index-keyed full optimizer state (every rank passes the same one) into a sharded model."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    names = _optimizer_order(model, optimizer)
    groups = [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]
    by_name = {"state": {names[int(i)]: s for i, s in state["state"].items()}, "param_groups": groups}
    # Parameters that never got a gradient (the last backbone layer's vision tower, whose output nothing reads)
    # have no moments, exactly as in a plain `optimizer.state_dict()`. Some torch releases look every parameter up
    # in the loaded state even with strict=False (a KeyError in 2.7.0), so they get zero placeholders, dropped
    # again below.
    missing = {name for name in names if name not in by_name["state"]}
    template = next(iter(by_name["state"].values()), None)
    full = dict(model.named_parameters())
    for name in missing if template is not None else ():
        by_name["state"][name] = {k: torch.zeros(full[name].shape, dtype=v.dtype) if v.dim() else torch.zeros_like(v)
                                  for k, v in template.items()}  # fmt: skip
    options = StateDictOptions(full_state_dict=True, strict=False)
    set_optimizer_state_dict(model, optimizer, by_name, options=options)
    # The helper first creates every moment with a zero-gradient step; drop those the checkpoint did not
    # have, so the state equals the saved one (and an uninterrupted run's) entry for entry.
    for name, p in zip(names, [p for group in optimizer.param_groups for p in group["params"]], strict=True):
        if name in missing:
            optimizer.state.pop(p, None)


def gather_training_state(model: nn.Module, optimizer: torch.optim.Optimizer, ema: Any) -> Any:
    """The full `TrainingState` of a sharded run on rank 0 (None elsewhere). Collective: every rank calls it."""
    from hy_vla.training.checkpointing import TrainingState

    weights = full_model_state(model)
    optim = full_optimizer_state(model, optimizer)
    ema_state = ema.state_dict() if ema is not None else None  # gathers every shadow tensor
    return TrainingState(weights, optim, ema_state) if weights else None
