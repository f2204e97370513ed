import json

import numpy as np
import pytest
import torch

from hy_vla.actions.representation import ActionRepresentation
from hy_vla.embodiments.embodiment import Embodiment, SubVector
from hy_vla.embodiments.registry import EMBODIMENTS

NAMES = list(EMBODIMENTS)


def simple(**overrides) -> Embodiment:
    kw = dict(
        name="toy",
        robot="a toy arm",
        num_arms=1,
        has_gripper=True,
        fps=10.0,
        state=(SubVector("q", 5, "joint_pos", "single"), SubVector("g", 1, "gripper", "single")),
        action=(SubVector("q", 5, "joint_pos", "single"),),
    )
    return Embodiment(**(kw | overrides))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("part", ["state", "action"])
def test_unified_round_trip_and_mask(name, part):
    emb = EMBODIMENTS[name]
    d = emb.dim(part)
    vec = torch.randn(4, 3, d) + 10.0  # nonzero everywhere, so a dropped channel would show
    uni, mask = emb.to_unified(vec, part)
    assert uni.shape == (4, 3, 200) and mask.dtype == torch.bool
    assert int(mask.sum()) == d
    assert uni[..., ~mask].abs().sum() == 0  # unused slots are zero
    assert (uni[..., mask] != 0).all()
    torch.testing.assert_close(emb.from_unified(uni, part), vec)
    torch.testing.assert_close(mask, emb.unified_mask(part))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("part", ["state", "action"])
def test_no_two_sub_vectors_share_a_slot(name, part):
    idx = EMBODIMENTS[name].slot_indices(part)
    assert len(set(idx.tolist())) == len(idx)


@pytest.mark.parametrize("name", NAMES)
def test_leading_round_trip(name):
    emb = EMBODIMENTS[name]
    vec = np.random.default_rng(0).normal(size=(2, emb.action_dim))
    padded, mask = emb.to_leading(vec, "action", width=32)
    assert isinstance(padded, np.ndarray) and padded.shape == (2, 32)
    assert mask[: emb.action_dim].all() and not mask[emb.action_dim :].any()
    np.testing.assert_array_equal(emb.from_leading(padded, "action"), vec)


def test_same_quantity_lands_on_same_slots_across_robots():
    # right gripper of ALOHA and the single-arm gripper of Meta-World share a channel
    aloha_grip = EMBODIMENTS["aloha_bimanual"].slot_indices("state")[13]
    sawyer_grip = EMBODIMENTS["metaworld_sawyer"].slot_indices("state")[3]
    assert aloha_grip == sawyer_grip


def test_slices_follow_sub_vector_order():
    emb = EMBODIMENTS["robotwin_dual_eef"]
    s = emb.slices("state")
    assert s["left_eef_quat"] == slice(3, 7) and s["right_gripper"] == slice(15, 16)
    assert emb.state_dim == 16 and emb.action_dim == 20


def test_overlapping_sub_vectors_rejected():
    with pytest.raises(ValueError, match="both map to unified slot"):
        simple(state=(SubVector("a", 3, "joint_pos", "single"), SubVector("b", 2, "joint_pos", "single")))


def test_validation_errors():
    with pytest.raises(ValueError, match="does not fit"):
        SubVector("q", 8, "joint_pos", "left")
    with pytest.raises(ValueError, match="num_arms"):
        simple(state=(SubVector("q", 5, "joint_pos", "left"),))  # single-arm robot using a left arm
    with pytest.raises(ValueError, match="has_gripper"):
        simple(has_gripper=False)
    with pytest.raises(ValueError, match="fps"):
        simple(fps=0.0)
    with pytest.raises(ValueError, match="duplicate"):
        simple(action=(SubVector("q", 5, "joint_pos", "single"), SubVector("q", 1, "gripper", "single")))
    with pytest.raises(ValueError, match="representation expects"):
        simple(representation=ActionRepresentation(kind="delta_eef", rotation="quat"))
    with pytest.raises(ValueError, match="last dim 6"):
        simple().to_unified(torch.zeros(5), "state")
    with pytest.raises(ValueError, match="part"):
        simple().to_unified(torch.zeros(6), "obs")


@pytest.mark.parametrize("name", NAMES)
def test_json_round_trip(name):
    emb = EMBODIMENTS[name]
    back = Embodiment.from_dict(json.loads(json.dumps(emb.to_dict())))
    assert back == emb
    with pytest.raises(ValueError, match="unknown keys"):
        Embodiment.from_dict(emb.to_dict() | {"camera": "top"})
