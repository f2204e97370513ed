"""Scripted LIBERO experts: the task's goal predicates turned into skills, run in order, as OSC_POSE deltas.

The expert reads the task's goal (the bddl ``:goal``) and runs one skill per predicate (`hy_vla.sim.libero.skills`):
``on`` / ``in`` -> pick-and-place, ``turnon`` / ``turnoff`` -> the stove knob, ``open`` / ``close`` -> a cabinet
drawer, ``close`` -> also the microwave's door. A drawer is closed after whatever the goal puts into it (the bddl
lists predicates in no particular order). Tasks whose goal alone does not say what must happen first get skills
in `FIRST_SKILLS`. Predicates without a skill raise at construction, naming the reason, so a task the expert
cannot do is never attempted silently.

Actions: position commands are proportional (OSC_POSE scales an action of 1 to 5 cm), rotations drive the
gripper to the skill's rotation target (0.5 rad per unit), gripper -1 open, +1 close. Numbers are ours, tuned on
this simulator (MuJoCo 3.3).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hy_vla.policy.protocol import ACTIONS_KEY
from hy_vla.sim.libero.drawers import CloseDrawer, OpenDrawer
from hy_vla.sim.libero.env import ACTION_DIM, POSITIONS_KEY, STATE_DIM
from hy_vla.sim.libero.microwave import CloseMicrowave
from hy_vla.sim.libero.skills import (
    OPEN,
    PickPlace,
    Skill,
    TurnKnob,
    axis_angle_to_matrix,
    matrix_to_axis_angle,
)
from hy_vla.sim.libero.tasks import catalogue

POS_SCALE = 0.05  # metres per unit of position action (robosuite OSC_POSE output_max)
ROT_SCALE = 0.5  # radians per unit of rotation action
POS_GAIN = 1.6  # commanded offset / remaining error: > 1 compensates the impedance controller's lag
ROT_GAIN = 1.0
SUPPORTED_PREDICATES = ("on", "in", "turnon", "turnoff", "open", "close")


# Tasks whose goal predicates alone do not say what must happen first: skills run before the goal's.
FIRST_SKILLS = {
    "libero_goal/open_the_top_drawer_and_put_the_bowl_inside": (
        Skill("open", "wooden_cabinet_1_top_region", "wooden_cabinet_1_top_region"),
    ),
}
# Tasks whose object sits under something the first skills leave overhanging it: metres to slide it toward the
# robot before lifting (the bowl beside the cabinet is under the opened top drawer; lifted straight up, its rim
# catches on the drawer and it drops).
SLIDE_BEFORE_LIFT = {"libero_goal/open_the_top_drawer_and_put_the_bowl_inside": 0.08}


def skills_for_goal(goal: tuple[tuple[str, ...], ...]) -> list[Skill]:
    """One skill per goal predicate, each ``close`` after the ``in``s into what it closes; ValueError naming the
    reason for predicates we have no skill for."""
    skills = []
    for predicate in goal:
        kind = predicate[0]
        if kind in ("turnon", "turnoff", "open", "close"):  # one argument: the stove, or the drawer's region
            skills.append(Skill(kind, predicate[1], predicate[1]))
        elif kind == "in" and predicate[2].startswith("microwave"):
            raise ValueError(
                f"no scripted LIBERO expert for goal {predicate}: an object goes into the microwave through its "
                "front, which a top-down grasp cannot reach (it ends on the microwave's top)"
            )
        elif kind in SUPPORTED_PREDICATES:
            skills.append(Skill(kind, predicate[1], predicate[2]))
        else:
            raise ValueError(f"no scripted LIBERO expert for goal {predicate}: no skill for this predicate")
    return close_last(skills)


def close_last(skills: list[Skill]) -> list[Skill]:
    """`skills` with every ``close`` moved after the ``in`` skills whose target lies in what it closes (a drawer
    region, or a region of the closed object); the order is otherwise kept."""

    def inside(put: Skill, close: Skill) -> bool:
        return put.relation == "in" and (put.target == close.target or put.target.startswith(close.target + "_"))

    ordered = [s for s in skills if s.relation != "close"]
    for close in (s for s in skills if s.relation == "close"):
        last = max((i for i, s in enumerate(ordered) if inside(s, close)), default=None)
        if last is None:  # nothing goes in: keep the goal's order relative to the skills that were before it
            before = [s for s in skills[: skills.index(close)] if s.relation != "close"]
            last = max((ordered.index(s) for s in before), default=-1)
        ordered.insert(last + 1, close)
    return ordered


SIDE_BY_SIDE = 0.09  # metres between the centres of two objects put onto one region


def side_by_side(skills: list[Skill]) -> list[Skill]:
    """Objects put onto the same region go side by side along world x, `SIDE_BY_SIDE` apart, instead of onto its
    centre: the second of LIBERO-10's two moka pots came to rest on the first (the stove's cook region is a 15 cm
    square tested with each pot's origin; a pot is 8 cm wide across its body's x, which stays along world x)."""
    counts: dict[str, int] = {}
    for s in skills:
        if s.relation == "on" and s.target.endswith("_region"):
            counts[s.target] = counts.get(s.target, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for s in skills:
        n = counts.get(s.target, 0) if s.relation == "on" else 0
        if n > 1:
            k = seen.get(s.target, 0)
            seen[s.target] = k + 1
            s = dataclasses.replace(s, shift_x=(k - (n - 1) / 2) * SIDE_BY_SIDE)
        out.append(s)
    return out


def task_goal(task: str) -> tuple[tuple[str, ...], ...]:
    """The goal predicates of `task` read from its bddl file (without building the simulator)."""
    from hy_vla.sim.libero.tasks import configure_paths

    configure_paths()
    from libero.libero.envs.bddl_utils import robosuite_parse_problem

    problem = robosuite_parse_problem(catalogue()[task].bddl_file)
    return tuple(tuple(str(x).lower() for x in p) for p in problem["goal_state"])


class LiberoExpert:
    """Scripted expert for one LIBERO task (a `PolicyLike`, horizon 1); see the module docstring."""

    def __init__(self, task: str) -> None:
        self.task = task
        goal_skills = skills_for_goal(task_goal(task))  # raises if we have no skill
        slide = SLIDE_BEFORE_LIFT.get(task, 0.0)
        goal_skills = [dataclasses.replace(s, slide=slide) if s.relation in ("on", "in") else s for s in goal_skills]
        goal_skills = side_by_side(goal_skills)
        self.skills = [*FIRST_SKILLS.get(task, ()), *goal_skills]
        for skill in self.skills:
            _skill_runner(skill)  # raises now, not mid-episode, for a target the skill cannot handle
        self.metadata: dict[str, Any] = {
            "name": f"libero-expert/{task}",
            "privileged": True,
            "cameras": [],
            "state_dim": STATE_DIM,
            "action_dim": ACTION_DIM,
        }
        self.reset()

    def reset(self) -> None:
        self._runs = [_skill_runner(s) for s in self.skills]

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        if POSITIONS_KEY not in obs:
            raise KeyError(
                f"the LIBERO expert needs {POSITIONS_KEY!r}: build its env with make_env(task, privileged=True)"
            )
        state = np.asarray(obs["observation.state"], dtype=np.float64)  # (8,)
        eef, rot = state[:3], axis_angle_to_matrix(state[3:6])
        run = next((r for r in self._runs if not r.done), None)
        if run is None:  # every skill finished: hold still, gripper open
            return {ACTIONS_KEY: np.array([[0, 0, 0, 0, 0, 0, OPEN]], dtype=np.float32)}
        target, target_rot, grip, speed = run.act(obs, eef, rot)
        action = np.zeros(ACTION_DIM)
        action[:3] = np.clip((target - eef) / POS_SCALE * POS_GAIN, -speed, speed)
        action[3:6] = np.clip(matrix_to_axis_angle(target_rot @ rot.T) / ROT_SCALE * ROT_GAIN, -1, 1)
        action[6] = grip
        return {ACTIONS_KEY: action[None].astype(np.float32)}  # (1, 7)


def _skill_runner(skill: Skill) -> PickPlace | TurnKnob | OpenDrawer | CloseDrawer | CloseMicrowave:
    if skill.relation in ("turnon", "turnoff"):
        return TurnKnob(skill)
    if skill.relation == "open":
        return OpenDrawer(skill)
    if skill.relation == "close":
        return CloseMicrowave(skill) if skill.target.startswith("microwave") else CloseDrawer(skill)
    return PickPlace(skill)


def make_libero_expert(task: str) -> LiberoExpert:
    return LiberoExpert(task)
