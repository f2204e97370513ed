"""Temporal ensembling of action chunks (ACT): query every control step, execute the weighted mean of every chunk's
prediction for this step.

A chunk predicted at step ``t0`` holds actions for ``t0 .. t0 + H - 1``. At step ``t`` up to ``H`` chunks hold an
action for ``t``; with the oldest first (index ``i = 0``) they are averaged with weights ``exp(-m * i)``,
normalized to sum to one, so ``m > 0`` favours older predictions (ACT's choice, m = 0.01) and ``m = 0`` is the
plain mean. Positions, grippers and per-step deltas are averaged as numbers. Absolute rotations cannot be: a
quaternion block is sign-aligned to the newest prediction, averaged and renormalized (the chordal mean, exact
enough for the nearby rotations that chunks of one policy predict), and a rot6d block is averaged and re-projected
onto a rotation by Gram-Schmidt. Other absolute rotation formats (Euler angles, axis-angle poses) wrap around and
are refused.

Cost: one policy query per control step instead of one per executed chunk prefix.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from hy_vla.actions.representation import ActionRepresentation
from hy_vla.actions.rotations import ROTATION_DIMS, matrix_to_rot6d, rot6d_to_matrix
from hy_vla.policy.protocol import ACTIONS_KEY, PolicyLike, seed_noise

ACT_M = 0.01  # ACT's weighting constant


def ensemble_weights(n: int, m: float) -> np.ndarray:
    """(n,) float64 weights summing to one for n predictions of one step, oldest first: exp(-m * i)."""
    if n <= 0:
        raise ValueError(f"ensemble_weights: expected at least one prediction, got {n}")
    if not m >= 0:  # also refuses NaN
        raise ValueError(f"temporal ensemble m must be >= 0, got {m}")
    w = np.exp(-m * np.arange(n, dtype=np.float64))
    return w / w.sum()


def rotation_blocks(rep: ActionRepresentation, action_dim: int) -> tuple[tuple[str, slice], ...]:
    """Where the robot action vector of `rep` holds absolute rotations: ((format, columns), ...).

    "absolute" representations carry whatever the robot executes (joint targets, per-step deltas): no blocks. A
    "delta_eef" representation sends absolute poses per arm, ``[xyz, rotation, gripper]``.
    """
    if rep.kind == "absolute":
        return ()
    if rep.rotation not in ("quat", "rot6d"):
        raise ValueError(
            f"temporal ensembling averages absolute rotations as quaternions or rot6d; this policy's robot actions "
            f"hold {rep.rotation!r} rotations, whose average wraps around"
        )
    rot = ROTATION_DIMS[rep.rotation]
    per_arm = 3 + rot + rep.gripper_dim
    if per_arm * rep.arms != action_dim:
        raise ValueError(f"{rep.arms} arm(s) x {per_arm} pose values != the action width {action_dim}")
    return tuple((rep.rotation, slice(a * per_arm + 3, a * per_arm + 3 + rot)) for a in range(rep.arms))


def average_actions(
    preds: np.ndarray, weights: np.ndarray, rotations: tuple[tuple[str, slice], ...] = ()
) -> np.ndarray:
    """preds (N, A) oldest first, weights (N,) summing to one -> (A,) float32 weighted mean, rotations kept valid."""
    preds = np.asarray(preds, np.float64)
    out = weights @ preds
    for fmt, cols in rotations:
        block = preds[:, cols]
        if fmt == "quat":
            # q and -q are one rotation: flip each to the newest prediction's hemisphere before averaging.
            signs = np.where(block @ block[-1] < 0, -1.0, 1.0)
            q = weights @ (block * signs[:, None])
            norm = np.linalg.norm(q)
            out[cols] = q / norm if norm > 1e-12 else block[-1]
        else:  # rot6d
            out[cols] = matrix_to_rot6d(rot6d_to_matrix(weights @ block))
    return out.astype(np.float32)


class TemporalEnsemble:
    """PolicyLike wrapper: queries `policy` on every call and returns one ensembled action, ``{"actions": (1, A)}``.

    Each call is one control step; `reset` starts a new episode. Runners execute the single action and query again.
    """

    def __init__(self, policy: PolicyLike, m: float = ACT_M, rotations: tuple[tuple[str, slice], ...] = ()) -> None:
        ensemble_weights(1, m)  # validates m
        self.policy = policy
        self.m = float(m)
        self.rotations = rotations
        self.chunks: deque[tuple[int, np.ndarray]] = deque()  # (step predicted at, (L, A) actions), oldest first
        self.step = 0
        meta = getattr(policy, "metadata", None)
        self.metadata: dict[str, Any] = {**meta, "temporal_ensemble": self.m} if isinstance(meta, dict) else {}

    @classmethod
    def around(cls, policy: PolicyLike, m: float = ACT_M) -> TemporalEnsemble:
        """Wrap a policy that names its `representation` (`CheckpointPolicy`); others get plain averaging."""
        rep = getattr(policy, "representation", None)
        dim = getattr(policy, "robot_action_dim", None)
        rotations = rotation_blocks(rep, int(dim)) if rep is not None and dim is not None else ()
        return cls(policy, m, rotations)

    def reset(self) -> None:
        self.chunks.clear()
        self.step = 0
        self.policy.reset()

    def seed_noise(self, seed: int) -> None:
        seed_noise(self.policy, seed)

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        out = self.policy.infer(obs)
        chunk = np.asarray(out[ACTIONS_KEY], np.float32)
        if chunk.ndim != 2 or len(chunk) == 0:
            raise ValueError(f"temporal ensembling needs (H, A) action chunks, got shape {chunk.shape}")
        self.chunks.append((self.step, chunk))
        # Drop chunks whose every action lies in the past.
        self.chunks = deque((t0, c) for t0, c in self.chunks if self.step - t0 < len(c))
        preds = np.stack([c[self.step - t0] for t0, c in self.chunks])  # (N, A), oldest first
        action = average_actions(preds, ensemble_weights(len(preds), self.m), self.rotations)
        self.step += 1
        return {**{k: v for k, v in out.items() if k != ACTIONS_KEY}, ACTIONS_KEY: action[None]}
