"""Prefix guidance (inference-time real-time chunking): known values and the model-level guarantee."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.flow import flow_matching as fm
from hy_vla.flow.guidance import full_prefix, guided_velocity, predicted_clean


def test_guided_velocity_known_values():
    x, v, y = torch.zeros(1, 1, 1), torch.ones(1, 1, 1), torch.full((1, 1, 1), 2.0)
    assert predicted_clean(x, v, 0.5).item() == pytest.approx(0.5)
    assert guided_velocity(x, v, 0.5, y, torch.zeros(1)).item() == pytest.approx(1.0)  # w = 0: untouched
    assert guided_velocity(x, v, 0.5, y, torch.ones(1)).item() == pytest.approx(4.0)  # 1 + (2 - 0.5) / 0.5
    assert guided_velocity(x, v, 0.5, y, torch.full((1,), 0.5)).item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        guided_velocity(x, v, 1.0, y, torch.ones(1))


@pytest.mark.parametrize("steps", [1, 3, 10])
def test_weight_one_lands_exactly_on_the_target(steps):
    """Euler with the guided velocity reaches Y exactly where W = 1, whatever the model and step count."""
    g = torch.Generator().manual_seed(0)
    target, noise = torch.randn(2, 5, 3, generator=g), torch.randn(2, 5, 3, generator=g)
    w = torch.tensor([1.0, 1.0, 0.5, 0.0, 0.0]).view(1, 5, 1)

    def field(x: torch.Tensor, t: float) -> torch.Tensor:  # an arbitrary "model"
        return torch.sin(3 * x) + t

    free = fm.integrate(field, noise, steps)
    guided = fm.integrate(lambda x, t: guided_velocity(x, field(x, t), t, target, w), noise, steps)
    torch.testing.assert_close(guided[:, :2], target[:, :2], atol=1e-5, rtol=0)
    if steps == 1:  # one step from t=0: the weighted mean of the free prediction and the target
        torch.testing.assert_close(guided[:, 2], 0.5 * free[:, 2] + 0.5 * target[:, 2])
    torch.testing.assert_close(guided[:, 3:], free[:, 3:])  # w = 0: the (element-wise) model alone
    assert not torch.allclose(guided[:, 2], free[:, 2])


def test_full_prefix_pads_and_validates():
    target, w = full_prefix(torch.ones(1, 2, 3), torch.tensor([1.0, 0.5]), (2, 4, 5))
    assert target.shape == w.shape == (2, 4, 5)
    assert w[0, :, 0].tolist() == [1.0, 0.5, 0.0, 0.0] and w[:, :, 3:].abs().sum() == 0  # unused channels: 0
    assert target[1, 1, 2] == 1 and target[1, 2, 0] == 0
    with pytest.raises(ValueError, match="exceeds the chunk"):
        full_prefix(torch.ones(1, 5, 3), torch.ones(5), (1, 4, 5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        full_prefix(torch.ones(1, 2, 3), torch.tensor([1.5, 0.0]), (1, 4, 5))
    with pytest.raises(ValueError, match="prefix_weights"):
        full_prefix(torch.ones(1, 2, 3), torch.ones(3), (1, 4, 5))


@pytest.mark.parametrize("use_cache", [True, False])
def test_sample_actions_with_prefix(use_cache):
    cfg = micro_config(horizon=6)
    model = HyVLA(cfg).eval()
    batch = micro_batch(cfg, b=2, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim, generator=torch.Generator().manual_seed(1))
    prev = torch.randn(2, 4, cfg.action_dim)  # a previous chunk's remaining 4 steps (normalized)
    weights = torch.tensor([1.0, 1.0, 0.6, 0.2])
    kw = {"noise": noise, "use_cache": use_cache, "num_steps": 2}
    free = model.sample_actions(batch, **kw)
    guided = model.sample_actions(batch, **kw, prefix_actions=prev, prefix_weights=weights)
    torch.testing.assert_close(guided[:, :2, : cfg.action_dim], prev[:, :2], atol=1e-5, rtol=0)  # committed: exact
    assert not torch.allclose(guided[:, 2:4], free[:, 2:4])  # soft part pulled toward prev
    if use_cache:
        zero = model.sample_actions(batch, **kw, prefix_actions=prev, prefix_weights=torch.zeros(4))
        torch.testing.assert_close(zero, free)  # weight 0 = no guidance
        with pytest.raises(ValueError, match="both"):
            model.sample_actions(batch, noise=noise, prefix_actions=prev)
