"""Attention structure of the full model, checked by perturbation."""

import torch
from model_fixtures import micro_batch, micro_config

from hy_vla.models.dual_tower import encode_prefix, joint_forward
from hy_vla.models.hy_vla import HyVLA


def _model(**changes) -> HyVLA:
    return HyVLA(micro_config(**changes)).eval()


def _prefix_hidden(model, batch):
    return encode_prefix(model.backbone, model.embed_prefix(batch))[0]


def test_text_is_causal_and_images_do_not_see_text():
    model = _model()
    batch = micro_batch(model.config, b=1)
    batch["task"] = ["abcdef"]
    base = _prefix_hidden(model, batch)
    batch["task"] = ["abcXef"]  # byte 4 of the text changes (token index 1 + 3 = 4 with BOS)
    new = _prefix_hidden(model, batch)
    nv = base.shape[1] - 8  # 6 bytes + BOS + EOS
    assert torch.allclose(base[:, :nv], new[:, :nv], atol=1e-6)  # images never see text
    assert torch.allclose(base[:, nv : nv + 4], new[:, nv : nv + 4], atol=1e-6)  # earlier text unaffected
    assert not torch.allclose(base[:, nv + 4 :], new[:, nv + 4 :], atol=1e-6)  # later text sees it


def test_image_tokens_bidirectional_within_image_and_causal_across_images():
    model = _model()
    batch = micro_batch(model.config, b=1)
    base = _prefix_hidden(model, batch)
    p = model.config.vision.num_patches
    pert = dict(batch)
    img = batch["observation.images.top_head"].clone()
    img[..., -8:, -8:] += 0.5  # changes only the last patch of camera 0's current frame
    pert["observation.images.top_head"] = img
    new = _prefix_hidden(model, pert)
    assert not torch.allclose(base[:, 0], new[:, 0], atol=1e-6)  # first patch sees the last patch
    pert2 = dict(batch)
    pert2["observation.images.hand_left"] = batch["observation.images.hand_left"] + 0.5
    new2 = _prefix_hidden(model, pert2)
    assert torch.allclose(base[:, :p], new2[:, :p], atol=1e-6)  # camera 0 does not see camera 1
    assert not torch.allclose(base[:, p : 2 * p], new2[:, p : 2 * p], atol=1e-6)


def test_prefix_never_sees_suffix_and_actions_see_each_other():
    model = _model()
    cfg = model.config
    batch = micro_batch(cfg, b=1)
    prefix = model.embed_prefix(batch)
    state = torch.zeros(1, cfg.max_state_dim)
    smask = torch.ones(1, cfg.max_state_dim, dtype=torch.bool)
    t = torch.full((1, cfg.horizon), 0.3)
    x = torch.randn(1, cfg.horizon, cfg.max_action_dim)
    ph, sh = joint_forward(model.backbone, model.expert, prefix, model.expert.embed(state, smask, x, t))
    x2 = x.clone()
    x2[:, -1] += 1.0  # perturb the last noisy action
    ph2, sh2 = joint_forward(model.backbone, model.expert, prefix, model.expert.embed(state, smask, x2, t))
    assert torch.allclose(ph, ph2, atol=1e-6)  # prefix cannot see the suffix
    assert torch.allclose(sh[:, 0], sh2[:, 0], atol=1e-6)  # the state token cannot see the actions
    assert not torch.allclose(sh[:, 1], sh2[:, 1], atol=1e-6)  # action 0 sees action H-1: bidirectional


def test_cached_sampling_equals_uncached():
    for changes in (
        {},
        {"backbone": micro_config().backbone.__class__(**{**micro_config().backbone.__dict__, "num_latent_tokens": 2})},
    ):
        model = _model(**changes)
        cfg = model.config
        batch = micro_batch(cfg, b=2, with_action=False)
        noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
        a = model.sample_actions(batch, noise=noise, use_cache=True)
        b = model.sample_actions(batch, noise=noise, use_cache=False)
        assert a.shape == (2, cfg.horizon, cfg.max_action_dim)
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


def test_text_padding_does_not_change_output():
    model = _model()
    cfg = model.config
    batch = micro_batch(cfg, b=2, with_action=False)
    batch["task"] = ["short", "a much longer instruction here"]
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    both = model.sample_actions(batch, noise=noise)
    alone = {k: (v[:1] if torch.is_tensor(v) else v[:1]) for k, v in batch.items()}
    one = model.sample_actions(alone, noise=noise[:1])
    assert torch.allclose(both[:1], one, atol=1e-5)
