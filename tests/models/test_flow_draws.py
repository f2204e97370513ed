"""Several flow (noise, time) draws per observation share one backbone pass (`flow.train_draws`)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA
from hy_vla.flow.flow_matching import FlowConfig


def _repeat_batch(batch: dict, n: int) -> dict:
    out = {}
    for k, v in batch.items():
        out[k] = v.repeat_interleave(n, 0) if torch.is_tensor(v) else [x for x in v for _ in range(n)]
    return out


def test_draws_equal_a_batch_of_repeated_observations():
    """n draws of B observations = 1 draw of each observation copied n times (same random stream), in loss
    and in every gradient: the shared prefix is repeated in the right order and its gradients sum."""
    n = 3
    cfg = micro_config(flow=dataclasses.replace(FlowConfig(), train_draws=n))
    model = HyVLA(cfg).eval()  # eval: no dropout, so both passes see the same network
    reference = HyVLA(dataclasses.replace(cfg, flow=FlowConfig()))
    reference.load_state_dict(model.state_dict())
    reference.eval()
    batch = micro_batch(cfg, b=2)
    loss, _ = model.compute_loss(batch, torch.Generator().manual_seed(7))
    ref, _ = reference.compute_loss(_repeat_batch(batch, n), torch.Generator().manual_seed(7))
    torch.testing.assert_close(loss, ref)
    loss.backward()
    ref.backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        if p.grad is not None or q.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, msg=name, atol=1e-6, rtol=1e-4)


def test_one_draw_is_the_default_and_bad_values_are_refused():
    assert FlowConfig().train_draws == 1
    with pytest.raises(ValueError, match="train_draws"):
        FlowConfig(train_draws=0)
    with pytest.raises(ValueError, match="dual_tower"):
        micro_config(decoder="dit", flow=FlowConfig(train_draws=2))
