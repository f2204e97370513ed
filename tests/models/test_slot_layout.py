"""Unified slot layout: robot channels at their embodiment slots inside the model, the robot's layout outside."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import micro_batch, micro_config

from hy_vla import HyVLA, keys
from hy_vla.models import inputs
from hy_vla.models.slot_layout import place, unplace

SAWYER_STATE = [0, 1, 2, 25]  # hand_pos -> eef_pos slots, gripper_opening -> gripper slot
SAWYER_ACTION = [19, 20, 21, 25]  # hand_delta -> eef_delta_pos slots, gripper_effort -> gripper slot


def _unified(**changes):
    base = dict(slot_layout="unified", embodiment="metaworld_sawyer", state_dim=4, action_dim=4, max_state_dim=32,
                max_action_dim=28)  # fmt: skip
    return micro_config(**{**base, **changes})


def test_place_and_unplace_known_values() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.0]])  # leading layout, padded
    slots = torch.tensor(SAWYER_STATE)
    placed = place(x, slots, 30)
    assert placed.shape == (1, 30) and placed[0, SAWYER_STATE].tolist() == [1, 2, 3, 4] and placed.sum() == 10
    assert torch.equal(unplace(placed, slots)[:, :5], x)
    assert place(x, None, 30) is x  # leading layout: unchanged


def test_the_same_quantity_lands_on_the_same_channel_across_robots() -> None:
    sawyer = _unified()
    state, mask = inputs.state({keys.STATE: torch.tensor([[1.0, 2.0, 3.0, 0.5]])}, sawyer, torch.float32)
    assert mask[0].nonzero().flatten().tolist() == SAWYER_STATE and state[0, 25] == 0.5
    franka = _unified(embodiment="libero_franka_eef", state_dim=8, action_dim=7)
    fstate, fmask = inputs.state({keys.STATE: torch.arange(1.0, 9.0).view(1, 8)}, franka, torch.float32)
    assert fstate[0, :3].tolist() == [1, 2, 3] and fstate[0, 25] == 7  # eef_pos and the gripper share slots
    actions, amask = inputs.action_target({keys.ACTION: torch.ones(1, 4, 4)}, sawyer, torch.float32)
    assert amask[0, 0].nonzero().flatten().tolist() == SAWYER_ACTION and actions[0, :, :19].abs().sum() == 0


def test_predictions_come_back_in_the_robot_layout() -> None:
    model = HyVLA(_unified()).eval()
    batch = micro_batch(model.config, with_action=False)
    noise = torch.randn(2, model.config.horizon, model.config.max_action_dim)
    out = model.sample_actions(batch, noise=noise)
    assert out.shape == (2, model.config.horizon, 28) and out[..., 4:].abs().sum() == 0 and out[..., :4].abs().sum() > 0
    # A guidance prefix is given in the robot's layout too: weight 1 reproduces it exactly where it applies.
    prefix = torch.randn(2, 2, 4)
    guided = model.sample_actions(batch, noise=noise, prefix_actions=prefix, prefix_weights=torch.ones(2))
    torch.testing.assert_close(guided[:, :2, :4], prefix, atol=1e-5, rtol=0)


def test_unified_layout_trains() -> None:
    model = HyVLA(_unified())
    loss, _ = model.compute_loss(micro_batch(model.config), generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss)
    grad = model.expert.state_in.weight.grad  # (w, 2 * max_state_dim): value columns, then mask columns
    used = grad[:, :32].abs().sum(0).nonzero().flatten().tolist()
    assert used == SAWYER_STATE  # only the embodiment's slots feed the expert


def test_unified_layout_validation() -> None:
    with pytest.raises(ValueError, match="unknown embodiment"):
        _unified(embodiment="toy_arm")
    with pytest.raises(ValueError, match="max_state_dim=20 must be at least 26"):
        _unified(max_state_dim=20)
    with pytest.raises(ValueError, match="state_dim=5"):
        _unified(state_dim=5)
    with pytest.raises(ValueError, match="slot_layout"):
        micro_config(slot_layout="scattered")
