"""Expert corrections of failed rollouts: roll back to a policy call, let the scripted expert act from there.

In a failed rollout, go back to the observation of a policy call (replaying the executed actions from the same
seed: the simulator is deterministic), let the scripted expert finish the episode, and keep the correction only
when the expert then solves the task. The expert's next actions become a target chunk for the observation the
policy actually saw: a preference pair's preferred side (`pairs`) or a supervised sample aggregated over the run
(`dagger`: interactive imitation; on a real robot the expert is a human taking over).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hy_vla.posttrain.config import PostTrainConfig
from hy_vla.posttrain.records import ChunkRecord, EpisodeRollout
from hy_vla.posttrain.rollouts import RolloutPool, TakeoverJob, takeover_job


def takeover_points(n_records: int, k: int, seed: int) -> list[int]:
    """Up to k distinct policy-call indices of a failed rollout (spread at random, seeded)."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n_records, size=min(k, n_records), replace=False).tolist())


def robot_transforms(model: Any) -> Any:
    """The checkpoint's robot <-> model transforms (the ones its training samples and its policy use)."""
    from hy_vla.data.transforms import RobotTransforms
    from hy_vla.embodiments import get_embodiment

    cfg = model.config
    return RobotTransforms(get_embodiment(cfg.embodiment).representation, model.norm_stats, cfg.embodiment)


def demonstrated_range(transforms: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The demonstrations' per-dimension action range (min, max) (A,) in normalized model units; None when the
    checkpoint's stats do not record it."""
    stats = transforms.stats
    if stats is None:
        return None
    fs = stats.get(transforms.action_key, transforms.embodiment)
    if fs.min is None or fs.max is None:
        return None
    ends = [torch.as_tensor(stats.normalize(transforms.action_key, torch.from_numpy(v).float(), transforms.embodiment))
            for v in (fs.min, fs.max)]  # fmt: skip
    return torch.minimum(*ends).float(), torch.maximum(*ends).float()


def expert_chunk(cfg: Any, transforms: Any, robot_state: np.ndarray, actions: np.ndarray) -> tuple[torch.Tensor, int]:
    """Expert actions (n, A) in robot units -> (1, H, A) normalized model chunk (padded by repeating the last
    action) and the number of real steps.

    The chunk is clamped to the range the demonstrations span: recovering from a state the demonstrations never
    reach, an expert may command what they never do (LIBERO's expert turns the wrist at 0.5 where the demonstrations
    stay within 0.09, 35 standard deviations out), and a few such targets dominate the flow loss and wreck the
    policy. Clamped, the correction keeps its direction at the largest magnitude the policy was trained to produce."""
    picked = actions[:: cfg.action_stride][: cfg.horizon]  # one model step every action_stride control steps
    chunk = transforms.actions_to_model(torch.from_numpy(robot_state), torch.from_numpy(np.ascontiguousarray(picked)))
    bounds = demonstrated_range(transforms)
    if bounds is not None:
        chunk = torch.clamp(chunk, bounds[0], bounds[1])
    n = chunk.shape[0]
    if n < cfg.horizon:
        chunk = torch.cat([chunk, chunk[-1:].expand(cfg.horizon - n, -1)])
    return chunk.unsqueeze(0).float(), n


def expert_corrections(
    episodes: list[EpisodeRollout], model: Any, cfg: PostTrainConfig, pool: RolloutPool
) -> list[tuple[ChunkRecord, torch.Tensor, int]]:
    """(the policy's record, the expert's chunk (1, H, action_dim) normalized, real steps) for up to
    `cfg.takeovers` calls of every failed rollout from which the expert then solved the task."""
    mcfg = model.config
    points = []
    for e in episodes:
        if e.success or not e.records:
            continue
        for i in takeover_points(len(e.records), cfg.takeovers, e.seed * 131 + e.rollout):
            rec = e.records[i]
            control = rec.executed_steps(mcfg) * mcfg.action_stride
            points.append((rec, TakeoverJob(e.task, e.seed, e.actions[: rec.step], control)))
    transforms = robot_transforms(model)
    out = []
    for (rec, _), (acts, solved) in zip(points, pool.map(takeover_job, [j for _, j in points]), strict=True):
        if not solved or len(acts) == 0:
            continue  # the expert could not recover from here either: nothing to learn
        chunk, n = expert_chunk(mcfg, transforms, rec.robot_state, acts)
        out.append((rec, chunk[..., : mcfg.action_dim], min(n, rec.executed_steps(mcfg))))
    return out
