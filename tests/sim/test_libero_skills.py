"""The LIBERO pick-and-place skill on synthetic observations (no simulator): where a takeover starts it."""

from __future__ import annotations

import numpy as np

from hy_vla.sim.libero.env import BOUNDS_KEY, POSITIONS_KEY, ROTATIONS_KEY
from hy_vla.sim.libero.skills import OPEN, PickPlace, Skill, axis_angle_to_matrix, down_rotation, rim_grasp

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


def _held(expert: PickPlace, obj_pos: np.ndarray, eef: np.ndarray) -> None:
    """Hand `expert` an object held in closed fingers away from the target: it continues from the lift."""
    expert.act(observation(obj_pos, (0.02, -0.02)), eef, down_rotation(0.0))
    assert expert.phase == "lift"


def test_a_lost_object_is_planned_for_where_it_fell():
    """After a lost grasp the skill opens and rises, then plans the next grasp. The plan used to be made as the
    object let go (mid-air), so the next descent stopped 15 cm over the object on the table."""
    expert, table = skill(), np.array([0.0, 0.0, 0.85])
    eef = table + [0.0, 0.0, 0.06]
    _held(expert, table, eef)
    falling = np.array([0.0, 0.0, 1.0])
    expert.act(observation(falling, (0.001, -0.001)), eef, down_rotation(0.0))  # fingers empty: lost
    assert expert.phase == "regrasp"
    for i in range(20):  # it falls back onto the table while the hand opens and rises
        where = falling - [0.0, 0.0, 0.05 * i] if i < 3 else table
        expert.act(observation(where, (0.039, -0.039)), eef + [0, 0, 0.1], down_rotation(0.0))
        if expert.phase != "regrasp":
            break
    expert.act(observation(table, (0.039, -0.039)), eef + [0, 0, 0.1], down_rotation(0.0))
    assert expert.phase in ("approach", "descend")
    assert abs(expert.plan["grasp"][2] - 0.91) < 1e-6, expert.plan["grasp"]  # 4 cm under the top of the box


def _bowl_observation(obj_pos: np.ndarray, fingers: tuple[float, float], name: str) -> dict:
    obs = observation(obj_pos, fingers)
    for key in (POSITIONS_KEY, ROTATIONS_KEY, BOUNDS_KEY):
        obs[key][name] = obs[key].pop("box")
    return obs


def test_an_object_held_by_its_rim_may_swing():
    """A bowl held by its rim swings about the fingers as it rises (its centre moved 4.6 cm in LIBERO-Goal, still
    held); a box that far from where it was grasped has slipped out."""
    for name, slips in (("bowl", False), ("box", True)):
        expert = PickPlace(Skill("in", name, "basket_region"))
        obj = np.array([0.0, 0.0, 0.85])
        eef = obj + [0.0, 0.0, 0.06]
        expert.act(_bowl_observation(obj, (0.02, -0.02), name), eef, down_rotation(0.0))
        assert expert.phase == "lift"
        swung = obj + [0.05, 0.0, 0.0]
        expert.act(_bowl_observation(swung, (0.003, -0.003), name), eef, down_rotation(0.0))
        assert (expert.phase == "regrasp") == slips, (name, expert.phase)


def test_slide_before_lift():
    """With `slide`, the grasped object first slides toward the robot (-x) just off the table, then rises."""
    expert = PickPlace(Skill("in", "box", "basket_region", slide=0.08))
    obs = observation(np.array([0.0, 0.0, 0.85]), (0.039, -0.039))
    eef, rot = np.array([0.0, 0.0, 1.0]), down_rotation(0.0)
    goals = []
    for _ in range(200):
        goal, rot, _, speed = expert.act(obs, eef, rot)
        if expert.phase == "lift":
            goals.append(goal)
            obs = observation(eef - [0.0, 0.0, 0.06], (0.02, -0.02))  # the box moves with the hand
        if expert.phase == "carry":
            break
        eef = eef + np.clip(goal - eef, -0.01 * speed, 0.01 * speed)
    first = goals[1]  # goals[0]: the step that closed the fingers and began the lift
    assert abs(first[0] - (-0.08)) < 0.007 and first[2] < 0.93, first  # 8 cm toward the robot, 1 cm up
    assert expert.phase == "carry" and eef[0] < -0.07, eef


def test_drawer_retreat_returns_home():
    """After pulling a drawer open the hand backs out and returns to where it started, pointing down. It used to rise
    in place: from a drawer far from the robot, turning down there straightened the elbow into its joint limit and
    the arm stopped moving (LIBERO-Goal's top drawer)."""
    from hy_vla.sim.libero.env import JOINTS_KEY
    from hy_vla.sim.libero.skills import OpenDrawer, matrix_to_axis_angle

    region = "wooden_cabinet_1_top_region"
    joint = [0.0, 0.0, 0.0]
    obs = {
        POSITIONS_KEY: {region: np.array([0.05, -0.2, 1.1])},
        ROTATIONS_KEY: {"wooden_cabinet_1": np.eye(3)},
        JOINTS_KEY: {"wooden_cabinet_1": joint},
        "observation.state": np.zeros(8),
    }
    home = np.array([-0.2, 0.0, 1.17])
    eef, rot = home.copy(), down_rotation(0.0)
    expert = OpenDrawer(Skill("open", region, region))
    for _ in range(400):
        goal, rot_goal, _, speed = expert.act(obs, eef, rot)
        if expert.phase == "release":
            joint[0] = -0.2  # pulled open
        if expert.done:
            break
        eef = eef + np.clip(goal - eef, -0.02 * speed, 0.02 * speed)
        rot = rot_goal
    assert expert.done
    assert np.linalg.norm(eef - home) < 0.05, eef
    assert np.linalg.norm(matrix_to_axis_angle(rot @ down_rotation(0.0).T)) < 1e-6


def test_a_mug_is_grasped_by_its_rim():
    """A mug is wider than the open fingers (~8 cm): grasped across its body the fingers closed on air (LIBERO-10's
    mug tasks 0/10); like a bowl it is taken by the rim, one finger inside."""
    low, high = np.array([-0.045, -0.045, 0.0]), np.array([0.045, 0.045, 0.09])
    obs = observation(np.array([0.0, 0.0, 0.85]), (0.039, -0.039))
    for key, value in (
        (POSITIONS_KEY, np.array([0.0, 0.0, 0.85])),
        (ROTATIONS_KEY, np.eye(3)),
        (BOUNDS_KEY, (low, high)),
    ):
        obs[key]["white_mug_1"] = value
        del obs[key]["box"]
    expert = PickPlace(Skill("on", "white_mug_1", "basket_region"))
    expert.act(obs, np.array([-0.2, 0.0, 1.1]), down_rotation(0.0))
    grasp = expert.plan["grasp"]
    assert abs(np.linalg.norm(grasp[:2]) - 0.033) < 1e-6, grasp  # on the rim: 4.5 cm radius less 1.2 cm
    assert abs(grasp[2] - (0.94 - 0.025)) < 1e-6 and rim_grasp("white_mug_1")
