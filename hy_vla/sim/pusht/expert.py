"""Scripted PushT expert: choose a push by simulating candidates, walk around the block, push, repeat.

The PushT block moves quasi-statically (gym-pusht sets the space damping to 0, which in
pymunk zeroes every dynamic body's velocity each step): it moves only while the agent
pushes it, so the outcome of a push is predictable by simulation. Each round the expert

1. enumerates candidate pushes: a contact point on the T's outline, the outward normal
   there, a push direction within +-25 degrees of the inward normal, and a push length;
2. simulates each candidate from the current (privileged) block pose in a private copy of
   gym-pusht's physics, with the agent starting just off the contact point;
3. keeps the push that brings the block's 8 outline vertices closest to the goal's;
4. walks the agent to the start of that push, around the block when the straight path
   would hit it, then pushes with targets advancing a few pixels per step.

The expert is a `PolicyLike` returning one 2-D target (horizon 1) per `infer`; it needs
``_privileged.block_pose`` and ``_privileged.goal_pose`` (adapter built with ``privileged=True``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from hy_vla.sim.pusht.env import BLOCK_POSE_KEY, GOAL_POSE_KEY, STATE_KEY, PushTEnv

AGENT_RADIUS = 15.0
# Outline of the T in its body frame (gym-pusht's tee with scale 30), clockwise (x right, y up).
OUTLINE = np.array([[-60, 0], [-60, 30], [-15, 30], [-15, 120], [15, 120], [15, 30], [60, 30], [60, 0]], float)
VERTICES = np.array([[-60, 30], [60, 30], [60, 0], [-60, 0], [-15, 30], [-15, 120], [15, 120], [15, 30]], float)
COG = np.array([0.0, 45.0])  # the block's centre of gravity in its body frame
CLEARANCE = 98.0  # radius around the centre of gravity that the agent circles along to stay clear of the block
PUSH_SPEED = 8.0  # pixels the push target advances per control step (0.1 s)
GAP = 2.0  # pixels between the agent and the block before a push


def _rot(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def to_world(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Body-frame points (N, 2) of a block at `pose` (x, y, angle) in world pixels (N, 2)."""
    return points @ _rot(pose[2]).T + pose[:2]


def keypoint_error(pose: np.ndarray, goal: np.ndarray) -> float:
    """Mean distance (pixels) between the T's 8 vertices at `pose` and at `goal`."""
    return float(np.linalg.norm(to_world(pose, VERTICES) - to_world(goal, VERTICES), axis=1).mean())


def _segment_point_distance(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> float:
    ab = b - a
    t = np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-9), 0.0, 1.0)
    return float(np.linalg.norm(a + t * ab - p))


