"""HY-Embodied's pretraining losses as a training objective: latent alignment and next-code prediction."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.training.config import TrainConfig
from hy_vla.training.objectives import AuxLossConfig, attach_objectives
from hy_vla.training.objectives.hy_embodied import kmeans, nearest_code, negative_cosine


def _cfg():
    bb = micro_config().backbone
    return micro_config(backbone=dataclasses.replace(bb, num_latent_tokens=2))


def _model(cfg, **aux) -> HyVLA:
    return attach_objectives(HyVLA(cfg), TrainConfig(aux=AuxLossConfig(**aux)))


def test_off_by_default_and_loss_unchanged():
    assert not TrainConfig().aux.enabled
    cfg = micro_config()
    model = attach_objectives(HyVLA(cfg), TrainConfig())
    assert not len(model.objectives)
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
    cfg = _cfg()
    model = _model(cfg, latent_align_weight=0.5, next_code_weight=2.0, num_codes=4)
    aux = model.objectives["hy_embodied"]
    loss, m = model.compute_loss(micro_batch(cfg))
    flow = m["loss"] - m["latent_align_loss"] - m["next_code_loss"]  # the action loss is the rest of the sum
    assert flow > 0 and m["next_code_loss"] > 0
    assert -0.5 <= m["latent_align_loss"] <= 0.5
    assert bool(aux.codebook_ready)  # fitted on the first training batch
    loss.backward()
    assert model.backbone.latents.grad.abs().sum() > 0  # the latent tokens are supervised
    assert all(p.grad is None for p in aux.teacher.parameters())  # the teacher is frozen
    codebook = aux.codebook.clone()
    model.compute_loss(micro_batch(cfg, seed=1))
    assert torch.equal(codebook, aux.codebook)  # fitted once, then fixed


def test_teacher_starts_as_a_copy_of_the_encoder_and_stays_out_of_the_saved_network(tmp_path):
    cfg = _cfg()
    model = _model(cfg, next_code_weight=1.0, num_codes=4)
    aux = model.objectives["hy_embodied"]
    assert torch.equal(aux.teacher.pos, model.vision.pos) and aux.teacher.pos is not model.vision.pos
    model.compute_loss(micro_batch(cfg))
    loaded = HyVLA.from_pretrained(model.save_pretrained(tmp_path / "c"))  # strict: the network alone
    assert not len(loaded.objectives)
    keys = set(model.state_dict())
    assert {"objectives.hy_embodied.codebook", "objectives.hy_embodied.teacher.pos"} <= keys  # the training state


def test_settings_the_model_cannot_feed_are_refused():
    from hy_vla.training.objectives import check_objectives

    with pytest.raises(ValueError, match="num_latent_tokens"):
        check_objectives(TrainConfig(aux=AuxLossConfig(latent_align_weight=1.0)), micro_config())
    merged = micro_config(vision=dataclasses.replace(micro_config().vision, token_merge=2))
    with pytest.raises(ValueError, match="token_merge"):
        check_objectives(TrainConfig(aux=AuxLossConfig(next_code_weight=1.0)), merged)


def test_older_configs_move_the_losses_to_the_training_settings():
    from hy_vla.models.config import HyVLAConfig
    from hy_vla.training.run_config import RunConfig, sample_config_for

    cfg = _cfg()
    old_model = {**cfg.to_dict(), "aux": {"latent_align_weight": 0.5, "next_code_weight": 0.0, "num_codes": 512,
                                          "kmeans_iters": 10, "teacher_init": "copy"}}  # fmt: skip
    assert HyVLAConfig.from_dict(old_model) == cfg
    run = RunConfig(cfg, sample_config_for(cfg), TrainConfig(), "unused").to_dict()
    run["model"] = old_model
    del run["train"]["aux"]
    assert RunConfig.from_dict(run).train.aux.latent_align_weight == 0.5
