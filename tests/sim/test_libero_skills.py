"""The LIBERO skills on synthetic observations (no simulator): pick-and-place, drawers, the stove knob."""

from __future__ import annotations

import dataclasses

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
    from hy_vla.sim.libero.drawers import OpenDrawer
    from hy_vla.sim.libero.env import JOINTS_KEY
    from hy_vla.sim.libero.skills import matrix_to_axis_angle

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


def drawer_observation(joint: list[float], region_y: float = 0.15) -> dict:
    """LIBERO's white cabinet unrotated at the origin, its bottom drawer's region site at y `region_y` (it follows the
    drawer: open is -y)."""
    from hy_vla.sim.libero.env import JOINTS_KEY

    region = "white_cabinet_1_bottom_region"
    return {
        POSITIONS_KEY: {region: np.array([0.0, region_y, 0.95]), "akita_black_bowl_1": np.array([0.0, -0.2, 0.9])},
        ROTATIONS_KEY: {"white_cabinet_1": np.eye(3), "akita_black_bowl_1": np.eye(3)},
        BOUNDS_KEY: {"akita_black_bowl_1": (np.array([-0.056, -0.056, 0.0]), np.array([0.056, 0.056, 0.053]))},
        JOINTS_KEY: {"white_cabinet_1": joint},
        "observation.state": np.zeros(8),
    }


def test_an_object_goes_into_a_drawer_clear_of_the_handles_above():
    """A bowl put into a half-open drawer at the drawer's region site hung 3 cm under the closed drawers' handles,
    rested on the top drawer's handle 10 cm above the floor and jammed the drawer when it was pushed shut
    (LIBERO-10's bottom-drawer task 1/3). It goes between those handles and the drawer's front wall instead."""
    from hy_vla.sim.libero.cabinet import FRONT_WALL, HANDLE_FRONT, drawer_place_center

    obs = drawer_observation([0.0, 0.0, -0.146])
    center = drawer_place_center(obs, "white_cabinet_1_bottom_region", 0.056)
    shift = 0.15 - center[1]  # toward the robot (-y)
    assert center[0] == 0.0 and center[2] == 0.95
    far_edge, near_edge = shift - 0.056, shift + 0.056  # in front of the region site
    handles, wall = HANDLE_FRONT - 0.146, FRONT_WALL  # the handles above stand 12.1 cm before the closed site
    assert abs((far_edge - handles) - (wall - near_edge)) < 1e-9 and far_edge > handles - 0.01, (far_edge, near_edge)
    expert = PickPlace(Skill("in", "akita_black_bowl_1", "white_cabinet_1_bottom_region"))
    np.testing.assert_allclose(expert._target(obs)[0], center)
    assert drawer_place_center(obs, "basket_1_contain_region", 0.05) is None  # not a drawer: the site itself
    # The top of the cabinet is no drawer: a bowl put on it was shifted 10 cm toward its front edge and fell off.
    assert drawer_place_center(obs, "white_cabinet_1_top_side", 0.056) is None
    obs[POSITIONS_KEY]["white_cabinet_1_top_side"] = np.array([0.0, 0.3, 1.13])
    on_top = PickPlace(Skill("on", "akita_black_bowl_1", "white_cabinet_1_top_side"))
    np.testing.assert_allclose(on_top._target(obs)[0], [0.0, 0.3, 1.13])


def test_a_drawer_is_closed_after_what_goes_into_it():
    """LIBERO-10's bddl lists "close the bottom drawer" before "put the bowl in it": run in that order the bowl met a
    closed drawer. A close is run after the puts into what it closes; otherwise the goal's order stands."""
    from hy_vla.sim.libero.expert import skills_for_goal

    def order(goal):
        return [s.relation for s in skills_for_goal(goal)]

    drawer = "white_cabinet_1_bottom_region"
    assert order((("close", drawer), ("in", "akita_black_bowl_1", drawer))) == ["in", "close"]
    on_top = (("close", "wooden_cabinet_1_top_region"), ("on", "bowl_1", "wooden_cabinet_1_top_side"))
    assert order(on_top) == ["close", "on"]  # nothing goes in: close first, then the bowl on top of the cabinet
    assert order((("close", drawer), ("open", "white_cabinet_1_top_region"))) == ["close", "open"]


def test_a_drawer_is_pushed_shut_with_a_thin_hand():
    """Pointing straight down (fingers closing across the drawer front) the hand's 20 cm body met the drawer above
    1 cm before the pushed drawer was shut, and the forearm the cabinet's top edge. The fingers close along the
    drawer front, pointing down and toward the cabinet; the hand pushes until the drawer counts as closed."""
    from hy_vla.sim.libero.drawers import CloseDrawer

    joint = [0.0, 0.0, -0.15]
    obs = drawer_observation(joint, region_y=0.15)
    region = "white_cabinet_1_bottom_region"
    eef, rot = np.array([-0.2, 0.0, 1.17]), down_rotation(0.0)
    expert = CloseDrawer(Skill("close", region, region))
    pushes = []
    for _ in range(300):
        was = expert.phase
        goal, rot_goal, gripper, speed = expert.act(obs, eef, rot)
        if was == "push":
            pushes.append(goal - eef)
            joint[2] = min(0.01, joint[2] + 0.01)  # the drawer moves with the hand
        if expert.done:
            break
        eef, rot = eef + np.clip(goal - eef, -0.02 * speed, 0.02 * speed), rot_goal
    assert expert.done and joint[2] > 0.0
    assert pushes and all(p[1] > 0 for p in pushes)  # into the cabinet (+y)
    closing, pointing = expert.plan["rot"][:, 1], expert.plan["rot"][:, 2]  # fingers' axis, approach axis
    assert abs(closing[1]) < 1e-9 and abs(closing[2]) < 1e-9  # along the drawer front (world x)
    np.testing.assert_allclose(pointing, [0.0, np.sqrt(0.5), -np.sqrt(0.5)], atol=1e-9)  # down, 45 deg into it


