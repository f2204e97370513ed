"""The env-state auxiliary target: off by default, added to the loss, trains the image tokens to locate things."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.env_state_head import EnvStateConfig, pooled_image_tokens
from hy_vla.training.run_config import sample_config_for


def _cfg(weight: float = 1.0, dim: int = 3, **changes) -> HyVLAConfig:
    return micro_config(env_state=EnvStateConfig(weight=weight, dim=dim), **changes)


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
