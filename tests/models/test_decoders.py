"""Alternative action decoders (hy_vla.models.decoders): interface, structure and math."""

import dataclasses

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.models.decoders.dit import DiTConfig
from hy_vla.models.decoders.mixture_of_flow import MoFConfig
from hy_vla.models.decoders.mpg import MPGConfig, sliced_wasserstein
from hy_vla.models.dual_tower import joint_forward
from hy_vla.models.suffix_attention import attend_suffix

DIT = DiTConfig(width=32, depth=2, num_heads=2, mlp_hidden=64)


def _cfg(decoder: str, **changes):
    extra = {"dit": DIT} if decoder == "dit" else {}
    return micro_config(decoder=decoder, **extra, **changes)


@pytest.mark.parametrize("decoder", ["dit", "mot_expert"])
def test_decoder_trains_and_samples(decoder):
    model = HyVLA(_cfg(decoder))
    loss, metrics = model.compute_loss(micro_batch(model.config))
    assert torch.isfinite(loss) and metrics["loss"] == pytest.approx(float(loss))
    loss.backward()
    assert all(p.grad is not None for p in model.expert.parameters() if p.requires_grad)
    model.eval()
    batch = micro_batch(model.config, with_action=False)
    noise = torch.randn(2, model.config.horizon, model.config.max_action_dim)
    a = model.sample_actions(batch, noise=noise)
    assert a.shape == noise.shape and torch.isfinite(a).all()
    assert torch.equal(a, model.sample_actions(batch, noise=noise))  # deterministic given the noise


def test_unknown_decoder_suggests():
    with pytest.raises(ValueError, match="did you mean 'dit'"):
        micro_config(decoder="ditt")
    with pytest.raises(ValueError, match="mot_expert"):
        micro_config(mpg=MPGConfig(enabled=True))


def test_mot_expert_is_a_full_width_third_modality_equal_to_the_packed_sequence():
    model = HyVLA(_cfg("mot_expert")).eval()
    cfg = model.config
    assert model.expert.cfg.width == cfg.backbone.width  # state/action tower at the MoT's width
    batch = micro_batch(cfg, with_action=False)
    prefix = model.embed_prefix(batch)
    ctx = model.expert.context(model.backbone, prefix, batch)
    state = torch.randn(2, cfg.max_state_dim)
    mask = torch.ones(2, cfg.max_state_dim, dtype=torch.bool)
    x, t = torch.randn(2, cfg.horizon, cfg.max_action_dim), torch.full((2, cfg.horizon), 0.3)
    suffix = model.expert.embed(state, mask, x, t)
    cached = model.expert.run(ctx, suffix)
    joint = joint_forward(model.backbone, model.expert, prefix, suffix)[1]  # one pass over [prefix, state, actions]
    assert torch.allclose(cached, joint, atol=1e-5)


