"""Preference pairs (preferred, dispreferred) of chunks for one observation, from the policy's own rollouts.

Two sources (FlowPRO-style intervention-and-rollback, without a human):

- **expert takeover**: in a failed rollout, go back to the observation of a policy call (replaying the executed
  actions from the same seed: the simulator is deterministic), let the scripted expert act from there, and keep
  the pair only when the expert then solves the task: the expert's next actions are preferred, the chunk the
  policy chose at that observation is dispreferred;
- **outcome contrast**: rollouts of one layout start from the same observation; where their outcomes differ, the
  first chunk of a successful one is preferred to the first chunk of a failed one.

Both chunks of a pair are compared on the steps the robot executed (the rest is padding).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hy_vla.posttrain.config import PostTrainConfig
from hy_vla.posttrain.records import EpisodeRollout, with_target
from hy_vla.posttrain.rollouts import RolloutPool, TakeoverJob, takeover_job

Pair = tuple[dict[str, Any], dict[str, Any]]  # (preferred batch, dispreferred batch), each with its target chunk


def outcome_pairs(episodes: list[EpisodeRollout], cfg: Any) -> list[Pair]:
    """First chunks of successful vs failed rollouts of the same layout."""
    groups: dict[tuple[str, int], list[EpisodeRollout]] = defaultdict(list)
    for e in episodes:
        groups[(e.task, e.seed)].append(e)
    pairs = []
    for group in groups.values():
        wins = [e for e in group if e.success and e.records]
        losses = [e for e in group if not e.success and e.records]
        for w, lo in zip(wins, losses, strict=False):
            rw, rl = w.records[0], lo.records[0]
            n = min(rw.executed_steps(cfg), rl.executed_steps(cfg))
            pairs.append((with_target(rw.batch, rw.actions(cfg), n), with_target(rl.batch, rl.actions(cfg), n)))
    return pairs


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


def expert_chunk(cfg: Any, transforms: Any, robot_state: np.ndarray, actions: np.ndarray) -> tuple[torch.Tensor, int]:
    """Expert actions (n, A) in robot units -> (1, H, A) normalized model chunk (padded by repeating the last
    action) and the number of real steps."""
    picked = actions[:: cfg.action_stride][: cfg.horizon]  # one model step every action_stride control steps
    chunk = transforms.actions_to_model(torch.from_numpy(robot_state), torch.from_numpy(np.ascontiguousarray(picked)))
    n = chunk.shape[0]
    if n < cfg.horizon:
        chunk = torch.cat([chunk, chunk[-1:].expand(cfg.horizon - n, -1)])
    return chunk.unsqueeze(0).float(), n


def build_pairs(episodes: list[EpisodeRollout], model: Any, cfg: PostTrainConfig, pool: RolloutPool) -> list[Pair]:
    """Both kinds of pairs for one iteration's rollouts (takeovers run in the simulator workers)."""
    mcfg = model.config
    pairs = outcome_pairs(episodes, mcfg)
    points = []
    for e in episodes:
        if e.success or not e.records:
            continue
        for i in takeover_points(len(e.records), cfg.pairs_per_episode, e.seed * 131 + e.rollout):
            rec = e.records[i]
            control = rec.executed_steps(mcfg) * mcfg.action_stride
            points.append((rec, TakeoverJob(e.task, e.seed, e.actions[: rec.step], control)))
    transforms = robot_transforms(model)
    for (rec, _), (acts, solved) in zip(points, pool.map(takeover_job, [j for _, j in points]), strict=True):
        if not solved or len(acts) == 0:
            continue  # the expert could not recover from here either: no preference to learn
        chunk, n = expert_chunk(mcfg, transforms, rec.robot_state, acts)
        n = min(n, rec.executed_steps(mcfg))
        pairs.append((with_target(rec.batch, chunk[..., : mcfg.action_dim], n), with_target(rec.batch,
                      rec.actions(mcfg), n)))  # fmt: skip
    return pairs


def save_pairs(directory: Path, pairs: list[Pair]) -> None:
    """Write pairs as pairs.safetensors (each tensor key stacked over pairs, `w.` / `l.` prefixed) + pairs.json."""
    from safetensors.torch import save_file

    from hy_vla.utils.atomic import atomic_write_text

    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    lists: dict[str, list] = {}
    for side, idx in (("w", 0), ("l", 1)):
        for key, value in pairs[0][idx].items():
            vals = [p[idx][key] for p in pairs]
            if isinstance(value, torch.Tensor):
                tensors[f"{side}.{key}"] = torch.cat(vals).contiguous()
            else:
                lists[f"{side}.{key}"] = [v for val in vals for v in val]
    tmp = directory / "pairs.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(directory / "pairs.safetensors")
    atomic_write_text(directory / "pairs.json", json.dumps({"count": len(pairs), "lists": lists}) + "\n")


def load_pairs(directory: Path) -> list[Pair]:
    """The pairs `save_pairs` wrote (B = 1 batches again)."""
    from safetensors.torch import load_file

    meta = json.loads((directory / "pairs.json").read_text())
    tensors = load_file(str(directory / "pairs.safetensors"))
    out = []
    for i in range(meta["count"]):
        sides = []
        for side in ("w", "l"):
            batch: dict[str, Any] = {k[2:]: v[i : i + 1] for k, v in tensors.items() if k.startswith(side + ".")}
            batch.update({k[2:]: [v[i]] for k, v in meta["lists"].items() if k.startswith(side + ".")})
            sides.append(batch)
        out.append((sides[0], sides[1]))
    return out
