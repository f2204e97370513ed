import numpy as np
import pytest

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
