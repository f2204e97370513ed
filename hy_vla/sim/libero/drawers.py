"""Cabinet drawers: opening (grasp the handle from the front and pull) and closing (push the front shut).

The drawers' geometry is in `hy_vla.sim.libero.cabinet`. The benchmark calls a drawer open below -0.14 and closed
above 0.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hy_vla.sim.libero.cabinet import LEVELS, drawer_handle, drawer_joint, parse_drawer
from hy_vla.sim.libero.skills import (
    CLOSE,
    MAX_SPEED,
    OPEN,
    PhasedSkill,
    Skill,
    axis_angle_to_matrix,
    down_rotation,
    matrix_to_axis_angle,
    yaw_for_closing_axis,
)


def facing_rotation(pull: np.ndarray) -> np.ndarray:
    """Gripper rotation (3, 3) pointing horizontally against `pull` (into the cabinet), fingers closing along z."""
    yaw = np.arctan2(pull[1], pull[0]) - np.pi / 2
    c, s = np.cos(yaw), np.sin(yaw)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # -90 degrees about x
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return rz @ tilt @ down_rotation(0.0)


class DrawerSkill(PhasedSkill):
    """A skill on one cabinet drawer, ending in the same retreat: back out, then return to where the hand started.

    Where the hand started is the robot's home pose, comfortably bent. From the handle of a drawer far from the
    base, a hand that turns down and rises in place straightens the elbow into its joint limit (a singular pose
    from which the controller moves nowhere), so the retreat goes home.
    """

    ACTION = ""  # "opening" / "closing", for the error naming a target without this skill
    RETREAT_STEPS = 45

    def __init__(self, skill: Skill) -> None:
        super().__init__(skill)
        self.cabinet, self.level = parse_drawer(skill.target, self.ACTION)

    def _retreat(self, eef: np.ndarray, rot: np.ndarray, grip: float, above_z: float) -> tuple[Any, ...]:
        """Back out along the pull (8 steps, gripper `grip`), then home, at least 8 cm above `above_z`, pointing
        down again for what comes next."""
        p = self.plan
        if self.phase_steps <= 8:
            return eef + 0.05 * p["pull"], p["rot"], grip, MAX_SPEED
        home = np.array([p["home"][0], p["home"][1], max(p["home"][2], above_z + 0.08)])
        aligned = np.linalg.norm(matrix_to_axis_angle(down_rotation(0.0) @ rot.T)) < 0.1
        if self.phase_steps > self.RETREAT_STEPS or (np.linalg.norm(eef - home) < 0.04 and aligned):
            self._next("done")
        return home, down_rotation(0.0), OPEN, MAX_SPEED


class OpenDrawer(DrawerSkill):
    """Open a cabinet drawer: grasp its handle bar from the front, fingers closing vertically, and pull it out.

    From above, the handle of the drawer underneath is out of reach (the top drawer's handle is in the way), so
    the gripper turns horizontal, pointing at the cabinet. The handle's place relative to the drawer's region
    site and the pull direction are measured on the wooden cabinet's model (in the cabinet's frame, so they hold
    for any placement of it).
    """

    # The grasp point sits 1.2 cm above the bar's centre (still between the fingers): at the centre the lower
    # finger, 4 cm under it, ran into a bowl standing in front of LIBERO-Goal's cabinet on some layouts.
    GRASP_ABOVE_BAR = 0.018
    OPEN_AT = -0.15  # joint position to reach (the benchmark calls the drawer open below -0.14)
    ACTION = "opening"
    FIRST_PHASE = "front"
    BUDGET = {"front": 80, "insert": 40, "close": 10, "pull": 60, "release": 6}

    def __init__(self, skill: Skill) -> None:
        super().__init__(skill)
        if LEVELS[self.level] == "bottom":
            raise ValueError(
                f"no drawer-opening skill for {skill.target!r}: the bottom handle is 5 cm above the table, and the "
                "hand (21 x 7 cm, long along the fingers' travel) grasping it with fingers closing vertically "
                "reaches 10 cm below the bar into the table; tilted 60 degrees down it clips the middle drawer's "
                "handle, which stands right above"
            )

    def act(self, obs: dict[str, Any], eef: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        if not self.plan:
            pull, handle = drawer_handle(obs, self.cabinet, self.skill.target)
            handle = handle + [0.0, 0.0, self.GRASP_ABOVE_BAR]
            self.plan = {"pull": pull, "handle": handle, "rot": facing_rotation(pull), "home": eef.copy()}
        p = self.plan
        over = self._tick()
        joint = drawer_joint(obs, self.cabinet, self.level)
        if self.phase == "front":  # in front of the handle, turning the gripper on the way
            goal = p["handle"] + 0.12 * p["pull"]
            aligned = np.linalg.norm(matrix_to_axis_angle(p["rot"] @ rot.T)) < 0.06
            if (np.linalg.norm(eef - goal) < 0.01 and aligned) or over:
                self._next("insert")
            return goal, p["rot"], OPEN, MAX_SPEED
        if self.phase == "insert":
            if np.linalg.norm(eef - p["handle"]) < 0.005 or over:
                self._next("close")
            return p["handle"], p["rot"], OPEN, 0.5
        if self.phase == "close":
            if over:
                self._next("pull")
            return p["handle"], p["rot"], CLOSE, 0.3
        if self.phase == "pull":
            if joint < self.OPEN_AT or over:
                self._next("release")
            return p["handle"] + 0.18 * p["pull"], p["rot"], CLOSE, 0.5
        if self.phase == "release":
            if over:
                self._next("retreat")
            return eef.copy(), p["rot"], OPEN, MAX_SPEED
        if self.phase == "retreat":
            return self._retreat(eef, rot, OPEN, p["handle"][2])
        return eef.copy(), rot, OPEN, MAX_SPEED


class CloseDrawer(DrawerSkill):
    """Close a cabinet drawer: push its handle in with the closed fingers.

    The fingers point down and 45 degrees toward the cabinet, closing along the drawer front, so the hand is thin
    in the pushing direction. Pointing straight down, the forearm met the cabinet's top edge 7 cm before a bottom
    drawer was shut; pointing horizontally, the wrist swung 25 cm behind the hand into the wine rack beside
    LIBERO's white cabinet. The hand comes over the spot in front of the handle, descends, pushes until the
    benchmark calls the drawer closed, backs out and returns to where it started.
    """

    ACTION = "closing"
    FIRST_PHASE = "above"
    BUDGET = {"above": 80, "descend": 40, "push": 60}
    STANDOFF = 0.06  # metres in front of the handle where the hand comes down
    TILT = np.pi / 4  # the fingers point down and toward the cabinet
    CLOSED_AT = 0.002  # joint position to reach (the benchmark calls the drawer closed above 0.0)

    def act(self, obs: dict[str, Any], eef: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        if not self.plan:
            pull, handle = drawer_handle(obs, self.cabinet, self.skill.target)
            across = np.array([-pull[1], pull[0], 0.0])  # horizontal, along the drawer front
            tilt = axis_angle_to_matrix(across * self.TILT)  # turns the pointing direction from down toward the cabinet
            rot = tilt @ down_rotation(yaw_for_closing_axis(across))
            self.plan = {"pull": pull, "start": handle + self.STANDOFF * pull, "rot": rot, "home": eef.copy()}
        p = self.plan
        over = self._tick()
        joint = drawer_joint(obs, self.cabinet, self.level)
        aligned = np.linalg.norm(matrix_to_axis_angle(p["rot"] @ rot.T)) < 0.08
        if self.phase == "above":  # over the spot in front of the handle, turning the gripper on the way
            goal = p["start"] + [0.0, 0.0, 0.08]
            if (np.linalg.norm(eef - goal) < 0.015 and aligned) or over:
                self._next("descend")
            return goal, p["rot"], CLOSE, MAX_SPEED
        if self.phase == "descend":
            if np.linalg.norm(eef - p["start"]) < 0.01 or over:
                self._next("push")
            return p["start"], p["rot"], CLOSE, 0.6
        if self.phase == "push":  # aim well past the closed position: the contact, not the target, stops the hand
            if joint > self.CLOSED_AT or over:
                self._next("retreat")
            return p["start"] - (self.STANDOFF + 0.20) * p["pull"], p["rot"], CLOSE, 0.5
        if self.phase == "retreat":
            return self._retreat(eef, rot, CLOSE, p["start"][2])
        return eef.copy(), rot, OPEN, MAX_SPEED
