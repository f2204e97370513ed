"""HybridVLA: discrete action tokens, AR + flow in one LM, predict modes and the confidence ensemble."""

import dataclasses

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.models.action_tokenizer import UniformActionTokenizer, action_token_ids, mean_confidence
from hy_vla.models.decoders.hybrid import HybridConfig, ensemble
from hy_vla.models.masks import causal_suffix_mask


def _cfg(**hybrid):
    bb = micro_config().backbone
    return micro_config(
        decoder="hybrid",
        hybrid=HybridConfig(num_bins=16, **hybrid),
        backbone=dataclasses.replace(bb, vocab_size=259 + 16),
    )


def test_uniform_bins_known_values():
    tok = UniformActionTokenizer(num_bins=4, offset=100)
    x = torch.tensor([-1.0, -0.6, -0.5, 0.0, 0.49, 1.0, 7.0, -3.0])
    assert tok.to_bins(x).tolist() == [0, 0, 1, 2, 2, 3, 3, 0]
    assert tok.encode(x).tolist() == [100, 100, 101, 102, 102, 103, 103, 100]
    assert tok.from_bins(torch.arange(4)).tolist() == [-0.75, -0.25, 0.25, 0.75]
    y = torch.rand(1000) * 2 - 1
    assert (tok.decode(tok.encode(y)) - y).abs().max() <= tok.bin_width / 2 + 1e-6  # half-bin round trip
    t256 = action_token_ids(256, 259 + 256)
    assert t256.id_range() == (259, 515)  # the bins come after the text ids
    assert float(mean_confidence(torch.tensor([[0.5, 1.0, 0.0]]), torch.tensor([[True, True, False]]))) == 0.75


def test_ensemble_rule():
    diff, ar = torch.zeros(2, 1, 3), torch.ones(2, 1, 3)
    out = ensemble(diff, ar, torch.tensor([0.97, 0.95]), 0.96)
    assert torch.equal(out[0], torch.full((1, 3), 0.5)) and torch.equal(out[1], torch.zeros(1, 3))


def test_ar_tokens_are_causal():
    m = causal_suffix_mask(torch.tensor([[True, True, False]]), 3)
    assert m[0, :, :3].tolist() == [[True, True, False]] * 3
    assert m[0, :, 3:].tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def test_loss_is_flow_plus_ar_and_uses_the_lm():
    model = HyVLA(_cfg(ar_weight=0.5))
    loss, metrics = model.compute_loss(micro_batch(model.config))
    assert metrics["loss"] == pytest.approx(metrics["flow_loss"] + metrics["ar_loss"], rel=1e-5)
    loss.backward()
    # both action streams run through the LM's own layers: the text towers get gradients
    assert model.backbone.layers[0][1].qkv.weight.grad.abs().sum() > 0
    assert model.backbone.embed.weight.grad[259:].abs().sum() > 0  # action-token embeddings (tied LM head)
    assert not any(n.startswith("expert.") and "backbone" in n for n, _ in model.named_parameters())


def test_predict_modes():
    model = HyVLA(_cfg()).eval()
    cfg = model.config
    batch = micro_batch(cfg, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    diff = model.sample_actions(batch, predict_mode="diff", noise=noise)
    ar = model.sample_actions(batch, predict_mode="ar", noise=noise)
    both = model.sample_actions(batch, predict_mode="diff+ar", noise=noise)
    assert diff.shape == ar.shape == both.shape == noise.shape
    centres = action_token_ids(16, 275).from_bins(torch.arange(16))
    used = ar[..., : cfg.action_dim]
    assert torch.isin(used, centres).all() and (ar[..., cfg.action_dim :] == 0).all()
    assert torch.equal(both, diff)  # an untrained LM is far from confident: the flow answer is kept
    model.expert.cfg = dataclasses.replace(model.expert.cfg, ensemble_threshold=0.0)
    assert torch.allclose(model.sample_actions(batch, noise=noise), 0.5 * (diff + ar))
    with pytest.raises(ValueError, match="predict_mode"):
        model.sample_actions(batch, predict_mode="beam", noise=noise)


@pytest.mark.slow
def test_ar_head_learns_a_fixed_chunk():
    torch.manual_seed(0)
    cfg = dataclasses.replace(_cfg(ar_weight=1.0), horizon=1, history_frames=1)
    model = HyVLA(cfg)
    batch = micro_batch(cfg, b=2)
    batch["action"] = torch.tensor([[[-0.9, 0.1, 0.5, 0.8]], [[0.3, -0.4, 0.0, -0.7]]])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss, _ = model.compute_loss(batch, generator=torch.Generator().manual_seed(0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    ar = model.sample_actions(batch, predict_mode="ar")[..., :4]
    assert (ar - batch["action"]).abs().max() <= 1 / 16 + 1e-6  # the right bin for every channel
