"""Image-free prefix (text-to-action pretraining): no image tokens, images neither needed nor read."""

from __future__ import annotations

import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys


def _text_only(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith(keys.IMAGE_PREFIX)}


def test_prefix_is_the_instruction_alone() -> None:
    model = HyVLA(micro_config())
    batch = micro_batch(model.config)
    full, text = model.embed_prefix(batch), model.embed_prefix(_text_only(batch), text_only=True)
    ids, _ = model.tokenizer.encode_batch(batch[keys.TASK], model.config.max_text_len)
    assert text.x.shape[1] == ids.shape[1] < full.x.shape[1]  # only text tokens
    assert [s.modality for s in text.segments] == [1]  # the text tower alone
    assert torch.equal(text.x, full.x[:, -ids.shape[1] :])  # the same text embedding, positions from 0
    assert text.positions[:, 0].eq(0).all()


def test_text_only_trains_no_vision_and_predicts_without_images() -> None:
    model = HyVLA(micro_config())
    batch = micro_batch(model.config)
    loss, _ = model.compute_loss(_text_only(batch), generator=torch.Generator().manual_seed(0), text_only=True)
    loss.backward()
    assert all(p.grad is None for p in model.vision.parameters()) and model.camera_embed.grad is None
    assert model.expert.action_in.weight.grad is not None
    noise = torch.randn(2, model.config.horizon, model.config.max_action_dim)
    model.eval()
    a = model.sample_actions(_text_only(batch), noise=noise, text_only=True)
    other = {**batch, **{k: torch.rand_like(batch[k]) for k in model.config.image_keys}}
    b = model.sample_actions(other, noise=noise, text_only=True)  # frames present but not read
    assert torch.equal(a, b) and torch.isfinite(a).all()