def _segments_distance(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> float:
    """Distance between segments ab and cd (0 when they cross)."""

    def cross(o: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
        return float((p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0]))

    if cross(a, b, c) * cross(a, b, d) < 0 and cross(c, d, a) * cross(c, d, b) < 0:
        return 0.0
    return min(
        _segment_point_distance(a, b, c),
        _segment_point_distance(a, b, d),
        _segment_point_distance(c, d, a),
        _segment_point_distance(c, d, b),
    )


def path_clearance(a: np.ndarray, b: np.ndarray, pose: np.ndarray) -> float:
    """Smallest distance from segment ab to the block's outline at `pose` (0 when it crosses it)."""
    outline = to_world(pose, OUTLINE)
    return min(_segments_distance(a, b, outline[i], outline[(i + 1) % len(outline)]) for i in range(len(outline)))


@dataclass(frozen=True)
class Push:
    start: np.ndarray  # (2,) agent position before contact
    direction: np.ndarray  # (2,) unit push direction
    length: float  # pixels the target travels from `start`
    normal: np.ndarray  # (2,) outward normal at the contact point
    error: float  # predicted keypoint error after the push


class PushSimulator:
    """A private gym-pusht physics world used to predict the effect of a push."""

    def __init__(self) -> None:
        self.env = PushTEnv(obs_type="state")
        self.env.reset(seed=0)

    def run(self, agent: np.ndarray, block: np.ndarray, targets: list[np.ndarray]) -> np.ndarray:
        """Block pose (3,) after driving the agent from `agent` through `targets`, one per control step."""
        env = self.env
        env.agent.position = agent.tolist()
        env.agent.velocity = (0.0, 0.0)
        # Angle first: pymunk rotates a body about its centre of gravity, which moves its origin
        # (the `position` we are given) when the angle changes.
        env.block.angle = float(block[2])
        env.block.position = block[:2].tolist()
        env.block.velocity = (0.0, 0.0)
        env.block.angular_velocity = 0.0
        n_sub = int(1 / (env.dt * env.control_hz))
        for target in targets:
            for _ in range(n_sub):  # gym-pusht's PD law on the kinematic agent, as in its step()
                acc = env.k_p * (target - np.asarray(env.agent.position)) - env.k_v * np.asarray(env.agent.velocity)
                env.agent.velocity = (np.asarray(env.agent.velocity) + acc * env.dt).tolist()
                env.space.step(env.dt)
        return np.array([*env.block.position, env.block.angle])


class PushTExpert:
    """Scripted PushT expert (a `PolicyLike`); see the module docstring."""

    LENGTHS = (2.0, 8.0, 20.0, 50.0)  # pixels past first contact: long pushes far away, nudges near the goal
    ANGLES_DEG = (-30.0, -15.0, 0.0, 15.0, 30.0)
    FRACTIONS = (0.15, 0.5, 0.85)

    def __init__(self) -> None:
        # Blind and privileged: the harness renders nothing for it and builds its env with privileged=True.
        self.metadata: dict[str, Any] = {
            "name": "pusht-expert",
            "privileged": True,
            "cameras": [],
            "state_dim": 2,
            "action_dim": 2,
        }
        self.sim = PushSimulator()
        self.reset()

    def reset(self) -> None:
        self._queue: deque[tuple[np.ndarray, float, int]] = deque()  # (target, reach tolerance px, max steps)
        self._held = 0

    # ------------------------------------------------------------------ planning

    def candidates(self, agent: np.ndarray, block: np.ndarray, goal: np.ndarray) -> list[Push]:
        """All candidate pushes with their predicted outcome, best first."""
        outline = to_world(block, OUTLINE)
        pushes = []
        for i in range(len(OUTLINE)):
            a, b = outline[i], outline[(i + 1) % len(OUTLINE)]
            edge = (b - a) / np.linalg.norm(b - a)
            normal = np.array([-edge[1], edge[0]])  # outward: left of each edge of a clockwise outline
            for frac in self.FRACTIONS:
                contact = a + frac * (b - a)
                start = contact + normal * (AGENT_RADIUS + GAP)
                # The agent must reach `start` from outside along the normal: skip pockets of the T.
                if path_clearance(start, start + normal * 100.0, block) < AGENT_RADIUS + GAP - 0.5:
                    continue
                for ang in self.ANGLES_DEG:
                    direction = _rot(np.deg2rad(ang)) @ -normal
                    for length in self.LENGTHS:
                        steps = int(np.ceil((length + GAP) / PUSH_SPEED))
                        targets = [start + direction * min(PUSH_SPEED * (k + 1), length + GAP) for k in range(steps)]
                        targets += [targets[-1]]  # one settling step
                        after = self.sim.run(start, block, targets)
                        pushes.append(Push(start, direction, length + GAP, normal, keypoint_error(after, goal)))
        return sorted(pushes, key=lambda p: p.error)

    def _route(self, agent: np.ndarray, push: Push, block: np.ndarray) -> list[np.ndarray]:
        """Waypoints from the agent to the push start that keep the agent clear of the block."""
        if path_clearance(agent, push.start, block) > AGENT_RADIUS + 2.0:
            return [push.start]
        cog = to_world(block, COG[None])[0]
        far = push.start + push.normal * 60.0  # in line with the push, outside the block
        waypoints = []
        a0 = np.arctan2(*(agent - cog)[::-1])
        a1 = np.arctan2(*(far - cog)[::-1])
        delta = (a1 - a0 + np.pi) % (2 * np.pi) - np.pi  # shorter way round
        n = max(int(np.ceil(abs(delta) / np.deg2rad(45))), 1)
        for k in range(n + 1):
            ang = a0 + delta * k / n
            waypoints.append(cog + CLEARANCE * np.array([np.cos(ang), np.sin(ang)]))
        waypoints += [far, push.start]
        return [np.clip(w, 20.0, 492.0) for w in waypoints]

    def _plan(self, agent: np.ndarray, block: np.ndarray, goal: np.ndarray) -> None:
        pushes = self.candidates(agent, block, goal)
        if not pushes:  # cannot happen for a block inside the arena; keep the agent still rather than fail
            self._queue.append((agent, 1.0, 1))
            return
        best = pushes[0]
        for w in self._route(agent, best, block)[:-1]:
            self._queue.append((w, 20.0, 6))
        # Arrive precisely and at rest: the simulated push started exactly here with zero velocity.
        self._queue.append((best.start, 0.7, 12))
        steps = int(np.ceil(best.length / PUSH_SPEED))
        for k in range(steps):
            self._queue.append((best.start + best.direction * min(PUSH_SPEED * (k + 1), best.length), -1.0, 1))
        end = best.start + best.direction * best.length
        self._queue.append((end, -1.0, 1))  # tolerance -1: hold one step
        # Back off along the push before walking elsewhere, so the agent does not drag the block sideways.
        self._queue.append((end - best.direction * 10.0, 3.0, 3))

    # ------------------------------------------------------------------ control

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        if BLOCK_POSE_KEY not in obs:
            raise KeyError(
                f"the PushT expert needs {BLOCK_POSE_KEY!r}: build its env with make_env('pusht', privileged=True)"
            )
        agent = np.asarray(obs[STATE_KEY], dtype=np.float64)
        block = np.asarray(obs[BLOCK_POSE_KEY], dtype=np.float64)
        goal = np.asarray(obs[GOAL_POSE_KEY], dtype=np.float64)
        # Drop targets already reached (or held long enough); replan when nothing is left.
        while self._queue:
            target, tol, max_steps = self._queue[0]
            if np.linalg.norm(agent - target) <= tol or self._held >= max_steps:
                self._queue.popleft()
                self._held = 0
                continue
            break
        if not self._queue:
            self._plan(agent, block, goal)
        target = self._queue[0][0]
        self._held += 1
        return {"actions": np.asarray(target, dtype=np.float32)[None]}  # (1, 2)
