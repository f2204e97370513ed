"""The env-state training objective: outside the network, added to the loss, trains the image tokens to locate
things, never saved with the model."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys
from hy_vla.models.config import HyVLAConfig
from hy_vla.training.config import TrainConfig
from hy_vla.training.objectives import EnvStateConfig, attach_objectives, sample_inputs
from hy_vla.training.objectives.env_state import PROBE_SAMPLES, pooled_image_tokens
from hy_vla.training.run_config import sample_config_for

TARGET = keys.EXTRA_PREFIX + "env_state"


def _train(weight: float = 1.0, dim: int = 3, frame: str = "current") -> TrainConfig:
    return TrainConfig(env_state=EnvStateConfig(weight=weight, dim=dim, frame=frame))


def _model(cfg: HyVLAConfig, train: TrainConfig) -> HyVLA:
    torch.manual_seed(0)
    return attach_objectives(HyVLA(cfg), train)


def _add_first_frames(cfg: HyVLAConfig, batch: dict, b: int) -> None:
    s = cfg.image_size
    for key in cfg.image_keys:
        batch[keys.FIRST_FRAME_PREFIX + key] = torch.randint(0, 255, (b, 3, s, s), dtype=torch.uint8)


def test_config_validation_default_off_and_what_the_data_side_delivers():
    assert not TrainConfig().env_state.enabled and not len(
        attach_objectives(HyVLA(micro_config()), TrainConfig()).objectives
    )
    with pytest.raises(ValueError, match="dim"):
        EnvStateConfig(weight=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        EnvStateConfig(weight=-1.0, dim=2)
    with pytest.raises(ValueError, match="frame"):
        EnvStateConfig(weight=1.0, dim=2, frame="both")  # measured and rejected (bench/RESULTS.md)
    train = _train(frame="first")
    assert TrainConfig.from_dict(train.to_dict()).env_state == train.env_state  # round-trips through JSON
    data = sample_config_for(micro_config(), train)
    assert data.extra_columns == {"env_state": ("observation.environment_state", "first")} and data.first_frame_images
    assert sample_inputs(TrainConfig()) == {} and sample_config_for(micro_config(), TrainConfig()).extra_columns == {}


def test_pooled_image_tokens_means_each_image_block():
    hidden = torch.arange(2 * 7 * 1, dtype=torch.float32).view(2, 7, 1)  # 2 images x 3 tokens, then 1 text token
    pooled = pooled_image_tokens(hidden, n_cam=2, per_img=3)
    assert pooled.tolist() == [[1.0, 4.0], [8.0, 11.0]]


def test_loss_adds_the_weighted_term_and_errors_are_clear():
    cfg = micro_config()
    model = _model(cfg, _train(weight=2.0))
    batch = micro_batch(cfg)
    batch[TARGET] = torch.randn(2, 3)
    loss, m = model.compute_loss(batch, generator=torch.Generator().manual_seed(1))
    assert m["env_state_loss"] > 0
    torch.manual_seed(0)
    plain, _ = HyVLA(cfg).compute_loss(micro_batch(cfg), generator=torch.Generator().manual_seed(1))
    # same weights and noise (the objective is built after the network), so the difference is exactly the term
    assert float(loss.detach()) == pytest.approx(float(plain) + m["env_state_loss"], rel=1e-4)
    loss.backward()
    assert model.vision.patch.weight.grad.abs().sum() > 0
    with pytest.raises(KeyError, match="observation.environment_state"):
        model.compute_loss(micro_batch(cfg))
    batch[TARGET] = torch.randn(2, 5)
    with pytest.raises(ValueError, match="width 5"):
        model.compute_loss(batch)


def test_objective_weights_are_not_saved_with_the_network(tmp_path):
    cfg = micro_config()
    model = _model(cfg, _train())
    assert any(k.startswith("objectives.env_state.") for k in model.state_dict())
    model.save_pretrained(tmp_path / "m")
    loaded = HyVLA.from_pretrained(tmp_path / "m")  # strict: the saved network is exactly the plain model
    assert not len(loaded.objectives) and set(loaded.state_dict()) == set(HyVLA(cfg).state_dict())


def test_objective_trains_the_image_tokens_to_carry_the_target():
    """Each camera shows a uniform grey of random brightness; the target is the two brightnesses. Only a
    path from the pixels through the vision encoder and backbone to the head can lower the error."""
    cfg = micro_config(history_frames=1)
    model = _model(cfg, _train(dim=2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def batch_of_greys(b: int = 32) -> dict:
        batch = micro_batch(cfg, b=b, seed=int(torch.randint(1_000, (1,), generator=gen)))
        level = torch.rand(b, 2, generator=gen)
        for c, key in enumerate(cfg.image_keys):
            batch[key] = level[:, c].view(b, 1, 1, 1, 1).expand_as(batch[key]).clone()
        batch[TARGET] = (level - 0.5) * 3.4  # about unit variance
        return batch

    def probe_error() -> float:
        with torch.no_grad():
            _, m = model.compute_loss(batch_of_greys(256), generator=torch.Generator().manual_seed(0))
        return m["env_state_loss"]

    before = probe_error()
    for _ in range(100):
        loss, _ = model.compute_loss(batch_of_greys(), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = probe_error()
    assert before > 0.5 and after < 0.2 * before, (before, after)


def test_image_only_hidden_states_equal_the_full_prefix():
    """The first-frame target runs images without the instruction; image tokens never attend to text."""
    from hy_vla.models.dual_tower import encode_prefix

    cfg = micro_config()
    model = HyVLA(cfg).eval()
    batch = micro_batch(cfg)
    full, _ = encode_prefix(model.backbone, model.embed_prefix(batch))
    alone = model.encode_images(batch, 2)
    assert alone.shape[1] == cfg.tokens_per_image * len(cfg.camera_names)
    torch.testing.assert_close(alone, full[:, : alone.shape[1]], rtol=1e-5, atol=1e-5)


def test_first_frame_target_reads_its_own_images():
    cfg = micro_config()
    model = _model(cfg, _train(frame="first"))
    b = PROBE_SAMPLES + 1
    batch = micro_batch(cfg, b=b)
    batch[TARGET] = torch.randn(b, 3)
    with pytest.raises(KeyError, match="first_frame_images"):
        model.compute_loss(batch)
    _add_first_frames(cfg, batch, b)

    def term(x: dict) -> float:
        return model.compute_loss(x, generator=torch.Generator().manual_seed(0))[1]["env_state_loss"]

    loss, m = model.compute_loss(batch, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert m["env_state_loss"] > 0 and model.objectives["env_state"].head[0].weight.grad.abs().sum() > 0
    # the term depends on the first frames and only on the first PROBE_SAMPLES targets
    moved = dict(batch, **{TARGET: batch[TARGET].clone()})
    moved[TARGET][PROBE_SAMPLES] += 100.0
    assert term(moved) == pytest.approx(m["env_state_loss"])
    cam0 = keys.FIRST_FRAME_PREFIX + cfg.image_keys[0]
    moved[cam0] = 255 - batch[cam0]
    assert term(moved) != pytest.approx(m["env_state_loss"])


@pytest.mark.parametrize("decoder", ["dual_tower", "mot_expert", "dit", "hybrid"])
def test_first_frame_target_trains_with_every_decoder(decoder: str) -> None:
    """The demo's objective also trains the other seed systems' models (the metaworld-* presets)."""
    cfg = micro_config(decoder=decoder)
    vocab = cfg.backbone.vocab_size + (cfg.hybrid.num_bins if decoder == "hybrid" else 0)  # + its action tokens
    cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, vocab_size=vocab))
    model = _model(cfg, _train(frame="first"))
    batch = micro_batch(cfg, b=3)
    batch[TARGET] = torch.randn(3, 3)
    _add_first_frames(cfg, batch, 3)
    loss, m = model.compute_loss(batch, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert m["env_state_loss"] > 0 and model.objectives["env_state"].head[0].weight.grad.abs().sum() > 0


def test_text_only_batches_skip_the_objective():
    cfg = micro_config()
    model = _model(cfg, _train())
    batch = {k: v for k, v in micro_batch(cfg).items() if not k.startswith(keys.IMAGE_PREFIX)}
    _, m = model.compute_loss(batch, text_only=True)
    assert "env_state_loss" not in m
