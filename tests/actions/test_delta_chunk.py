import math

import numpy as np
import pytest
import torch

from hy_vla.actions import rotations as rot
from hy_vla.actions.delta_chunk import (
    compose_pose,
    decode_delta_chunk,
    encode_delta_chunk,
    future_indices,
    relative_pose,
)

FORMATS = ["quat", "rot6d", "axis_angle", "euler"]
IDENTITY_6D = torch.tensor([1.0, 0, 0, 0, 1, 0], dtype=torch.float64)


def random_poses(shape: tuple[int, ...], fmt: str, arms: int, gripper_dim: int, seed: int) -> torch.Tensor:
    """(*shape, arms * (3 + r + g)) random absolute poses in canonical form for `fmt`."""
    g = torch.Generator().manual_seed(seed)
    blocks = []
    for _ in range(arms):
        pos = torch.randn(*shape, 3, generator=g, dtype=torch.float64)
        m = rot.quat_to_matrix(torch.randn(*shape, 4, generator=g, dtype=torch.float64))
        grip = torch.rand(*shape, gripper_dim, generator=g, dtype=torch.float64)
        blocks += [pos, rot.from_matrix(m, fmt), grip]
    return torch.cat(blocks, dim=-1)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("arms", [1, 2])
@pytest.mark.parametrize("frame", ["ee", "base"])
def test_absolute_delta_absolute_is_identity(fmt, arms, frame):
    state = random_poses((4,), fmt, arms, 1, seed=0)  # (B, S)
    future = random_poses((4, 5), fmt, arms, 1, seed=1)  # (B, H, D)
    kw = dict(rotation=fmt, arms=arms, frame=frame)
    actions = encode_delta_chunk(state, future, **kw)
    assert actions.shape == (4, 5, arms * 10)
    back = decode_delta_chunk(state, actions, **kw)
    # canonical forms (w >= 0, angle <= pi, pitch in [-pi/2, pi/2]) make the round trip exact
    torch.testing.assert_close(back, future, atol=1e-9, rtol=0)


def test_pure_translation_gives_identity_rotation_and_rotated_delta():
    q0 = rot.matrix_to_quat(rot.axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64)))
    state = torch.cat([torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), q0, torch.tensor([0.5])])  # (8,)
    shift = torch.tensor([[0.1, 0.0, 0.0], [0.2, 0.0, 0.0]], dtype=torch.float64)  # (H, 3), along base x
    future = torch.cat([state[:3] + shift, q0.expand(2, 4), torch.tensor([[0.0], [1.0]])], dim=-1)
    base = encode_delta_chunk(state, future, rotation="quat", frame="base")
    ee = encode_delta_chunk(state, future, rotation="quat", frame="ee")
    for a in (base, ee):
        torch.testing.assert_close(a[:, 3:9], IDENTITY_6D.expand(2, 6))
        torch.testing.assert_close(a[:, 9], torch.tensor([0.0, 1.0], dtype=torch.float64))  # gripper absolute
    torch.testing.assert_close(base[:, :3], shift)
    # the EEF is yawed +90 deg, so base +x is the gripper's -y
    torch.testing.assert_close(ee[:, :3], torch.stack([shift[:, 1], -shift[:, 0], shift[:, 2]], dim=-1))


