"""The env-state auxiliary target: off by default, added to the loss, trains the image tokens to locate things."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.env_state_head import EnvStateConfig, pooled_image_tokens
from hy_vla.training.run_config import sample_config_for


def _cfg(weight: float = 1.0, dim: int = 3, frame: str = "current", probe_batch: int = 8, **changes) -> HyVLAConfig:
    return micro_config(env_state=EnvStateConfig(weight, dim, frame, probe_batch), **changes)


def _add_probe_images(cfg: HyVLAConfig, batch: dict, b: int) -> None:
    """The episode-start frames the first-frame probe reads (env_state.images.<cam>, (B, 3, H, W) uint8)."""
    s = cfg.image_size
    for cam in cfg.camera_names:
        batch[keys.ENV_STATE_IMAGE_PREFIX + cam] = torch.randint(0, 255, (b, 3, s, s), dtype=torch.uint8)


def test_config_validation_and_default_off():
    assert not micro_config().env_state.enabled
    assert not hasattr(HyVLA(micro_config()), "env_state_head")
    with pytest.raises(ValueError, match="dim"):
        EnvStateConfig(weight=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        EnvStateConfig(weight=-1.0, dim=2)
    cfg = _cfg()
    assert HyVLAConfig.from_dict(cfg.to_dict()).env_state == cfg.env_state  # round-trips through config.json
    assert sample_config_for(cfg).env_state_key == keys.ENV_STATE  # the data side follows the model
    assert sample_config_for(micro_config()).env_state_key is None


def test_pooled_image_tokens_means_each_image_block():
    hidden = torch.arange(2 * 7 * 1, dtype=torch.float32).view(2, 7, 1)  # 2 images x 3 tokens, then 1 text token
    pooled = pooled_image_tokens(hidden, n_cam=2, per_img=3)
    assert pooled.tolist() == [[1.0, 4.0], [8.0, 11.0]]


def test_loss_adds_weighted_mse_and_errors_are_clear():
    torch.manual_seed(0)
    cfg = _cfg(weight=2.0)
    model = HyVLA(cfg)
    batch = micro_batch(cfg)
    batch[keys.ENV_STATE] = torch.randn(2, 3)
    g = torch.Generator().manual_seed(1)
    loss, m = model.compute_loss(batch, generator=g)
    assert m["env_state_mse"] > 0
    plain_cfg = micro_config()
    torch.manual_seed(0)
    plain, _ = HyVLA(plain_cfg).compute_loss(micro_batch(plain_cfg), generator=torch.Generator().manual_seed(1))
    # same weights and noise (the head is built last), so the difference is exactly the weighted term
    assert float(loss.detach()) == pytest.approx(float(plain) + 2.0 * m["env_state_mse"], rel=1e-4)
    loss.backward()
    assert model.vision.patch.weight.grad.abs().sum() > 0
    with pytest.raises(KeyError, match="env_state_key"):
        model.compute_loss(micro_batch(cfg))
    batch[keys.ENV_STATE] = torch.randn(2, 5)
    with pytest.raises(ValueError, match="width 5"):
        model.compute_loss(batch)


def test_probe_trains_the_image_tokens_to_carry_the_target():
    """Each camera shows a uniform grey of random brightness; the target is the two brightnesses. Only a
    path from the pixels through the vision encoder and backbone to the head can lower the error."""
    torch.manual_seed(0)
    cfg = _cfg(weight=1.0, dim=2, history_frames=1)
    model = HyVLA(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def batch_of_greys(b: int = 32) -> dict:
        batch = micro_batch(cfg, b=b, seed=int(torch.randint(1_000, (1,), generator=gen)))
        level = torch.rand(b, 2, generator=gen)
        for c, key in enumerate(cfg.image_keys):
            batch[key] = level[:, c].view(b, 1, 1, 1, 1).expand_as(batch[key]).clone()
        batch[keys.ENV_STATE] = (level - 0.5) * 3.4  # about unit variance
        return batch

    def probe_error() -> float:
        with torch.no_grad():
            _, m = model.compute_loss(batch_of_greys(256), generator=torch.Generator().manual_seed(0))
        return m["env_state_mse"]

    before = probe_error()
    for _ in range(100):
        loss, _ = model.compute_loss(batch_of_greys(), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = probe_error()
    assert before > 0.5 and after < 0.2 * before, (before, after)


def test_image_prefix_hidden_states_equal_the_full_prefix():
    """The first-frame probe runs images without the instruction; image tokens never attend to text."""
    from hy_vla.models.dual_tower import encode_prefix

    cfg = micro_config()
    model = HyVLA(cfg).eval()
    batch = micro_batch(cfg)
    full, _ = encode_prefix(model.backbone, model.embed_prefix(batch))
    prefix, per_img = model.image_prefix(batch, 2)
    alone, _ = encode_prefix(model.backbone, prefix)
    assert alone.shape[1] == per_img * len(cfg.camera_names)
    torch.testing.assert_close(alone, full[:, : alone.shape[1]], rtol=1e-5, atol=1e-5)


def test_first_frame_probe_reads_its_own_images():
    torch.manual_seed(0)
    cfg = _cfg(weight=1.0, dim=3, frame="first", probe_batch=2)
    model = HyVLA(cfg)
    batch = micro_batch(cfg, b=3)
    batch[keys.ENV_STATE] = torch.randn(3, 3)
    with pytest.raises(KeyError, match="env_state_frame"):
        model.compute_loss(batch)
    _add_probe_images(cfg, batch, 3)
    g = torch.Generator().manual_seed(0)
    loss, m = model.compute_loss(batch, generator=g)
    loss.backward()
    assert m["env_state_mse"] > 0 and model.env_state_head.mlp[0].weight.grad.abs().sum() > 0
    # the term depends on the probe images and only on the first probe_batch targets
    batch2 = dict(batch)
    batch2[keys.ENV_STATE] = batch[keys.ENV_STATE].clone()
    batch2[keys.ENV_STATE][2] += 100.0
    assert model.compute_loss(batch2, generator=torch.Generator().manual_seed(0))[1]["env_state_mse"] == pytest.approx(
        m["env_state_mse"]
    )
    cam0 = keys.ENV_STATE_IMAGE_PREFIX + cfg.camera_names[0]
    batch2[cam0] = 255 - batch[cam0]
    assert model.compute_loss(batch2, generator=torch.Generator().manual_seed(0))[1]["env_state_mse"] != pytest.approx(
        m["env_state_mse"]
    )
    assert sample_config_for(cfg).env_state_frame == "first"
    with pytest.raises(ValueError, match="frame"):
        EnvStateConfig(weight=1.0, dim=2, frame="last")


def test_both_frames_add_the_current_and_the_first_frame_terms():
    torch.manual_seed(0)
    cfg = _cfg(weight=1.0, dim=3, frame="both", probe_batch=2)
    model = HyVLA(cfg)
    batch = micro_batch(cfg, b=3)
    batch[keys.ENV_STATE] = torch.randn(3, 3)
    _add_probe_images(cfg, batch, 3)
    with pytest.raises(KeyError, match=keys.ENV_STATE_FIRST):
        model.compute_loss(batch)
    batch[keys.ENV_STATE_FIRST] = torch.randn(3, 3)

    def mse(b: dict) -> dict:
        return model.compute_loss(b, generator=torch.Generator().manual_seed(0))[1]

    m = mse(batch)
    assert m["env_state_mse"] > m["env_state_mse_current"] > 0
    # the current term reads the sample's own target over the whole batch, the first-frame term its own target
    moved = dict(batch, **{keys.ENV_STATE: batch[keys.ENV_STATE] + 1.0})
    assert mse(moved)["env_state_mse_current"] != pytest.approx(m["env_state_mse_current"])
    moved = dict(batch, **{keys.ENV_STATE_FIRST: batch[keys.ENV_STATE_FIRST] + 1.0})
    m2 = mse(moved)
    assert m2["env_state_mse_current"] == pytest.approx(m["env_state_mse_current"])
    assert m2["env_state_mse"] != pytest.approx(m["env_state_mse"])
    loss, _ = model.compute_loss(batch)
    loss.backward()
    assert model.env_state_head.mlp[0].weight.grad.abs().sum() > 0
    assert sample_config_for(cfg).env_state_frame == "both"


@pytest.mark.parametrize("decoder", ["dual_tower", "mot_expert", "dit", "hybrid"])
def test_first_frame_probe_trains_with_every_decoder(decoder: str) -> None:
    """The demo recipe's first-frame target is also used when `hy-vla demo --preset P` trains another seed system."""
    import dataclasses

    torch.manual_seed(0)
    cfg = _cfg(weight=1.0, dim=3, frame="first", probe_batch=2)
    vocab = cfg.backbone.vocab_size + (cfg.hybrid.num_bins if decoder == "hybrid" else 0)  # + its action tokens
    cfg = dataclasses.replace(cfg, decoder=decoder, backbone=dataclasses.replace(cfg.backbone, vocab_size=vocab))
    model = HyVLA(cfg)
    batch = micro_batch(cfg, b=3)
    batch[keys.ENV_STATE] = torch.randn(3, 3)
    _add_probe_images(cfg, batch, 3)
    loss, m = model.compute_loss(batch, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert m["env_state_mse"] > 0 and model.env_state_head.mlp[0].weight.grad.abs().sum() > 0
