"""ALOHA arm kinematics and the end-effector trajectory helpers used by the scripted experts."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gym_aloha")

from hy_vla.sim.aloha.kinematics import ArmKinematics, rotation_error  # noqa: E402
from hy_vla.sim.aloha.trajectory import (  # noqa: E402
    Keyframe,
    aligned_rotation,
    gripper_rotation,
    interpolate,
    matrix_from_quat,
    quat_from_matrix,
)

START = np.array([0.0, -0.96, 1.16, 0.0, -0.3, 0.0])


@pytest.fixture(scope="module")
def kin():
    return ArmKinematics()


def test_forward_kinematics_is_mirror_symmetric(kin):
    left, _ = kin.forward("left", START)
    right, _ = kin.forward("right", START)
    np.testing.assert_allclose(left * [-1, 1, 1], right, atol=1e-3)
    assert 0.25 < left[2] < 0.35  # tool point above the table at the start pose


@pytest.mark.parametrize("arm", ["left", "right"])
def test_inverse_kinematics_reaches_forward_pose(kin, arm):
    q_goal = START + np.array([0.3, 0.4, -0.3, 0.2, 0.5, -0.4])
    pos, rot = kin.forward(arm, q_goal)
    result = kin.inverse(arm, pos, rot, START, iters=200)
    assert result.pos_error < 1e-3 and result.rot_error < 1e-2
    pos2, rot2 = kin.forward(arm, result.q)
    np.testing.assert_allclose(pos2, pos, atol=1e-3)
    assert np.linalg.norm(rotation_error(rot2, rot)) < 1e-2


def test_rotation_helpers():
    rot = gripper_rotation(np.array([-1.0, 0.0, 0.0]), pitch_deg=90)
    np.testing.assert_allclose(rot[:, 0], [0, 0, -1], atol=1e-9)  # pointing down
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-9)
    aligned = aligned_rotation(np.array([-0.3, 0.2, -0.9]), finger_axis=[0.0, -1.0, 0.0])
    np.testing.assert_allclose(aligned[:, 1], [0, -1, 0], atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(aligned), 1.0, atol=1e-9)
    np.testing.assert_allclose(matrix_from_quat(quat_from_matrix(aligned)), aligned, atol=1e-9)


def test_interpolation_between_keyframes():
    r0 = np.eye(3)
    r1 = gripper_rotation(np.array([1.0, 0.0, 0.0]), pitch_deg=90)
    frames = [Keyframe(0, np.zeros(3), r0, 1.0), Keyframe(10, np.ones(3), r1, 0.0)]
    pos, rot, grip = interpolate(frames, 5)
    np.testing.assert_allclose(pos, 0.5 * np.ones(3))
    assert grip == pytest.approx(0.5)
    # Half way through a 90 degree pitch is a 45 degree pitch.
    angle = np.linalg.norm(rotation_error(r0, rot))
    assert angle == pytest.approx(np.pi / 4, abs=1e-6)
    assert interpolate(frames, -3)[2] == 1.0 and interpolate(frames, 99)[2] == 0.0
