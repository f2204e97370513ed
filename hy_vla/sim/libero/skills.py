"""The skills of the scripted LIBERO experts: state machines over end-effector targets, closed loop on the true poses.

Each skill's ``act(obs, eef, rot)`` returns an end-effector target, a gripper rotation target, the gripper command
and a speed limit for this step; `hy_vla.sim.libero.expert` turns them into OSC_POSE delta actions.

- `PickPlace` (``on`` / ``in``): approach above the grasp point -> descend -> close -> lift -> carry the *object*
  over the target (the hand target is shifted by the object's measured offset, which cancels grasp offsets)
  -> lower until the object is just above the target surface -> open -> retreat. Grasps are top-down; the fingers
  close across the object's narrower horizontal side (from its body-frame mesh bounds and its rotation); bowls,
  plates and mugs are grasped by the rim on the side where the outer finger has room. A lost grasp is retried
  twice, planned afresh once the object has come to rest. An object under an overhang can be slid out first;
  one put into a cabinet drawer goes where it clears the handles above (`hy_vla.sim.libero.cabinet`).
  Started in the middle of someone else's episode (a post-training correction), it carries on from where the hand
  is rather than restarting: low over the object it centres and descends, holding the object it lifts (or lowers,
  when already over the target); a restart would teach corrections the demonstrations contradict.
- `TurnKnob` (``turnon`` / ``turnoff``): grasp the stove dial's bar from above and twist the wrist.
- Drawers (``open`` / ``close``): `hy_vla.sim.libero.drawers`; the microwave's door (``close``):
  `hy_vla.sim.libero.microwave`.

Each phase also ends on a step budget so a stuck phase cannot stall the episode. All numbers (heights, gains,
budgets, offsets) are ours, tuned on this simulator (MuJoCo 3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hy_vla.sim.libero.cabinet import drawer_place_center
from hy_vla.sim.libero.env import BOUNDS_KEY, JOINTS_KEY, POSITIONS_KEY, ROTATIONS_KEY

OPEN, CLOSE = -1.0, 1.0
MAX_SPEED = 1.0  # per-axis action limit for travel


def axis_angle_to_matrix(v: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of an axis-angle vector (3,) (Rodrigues)."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = np.asarray(v, dtype=np.float64) / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """Axis-angle vector (3,) of a rotation matrix (3, 3); angle in [0, pi]."""
    cos = np.clip((np.trace(r) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    if angle < 1e-9:
        return np.zeros(3)
    if angle > np.pi - 1e-6:  # axis from the symmetric part near pi
        axis = np.sqrt(np.clip((np.diag(r) + 1) / 2, 0, None))
        i = int(np.argmax(axis))
        axis[np.arange(3) != i] = (r[i, np.arange(3) != i] + r[np.arange(3) != i, i]) / (4 * axis[i])
        return axis / np.linalg.norm(axis) * angle
    w = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return w / (2 * np.sin(angle)) * angle


def down_rotation(yaw: float) -> np.ndarray:
    """Gripper rotation (3, 3) pointing straight down, turned by `yaw` about world z from the neutral pose.

    At yaw 0 it is the Panda's neutral LIBERO pose, fingers closing along world y.
    """
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    # The state's orientation is robosuite's eef body frame (``robot0_eef_quat``): pointing down it is a half turn
    # about x, and the fingers then close along world y.
    neutral = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    return rz @ neutral


def yaw_for_closing_axis(direction: np.ndarray) -> float:
    """The yaw (rad, in [-pi/2, pi/2]) that makes the fingers close along the horizontal `direction`."""
    angle = np.arctan2(direction[1], direction[0]) - np.pi / 2  # at yaw 0 the fingers close along world y (90 degrees)
    return float((angle + np.pi / 2) % np.pi - np.pi / 2)  # the gripper is symmetric: yaw modulo pi


def rim_grasp(name: str) -> bool:
    """Objects too wide for the open fingers (~8 cm), grasped by the rim: one finger inside, one outside."""
    return any(kind in name for kind in ("bowl", "plate", "mug"))


@dataclass
class Skill:
    """One pick-and-place: move `obj` so it is on / in `target`."""

    relation: str  # "on" or "in"
    obj: str
    target: str
    # Metres the grasped object is slid toward the robot (-x) before it is lifted: out from under something that
    # overhangs it (an opened drawer). 0: lift straight up.
    slide: float = 0.0
    # Metres along world x from the target region's centre where the object goes (two objects onto one region).
    shift_x: float = 0.0


class PhasedSkill:
    """A skill's state machine: the current phase, steps spent in it, and the plan made at its first step."""

    FIRST_PHASE = "approach"
    BUDGET: dict[str, int] = {}  # steps each phase may take before it ends anyway

    def __init__(self, skill: Skill) -> None:
        self.skill = skill
        self.phase, self.phase_steps = self.FIRST_PHASE, 0
        self.plan: dict[str, Any] = {}

    def _tick(self) -> bool:
        """Count a step in the current phase; True once the phase has used up its `BUDGET`."""
        self.phase_steps += 1
        return self.phase_steps > self.BUDGET.get(self.phase, 10**9)

    def _next(self, phase: str) -> None:
        self.phase, self.phase_steps = phase, 0

    @property
    def done(self) -> bool:
        return self.phase == "done"