def test_pure_rotation_gives_zero_translation_and_relative_rot6d():
    state = torch.tensor([0.3, 0.3, 0.3, 0.0, 0.0, 0.0, 1.0], dtype=torch.float64)  # xyz, axis-angle, gripper
    turn = torch.tensor([0.0, 0.0, 0.4], dtype=torch.float64)
    future = torch.cat([state[:3], turn, state[6:]])[None]  # (H=1, 7)
    a = encode_delta_chunk(state, future, rotation="axis_angle")
    torch.testing.assert_close(a[0, :3], torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(a[0, 3:9], rot.matrix_to_rot6d(rot.axis_angle_to_matrix(turn)))


def test_relative_pose_is_invariant_to_moving_the_base():
    g = torch.Generator().manual_seed(3)
    p0, p = torch.randn(2, 3, generator=g, dtype=torch.float64)
    r0, r = rot.quat_to_matrix(torch.randn(2, 4, generator=g, dtype=torch.float64))
    base_r = rot.axis_angle_to_matrix(torch.tensor([0.2, -1.0, 0.5], dtype=torch.float64))
    base_t = torch.tensor([4.0, -2.0, 1.0], dtype=torch.float64)
    dp, rel = relative_pose(p0, r0, p, r, "ee")
    dp2, rel2 = relative_pose(base_r @ p0 + base_t, base_r @ r0, base_r @ p + base_t, base_r @ r, "ee")
    torch.testing.assert_close(dp2, dp)
    torch.testing.assert_close(rel2, rel)
    p_back, r_back = compose_pose(p0, r0, dp, rel, "ee")
    torch.testing.assert_close(p_back, p)
    torch.testing.assert_close(r_back, r)


def test_different_state_gripper_width_and_no_gripper():
    state = random_poses((3,), "axis_angle", 1, 2, seed=4)  # LIBERO-like: 2 finger positions
    future = random_poses((3, 6), "axis_angle", 1, 1, seed=5)
    kw = dict(rotation="axis_angle", gripper_dim=1, state_gripper_dim=2)
    torch.testing.assert_close(decode_delta_chunk(state, encode_delta_chunk(state, future, **kw), **kw), future)
    state0, future0 = random_poses((3,), "quat", 2, 0, 6), random_poses((3, 2), "quat", 2, 0, 7)
    actions = encode_delta_chunk(state0, future0, rotation="quat", arms=2, gripper_dim=0)
    assert actions.shape == (3, 2, 18)


def test_decode_accepts_non_orthonormal_rot6d():
    state = random_poses((2,), "quat", 1, 1, seed=8)
    actions = torch.randn(2, 4, 10, dtype=torch.float64)  # what an untrained model might emit
    out = decode_delta_chunk(state, actions, rotation="quat")
    torch.testing.assert_close(out[..., 3:7].norm(dim=-1), torch.ones(2, 4, dtype=torch.float64))


def test_numpy_in_numpy_out():
    state = random_poses((2,), "euler", 2, 1, seed=9).numpy()
    future = random_poses((2, 3), "euler", 2, 1, seed=10).numpy()
    actions = encode_delta_chunk(state, future, rotation="euler", arms=2)
    assert isinstance(actions, np.ndarray) and actions.shape == (2, 3, 20)
    back = decode_delta_chunk(state, actions, rotation="euler", arms=2)
    np.testing.assert_allclose(back, future, atol=1e-9)


def test_mixed_dtypes_are_promoted():
    state = random_poses((2,), "quat", 1, 1, seed=11).float()
    future = random_poses((2, 3), "quat", 1, 1, seed=12)
    assert encode_delta_chunk(state, future, rotation="quat").dtype == torch.float64


def test_layout_errors_name_the_problem():
    state = torch.zeros(8)
    with pytest.raises(ValueError, match="future poses"):
        encode_delta_chunk(state, torch.zeros(3, 7), rotation="quat")
    with pytest.raises(ValueError, match="state"):
        encode_delta_chunk(torch.zeros(7), torch.zeros(3, 8), rotation="quat")
    with pytest.raises(ValueError, match="rotation"):
        encode_delta_chunk(state, torch.zeros(3, 8), rotation="matrix")
    with pytest.raises(ValueError, match="frame"):
        relative_pose(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(3), frame="world")


def test_future_indices_stride_and_padding():
    idx, pad = future_indices(t=10, horizon=4, stride=3, episode_len=20)
    np.testing.assert_array_equal(idx, [13, 16, 19, 19])
    np.testing.assert_array_equal(pad, [False, False, False, True])
    assert idx.dtype == np.int64 and pad.dtype == bool
    idx, pad = future_indices(t=0, horizon=3, stride=1, episode_len=10, offset=0)
    np.testing.assert_array_equal(idx, [0, 1, 2])
    assert not pad.any()
    idx, pad = future_indices(t=9, horizon=2, stride=1, episode_len=10)  # last frame: everything is padding
    np.testing.assert_array_equal(idx, [9, 9])
    assert pad.all()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(t=5, horizon=2, stride=1, episode_len=5),
        dict(t=-1, horizon=2, stride=1, episode_len=5),
        dict(t=0, horizon=0, stride=1, episode_len=5),
        dict(t=0, horizon=2, stride=0, episode_len=5),
    ],
)
def test_future_indices_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        future_indices(**kwargs)
