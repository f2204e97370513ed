"""Closing LIBERO's microwave: push its open door shut about the hinge.

The door turns about a vertical hinge at the microwave's front left corner (measured on its MuJoCo model, in the
microwave's frame: (-0.1725, -0.088, 0.096) from its origin); at joint angle q the door runs from the hinge along
(cos q, sin q) and its outer face looks along (sin q, -cos q). Closed is q = 0, open about -1.5; the benchmark
calls the door closed above -0.005. The handle sits near the free end (24 cm out), so the hand pushes the outer
face at 16 cm, pointing down, its thin side against the door, and keeps pushing a little ahead of the door's
angle until it is shut.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hy_vla.sim.libero.env import JOINTS_KEY, POSITIONS_KEY, ROTATIONS_KEY
from hy_vla.sim.libero.skills import CLOSE, MAX_SPEED, OPEN, PhasedSkill, Skill, down_rotation, yaw_for_closing_axis

HINGE_LOCAL = np.array([-0.1725, -0.088, 0.096])  # the door's hinge axis point, microwave frame


def door_frame(obs: dict[str, Any], name: str, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hinge (3,), along the door (3,), outer normal (3,)) in world coordinates at door angle `angle`."""
    rot = obs[ROTATIONS_KEY][name]
    hinge = obs[POSITIONS_KEY][name] + rot @ HINGE_LOCAL
    along = rot @ np.array([np.cos(angle), np.sin(angle), 0.0])
    outward = rot @ np.array([np.sin(angle), -np.cos(angle), 0.0])
    return hinge, along, outward


class CloseMicrowave(PhasedSkill):
    """Push the microwave's door shut (see the module docstring)."""

    FIRST_PHASE = "above"
    BUDGET = {"above": 70, "descend": 40, "push": 120, "retreat": 12}
    RADIUS = 0.16  # metres from the hinge where the hand pushes
    STANDOFF = 0.07  # metres outside the door where the hand comes down
    LEAD = 0.4  # radians ahead of the door's angle that the push aims
    CLOSED_AT = -0.002  # door angle to reach (the benchmark calls it closed above -0.005)

    def __init__(self, skill: Skill) -> None:
        if not skill.target.startswith("microwave"):
            raise ValueError(f"no door-closing skill for {skill.target!r} (the microwave only)")
        super().__init__(skill)

    def act(self, obs: dict[str, Any], eef: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        name = self.skill.target
        angle = float(np.asarray(obs[JOINTS_KEY].get(name, [0.0]))[0])
        hinge, along, outward = door_frame(obs, name, angle)
        hand_rot = down_rotation(yaw_for_closing_axis(along[:2]))  # fingers along the door: thin against it
        over = self._tick()
        start = hinge + self.RADIUS * along + self.STANDOFF * outward
        if self.phase == "above":
            goal = start + [0.0, 0.0, 0.15]
            if np.linalg.norm(eef - goal) < 0.015 or over:
                self._next("descend")
            return goal, hand_rot, CLOSE, MAX_SPEED
        if self.phase == "descend":
            if np.linalg.norm(eef - start) < 0.01 or over:
                self._next("push")
            return start, hand_rot, CLOSE, 0.6
        if self.phase == "push":
            ahead = min(angle + self.LEAD, 0.2)
            _, along_ahead, outward_ahead = door_frame(obs, name, ahead)
            goal = hinge + self.RADIUS * along_ahead - 0.02 * outward_ahead
            if angle > self.CLOSED_AT or over:
                self._next("retreat")
            return goal, hand_rot, CLOSE, 0.5
        if self.phase == "retreat":
            if over:
                self._next("done")
            return eef + 0.05 * outward + [0.0, 0.0, 0.05], hand_rot, CLOSE, MAX_SPEED
        return eef.copy(), rot, OPEN, MAX_SPEED
