"""End-effector keyframe trajectories for the ALOHA scripted experts.

A trajectory is a list of keyframes (step, tool point, gripper rotation, gripper
opening) for one arm; between keyframes the tool point moves linearly, the rotation
by spherical interpolation and the gripper opening linearly. Keyframes hold absolute
world coordinates, so a plan is a pure function of the object poses it was made from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hy_vla.sim.aloha.kinematics import rotation_from_axes

UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Keyframe:
    step: int  # control step (50 Hz) at which the arm reaches this pose
    pos: np.ndarray  # (3,) tool point, world frame, m
    rot: np.ndarray  # (3, 3) gripper rotation, world frame
    grip: float  # normalized gripper opening: 0 closed, 1 open


def quat_from_matrix(rot: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix (3, 3) (Shepperd's method)."""
    m = rot
    tr = np.trace(m)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    return q / np.linalg.norm(q)


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion (w, x, y, z)."""
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation between unit quaternions, s in [0, 1], along the shorter arc."""
    dot = float(np.dot(q0, q1))
    if dot < 0.0:  # q and -q are the same rotation: take the short way round
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly parallel: linear interpolation is exact enough and avoids 0/0
        q = q0 + s * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1 - s) * theta) * q0 + np.sin(s * theta) * q1) / np.sin(theta)


def interpolate(keyframes: list[Keyframe], step: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Tool point (3,), rotation (3, 3) and gripper opening at `step`; holds the first / last keyframe outside."""
    if step <= keyframes[0].step:
        k = keyframes[0]
        return k.pos, k.rot, k.grip
    for a, b in zip(keyframes[:-1], keyframes[1:], strict=True):
        if step <= b.step:
            s = (step - a.step) / max(b.step - a.step, 1)
            pos = (1 - s) * a.pos + s * b.pos
            rot = matrix_from_quat(slerp(quat_from_matrix(a.rot), quat_from_matrix(b.rot), s))
            return pos, rot, (1 - s) * a.grip + s * b.grip
    k = keyframes[-1]
    return k.pos, k.rot, k.grip


def gripper_rotation(heading: np.ndarray, pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """Gripper rotation pointing along horizontal `heading`, tilted down by `pitch_deg`, rolled by `roll_deg`.

    With roll 0 the fingers open horizontally (perpendicular to the heading); roll 90
    makes them open vertically. Headings are usually "from the arm's base towards the
    target", which keeps the forearm roll and wrist rotate joints near zero.
    """
    h = np.array([heading[0], heading[1], 0.0])
    h /= np.linalg.norm(h)
    pitch = np.deg2rad(pitch_deg)
    x_axis = np.cos(pitch) * h - np.sin(pitch) * UP
    y_axis = np.cross(UP, h)  # horizontal, perpendicular to the heading
    rot = rotation_from_axes(x_axis, y_axis)
    roll = np.deg2rad(roll_deg)
    c, s = np.cos(roll), np.sin(roll)
    return rot @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])  # roll about the gripper's own x axis


def aligned_rotation(approach: np.ndarray, finger_axis: np.ndarray) -> np.ndarray:
    """Gripper rotation whose fingers open exactly along `finger_axis`, pointing as close to `approach` as possible.

    Used to grasp a box squarely: the finger axis is the normal of two opposite faces, so the
    pads land flat on them whatever the direction the arm reaches from.
    """
    f = np.asarray(finger_axis, dtype=np.float64)
    f = f / np.linalg.norm(f)
    return rotation_from_axes(np.asarray(approach, dtype=np.float64) - np.dot(approach, f) * f, f)


def tilted(direction: np.ndarray, pitch_deg: float) -> np.ndarray:
    """Unit vector along horizontal `direction`, tilted down by `pitch_deg`."""
    h = np.array([direction[0], direction[1], 0.0])
    h /= np.linalg.norm(h)
    pitch = np.deg2rad(pitch_deg)
    return np.cos(pitch) * h - np.sin(pitch) * UP
