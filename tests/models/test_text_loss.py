"""Next-token loss on text targets (VL co-training): tied head, causal suffix, no leak into the actions."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys
from hy_vla.models.decoders.hybrid import HybridConfig
from hy_vla.models.dual_tower import encode_prefix
from hy_vla.models.text_loss import causal_text_hidden, text_target_loss
from hy_vla.training.config import TrainConfig
from hy_vla.training.objectives import attach_objectives


def _cotrain(model: HyVLA, lm_weight: float = 1.0) -> HyVLA:
    return attach_objectives(model, TrainConfig(stage="cotrain", lm_weight=lm_weight))


def _loss(model: HyVLA, batch: dict) -> tuple[torch.Tensor, dict]:
    return model.compute_loss(batch, generator=torch.Generator().manual_seed(0))


def test_text_loss_is_added_with_its_weight_and_never_reaches_the_actions() -> None:
    torch.manual_seed(0)
    plain_model = HyVLA(micro_config())
    torch.manual_seed(0)
    model = _cotrain(HyVLA(micro_config()), lm_weight=0.25)  # the same weights: the objective has none
    batch = micro_batch(model.config)
    plain, plain_metrics = _loss(plain_model, batch)
    assert "lm_loss" not in plain_metrics  # not co-training: the loss is the action loss alone
    a = {**batch, keys.TEXT_TARGET: ["to go: hand_pos x up", "to go: nothing"]}
    b = {**batch, keys.TEXT_TARGET: ["to go: gripper_opening down", "to go: hand_pos z down y up"]}
    loss_a, ma = _loss(model, a)
    _, mb = _loss(model, b)
    # The action loss is bit-identical whatever the caption: the text suffix never enters the prefix
    # keys/values the action expert reads.
    assert ma["flow_loss"] == mb["flow_loss"] == float(plain.detach())
    assert ma["lm_loss"] != mb["lm_loss"]
    assert float(loss_a) == pytest.approx(ma["flow_loss"] + ma["lm_loss"], rel=1e-6)  # lm_loss: the weighted term
    # At initialization the tied head, scaled by 1/sqrt(width), gives a CE of the order of log(vocab) (measured
    # 7.4 vs log(259) = 5.6: the residual stream still carries each input token's own embedding), not tens of nats.
    uniform = math.log(model.config.backbone.vocab_size)
    assert uniform - 1 < ma["lm_loss"] / 0.25 < 2 * uniform
    with pytest.raises(KeyError, match="text_target"):  # co-training without captions says what is missing
        _loss(model, batch)


def test_targets_are_causal_and_see_the_images() -> None:
    model = HyVLA(micro_config())
    batch = micro_batch(model.config)
    prefix = model.embed_prefix(batch)
    _, kv = encode_prefix(model.backbone, prefix)
    ids = torch.randint(3, 259, (2, 6))
    changed = ids.clone()
    changed[:, 4:] = torch.randint(3, 259, (2, 2))
    h = causal_text_hidden(model.backbone, prefix, kv, model.backbone.embed(ids))
    h2 = causal_text_hidden(model.backbone, prefix, kv, model.backbone.embed(changed))
    assert torch.equal(h[:, :4], h2[:, :4])  # later tokens never reach earlier positions
    assert not torch.allclose(h[:, 4:], h2[:, 4:])
    other = dict(batch)
    for key in model.config.image_keys:
        other[key] = torch.rand_like(batch[key])
    prefix2 = model.embed_prefix(other)
    _, kv2 = encode_prefix(model.backbone, prefix2)
    tok, bb = model.tokenizer, model.backbone
    loss, loss2 = (float(text_target_loss(tok, bb, p, k, ["abc", "abc"])) for p, k in ((prefix, kv), (prefix2, kv2)))
    assert loss != loss2  # the caption is predicted from the scene


def test_hybrid_decoder_shares_the_head() -> None:
    """With HybridVLA's decoder the captions use the same tied head as its AR action tokens."""
    bb = micro_config().backbone
    vocab = dataclasses.replace(bb, vocab_size=259 + 16)
    cfg = micro_config(decoder="hybrid", hybrid=HybridConfig(num_bins=16), backbone=vocab)
    model = _cotrain(HyVLA(cfg))
    batch = {**micro_batch(cfg), keys.TEXT_TARGET: ["to go: nothing", "to go: state[0] up"]}
    loss, metrics = _loss(model, batch)
    assert {"ar_loss", "lm_loss", "flow_loss"} <= metrics.keys()
    loss.backward()
    assert model.backbone.embed.weight.grad is not None


def test_bad_targets_are_named() -> None:
    model = _cotrain(HyVLA(micro_config()))
    with pytest.raises(ValueError, match="text_target"):
        _loss(model, {**micro_batch(model.config), keys.TEXT_TARGET: ["only one"]})
