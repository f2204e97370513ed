"""FSDP2 pieces that run in one process: sharding units, config, checkpoints from gathered full tensors.

The 2-process FSDP run itself is tests/training/test_fsdp.py (slow).
"""

from __future__ import annotations

import pytest
import torch
from model_fixtures import micro_config

from hy_vla.models.decoders.mixture_of_flow import MoFConfig
from hy_vla.models.hy_vla import HyVLA
from hy_vla.models.tower import TowerBlock
from hy_vla.models.vision import ViTBlock
from hy_vla.training import TrainConfig
from hy_vla.training.batches import DataPosition
from hy_vla.training.checkpointing import TrainingState, read_checkpoint, save_checkpoint
from hy_vla.training.sharding import check_fsdp_device, sharding_units


def test_units_are_vision_blocks_and_towers() -> None:
    model = HyVLA(micro_config())
    units = sharding_units(model)
    assert sum(isinstance(u, ViTBlock) for u in units) == 2  # vision depth
    assert sum(isinstance(u, TowerBlock) for u in units) == 2 * 2 + 2  # backbone: 2 layers x 2 modalities; expert: 2
    assert all(any(u is m for u in units) for m in model.expert.layers)


def test_units_skip_expert_layers_whose_finish_is_rerouted() -> None:
    """Mixture-of-Flow's routed finish reads block.out / block.mlp directly, outside FSDP's gather."""
    mof = MoFConfig(num_experts=2, shared_layers=1, top_k=1, routes=("a", "b"))
    model = HyVLA(micro_config(decoder="mot_expert", mof=mof))
    units = sharding_units(model)
    assert not any(u is m for u in units for m in model.expert.layers)
    assert sum(isinstance(u, TowerBlock) for u in units) == 4  # the backbone's towers still are units


def test_fsdp_on_cpu_is_refused_where_torch_cannot_run_it() -> None:
    """torch 2.6's FSDP2 calls Stream.record_event, which CPU streams lack: one line instead of a rank crash."""
    with pytest.raises(RuntimeError, match=r"FSDP on CPU needs torch >= 2.7 .*parallel=ddp"):
        check_fsdp_device("cpu", "2.6.0+cu124")
    check_fsdp_device("cuda", "2.6.0+cu124")  # GPU FSDP2 works in 2.6
    check_fsdp_device("cpu", "2.7.0")
    check_fsdp_device("cpu", "2.13.0+cpu")


def test_parallel_setting_is_validated() -> None:
    assert TrainConfig(parallel="fsdp").parallel == "fsdp"
    with pytest.raises(ValueError, match="parallel"):
        TrainConfig(parallel="zero3")


def test_checkpoint_from_gathered_state(tmp_path) -> None:
    """What rank 0 writes under FSDP: full tensors given explicitly, the model's own (sharded) ones unused."""
    model = HyVLA(micro_config())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    ema = {k: v + 1.0 for k, v in weights.items() if k.startswith("expert.")}
    state = TrainingState(weights, opt.state_dict(), ema)
    with torch.no_grad():  # the model's own weights must not be what is written
        for p in model.parameters():
            p.zero_()
    path = save_checkpoint(tmp_path, 5, model, opt, DataPosition(1, 2), state=state)
    exported = HyVLA.from_pretrained(path).state_dict()
    assert all(torch.equal(exported[k], ema.get(k, weights[k])) for k in weights)  # EMA where there is one
    back = read_checkpoint(path)
    assert back.step == 5 and back.position == DataPosition(1, 2)
    assert all(torch.equal(back.state.weights[k], weights[k]) for k in weights)  # raw weights for resuming
    assert all(torch.equal(back.state.ema[k], ema[k]) for k in ema)
    assert back.state.optimizer["param_groups"] == opt.state_dict()["param_groups"]
