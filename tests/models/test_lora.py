"""LoRA: wrap Linears by name, only adapters (+ chosen modules) train, merge/unmerge are exact."""

import pytest
import torch
from model_fixtures import micro_batch, micro_config
from torch import nn

from hy_vla import HyVLA
from hy_vla.models.lora import LoRAConfig, LoRALinear, apply_lora, merge_lora, unmerge_lora


def test_wrap_starts_identical_and_merge_is_exact():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(3, 8)
    ref = net(x)
    wrapped = apply_lora(net, LoRAConfig(rank=2, targets=(r"^0$",), trainable=()))
    assert wrapped == ["0"] and isinstance(net[0], LoRALinear) and type(net[2]) is nn.Linear
    assert torch.allclose(net(x), ref)  # B = 0 at start
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["0.lora_A", "0.lora_B"]
    with torch.no_grad():
        net[0].lora_B.normal_()
    adapted = net(x)
    assert not torch.allclose(adapted, ref)
    assert merge_lora(net) == 1 and net[0].merged
    assert torch.allclose(net(x), adapted, atol=1e-5)
    unmerge_lora(net)
    assert torch.allclose(net(x), adapted, atol=1e-5) and not net[0].merged


def test_bad_pattern_matches_nothing():
    with pytest.raises(ValueError, match="matched no"):
        apply_lora(nn.Sequential(nn.Linear(2, 2)), LoRAConfig(rank=1, targets=("nothing",)))


def test_hy_vla_lora_from_config_trains_only_adapters_and_expert(tmp_path):
    cfg = micro_config(lora=LoRAConfig(rank=2))
    model = HyVLA(cfg)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("expert.") for n in trainable)
    assert any(".qkv.lora_A" in n for n in trainable)
    loss, _ = model.compute_loss(micro_batch(cfg))
    loss.backward()
    assert model.backbone.layers[0][0].qkv.lora_A.grad is not None
    assert model.backbone.layers[0][0].qkv.weight.grad is None
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.normal_(std=0.1)
    model.eval()
    batch = micro_batch(cfg, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    a = model.sample_actions(batch, noise=noise)
    merge_lora(model)
    assert torch.allclose(model.sample_actions(batch, noise=noise), a, atol=1e-4)
    loaded = HyVLA.from_pretrained(model.save_pretrained(tmp_path / "c")).eval()  # saved merged: loads merged
    assert torch.allclose(loaded.sample_actions(batch, noise=noise), a, atol=1e-4)
