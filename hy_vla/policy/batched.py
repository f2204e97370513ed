"""Several sessions' requests answered with one forward pass per model: `infer_batch`.

Each `CheckpointPolicy` keeps its own session (frame history, noise generator); only the model call is shared.
Requests are grouped by what the model call depends on (the model, Euler steps, HybridVLA's predict mode, and
whether a real-time-chunking prefix is given: prefixed requests run one by one, their guidance differs per
session); each group's prepared batches are concatenated along the batch dimension, sampled once with every
session's own noise, and split back. The result equals each session's `infer` up to the floating-point order
of a larger matrix product (tested to 1e-5). Anything that is not a `CheckpointPolicy` is called alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hy_vla.policy.checkpoint_policy import CheckpointPolicy, Prepared


def _concat(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """B=1 model batches -> one batch (tensors concatenated, task lists joined; other keys from the first)."""
    out: dict[str, Any] = {}
    for key, first in batches[0].items():
        if isinstance(first, torch.Tensor):
            out[key] = torch.cat([b[key] for b in batches], dim=0)
        elif isinstance(first, list):
            out[key] = [x for b in batches for x in b[key]]
        else:
            out[key] = first
    return out


def _group_key(policy: Any, obs: dict[str, Any]) -> tuple | None:
    """What must be equal for two requests to share a forward pass; None: answer this one alone."""
    if not isinstance(policy, CheckpointPolicy) or policy.guided(obs):
        return None
    return (id(policy.model), policy.num_steps, policy.predict_mode)


def infer_batch(requests: Sequence[tuple[Any, dict[str, Any]]]) -> list[dict[str, Any] | BaseException]:
    """[(policy, observation), ...] -> each request's reply, or the exception it raised (the others still run)."""
    results: list[dict[str, Any] | BaseException | None] = [None] * len(requests)
    groups: dict[tuple, list[int]] = {}
    for i, (policy, obs) in enumerate(requests):
        key = _group_key(policy, obs)
        if key is None:
            try:
                results[i] = policy.infer(obs)
            except Exception as e:  # noqa: BLE001 - reported to that request's sender only
                results[i] = e
        else:
            groups.setdefault(key, []).append(i)
    for members in groups.values():
        prepared: list[tuple[int, Prepared]] = []
        for i in members:
            try:
                prepared.append((i, requests[i][0].prepare(requests[i][1])))
            except Exception as e:  # noqa: BLE001
                results[i] = e
        if not prepared:
            continue
        policy = requests[prepared[0][0]][0]
        try:
            batch = _concat([p.batch for _, p in prepared])
            noise = torch.cat([p.noise for _, p in prepared], dim=0)
            preds = policy.model.sample_actions(  # (N, H, A)
                batch, num_steps=policy.num_steps, noise=noise, predict_mode=policy.predict_mode
            )
        except Exception as e:  # noqa: BLE001 - the shared pass failed: every member gets the error
            for i, _ in prepared:
                results[i] = e
            continue
        for row, (i, p) in enumerate(prepared):
            try:
                results[i] = requests[i][0].finish(p, preds[row])
            except Exception as e:  # noqa: BLE001
                results[i] = e
    return results  # type: ignore[return-value]
