"""Data-parallel training through torchrun: rank/world from the environment, gloo on CPU, nccl on GPU.

    torchrun --nproc-per-node 2 -m hy_vla.cli.main train --preset ... --dataset D --out O
    torchrun --nnodes 2 --node-rank R --rdzv-backend c10d --rdzv-endpoint HOST:29500 --nproc-per-node 8 \
        -m hy_vla.cli.main train ...                                                    # multi-node

Every rank holds the whole model (DDP), or 1/N of it with `parallel="fsdp"` (FSDP2, `sharding.py`);
the global batch `batch_size` is split evenly across ranks
(each rank reads its own slice of the same deterministic sample order); rank 0 alone writes
checkpoints and logs; all ranks resume from the same checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def context_from_env() -> DistContext:
    """torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them this is a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return DistContext(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(ctx: DistContext, device: torch.device) -> bool:
    """Join torchrun's process group; True when this call created it (and so should destroy it)."""
    if ctx.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return True
    return False


def shutdown_distributed(created: bool) -> None:
    """Leave the process group together, so that no rank exits while another still talks to it."""
    if created and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def _reduce_device() -> torch.device | None:
    """Where a scalar to all-reduce must live: NCCL reduces only CUDA tensors, gloo CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None


def mean_across(ctx: DistContext, value: float) -> float:
    """Average a scalar over ranks (for logging)."""
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_reduce_device())
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def any_across(ctx: DistContext, flag: bool) -> bool:
    """True on every rank when it is True on any rank (e.g. rank 0's wall-clock budget is spent)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=_reduce_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
