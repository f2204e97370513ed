"""bench/async_metaworld.py's pure parts: the feasibility / steady-state plan of a cell and the report check."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from async_metaworld import consistency_check, parse_args, plan_cell  # noqa: E402

from hy_vla.runtime.scheduler import AsyncConfig  # noqa: E402
from hy_vla.runtime.sim_async import SimAsyncPolicy  # noqa: E402

META_WORLD_MS = 12.5  # 80 Hz


class Constant:
    """A policy with fixed-length chunks that accepts the RTC prefix (to read the request size)."""

    def __init__(self, chunk: int) -> None:
        self.chunk, self.seen = chunk, []
        self.metadata = {"fps": 80.0, "action_prefix": True}

    def infer(self, obs: dict) -> dict:
        self.seen.append(obs)
        return {"actions": np.zeros((self.chunk, 2), np.float32)}

    def reset(self) -> None:
        pass


def test_meta_world_grid_for_a_horizon_16_checkpoint():
    plans = {lat: plan_cell("async-bezier", lat, META_WORLD_MS, 16, overlap=4, margin=1) for lat in (0, 50, 100, 200)}
    assert [p.d for p in plans.values()] == [0, 4, 8, 16]
    assert [p.feasible for p in plans.values()] == [True, True, True, False]
    assert [p.overlap_at_arrival for p in plans.values()] == [5, 5, 0, None]
    assert [p.dry_steps for p in plans.values()] == [0, 0, 0, None]
    assert "no overlap" in plans[100].note
    assert "infeasible" in plans[200].note and "16 steps >= chunk of 16" in plans[200].note


def test_sync_is_feasible_at_any_latency_and_a_longer_period_makes_200ms_feasible():
    assert plan_cell("sync", 200, META_WORLD_MS, 16, 4, 1).feasible
    slow = plan_cell("async-rtc", 200, 25.0, 16, 4, 1)
    assert slow.d == 8 and slow.feasible
    with pytest.raises(ValueError, match="Did you mean"):
        plan_cell("async-bezeir", 0, META_WORLD_MS, 16, 4, 1)


@pytest.mark.parametrize("d", range(0, 17))
def test_plan_matches_the_simulated_scheduler(d):
    chunk, latency = 16, d * META_WORLD_MS
    plan = plan_cell("async-rtc", latency, META_WORLD_MS, chunk, overlap=4, margin=1)
    policy = SimAsyncPolicy(Constant(chunk), AsyncConfig(stitch="rtc", latency_ms=latency, overlap=4, margin=1))
    if not plan.feasible:
        with pytest.raises(ValueError, match="not shorter than the policy's chunk"):
            policy.infer({})
        return
    for _ in range(12):  # past the first request: steady state
        policy.infer({})
    before = policy.scheduler.underruns
    policy.infer({})
    assert policy.scheduler.underruns - before == plan.dry_steps
    assert len(policy.policy.seen[-1]["action_prefix"]) == plan.request_buffer


def test_consistency_check_compares_whole_episodes():
    ep = {"success": False, "length": 200, "jerk_boundary": 1.5, "jerk_within": math.nan}
    runs = {"sync": {"episodes": [ep, ep]}, "async-none@0ms": {"episodes": [ep, {**ep, "length": 199}]}}
    assert consistency_check(runs, 11, 16, 4, 1).startswith("async-none at 0 ms reproduces sync in 1/2 episodes")
    assert consistency_check(runs, 8, 16, 4, 1) is None  # sync re-plans differently: nothing to compare


def test_arguments_are_validated():
    args = parse_args(["--checkpoint", "c", "--tasks", "reach-v3", "--out", "o", "--latencies", "0,12.5"])
    assert args.latency_list == (0.0, 12.5) and args.mode_list[0] == "sync"
    with pytest.raises(SystemExit):
        parse_args(["--checkpoint", "c", "--tasks", "reach-v3", "--out", "o", "--modes", "sync,rtc"])
    with pytest.raises(SystemExit):
        parse_args(["--checkpoint", "c", "--tasks", "reach-v3", "--out", "o", "--latencies", "-5"])
