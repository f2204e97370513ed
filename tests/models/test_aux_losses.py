"""HY-Embodied pretraining objectives (seed 001): latent alignment and visual next-code prediction."""

import dataclasses

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.models.aux_losses import AuxLossConfig, kmeans, nearest_code, negative_cosine


def _cfg(**aux):
    bb = micro_config().backbone
    return micro_config(aux=AuxLossConfig(**aux), backbone=dataclasses.replace(bb, num_latent_tokens=2))


def test_off_by_default_and_loss_unchanged():
    cfg = micro_config()
    assert not cfg.aux.enabled
    model = HyVLA(cfg)
    assert not hasattr(model, "aux_losses")
    _, metrics = model.compute_loss(micro_batch(cfg))
    assert set(metrics) == {"loss", "flow_loss"}


def test_negative_cosine_and_kmeans_known_values():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert float(negative_cosine(a, a * 3)) == pytest.approx(-1.0)
    assert float(negative_cosine(a, -a)) == pytest.approx(1.0)
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    c = kmeans(x, 2, 5, torch.Generator().manual_seed(0))
    codes = nearest_code(x, c)
    assert codes[0] == codes[1] and codes[2] == codes[3] and codes[0] != codes[2]


def test_total_is_sum_and_gradients_flow():
    cfg = _cfg(latent_align_weight=0.5, next_code_weight=2.0, num_codes=4)
    model = HyVLA(cfg)
    loss, m = model.compute_loss(micro_batch(cfg))
    flow = m["loss"] - m["latent_align_loss"] - m["next_code_loss"]  # the action loss is the rest of the sum
    assert flow > 0 and m["next_code_loss"] > 0
    assert -0.5 <= m["latent_align_loss"] <= 0.5
    assert bool(model.aux_losses.codebook_ready)  # fitted on the first training batch
    loss.backward()
    assert model.backbone.latents.grad.abs().sum() > 0  # the latent tokens are supervised
    assert all(p.grad is None for p in model.aux_losses.teacher.parameters())  # the teacher is frozen
    codebook = model.aux_losses.codebook.clone()
    model.compute_loss(micro_batch(cfg, seed=1))
    assert torch.equal(codebook, model.aux_losses.codebook)  # fitted once, then fixed


def test_teacher_and_codebook_are_saved(tmp_path):
    cfg = _cfg(next_code_weight=1.0, num_codes=4, teacher_init="random")
    model = HyVLA(cfg)
    model.compute_loss(micro_batch(cfg))
    loaded = HyVLA.from_pretrained(model.save_pretrained(tmp_path / "c"))
    assert torch.equal(loaded.aux_losses.codebook, model.aux_losses.codebook)
    assert torch.equal(loaded.aux_losses.teacher.pos, model.aux_losses.teacher.pos)


def test_latent_alignment_needs_latent_tokens():
    with pytest.raises(ValueError, match="num_latent_tokens"):
        HyVLA(micro_config(aux=AuxLossConfig(latent_align_weight=1.0)))
