import json

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, HyVLAConfig
from hy_vla.presets import get_preset


def test_loss_and_gradients_reach_every_used_parameter():
    model = HyVLA(micro_config(history_frames=2))
    loss, metrics = model.compute_loss(micro_batch(model.config))
    assert loss.ndim == 0 and torch.isfinite(loss) and metrics["loss"] == pytest.approx(float(loss))
    loss.backward()
    last = model.config.backbone.depth - 1
    # The action expert reads every backbone layer's keys/values, so only the last layer's
    # post-attention part and the final norms (used by language heads, not by actions) get no gradient.
    unused = (f"backbone.layers.{last}.", "backbone.final_norms.")
    for name, p in model.named_parameters():
        if name.startswith(unused) and not any(s in name for s in ("qkv", "norm1", "k_norm")):
            continue
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient for {name}"


def test_loss_mask_excludes_padded_steps_and_unused_channels():
    from hy_vla.models import inputs

    cfg = micro_config()  # action_dim 4 of max_action_dim 6
    batch = micro_batch(cfg)
    batch["action_is_pad"] = torch.tensor([[False, False, False, True], [False, False, False, False]])
    a, mask = inputs.action_target(batch, cfg, torch.float32)
    assert a.shape == mask.shape == (2, cfg.horizon, cfg.max_action_dim)
    assert not mask[0, -1].any() and mask[1, -1, :4].all()
    assert not mask[..., 4:].any() and mask[0, :3, :4].all()
    assert torch.equal(a[..., 4:], torch.zeros(2, cfg.horizon, 2))
    batch["action_dim_mask"] = torch.tensor([[True, False, True, False, False, False]] * 2)
    _, mask = inputs.action_target(batch, cfg, torch.float32)
    assert mask[1, 0].tolist() == [True, False, True, False, False, False]
    # garbage in masked channels does not change the loss
    model = HyVLA(cfg)
    l1, _ = model.compute_loss(batch, generator=torch.Generator().manual_seed(3))
    batch["action"] = batch["action"].clone()
    batch["action"][..., 1] = 1e4
    l2, _ = model.compute_loss(batch, generator=torch.Generator().manual_seed(3))
    assert torch.isfinite(l1) and torch.equal(l1, l2)


def test_committed_prefix_is_clean_and_excluded():
    model = HyVLA(micro_config())
    batch = micro_batch(model.config)
    batch["action_prefix_len"] = torch.tensor([model.config.horizon, model.config.horizon])
    loss, _ = model.compute_loss(batch)
    assert float(loss) == 0.0  # every step committed: nothing left to learn


def test_save_load_round_trip_identical(tmp_path):
    model = HyVLA(micro_config()).eval()
    from hy_vla.data.norm_stats import FeatureStats, NormStats

    stats = FeatureStats(mode="mean_std", count=3, mean=[0.0, 1.0], std=[1.0, 2.0])
    model.norm_stats = NormStats({"metaworld_sawyer": {"observation.state": stats}})
    out = model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "norm_stats.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    loaded = HyVLA.from_pretrained(out).eval()
    batch = micro_batch(model.config, with_action=False)
    noise = torch.randn(2, model.config.horizon, model.config.max_action_dim)
    assert torch.equal(model.sample_actions(batch, noise=noise), loaded.sample_actions(batch, noise=noise))
    assert loaded.config == model.config
    assert loaded.norm_stats.to_dict() == model.norm_stats.to_dict()
    # saving again over an existing checkpoint replaces it
    model.save_pretrained(out)
    assert HyVLA.from_pretrained(out) is not None


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        HyVLA.from_pretrained(tmp_path)
    out = HyVLA(micro_config()).save_pretrained(tmp_path / "c")
    d = json.loads((out / "config.json").read_text())
    d["backbone"]["width"] = 64
    (out / "config.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="shape"):
        HyVLA.from_pretrained(out)
    d["backbone"]["widht"] = 64
    (out / "config.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="did you mean 'width'"):
        HyVLA.from_pretrained(out)


def test_pickled_norm_stats_refused(tmp_path):
    import pickle

    out = HyVLA(micro_config()).save_pretrained(tmp_path / "c")
    (out / "norm_stats.json").unlink()
    (out / "norm_stats.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="pickle"):
        HyVLA.from_pretrained(out)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_model_card_snippet(tmp_path, dtype):
    """The model card's calling sequence, unchanged, against a save_pretrained checkpoint."""
    HyVLA(HyVLAConfig.from_preset("hy-vla-tiny")).save_pretrained(tmp_path / "ckpt")
    ckpt = str(tmp_path / "ckpt")

    config = HyVLAConfig.from_pretrained(ckpt)
    policy = HyVLA.from_pretrained(ckpt, config=config)
    policy.enable_video_encoder_if_needed()
    policy = policy.to(device="cpu", dtype=dtype).eval()
    img = torch.zeros(1, 6, 3, 224, 224, device="cpu", dtype=dtype)
    state = torch.zeros((1, config.max_state_dim), device="cpu", dtype=dtype)
    batch = {
        "observation.images.top_head": img,
        "observation.images.hand_left": img,
        "observation.images.hand_right": img,
        "observation.state": state,
        "task": ["pick up the bottle"],
    }
    with torch.no_grad():
        actions = policy.forward_evaluate(batch)["pred"]
    actions = actions[..., : config.action_feature.shape[0]]
    assert actions.shape == (1, config.horizon, 20)
    assert torch.isfinite(actions).all()


def test_bf16_close_to_fp32():
    model = HyVLA(micro_config()).eval()
    batch = micro_batch(model.config, with_action=False)
    noise = torch.randn(2, model.config.horizon, model.config.max_action_dim)
    a = model.sample_actions(batch, noise=noise)
    b = model.to(torch.bfloat16).sample_actions(batch, noise=noise)
    assert b.dtype == torch.float32
    assert (a - b).abs().max() < 0.25 * a.abs().max() + 0.05


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b.pop("observation.images.hand_left"), "observation.images.hand_left"),
        (lambda b: b.update({"observation.images.top_head": torch.zeros(2, 3, 16, 16)}), r"\(B=2, K=3, 3, H, W\)"),
        (lambda b: b.update({"observation.images.top_head": torch.zeros(2, 5, 3, 16, 16)}), "K=5"),
        (lambda b: b.update({"observation.state": torch.zeros(2, 9)}), "max_state_dim=8"),
        (lambda b: b.update({"observation.state": torch.zeros(2, 1, 8)}), "observation.state"),
        (lambda b: b.update({"observation.state": torch.tensor([[float("nan")] * 5] * 2)}), "NaN"),
        (lambda b: b["observation.images.top_head"].__setitem__((0, 0, 0, 0, 0), float("inf")), "top_head.*NaN or inf"),
        (lambda b: b.update({"task": ["only one"]}), "task"),
        (lambda b: b.pop("task"), "task"),
    ],
)
def test_bad_input_names_the_key(mutate, match):
    model = HyVLA(micro_config()).eval()
    batch = micro_batch(model.config, with_action=False)
    mutate(batch)
    with pytest.raises(ValueError, match=match):
        model.forward_evaluate(batch)


