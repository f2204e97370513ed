"""The seed-system presets: Being-H0.5, HybridVLA, Qwen-VLA (full size on meta, tiny on CPU)."""

import json

import pytest
import torch

from hy_vla import HyVLA, HyVLAConfig

VARIANTS = ["being-h05", "hybridvla", "qwen-vla"]


def _batch(cfg: HyVLAConfig, b: int = 2, with_action: bool = True) -> dict:
    g = torch.Generator().manual_seed(0)
    s = cfg.image_size
    batch: dict = {k: torch.rand(b, cfg.history_frames, 3, s, s, generator=g) for k in cfg.image_keys}
    batch["observation.state"] = torch.randn(b, cfg.state_dim, generator=g)
    batch["task"] = ["pick up the red block", "open the drawer"][:b]
    if with_action:
        batch["action"] = torch.randn(b, cfg.horizon, cfg.action_dim, generator=g).clamp(-1, 1)
    return batch


@pytest.mark.parametrize("name", VARIANTS)
def test_full_size_preset_builds_on_meta(name):
    cfg = HyVLAConfig.from_preset(name)
    assert HyVLAConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with torch.device("meta"):
        model = HyVLA(cfg)
    n = model.num_parameters()
    assert {"being-h05": 4e9, "hybridvla": 6.5e9, "qwen-vla": 2e9}[name] < n < 8e9
    assert cfg.decoder == {"being-h05": "mot_expert", "hybridvla": "hybrid", "qwen-vla": "dit"}[name]


@pytest.mark.parametrize("name", [f"{v}-tiny" for v in VARIANTS])
def test_tiny_preset_save_load_identical_and_trains(name, tmp_path):
    cfg = HyVLAConfig.from_preset(name)
    assert HyVLAConfig.from_dict(json.loads(cfg.to_json())) == cfg
    model = HyVLA(cfg)
    assert model.num_parameters() < 5e6
    loss, metrics = model.compute_loss(_batch(cfg))
    assert torch.isfinite(loss)
    loss.backward()
    model.eval()
    out = model.save_pretrained(tmp_path / name)
    loaded = HyVLA.from_pretrained(out).eval()
    assert loaded.config == cfg
    batch = _batch(cfg, with_action=False)
    torch.manual_seed(1)
    a = model.forward_evaluate(batch)["pred"]
    torch.manual_seed(1)
    b = loaded.forward_evaluate(batch)["pred"]
    assert a.shape == (2, cfg.horizon, cfg.max_action_dim) and torch.isfinite(a).all()
    assert torch.equal(a, b)


def test_preset_details_follow_the_seeds():
    being = HyVLAConfig.from_preset("being-h05")
    assert being.max_action_dim == 200 and being.horizon == 16 and being.mpg.enabled
    assert being.mpg.lam == 0.1 and being.mpg.num_projections == 32 and being.mof.shared_layers == 14
    hybrid = HyVLAConfig.from_preset("hybridvla")
    assert hybrid.hybrid.num_bins == 256 and hybrid.hybrid.ensemble_threshold == 0.96
    assert hybrid.backbone.vocab_size == 32_000 + 256 and hybrid.backbone.dense and hybrid.horizon == 1
    qwen = HyVLAConfig.from_preset("qwen-vla")
    assert qwen.use_embodiment_prompt and qwen.backbone.dense and qwen.dit.use_state
