"""Preference pairs (preferred, dispreferred) of chunks for one observation, from the policy's own rollouts.

Two sources (FlowPRO-style intervention-and-rollback, without a human):

- **expert takeover** (`hy_vla.posttrain.corrections`): where the scripted expert recovered a failed rollout from
  a policy call's observation, the expert's next actions are preferred, the chunk the policy chose there is
  dispreferred;
- **outcome contrast**: rollouts of one layout start from the same observation; where their outcomes differ, the
  first chunk of a successful one is preferred to the first chunk of a failed one.

Both chunks of a pair are compared on the steps the robot executed (the rest is padding).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from hy_vla.posttrain.config import PostTrainConfig
from hy_vla.posttrain.corrections import expert_corrections
from hy_vla.posttrain.records import EpisodeRollout, with_target
from hy_vla.posttrain.rollouts import RolloutPool
from hy_vla.posttrain.sample_store import has_batches, load_batches, save_batches

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


def build_pairs(episodes: list[EpisodeRollout], model: Any, cfg: PostTrainConfig, pool: RolloutPool) -> list[Pair]:
    """Both kinds of pairs for one iteration's rollouts (takeovers run in the simulator workers)."""
    mcfg = model.config
    pairs = outcome_pairs(episodes, mcfg)
    for rec, chunk, n in expert_corrections(episodes, model, cfg, pool):
        pairs.append((with_target(rec.batch, chunk, n), with_target(rec.batch, rec.actions(mcfg), n)))
    return pairs


def save_pairs(directory: Path, pairs: list[Pair]) -> None:
    """Write pairs as preferred.* and dispreferred.* batch files (`hy_vla.posttrain.sample_store`)."""
    save_batches(directory / "preferred", [w for w, _ in pairs])
    save_batches(directory / "dispreferred", [lo for _, lo in pairs])


def has_pairs(directory: Path) -> bool:
    return has_batches(directory / "preferred") and has_batches(directory / "dispreferred")


def load_pairs(directory: Path) -> list[Pair]:
    """The pairs `save_pairs` wrote (B = 1 batches again)."""
    return list(zip(load_batches(directory / "preferred"), load_batches(directory / "dispreferred"), strict=True))
