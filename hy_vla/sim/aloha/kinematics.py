"""Forward and inverse kinematics of the two ViperX 300s arms of the ALOHA simulation.

The scripted experts plan in end-effector space (a tool point between the finger pads
plus a gripper orientation) and need joint targets, because the gym-aloha task is
joint-position controlled. We solve the inverse kinematics with damped least squares
on the MuJoCo model itself (`mj_jacBody`), so the solution matches the simulated arm
exactly. The solver owns a private `MjData`: it never touches the simulation's state.

Frames: each arm's gripper frame has x pointing from the wrist towards the finger
tips and y along the direction in which the fingers open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hy_vla.sim.rendering import select_gl_backend

select_gl_backend()

import mujoco  # noqa: E402
from gym_aloha.constants import ASSETS_DIR  # noqa: E402

ARMS = ("left", "right")
ARM_JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
QPOS_START = {"left": 0, "right": 8}  # index of the arm's first joint in the full qpos (8 per arm: 6 + 2 fingers)
STATE_START = {"left": 0, "right": 7}  # index of the arm's first joint in the 14-D state / action
TCP_OFFSET = 0.13  # m along gripper x from the gripper link origin to the middle of the finger pads (tips at ~0.154)


def rotation_from_axes(x_axis: np.ndarray, y_hint: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) whose x column is `x_axis` and whose y column is `y_hint` made orthogonal to it."""
    x = np.asarray(x_axis, dtype=np.float64)
    x = x / np.linalg.norm(x)
    y = np.asarray(y_hint, dtype=np.float64) - np.dot(y_hint, x) * x
    y = y / np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def rotation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-frame rotation vector (3,) that rotates `current` onto `target` (both (3, 3))."""
    delta = target @ current.T
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, delta.reshape(-1))
    err = np.zeros(3)
    mujoco.mju_quat2Vel(err, quat, 1.0)
    return err


@dataclass
class IKResult:
    q: np.ndarray  # (6,) joint angles
    pos_error: float  # m
    rot_error: float  # rad


class ArmKinematics:
    """FK / IK for both arms on a private copy of the gym-aloha MuJoCo model."""

    def __init__(self, xml: str = "bimanual_viperx_transfer_cube.xml", tcp_offset: float = TCP_OFFSET) -> None:
        self.model = mujoco.MjModel.from_xml_path(str(ASSETS_DIR / xml))
        self.data = mujoco.MjData(self.model)
        self.tcp_offset = tcp_offset
        self._body = {arm: self.model.body(f"vx300s_{arm}/gripper_link").id for arm in ARMS}
        self._dofs = {}
        self._limits = {}
        for arm in ARMS:
            joints = [self.model.joint(f"vx300s_{arm}/{name}") for name in ARM_JOINTS]
            self._dofs[arm] = np.array([int(j.dofadr[0]) for j in joints])
            self._limits[arm] = np.array([j.range for j in joints])  # (6, 2)

    def _set(self, arm: str, q: np.ndarray) -> None:
        start = QPOS_START[arm]
        self.data.qpos[start : start + 6] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)  # cdof, needed by the Jacobian

    def _tcp(self, arm: str) -> tuple[np.ndarray, np.ndarray]:
        body = self._body[arm]
        rot = self.data.xmat[body].reshape(3, 3).copy()
        return self.data.xpos[body] + self.tcp_offset * rot[:, 0], rot

    def forward(self, arm: str, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tool point (3,) and gripper rotation (3, 3) for the arm's 6 joint angles `q`."""
        self._set(arm, np.asarray(q, dtype=np.float64))
        return self._tcp(arm)

    def inverse(
        self,
        arm: str,
        pos: np.ndarray,
        rot: np.ndarray,
        q_init: np.ndarray,
        *,
        iters: int = 30,
        damping: float = 0.03,
        rot_weight: float = 0.5,
        tol: float = 1e-4,
    ) -> IKResult:
        """Joint angles (6,) putting the tool point at `pos` with gripper rotation `rot`, starting from `q_init`.

        Damped least squares: dq = J^T (J J^T + damping^2 I)^-1 e, with the orientation rows
        weighted by `rot_weight` (position accuracy matters more for grasping). Joint limits
        are enforced by clipping after every iteration.
        """
        q = np.clip(np.asarray(q_init, dtype=np.float64).copy(), *self._limits[arm].T)
        jacp = np.zeros((3, self.model.nv))
        jacr = np.zeros((3, self.model.nv))
        w = np.array([1.0, 1.0, 1.0, rot_weight, rot_weight, rot_weight])
        dofs = self._dofs[arm]
        pos_err = rot_err = np.inf
        for _ in range(iters):
            self._set(arm, q)
            tcp, cur_rot = self._tcp(arm)
            e_pos = pos - tcp
            e_rot = rotation_error(cur_rot, rot)
            pos_err, rot_err = float(np.linalg.norm(e_pos)), float(np.linalg.norm(e_rot))
            if pos_err < tol and rot_err < 10 * tol:
                break
            mujoco.mj_jac(self.model, self.data, jacp, jacr, tcp, self._body[arm])
            jac = np.concatenate([jacp[:, dofs], jacr[:, dofs]]) * w[:, None]  # (6, 6)
            err = np.concatenate([e_pos, e_rot]) * w  # (6,)
            dq = jac.T @ np.linalg.solve(jac @ jac.T + damping**2 * np.eye(6), err)
            q = np.clip(q + dq, *self._limits[arm].T)
        return IKResult(q, pos_err, rot_err)
