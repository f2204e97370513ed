"""The stochastic denoising chain (hy_vla.flow.stochastic) and every decoder's chain (sample_chain / chain_means)."""

import dataclasses
import math

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.flow import stochastic
from hy_vla.models.decoders.dit import DiTConfig
from hy_vla.models.decoders.hybrid import HybridConfig
from hy_vla.models.decoders.mpg import MPGConfig


def test_log_density_matches_a_hand_computed_gaussian():
    mean = torch.tensor([[[0.0, 1.0], [2.0, -1.0]]])  # (1, 2, 2)
    x = torch.tensor([[[0.5, 1.0], [1.0, 0.0]]])
    mask = torch.tensor([[[True, False], [True, True]]])
    sigma = 0.5
    # three counted channels with deviations 0.5, -1.0, 1.0
    want = sum(-(d**2) / (2 * sigma**2) - math.log(sigma) - 0.5 * math.log(2 * math.pi) for d in (0.5, -1.0, 1.0))
    got = stochastic.gaussian_log_prob(x, mean, sigma, mask)
    assert got.shape == (1,) and got.item() == pytest.approx(want, rel=1e-6)
    # against torch's Normal on the same channels
    ref = torch.distributions.Normal(mean[mask], sigma).log_prob(x[mask]).sum()
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)


def test_kl_of_equal_variance_gaussians():
    a, b = torch.zeros(1, 1, 3), torch.tensor([[[1.0, 2.0, 0.0]]])
    mask = torch.ones(1, 1, 3, dtype=torch.bool)
    assert stochastic.transition_kl(a, b, 0.5, mask).item() == pytest.approx((1 + 4) / (2 * 0.25))
    assert stochastic.transition_kl(a, a, 0.5, mask).item() == 0.0


def test_noisy_step_leaves_unmasked_channels_deterministic():
    mean, eps = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    mask = torch.tensor([[[True, False], [False, False]]])
    out = stochastic.noisy_step(mean, 0.1, mask, eps)
    assert out[0, 0, 0].item() == pytest.approx(0.1) and out[mask.logical_not()].abs().max() == 0


def test_a_non_positive_sigma_has_no_density():
    with pytest.raises(ValueError, match="sigma"):
        stochastic.gaussian_log_prob(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), 0.0, torch.ones(1, 1, 1).bool())


WIDE_VOCAB = dataclasses.replace(micro_config().backbone, vocab_size=259 + 16)  # room for the hybrid's action tokens
DECODERS = {
    "dual_tower": {},
    "mot_expert": {},
    "dit": {"dit": DiTConfig(width=32, depth=2, num_heads=2, mlp_hidden=64)},
    "hybrid": {"hybrid": HybridConfig(num_bins=16, predict_mode="diff"), "backbone": WIDE_VOCAB},
    "mpg": {"mpg": MPGConfig(enabled=True)},
}


@pytest.mark.parametrize("name", list(DECODERS))
def test_every_decoder_recomputes_its_chain_exactly(name: str) -> None:
    """Ratio exactly 1 before any update: the means recomputed from the stored states are the ones sampled around."""
    decoder = "mot_expert" if name == "mpg" else name
    torch.manual_seed(0)
    model = HyVLA(micro_config(decoder=decoder, **DECODERS[name])).eval()
    batch = micro_batch(model.config, with_action=False)
    mask = model.chain_mask(batch, executed=2)
    noise = torch.randn(2, model.config.horizon, model.config.max_action_dim)
    states, drawn, actions = model.sample_chain(batch, 0.2, mask, noise, generator=torch.Generator().manual_seed(1))
    k = model.config.num_inference_steps
    assert states.shape == (k + 1, *noise.shape) and torch.equal(states[0], noise)
    assert torch.equal(actions, states[-1])  # leading layout: the model's own
    # a vanishing sigma is the deterministic sampler
    quiet, _, _ = model.sample_chain(batch, 1e-9, mask, noise, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(quiet[-1], model.sample_actions(batch, noise=noise), atol=1e-5)
    means = model.chain_means(batch, states)
    assert torch.allclose(means.detach(), drawn, atol=1e-5)  # the rollout's own means, recomputed
    # noise only on executed robot channels: the others follow their transition mean exactly
    full = mask.expand(k, *mask.shape)
    assert torch.allclose(states[1:][~full], means.detach()[~full], atol=1e-5)
    assert means.shape == (k, *noise.shape) and means.requires_grad
    old = sum(stochastic.gaussian_log_prob(states[i + 1], means[i].detach(), 0.2, mask) for i in range(k))
    # the same states scored twice: identical log-probabilities (ratio 1) ...
    again = model.chain_means(batch, states)
    new = sum(stochastic.gaussian_log_prob(states[i + 1], again[i], 0.2, mask) for i in range(k))
    assert torch.allclose(new, old, atol=1e-4)
    # ... and equal to the density of the noise actually drawn: states[i+1] - mean = sigma * eps
    eps = (states[1:] - means.detach())[full] / 0.2
    assert eps.abs().max() < 6 and eps.std().item() == pytest.approx(1.0, abs=0.35)
    new.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.expert.parameters())


def test_a_hybrid_in_ar_mode_has_no_chain():
    cfg = micro_config(decoder="hybrid", hybrid=HybridConfig(num_bins=16, predict_mode="diff+ar"), backbone=WIDE_VOCAB)
    model = HyVLA(cfg).eval()
    batch = micro_batch(model.config, with_action=False)
    noise = torch.randn(2, model.config.horizon, model.config.max_action_dim)
    with pytest.raises(ValueError, match="predict_mode 'diff'"):
        model.sample_chain(batch, 0.1, model.chain_mask(batch), noise)


def test_chain_mask_covers_the_robot_channels_of_executed_steps():
    model = HyVLA(micro_config())
    batch = micro_batch(model.config, with_action=False)
    m = model.chain_mask(batch, executed=3)
    assert m.shape == (2, 4, 6)
    assert m[:, :3, :4].all() and not m[:, 3:].any() and not m[:, :, 4:].any()