def test_turning_a_stove_off_twists_back_past_zero():
    """Turning off grasps the dial's bar at its current angle (it may start anywhere up to 2.1 rad) and twists the
    wrist to 0.3 rad past zero, the short way round; turning on still twists 1.1 rad from where the bar is."""
    from hy_vla.sim.libero.env import JOINTS_KEY
    from hy_vla.sim.libero.skills import TurnKnob, matrix_to_axis_angle

    def plan(relation: str, angle: float) -> dict:
        obs = {
            POSITIONS_KEY: {"flat_stove_1": np.array([0.0, 0.0, 0.9])},
            JOINTS_KEY: {"flat_stove_1": [angle]},
            "observation.state": np.zeros(8),
        }
        knob = TurnKnob(Skill(relation, "flat_stove_1", "flat_stove_1"))
        knob.act(obs, np.array([-0.2, 0.0, 1.1]), down_rotation(0.0))
        return knob.plan

    def yaw(rot: np.ndarray) -> float:
        return float(matrix_to_axis_angle(rot @ down_rotation(0.0).T)[2])

    off = plan("turnoff", 1.86)
    assert abs(yaw(off["rot"]) - 1.86) < 1e-6 and abs(yaw(off["twisted"]) + 0.3) < 1e-6
    on = plan("turnon", 0.0)
    assert abs(yaw(on["rot"])) < 1e-6 and abs(yaw(on["twisted"]) - 1.1) < 1e-6


def test_two_objects_onto_one_region_go_side_by_side():
    """LIBERO-10's two moka pots were both carried to the centre of the stove's cook region, and the second came to
    rest on the first (0/5). Objects put onto one region go 9 cm apart along world x, about its centre."""
    from hy_vla.sim.libero.expert import SIDE_BY_SIDE, side_by_side, skills_for_goal

    region = "flat_stove_1_cook_region"
    goal = (("on", "moka_pot_1", region), ("on", "moka_pot_2", region), ("turnon", "flat_stove_1"))
    skills = side_by_side(skills_for_goal(goal))
    assert [s.shift_x for s in skills] == [-SIDE_BY_SIDE / 2, SIDE_BY_SIDE / 2, 0.0]
    obs = observation(np.array([0.0, 0.0, 0.85]), (0.039, -0.039))
    obs[POSITIONS_KEY][region] = np.array([0.2, 0.1, 0.9])
    expert = PickPlace(dataclasses.replace(skills[1], obj="box"))
    np.testing.assert_allclose(expert._target(obs)[0], [0.2 + SIDE_BY_SIDE / 2, 0.1, 0.9])
    # one object per region, or objects onto objects (a plate) or into a region (a basket): unchanged
    single = side_by_side(skills_for_goal((("on", "moka_pot_1", region),)))
    baskets = side_by_side(skills_for_goal((("in", "a", "basket_region"), ("in", "b", "basket_region"))))
    assert [s.shift_x for s in single + baskets] == [0.0, 0.0, 0.0]


def test_the_microwave_door_is_pushed_shut_at_its_outer_face():
    """The microwave's door (open at -1.5 rad, pointing at the robot) is pushed at its outer face, 16 cm from the
    hinge, aiming ahead of its angle, with the hand's thin side against it; the drawer skill refused it."""
    from hy_vla.sim.libero.env import JOINTS_KEY
    from hy_vla.sim.libero.expert import _skill_runner
    from hy_vla.sim.libero.microwave import HINGE_LOCAL, CloseMicrowave, door_frame

    angle = [-1.5]
    obs = {
        POSITIONS_KEY: {"microwave_1": np.array([0.0, 0.34, 0.92])},
        ROTATIONS_KEY: {"microwave_1": np.eye(3)},
        JOINTS_KEY: {"microwave_1": angle},
        "observation.state": np.zeros(8),
    }
    skill = _skill_runner(Skill("close", "microwave_1", "microwave_1"))
    assert isinstance(skill, CloseMicrowave)
    hinge, along, outward = door_frame(obs, "microwave_1", -1.5)
    np.testing.assert_allclose(hinge, [0.0, 0.34, 0.92] + HINGE_LOCAL)
    assert along[1] < -0.99 and outward[0] < -0.99  # the open door points at the robot (-y), its face looks to -x
    eef, rot = np.array([-0.2, 0.0, 1.17]), down_rotation(0.0)
    for _ in range(200):
        was = skill.phase
        goal, rot_goal, _, speed = skill.act(obs, eef, rot)
        if was == "push":
            # the push aims ahead of the door, on its inner side of the outer face: it turns the door toward 0
            _, along_now, outward_now = door_frame(obs, "microwave_1", angle[0])
            assert np.dot(goal - (hinge + 0.16 * along_now), outward_now) < 0
            angle[0] = min(0.0, angle[0] + 0.05)
        if skill.done:
            break
        eef, rot = eef + np.clip(goal - eef, -0.02 * speed, 0.02 * speed), rot_goal
    assert skill.done and angle[0] > -0.005
    closing = rot[:, 1]  # the fingers' axis lies along the door at the end (thin side against it)
    assert abs(abs(np.dot(closing, [1.0, 0.0, 0.0])) - 1) < 0.05, closing