def test_other_image_sizes_are_resized_and_uint8_accepted():
    model = HyVLA(micro_config()).eval()
    cfg = model.config
    batch = micro_batch(cfg, with_action=False)
    big = {
        k: torch.nn.functional.interpolate(v.flatten(0, 1), size=(40, 56)).view(2, 3, 3, 40, 56)
        for k, v in batch.items()
        if k.startswith("observation.images")
    }
    batch.update({k: (v * 255).to(torch.uint8) for k, v in big.items()})
    assert model.forward_evaluate(batch)["pred"].shape == (2, cfg.horizon, cfg.max_action_dim)


def test_history_padding_mask_changes_nothing_for_masked_frames():
    model = HyVLA(micro_config()).eval()
    cfg = model.config
    batch = micro_batch(cfg, with_action=False)
    batch["observation.history_is_pad"] = torch.tensor([[True, False, False], [False, False, False]])
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    a = model.sample_actions(batch, noise=noise)
    batch["observation.images.top_head"] = batch["observation.images.top_head"].clone()
    batch["observation.images.top_head"][0, 0] = 0.0  # a padded frame of sample 0
    b = model.sample_actions(batch, noise=noise)
    assert torch.allclose(a, b, atol=1e-6)


def test_presets_registry():
    with pytest.raises(ValueError, match="Did you mean: hy-vla-tiny"):
        get_preset("hy-vla-tyni")
    with torch.device("meta"):
        big = HyVLA(HyVLAConfig.from_preset("hy-vla"))
    expert = sum(p.numel() for p in big.expert.parameters())
    assert 330e6 < expert < 420e6  # the release's ~370M action expert
    tiny = HyVLA(HyVLAConfig.from_preset("hy-vla-tiny"))
    assert tiny.num_parameters() < 10e6
    cfg = HyVLAConfig.from_preset("hy-vla-tiny")
    assert cfg.history_frames == 6 and cfg.camera_names == ("top_head", "hand_left", "hand_right")
    assert HyVLAConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_dense_flag_shares_parameters():
    mot = HyVLA(micro_config())
    bb = micro_config().backbone
    dense = HyVLA(micro_config(backbone=bb.__class__(**{**bb.__dict__, "dense": True})))
    n_mot = sum(p.numel() for p in mot.backbone.layers.parameters())
    n_dense = sum(p.numel() for p in dense.backbone.layers.parameters())
    assert n_mot == 2 * n_dense
    loss, _ = dense.compute_loss(micro_batch(dense.config))
    assert torch.isfinite(loss)


def test_tiny_model_overfits_a_fixed_batch():
    torch.manual_seed(0)
    model = HyVLA(micro_config(history_frames=1))
    batch = micro_batch(model.config, b=4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        # the same noise and flow times every step: the fixed batch is fully memorisable
        loss, _ = model.compute_loss(batch, generator=torch.Generator().manual_seed(0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    first, last = losses[0], sum(losses[-5:]) / 5
    assert last < first / 10, (first, last)
