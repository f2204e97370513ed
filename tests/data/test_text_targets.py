"""Motion captions, the text targets of vision-language co-training."""

from __future__ import annotations

import numpy as np
import pytest
from data.data_fixtures import make_lerobot

from hy_vla import keys
from hy_vla.data.lerobot.reader import LeRobotV3Dataset
from hy_vla.data.samples import SampleBuilder, SampleConfig
from hy_vla.data.text_targets import MotionCaptions, channel_labels, motion_caption

SAWYER = ["hand_pos x", "hand_pos y", "hand_pos z", "gripper_opening"]


def test_channel_labels_follow_the_embodiment() -> None:
    assert channel_labels("metaworld_sawyer", 4) == SAWYER
    assert channel_labels("aloha_bimanual", 14)[:7] == [f"left_joints[{i}]" for i in range(6)] + ["left_gripper"]
    assert channel_labels("toy_arm", 2) == ["state[0]", "state[1]"]  # not registered
    assert channel_labels("metaworld_sawyer", 5)[4] == "state[4]"  # widths disagree: no names guessed


def test_motion_caption_known_values() -> None:
    scale = np.array([1.0, 1.0, 1.0, 1.0])
    now = np.array([0.0, 0.0, 0.5, 1.0])
    # x +0.3 (moves), y +0.05 (below 0.1 of its range), z -0.4 (moves), gripper -1 (moves)
    end = np.array([0.3, 0.05, 0.1, 0.0])
    assert motion_caption(now, end, scale, SAWYER, 0.1) == "to go: hand_pos x up z down, gripper_opening down"
    assert motion_caption(now, now, scale, SAWYER, 0.1) == "to go: nothing"
    flat = np.array([1.0, 1.0, 0.0, 1.0])  # a constant channel (range 0) never moves
    assert motion_caption(now, end, flat, SAWYER, 0.1) == "to go: hand_pos x up, gripper_opening down"


def test_captions_from_a_dataset(tmp_path) -> None:
    # state[t] = [episode, t, t^2 / 100, 1]; episodes of 12, 7 and 16 frames: ranges 2, 15, 2.25, 0
    source = LeRobotV3Dataset(make_lerobot(tmp_path / "ds"))
    captions = MotionCaptions(source, keys.STATE, "toy_arm")
    np.testing.assert_allclose(captions.scale, [2.0, 15.0, 2.25, 0.0])
    assert captions(0, 0) == "to go: state[1] up, state[2] up"  # 11 > 1.5 and 1.21 > 0.225
    assert captions(0, 10) == "to go: nothing"  # 1 < 1.5 and 0.21 < 0.225
    builder = SampleBuilder(source, SampleConfig(cameras=("front",), horizon=2, text_target="motion"))
    assert builder[0][keys.TEXT_TARGET] == captions(0, 0)
    assert keys.TEXT_TARGET not in SampleBuilder(source, SampleConfig(cameras=("front",), horizon=2))[0]
    with pytest.raises(ValueError, match="text_target"):
        SampleConfig(text_target="scene")
