"""The LIBERO pick-and-place skill on synthetic observations (no simulator): where a takeover starts it."""

from __future__ import annotations

import numpy as np

from hy_vla.sim.libero.env import BOUNDS_KEY, POSITIONS_KEY, ROTATIONS_KEY
from hy_vla.sim.libero.skills import OPEN, PickPlace, Skill, axis_angle_to_matrix, down_rotation

# A 6 x 4 x 10 cm box standing at the origin of the table (z 0.85): centre z 0.90, top 0.95; the fingers close
# across its 4 cm side (world y, yaw 0); the grasp point is 4 cm under the top (z 0.91), the hover 7 cm above it.
LOW, HIGH = np.array([-0.03, -0.02, 0.0]), np.array([0.03, 0.02, 0.10])
REGION = np.array([0.20, 0.0, 0.85])  # the target region's site ("in": the object's bottom goes to z 0.87)


def observation(obj_pos: np.ndarray, fingers: tuple[float, float]) -> dict:
    state = np.zeros(8)
    state[6:8] = fingers
    return {
        POSITIONS_KEY: {"box": obj_pos, "basket_region": REGION},
        ROTATIONS_KEY: {"box": np.eye(3)},
        BOUNDS_KEY: {"box": (LOW, HIGH)},
        "observation.state": state,
    }


def skill() -> PickPlace:
    return PickPlace(Skill("in", "box", "basket_region"))


def test_taking_over_a_descent_does_not_rise():
    """A policy's descent handed to the expert (8 mm off, wrist 0.1 rad off, 4 cm under the hover point): the
    expert used to rise back to the hover point, and its corrections taught the policy to back off from grasps."""
    obs = observation(np.array([0.0, 0.0, 0.85]), (0.039, -0.039))  # fingers open
    eef, start = np.array([0.008, 0.0, 0.94]), 0.94
    rot = axis_angle_to_matrix(np.array([0.0, 0.0, 0.1])) @ down_rotation(0.0)
    expert, heights, phases = skill(), [], []
    for _ in range(60):
        goal, rot_goal, gripper, speed = expert.act(obs, eef, rot)
        phases.append(expert.phase)
        if expert.phase == "close":
            break
        assert gripper == OPEN
        eef = eef + np.clip(goal - eef, -0.01 * speed, 0.01 * speed)  # a rate-limited hand that reaches its goals
        rot = rot_goal
        heights.append(eef[2])
    assert max(heights) <= start + 1e-9, max(heights)
    assert phases[-1] == "close", phases
    assert abs(eef[2] - 0.91) < 0.006 and np.linalg.norm(eef[:2]) < 0.006


def test_taking_over_a_lowering_keeps_lowering():
    """Holding the object well under the carry height and already over the target, the takeover lowers it; the
    lift used to raise it back to the carry height first."""
    obj_pos = np.array([0.205, 0.0, 0.90])  # bottom 3 cm above the release height, 5 mm from the target's centre
    obs = observation(obj_pos, (0.02, -0.02))  # closed on something 4 cm wide
    eef = obj_pos + np.array([0.0, 0.0, 0.06])  # 1 cm above the box's centre: in the fingers
    expert = skill()
    goal, _, gripper, _ = expert.act(obs, eef, down_rotation(0.0))
    assert expert.phase == "lower"
    assert goal[2] < eef[2] and gripper > 0


def test_taking_over_a_held_object_away_from_the_target_lifts_it():
    obj_pos = np.array([0.0, 0.0, 0.90])  # held 5 cm over its table spot, 20 cm from the target
    obs = observation(obj_pos, (0.02, -0.02))
    eef = obj_pos + np.array([0.0, 0.0, 0.06])
    expert = skill()
    goal, _, _, _ = expert.act(obs, eef, down_rotation(0.0))
    assert expert.phase == "lift" and goal[2] > eef[2]
