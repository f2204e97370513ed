import numpy as np
import pytest
import torch

from hy_vla.embodiments import slots


def test_blocks_tile_the_layout_without_overlap():
    used = np.zeros(slots.UNIFIED_WIDTH, dtype=int)
    for start, width in slots.SLOT_TABLE.values():
        used[start : start + width] += 1
    assert used.max() == 1
    assert used[: slots.LAYOUT_END].all()  # contiguous, no holes
    assert slots.LAYOUT_END <= slots.UNIFIED_WIDTH


def test_docstring_table_matches_code():
    doc = {line.strip() for line in slots.__doc__.splitlines()}
    for line in slots.format_layout_table().splitlines():
        assert line.strip() in doc, line


def test_known_blocks_and_single_arm_alias():
    assert slots.slot_block("eef_pos", "right") == (0, 3)
    assert slots.slot_block("eef_pos", "single") == (0, 3)
    assert slots.slot_block("gripper", "left") == (59, 2)
    assert slots.slot_block("planar_pos", None) == (68, 2)
    with pytest.raises(ValueError, match="belongs to an arm"):
        slots.slot_block("joint_pos", None)
    with pytest.raises(ValueError, match="whole robot"):
        slots.slot_block("base_vel", "left")
    with pytest.raises(ValueError, match="slot kind"):
        slots.slot_block("joint_torque", "left")


def test_scatter_gather_round_trip():
    idx = torch.tensor([5, 0, 199])
    vec = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    uni, mask = slots.scatter_slots(vec, idx, 200)
    assert uni.shape == (2, 200) and mask.shape == (200,)
    assert uni[0, 5] == 1 and uni[0, 0] == 2 and uni[1, 199] == 6
    assert mask.sum() == 3 and uni[:, ~mask].abs().sum() == 0
    torch.testing.assert_close(slots.gather_slots(uni, idx), vec)
    with pytest.raises(ValueError, match="too small"):
        slots.scatter_slots(vec, idx, 100)
    with pytest.raises(ValueError, match="last dim"):
        slots.scatter_slots(vec[:, :2], idx, 200)


def test_leading_round_trip_numpy():
    vec = np.arange(6, dtype=np.float32).reshape(2, 3)
    padded, mask = slots.pad_leading(vec, 8)
    assert isinstance(padded, np.ndarray) and padded.shape == (2, 8) and padded.dtype == np.float32
    np.testing.assert_array_equal(mask, [True] * 3 + [False] * 5)
    np.testing.assert_array_equal(padded[:, 3:], 0)
    np.testing.assert_array_equal(slots.unpad_leading(padded, 3), vec)
    with pytest.raises(ValueError, match="too small"):
        slots.pad_leading(vec, 2)