class PickPlace(PhasedSkill):
    """State machine of one pick-and-place skill (see the module docstring)."""

    PHASES = ("approach", "descend", "close", "lift", "carry", "lower", "release", "retreat", "regrasp", "done")
    BUDGET = {"approach": 60, "descend": 30, "close": 8, "lift": 30, "carry": 70, "lower": 40, "release": 6}

    def __init__(self, skill: Skill) -> None:
        super().__init__(skill)
        self.retries = 0

    # -------------------------------------------------------------- planning

    def _make_plan(self, obs: dict[str, Any], eef: np.ndarray) -> None:
        positions, rotations, bounds = obs[POSITIONS_KEY], obs[ROTATIONS_KEY], obs[BOUNDS_KEY]
        name = self.skill.obj
        pos, rot, (low, high) = positions[name], rotations[name], bounds[name]
        center = pos + rot @ ((low + high) / 2)  # world centre of the object's mesh bounds
        top = pos[2] + (rot @ high)[2] if rot[2, 2] > 0.5 else center[2] + (high - low).max() / 2
        height = float((high - low)[2])
        size_xy = (high - low)[:2]
        if rim_grasp(name):  # grasp the rim, fingers across it, where the outer finger has room
            radius = size_xy.max() / 2 - 0.012
            grasp_z = top - (0.01 if "plate" in name else 0.025)
            u = self._free_side(obs, name, center, radius, grasp_z - 0.015, eef)
            grasp = np.array([center[0] + radius * u[0], center[1] + radius * u[1], grasp_z])
            yaw = yaw_for_closing_axis(u)
        else:
            narrow = rot[:, 0] if size_xy[0] <= size_xy[1] else rot[:, 1]  # body axis of the narrow side
            yaw = yaw_for_closing_axis(narrow[:2] / max(np.linalg.norm(narrow[:2]), 1e-9))
            depth = min(0.04, max(height / 2, 0.012))
            grasp = np.array([center[0], center[1], max(top - depth, low[2] + pos[2] + 0.012)])
        self.plan = {
            "grasp": grasp,
            "grasp_offset": grasp - center,  # kept while the object moves before the grasp
            "rot": down_rotation(yaw),
            "height": height,
            "bottom_offset": center[2] - (pos[2] + low[2]),  # object centre above its bottom
        }

    def _free_side(
        self, obs: dict[str, Any], name: str, center: np.ndarray, radius: float, finger_z: float, eef: np.ndarray
    ) -> np.ndarray:
        """Horizontal unit vector (2,) from the bowl's centre to the rim point to grasp.

        The outer finger lands ~4.5 cm beyond the rim: pick the direction (every 30 degrees) whose outer finger
        is farthest from any other object that reaches above the finger tips, preferring the side facing the
        robot (which stands at -x) when several have room.
        """
        others = []
        for other, (low, high) in obs[BOUNDS_KEY].items():
            pos, rot = obs[POSITIONS_KEY][other], obs[ROTATIONS_KEY][other]
            if other == name or pos[2] + (rot @ high)[2] < finger_z or (high - low)[:2].max() > 0.3:
                continue  # itself, lower than the finger tips, or a large fixture (checked by height alone)
            c = pos + rot @ ((low + high) / 2)
            others.append((c[:2], (high - low)[:2].max() / 2))
        best, best_score = np.array([-1.0, 0.0]), -np.inf
        for angle in np.deg2rad(np.arange(0, 360, 30)):
            u = np.array([np.cos(angle), np.sin(angle)])
            finger = center[:2] + (radius + 0.045) * u
            clearance = min([np.linalg.norm(finger - c) - r for c, r in others], default=1.0)
            score = min(clearance, 0.04) - 0.01 * (1 + u[0]) / 2  # facing the robot (u = -x) breaks ties
            if score > best_score:
                best, best_score = u, score
        return best

    def _target(self, obs: dict[str, Any]) -> tuple[np.ndarray, float]:
        """Where the object's centre goes (xy) and the z the object's bottom should reach before release."""
        positions, bounds, rotations = obs[POSITIONS_KEY], obs[BOUNDS_KEY], obs[ROTATIONS_KEY]
        target = self.skill.target
        if target in bounds:  # an object (plate, bowl): its mesh centre and top
            pos, rot, (low, high) = positions[target], rotations[target], bounds[target]
            center = pos + rot @ ((low + high) / 2)
            surface = pos[2] + (high[2] if self.skill.relation == "on" else low[2])
            return center, surface + 0.01
        pos = positions[target] + [self.skill.shift_x, 0.0, 0.0]  # a region site; "in": the container's floor
        low, high = bounds[self.skill.obj]
        in_drawer = None
        if self.skill.relation == "in":
            in_drawer = drawer_place_center(obs, target, float((high - low)[:2].max()) / 2)
        return (pos if in_drawer is None else in_drawer), pos[2] + 0.02

    # ---------------------------------------------------------------- acting

    def act(self, obs: dict[str, Any], eef: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(end-effector target (3,), rotation target (3, 3), gripper, speed limit) for this step."""
        obj = obs[POSITIONS_KEY][self.skill.obj]
        if not self.plan:
            self._make_plan(obs, eef)
            obj_center = self._obj_center(obs)
            if self.phase == "approach" and _holds(obs, eef, obj_center):
                # Taking over a grasp someone else made (a correction of a policy's episode): keep the grasp and
                # the wrist as they are and carry on from the lift, or from the lowering when the object is already
                # over the target. Planning a fresh grasp would open the fingers, drop the object and swing the
                # wrist; lifting over the target would raise the object where the demonstrations lower it.
                self.plan["rot"], self.plan["hold"] = rot.copy(), eef - obj
                target_center, _ = self._target(obs)
                over_target = np.linalg.norm(obj_center[:2] - target_center[:2]) < OVER_TARGET
                self._next("lower" if over_target else "lift")
        p = self.plan
        over_budget = self._tick()
        # Before contact the grasp point follows the object (a neighbour's nudge or our own fingers move it).
        if self.phase in ("approach", "descend"):
            p["grasp"][:2] = (self._obj_center(obs) + p["grasp_offset"])[:2]
        grasp = p["grasp"]
        aligned = np.linalg.norm(matrix_to_axis_angle(p["rot"] @ rot.T)) < 0.06
        if self.phase == "approach":
            hover = grasp + [0, 0, 0.07]
            off = float(np.linalg.norm(eef[:2] - grasp[:2]))
            far = off > 0.03
            if not far and eef[2] < hover[2] - 0.01:
                # Taken over part-way down (a correction of a policy's descent): going back up to the hover point
                # would teach the policy to back away from every grasp it has begun. Centre over the grasp at this
                # height (fingers open, the wrist turning to the plan) and descend from there.
                if off < 0.01 or over_budget:
                    self._next("descend")
                return np.array([grasp[0], grasp[1], max(eef[2], grasp[2])]), p["rot"], OPEN, 0.6
            # Travel no lower than we are, but no higher than 25 cm over the hover point: while the wrist turns a
            # lot (after the drawer skill) the arm drifts upwards unless the height is held.
            travel_z = min(max(hover[2], eef[2]), hover[2] + 0.25)
            goal = np.array([hover[0], hover[1], travel_z if far else hover[2]])
            if (np.linalg.norm(eef[:2] - grasp[:2]) < 0.006 and aligned) or over_budget:
                self._next("descend")
            return goal, p["rot"], OPEN, MAX_SPEED
        if self.phase == "descend":  # ~1.5 cm per step at speed 0.6: the budget grows with the height to go
            if np.linalg.norm(eef - grasp) < 0.006 or (
                over_budget and self.phase_steps > 30 + 60 * (eef[2] - grasp[2])
            ):
                self._next("close")
            return grasp, p["rot"], OPEN, 0.6
        if self.phase == "close":
            if over_budget:
                p["hold"] = eef - obj  # grasp offset: end effector relative to the object origin
                if self.skill.slide:
                    p["slide_to"] = eef - [self.skill.slide, 0.0, 0.0]
                self._next("lift")
            return grasp, p["rot"], CLOSE, 0.3
        holding = self.phase in ("lift", "carry", "lower")
        slip = RIM_SLIP if rim_grasp(self.skill.obj) else SLIP
        if holding and (_fingers_empty(obs) or np.linalg.norm(eef - obj - p["hold"]) > slip):  # lost or missed it
            if self.retries < 2:
                self.retries += 1
                self.plan = {}
                self._next("regrasp")
        if self.phase == "regrasp":  # open and rise, then plan again from the object's new pose
            if self.phase_steps > 12:
                self.plan = {}  # planned when the object has fallen: the plan made as it let go has it mid-air
                self._next("approach")
            return eef + [0, 0, 0.04], rot, OPEN, MAX_SPEED
        center, release_z = self._target(obs)
        carry_z = max(release_z + p["bottom_offset"] + 0.12, grasp[2] + 0.10)
        if self.phase == "lift":
            if "slide_to" in p:  # slide first, barely off the surface
                if np.linalg.norm(eef[:2] - p["slide_to"][:2]) > 0.01 and not over_budget:
                    return p["slide_to"] + [0, 0, 0.01], p["rot"], CLOSE, 0.6
                del p["slide_to"]
            goal = np.array([eef[0], eef[1], carry_z + p["hold"][2]])
            if eef[2] > carry_z - 0.02 + min(p["hold"][2], 0) or over_budget:
                self._next("carry")
            return goal, p["rot"], CLOSE, MAX_SPEED
        # Move the object (not the hand): hand target = object target + measured hand-object offset.
        offset = eef - obj
        obj_goal_xy = center[:2] - (self._obj_center(obs) - obj)[:2]
        if self.phase == "carry":
            goal = np.array([obj_goal_xy[0] + offset[0], obj_goal_xy[1] + offset[1], carry_z + p["hold"][2]])
            if np.linalg.norm(self._obj_center(obs)[:2] - center[:2]) < 0.01 or over_budget:
                self._next("lower")
            return goal, p["rot"], CLOSE, MAX_SPEED
        bottom = obj[2] + self._bottom_below_origin(obs)
        if self.phase == "lower":
            goal = np.array([obj_goal_xy[0] + offset[0], obj_goal_xy[1] + offset[1], eef[2] - (bottom - release_z)])
            if bottom - release_z < 0.008 or over_budget:
                self._next("release")
            return goal, p["rot"], CLOSE, 0.6
        if self.phase == "release":
            if over_budget:
                self._next("retreat")
            return eef.copy(), p["rot"], OPEN, MAX_SPEED
        if self.phase == "retreat":
            if eef[2] > release_z + p["height"] + 0.08 or self.phase_steps > 20:
                self._next("done")
            return eef + [0, 0, 0.05], p["rot"], OPEN, MAX_SPEED
        return eef.copy(), p["rot"], OPEN, MAX_SPEED

    def _obj_center(self, obs: dict[str, Any]) -> np.ndarray:
        name = self.skill.obj
        pos, rot, (low, high) = obs[POSITIONS_KEY][name], obs[ROTATIONS_KEY][name], obs[BOUNDS_KEY][name]
        return pos + rot @ ((low + high) / 2)

    def _bottom_below_origin(self, obs: dict[str, Any]) -> float:
        """Lowest point of the object relative to its origin (z), for its current rotation."""
        name = self.skill.obj
        rot, (low, high) = obs[ROTATIONS_KEY][name], obs[BOUNDS_KEY][name]
        corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
        return float((corners @ rot.T)[:, 2].min())


class TurnKnob(PhasedSkill):
    """Turn a stove's knob on (``turnon``) or off (``turnoff``): grasp the bar on top of the dial from above, the
    fingers across it at its current angle, and twist the wrist about +z (on) or -z (off).

    The dial turns about the stove body's vertical axis (its origin); the benchmark calls the stove on once the
    knob joint passes 0.5 rad and off below 0.0 (its lower limit is -0.005: the twist presses into it). We twist
    to ~1 rad (on) or just past 0 (off), open, and lift.
    """

    BUDGET = {"approach": 60, "descend": 30, "close": 8, "twist": 70, "release": 6}
    TWIST = 1.1  # radians of wrist rotation asked for (the grasp slips a little)
    ON_ANGLE = 0.7  # knob angle at which we let go (the predicate needs 0.5)
    OFF_ANGLE = -0.001  # knob angle at which we let go when turning off (the predicate needs < 0.0)
    GRASP_DZ = 0.045  # end effector above the stove origin when grasping the bar

    def act(self, obs: dict[str, Any], eef: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        name = self.skill.obj
        angle = float(np.asarray(obs[JOINTS_KEY].get(name, [0.0]))[0])
        on = self.skill.relation == "turnon"
        if not self.plan:
            pos = obs[POSITIONS_KEY][name]  # the dial turns about the stove's origin; its bar is ~3-5 cm above it
            self.plan = {
                "grasp": np.array([pos[0], pos[1], pos[2] + self.GRASP_DZ]),
                "rot": down_rotation(angle),  # the bar turns with the dial
                # Off: the dial may start anywhere up to 2.1 rad; aim 0.3 rad past 0 (under half a turn away, so
                # the wrist turns the short way round).
                "twisted": down_rotation(angle + self.TWIST if on else -0.3),
            }
        p = self.plan
        over = self._tick()
        grasp = p["grasp"]
        aligned = np.linalg.norm(matrix_to_axis_angle(p["rot"] @ rot.T)) < 0.06
        if self.phase == "approach":
            hover = grasp + [0, 0, 0.06]
            far = np.linalg.norm(eef[:2] - grasp[:2]) > 0.03
            goal = np.array([hover[0], hover[1], max(hover[2], eef[2]) if far else hover[2]])
            if (np.linalg.norm(eef[:2] - grasp[:2]) < 0.006 and aligned) or over:
                self._next("descend")
            return goal, p["rot"], OPEN, MAX_SPEED
        if self.phase == "descend":
            if np.linalg.norm(eef - grasp) < 0.006 or over:
                self._next("close")
            return grasp, p["rot"], OPEN, 0.6
        if self.phase == "close":
            if over:
                self._next("twist")
            return grasp, p["rot"], CLOSE, 0.3
        if self.phase == "twist":
            if (angle > self.ON_ANGLE if on else angle < self.OFF_ANGLE) or over:
                self._next("release")
            return grasp, p["twisted"], CLOSE, 0.3
        if self.phase == "release":
            if over:
                self._next("retreat")
            return eef.copy(), rot, OPEN, MAX_SPEED
        if self.phase == "retreat":
            if self.phase_steps > 12:
                self._next("done")
            return eef + [0, 0, 0.05], rot, OPEN, MAX_SPEED
        return eef.copy(), rot, OPEN, MAX_SPEED


# A held object further than this (m) from where the grasp put it relative to the hand has been lost. An object
# held by its rim (bowl, plate, mug) swings about the fingers as it is lifted: its centre moved 4.6 cm on a bowl lifted
# out of LIBERO-Goal's scene and still held, so rims get more room.
SLIP, RIM_SLIP = 0.04, 0.08
HOLD_GAP = 0.07  # finger gap (m) below which the fingers are closed on something: open is ~0.078, objects 0.03-0.063
OVER_TARGET = 0.02  # object centre within this (m, horizontal) of the target's: a takeover lowers straight away
HOLD_REACH = 0.06  # object centre within this of the hand while held (measured 0.003-0.052 on LIBERO-Object)


def _holds(obs: dict[str, Any], eef: np.ndarray, obj_center: np.ndarray) -> bool:
    """True when the fingers are closed on something (neither open nor touching) at the object."""
    fingers = np.asarray(obs["observation.state"], dtype=np.float64)[6:8]
    gap = float(fingers[0] - fingers[1])
    return not _fingers_empty(obs) and gap < HOLD_GAP and float(np.linalg.norm(eef - obj_center)) < HOLD_REACH


def _fingers_empty(obs: dict[str, Any]) -> bool:
    """True when the closed fingers touch each other (nothing between them)."""
    fingers = np.asarray(obs["observation.state"], dtype=np.float64)[6:8]  # (2,) finger joint positions
    return float(fingers[0] - fingers[1]) < 0.0025
