import pytest
import torch
from model_fixtures import micro_config
from torch import nn
from training.training_helpers import micro_samples

from hy_vla import keys
from hy_vla.models.hy_vla import HyVLA
from hy_vla.training import TrainConfig, Trainer
from hy_vla.training.batches import ListDataset
from hy_vla.training.checkpointing import latest_checkpoint
from hy_vla.training.trainer import prepare_batch


def _config(tmp_path, **changes) -> TrainConfig:
    base = dict(out_dir=str(tmp_path), steps=3, batch_size=4, lr=1e-3, min_lr=1e-4, warmup_steps=1, save_every=2,
                log_every=1, tensorboard=False, device="cpu")  # fmt: skip
    return TrainConfig(**{**base, **changes})


def test_fit_writes_checkpoints_and_tensorboard(tmp_path) -> None:
    cfg = micro_config()
    model = HyVLA(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    metrics = Trainer(model, _config(tmp_path, tensorboard=True, ema_decay=0.9), micro_samples(cfg, 8)).fit()
    assert latest_checkpoint(tmp_path).name == "3"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["2", "3", "last"]
    assert any((tmp_path / "tb").iterdir())
    assert metrics["loss"] > 0 and metrics["lr"] == pytest.approx(1e-4 + 0.5 * 9e-4)  # step 2 of 3: half way down
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_freeze_options(tmp_path) -> None:
    cfg = micro_config()
    model = HyVLA(cfg)
    vision = {k: v.clone() for k, v in model.vision.state_dict().items()}
    layer0 = {k: v.clone() for k, v in model.expert.layers[0].state_dict().items()}
    tc = _config(tmp_path, steps=1, freeze_vision=True, freeze_projector=True, freeze_expert_layers=(0,))
    trainer = Trainer(model, tc, micro_samples(cfg, 4))
    assert trainer.frozen == ["vision", "projector", "expert.layers.0"]
    trainer.fit()
    assert all(torch.equal(vision[k], v) for k, v in model.vision.state_dict().items())
    assert all(torch.equal(layer0[k], v) for k, v in model.expert.layers[0].state_dict().items())
    with pytest.raises(ValueError, match="out of range"):
        Trainer(HyVLA(cfg), _config(tmp_path, freeze_expert_layers=(5,)), micro_samples(cfg, 4))


@pytest.mark.parametrize("decoder", ["dit", "hybrid", "mot_expert"])
def test_every_decoder_trains(tmp_path, decoder: str) -> None:
    """The trainer read `model.expert.layers` unconditionally: DiT (Qwen-VLA) and hybrid (HybridVLA) crashed."""
    import dataclasses

    from hy_vla.models.decoders.hybrid import HybridConfig

    changes: dict = {"decoder": decoder}
    if decoder == "hybrid":
        bb = micro_config().backbone
        changes |= {"hybrid": HybridConfig(num_bins=16), "backbone": dataclasses.replace(bb, vocab_size=259 + 16)}
    cfg = micro_config(**changes)
    trainer = Trainer(HyVLA(cfg), _config(tmp_path, steps=1, save_every=1), micro_samples(cfg, 4))
    assert trainer.fit()["loss"] > 0
    if decoder == "hybrid":
        with pytest.raises(ValueError, match="no layer stack of its own"):
            Trainer(HyVLA(cfg), _config(tmp_path / "f", freeze_expert_layers=(0,)), micro_samples(cfg, 4))
    else:
        frozen = Trainer(HyVLA(cfg), _config(tmp_path / "f", freeze_expert_layers=(0,)), micro_samples(cfg, 4))
        assert frozen.frozen == ["expert.layers.0"]


def test_stages_prepare_batches(tmp_path) -> None:
    cfg = micro_config()
    batch = {keys.STATE: torch.zeros(64, 3)}
    g = torch.Generator().manual_seed(0)
    d = prepare_batch(batch, cfg, _config(tmp_path, stage="uac", max_delay=2), g)[keys.ACTION_PREFIX_LEN]
    assert d.shape == (64,) and set(d.tolist()) == {0, 1, 2}
    framed = {**batch, cfg.image_keys[0]: torch.zeros(64, 1, 3, 8, 8), keys.HISTORY_IS_PAD: torch.zeros(64, 1)}
    t2a = prepare_batch(framed, cfg, _config(tmp_path, stage="t2a"), g)
    assert not any(k.startswith(keys.IMAGE_PREFIX) for k in t2a)  # no frames at all
    assert keys.HISTORY_IS_PAD not in t2a
    with pytest.raises(ValueError, match="horizon"):
        Trainer(HyVLA(cfg), _config(tmp_path, stage="uac", max_delay=cfg.horizon), micro_samples(cfg, 4))


def test_first_frames_are_shifted_like_the_camera_frames(tmp_path) -> None:
    cfg = micro_config(history_frames=1)
    g = torch.Generator().manual_seed(0)
    img = torch.zeros(16, 3, 8, 8, dtype=torch.uint8)
    img[:, :, 4, 4] = 255  # one bright pixel: any shift moves it
    batch = {
        keys.STATE: torch.zeros(16, 3),
        cfg.image_keys[0]: img.unsqueeze(1),
        keys.FIRST_FRAME_PREFIX + cfg.image_keys[0]: img,
    }
    out = prepare_batch(batch, cfg, _config(tmp_path, augment_shift=2), g)
    probe = out[keys.FIRST_FRAME_PREFIX + cfg.image_keys[0]]
    assert probe.shape == img.shape and probe.dtype == torch.uint8
    assert (probe[:, 0, 4, 4] != 255).any()  # augmented, not passed through


@pytest.mark.parametrize("stage", ["uac", "t2a"])
def test_stage_runs_and_reduces_its_loss(tmp_path, stage: str) -> None:
    cfg = micro_config(history_frames=1)  # a single frame keeps 20 steps quick
    samples = micro_samples(cfg, 8)
    if stage == "t2a":  # text-to-action data has no images at all
        samples = ListDataset([{k: v for k, v in s.items() if not k.startswith(keys.IMAGE_PREFIX)} for s in samples])
    extra = {"max_delay": 2} if stage == "uac" else {}
    model = HyVLA(cfg)
    vision = {k: v.clone() for k, v in model.vision.state_dict().items()}
    losses: list[float] = []
    tc = _config(tmp_path, steps=20, stage=stage, lr=3e-3, warmup_steps=0, save_every=20, **extra)
    Trainer(model, tc, samples, on_step_end=lambda _, m: losses.append(m["loss"])).fit()
    # Flow losses are noisy per step (noise and time drawn per sample): compare 10-step means (measured:
    # uac 2.06 -> 1.59, t2a 2.25 -> 1.96).
    assert sum(losses[-10:]) < sum(losses[:10]), losses
    # T2A has no image tokens (regression: it used to feed black frames through the ViT and train it).
    unchanged = all(torch.equal(vision[k], v) for k, v in model.vision.state_dict().items())
    assert unchanged == (stage == "t2a")


class Regressor(nn.Module):
    """A deterministic model (no flow noise), so accumulated and full batches see the same loss terms."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))

    def compute_loss(self, batch: dict, generator: torch.Generator | None = None, **_) -> tuple[torch.Tensor, dict]:
        loss = (self.net(batch[keys.STATE]) - batch[keys.ACTION]).pow(2).mean()
        return loss, {"loss": float(loss.detach())}

    def save_pretrained(self, directory) -> None:  # noqa: ANN001
        from safetensors.torch import save_file

        directory.mkdir(parents=True)
        save_file(dict(self.state_dict()), str(directory / "model.safetensors"))


def test_accumulation_equals_full_batch(tmp_path) -> None:
    """4 micro-batches of 2 accumulated == one batch of 8, to float32 rounding (atol 1e-6)."""
    g = torch.Generator().manual_seed(0)
    data = ListDataset([{keys.STATE: torch.randn(3, generator=g), keys.ACTION: torch.randn(2, generator=g)}
                        for _ in range(16)])  # fmt: skip
    results = []
    for accum in (1, 4):
        torch.manual_seed(0)
        model = Regressor()
        tc = _config(tmp_path / str(accum), steps=4, batch_size=8, grad_accum=accum, grad_clip=0.5, weight_decay=0.1)
        Trainer(model, tc, data).fit()
        results.append(model.state_dict())
    for k in results[0]:
        torch.testing.assert_close(results[0][k], results[1][k], atol=1e-6, rtol=0)


def test_cotrain_mixes_the_next_token_loss_and_learns_the_captions(tmp_path) -> None:
    cfg = micro_config(history_frames=1)
    captions = {"pick the cube": "to go: state[0] up", "open the drawer": "to go: nothing"}
    samples = ListDataset([{**s, keys.TEXT_TARGET: captions[s[keys.TASK]]} for s in micro_samples(cfg, 4)])
    seen: list[dict[str, float]] = []
    tc = _config(tmp_path, steps=25, stage="cotrain", lm_weight=0.5, lr=3e-3, warmup_steps=0, save_every=25)
    metrics = Trainer(HyVLA(cfg), tc, samples, on_step_end=lambda _, m: seen.append(dict(m))).fit()
    assert metrics["loss"] == pytest.approx(metrics["flow_loss"] + metrics["lm_loss"], rel=1e-5)  # lm_loss weighted
    first, last = seen[0]["lm_loss"], sum(m["lm_loss"] for m in seen[-5:]) / 5
    assert last < 0.5 * first, (first, last)
    with pytest.raises(ValueError, match="text_target"):  # cotrain without captions says what is missing
        Trainer(HyVLA(cfg), _config(tmp_path / "x", stage="cotrain"), micro_samples(cfg, 4)).fit()


def test_cpu_training_uses_the_fused_adamw_kernel(tmp_path) -> None:
    """The default per-tensor AdamW loop cost 2.6x the fused kernel's time on the demo model (see fused_adamw_ok)."""
    from hy_vla.training.parameters import fused_adamw_ok, param_groups

    cfg = micro_config()
    trainer = Trainer(HyVLA(cfg), _config(tmp_path, steps=1), micro_samples(cfg, 4))
    assert trainer._optimizer().defaults["fused"] is True
    # and the kernel's updates match the reference implementation's
    groups_of = lambda m: param_groups(m, 0.01)  # noqa: E731
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert fused_adamw_ok(groups_of(a)) and not fused_adamw_ok([])
    opts = [torch.optim.AdamW(groups_of(m), lr=1e-2, fused=f) for m, f in ((a, True), (b, None))]
    for _ in range(3):
        for m, opt in zip((a, b), opts, strict=True):
            opt.zero_grad()
            m(torch.ones(4, 3)).square().sum().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)
