"""Expert corrections (hy_vla.posttrain.corrections): the expert's chunk as a training target."""

import numpy as np
import torch

from hy_vla.data.norm_stats import FeatureStats, NormStats
from hy_vla.data.transforms import RobotTransforms
from hy_vla.embodiments import get_embodiment
from hy_vla.posttrain.corrections import demonstrated_range, expert_chunk

EMB = "libero_franka_eef"  # identity action representation: 7-D deltas


class _Cfg:
    action_stride, horizon = 1, 4


def _transforms(with_range: bool = True) -> RobotTransforms:
    ends = {"min": [-1.0] * 3 + [-0.1, -0.1, -1.0, -1.0], "max": [1.0] * 3 + [0.1, 0.1, 1.0, 1.0]} if with_range else {}
    action = FeatureStats(mode="mean_std", count=10, mean=[0.0] * 7, std=[0.5] * 3 + [0.02, 0.04, 0.2, 1.0], **ends)
    stats = NormStats({EMB: {"action": action}})
    return RobotTransforms(get_embodiment(EMB).representation, stats, EMB)


def test_expert_targets_are_clamped_to_the_demonstrated_range():
    """An expert that turns the wrist far harder than any demonstration (0.5 vs 0.1 at most) gave normalized targets
    of 25 standard deviations: the target keeps its direction at the demonstrations' largest magnitude."""
    tf = _transforms()
    acts = np.zeros((3, 7), np.float32)
    acts[:, 3] = [0.5, -0.5, 0.05]  # rx: beyond max, beyond min, inside
    acts[:, 0] = 0.3
    chunk, n = expert_chunk(_Cfg(), tf, np.zeros(8, np.float32), acts)
    assert n == 3 and chunk.shape == (1, 4, 7)
    assert torch.allclose(chunk[0, :3, 3], torch.tensor([0.1 / 0.02, -0.1 / 0.02, 0.05 / 0.02]))
    assert torch.allclose(chunk[0, :3, 0], torch.full((3,), 0.3 / 0.5))  # inside the range: unchanged
    assert torch.equal(chunk[0, 3], chunk[0, 2])  # padded by repeating the last real step


def test_range_unknown_leaves_targets_as_they_are():
    tf = _transforms(with_range=False)
    assert demonstrated_range(tf) is None
    acts = np.zeros((2, 7), np.float32)
    acts[:, 3] = 0.5
    chunk, _ = expert_chunk(_Cfg(), tf, np.zeros(8, np.float32), acts)
    assert torch.allclose(chunk[0, :2, 3], torch.full((2,), 0.5 / 0.02))