def test_mixture_of_flow_routes_by_embodiment():
    cfg = _cfg("mot_expert", mof=MoFConfig(num_experts=3, shared_layers=1, top_k=1, routes=("a", "b")))
    model = HyVLA(cfg).eval()
    layers = model.expert.layers
    assert not hasattr(layers[0].mlp, "experts") and len(layers[1].mlp.experts) == 3  # shared below, routed above
    gates = model.expert.router(torch.tensor([0, 1, 2]))
    assert torch.allclose(gates.sum(-1), torch.ones(3)) and ((gates > 0).sum(-1) == 1).all()
    batch = micro_batch(cfg, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    with torch.no_grad():
        model.expert.router.logits.weight.copy_(torch.tensor([[5.0, 0, 0], [0, 5.0, 0]] + [[0, 0, 5.0]] * 8))
    outs = {}
    for name in ("a", "b"):
        batch["embodiment"] = [name, name]
        outs[name] = model.sample_actions(batch, noise=noise)
    assert not torch.allclose(outs["a"], outs["b"])  # a different specialist answers
    loss, _ = model.compute_loss(micro_batch(cfg) | {"embodiment": ["a", "b"]})
    loss.backward()
    assert model.expert.router.logits.weight.grad is not None


def test_sliced_wasserstein_known_values():
    dirs = torch.eye(2)
    x = torch.tensor([[[0.0, 0.0], [2.0, 2.0]]])
    assert float(sliced_wasserstein(x, x.flip(1), dirs)) == pytest.approx(0.0)  # order does not matter
    y = x + torch.tensor([1.0, 0.0])  # shift by 1 along axis 0 only
    assert float(sliced_wasserstein(x, y, dirs)) == pytest.approx(0.5)  # (1^2 + 0^2) / 2 directions
    z = torch.tensor([[[1.0, 1.0]]])  # one point vs two: compared at common quantiles
    assert float(sliced_wasserstein(x, z, dirs)) == pytest.approx(1.0)


def test_mpg_gate_shrinks_with_discrepancy_and_keeps_ungated_offset():
    cfg = _cfg("mot_expert", mpg=MPGConfig(enabled=True, proj_dim=8, tau=1.0, lam=0.5))
    mpg = HyVLA(cfg).expert.mpg
    with torch.no_grad():  # one shared projection, so identical features have zero discrepancy
        mpg.act_proj.load_state_dict(mpg.obs_proj.state_dict())
    h = torch.randn(2, 1, cfg.backbone.width).expand(2, 5, -1)  # every token equal to the action mean
    assert torch.allclose(mpg.gate(h, h), torch.ones(2))  # D = 0 -> g = 1: full residual
    g_far = mpg.gate(h, torch.randn(2, 5, cfg.backbone.width))
    assert ((g_far < 1) & (g_far > 0)).all()
    with torch.no_grad():  # zero feature path: only the learned offset (bias) remains, whatever the gate
        mpg.res_in.weight.zero_()
        mpg.res_in.bias.fill_(-1e4)  # silu(-inf) = 0
    out, _ = mpg(h, -h)
    assert torch.allclose(out, h + 0.5 * mpg.res_out.bias, atol=1e-5)


def test_mpg_uses_previous_clean_estimate_at_inference():
    cfg = _cfg("mot_expert", mpg=MPGConfig(enabled=True, proj_dim=8))
    model = HyVLA(cfg).eval()
    batch = micro_batch(cfg, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    with_mpg = model.sample_actions(batch, noise=noise)
    one_step = model.sample_actions(batch, noise=noise, num_steps=1)  # MPG never fires at step 0
    model.expert.mpg_cfg = dataclasses.replace(cfg.mpg, enabled=False)
    assert torch.equal(one_step, model.sample_actions(batch, noise=noise, num_steps=1))
    assert not torch.allclose(with_mpg, model.sample_actions(batch, noise=noise))


def test_dit_reads_backbone_hidden_states_not_padding():
    model = HyVLA(_cfg("dit")).eval()
    cfg = model.config
    batch = micro_batch(cfg, with_action=False)
    noise = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    base = model.sample_actions(batch, noise=noise)
    batch["task"] = ["task number 0", "a longer task, more bytes"]
    changed = model.sample_actions(batch, noise=noise)
    assert torch.allclose(base[0], changed[0], atol=1e-5)  # sample 0 only gained padding
    assert not torch.allclose(base[1], changed[1], atol=1e-4)  # sample 1's context changed
    ctx = model.expert.context(model.backbone, model.embed_prefix(batch), batch)
    assert len(ctx.extra["cross_kv"]) == DIT.depth  # per-block cross-attention KV, cached per observation


def test_dit_time_conditioning_matters():
    model = HyVLA(_cfg("dit")).eval()
    cfg = model.config
    batch = micro_batch(cfg, with_action=False)
    ctx = model.expert.context(model.backbone, model.embed_prefix(batch), batch)
    state, mask = torch.randn(2, cfg.max_state_dim), torch.ones(2, cfg.max_state_dim, dtype=torch.bool)
    x = torch.randn(2, cfg.horizon, cfg.max_action_dim)
    v0 = model.expert.velocity(ctx, state, mask, x, torch.zeros(2, cfg.horizon), None)
    v1 = model.expert.velocity(ctx, state, mask, x, torch.full((2, cfg.horizon), 0.9), None)
    assert not torch.allclose(v0, v1)


def test_attend_suffix_matches_dual_tower():
    from hy_vla.models.action_expert import suffix_mask
    from hy_vla.models.dual_tower import encode_prefix, expert_forward, suffix_positions

    model = HyVLA(micro_config()).eval()
    cfg = model.config
    prefix = model.embed_prefix(micro_batch(cfg, with_action=False))
    _, kv = encode_prefix(model.backbone, prefix)
    suffix = torch.randn(2, 1 + cfg.horizon, cfg.expert.width)
    ref = expert_forward(model.backbone, model.expert, prefix, kv, suffix)
    pos, allowed = suffix_positions(prefix, cfg.horizon), suffix_mask(prefix.valid, cfg.horizon)
    assert torch.allclose(attend_suffix(model.backbone, model.expert.layers, kv, suffix, pos, allowed), ref)


@pytest.mark.parametrize("decoder", ["dit", "mot_expert"])
def test_uac_committed_prefix_excluded(decoder):
    model = HyVLA(_cfg(decoder))
    batch = micro_batch(model.config)
    batch["action_prefix_len"] = torch.tensor([model.config.horizon] * 2)
    loss, _ = model.compute_loss(batch)
    assert float(loss) == 0.0


def test_guidance_reproduces_committed_prefix():
    model = HyVLA(_cfg("dit")).eval()
    cfg = model.config
    batch = micro_batch(cfg, with_action=False)
    prev = torch.rand(2, 2, cfg.max_action_dim)
    a = model.sample_actions(batch, prefix_actions=prev, prefix_weights=torch.ones(2))
    assert torch.allclose(a[:, :2], prev, atol=1e-4)


@pytest.mark.parametrize("decoder", ["mot_expert", "dit", "hybrid"])
def test_a_decoder_without_the_uncached_path_says_so(decoder: str) -> None:
    """One interface: capabilities only some decoders have are declared, and refused with a clear error."""
    cfg = _cfg(decoder)
    if decoder == "hybrid":  # its action tokens extend the vocabulary
        cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, vocab_size=259 + 256))
    model = HyVLA(cfg).eval()
    assert not model.expert.supports_uncached and HyVLA(micro_config()).expert.supports_uncached
    with pytest.raises(ValueError, match="no uncached reference path"):
        model.sample_actions(micro_batch(model.config, with_action=False), use_cache=False)
