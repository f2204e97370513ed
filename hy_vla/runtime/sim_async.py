"""Asynchronous execution with a *simulated* latency, as a PolicyLike wrapper for the evaluation harness.

In a simulator nothing moves while the policy thinks, so the effect of latency must be simulated:
a request made at step k from the observation of step k returns its chunk d = ceil(L / T) steps
later; during those d steps the robot keeps executing the previous chunk, and the first d actions of
the new chunk are never used (committed prefix). `SimAsyncPolicy` reproduces exactly that timeline
with the same `ChunkScheduler` as the real-time `AsyncRunner`, deterministically.

The rollout (`hy_vla.rollout.episode.run_episode`) calls `infer(obs)` and executes every returned action
before calling again, so `infer` returns the actions executed from now until the next request point,
and the next call's observation is exactly the one the next request is made from. Use it with the
rollout's default `n_action_steps=None`. The first chunk of an episode is computed synchronously
(robot idle), as on a real robot.

`hy-vla eval --checkpoint DIR --async --latency-ms 100 [--stitch rtc]` wraps the policy factory with
`SimAsyncFactory` (see `add_async_arguments` / `async_factory`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np

from hy_vla.policy.protocol import ACTIONS_KEY, PolicyLike, observe, wants_every_frame
from hy_vla.runtime.blend import STITCH_MODES, latency_steps
from hy_vla.runtime.runner import AsyncRunner, check_rtc_support, with_prefix
from hy_vla.runtime.scheduler import AsyncConfig, ChunkScheduler, Request, control_period_s


class SimAsyncPolicy:
    """`policy` executed asynchronously with a fixed simulated latency (`config.latency_ms`)."""

    def __init__(self, policy: PolicyLike, config: AsyncConfig) -> None:
        if config.latency_ms is None:
            raise ValueError("SimAsyncPolicy needs AsyncConfig.latency_ms (the simulated inference latency)")
        check_rtc_support(policy, config)
        self.policy, self.config = policy, config
        meta = getattr(policy, "metadata", None)
        self.period_s = control_period_s(config, meta if isinstance(meta, dict) else None)
        self.d = latency_steps(config.latency_ms / 1000.0, self.period_s)
        self.metadata: dict[str, Any] = dict(meta) if isinstance(meta, dict) else {}
        self.metadata["async"] = {
            "latency_ms": config.latency_ms,
            "period_ms": self.period_s * 1000.0,
            "d": self.d,
            "stitch": config.stitch,
            "overlap": config.overlap,
            "margin": config.margin,
        }
        self.scheduler = ChunkScheduler(config)
        self.inner_calls = 0

    @property
    def wants_every_frame(self) -> bool:
        return wants_every_frame(self.policy)

    def observe(self, obs: dict[str, Any]) -> None:
        observe(self.policy, obs)  # frame history follows control steps, not queries

    def reset(self) -> None:
        self.policy.reset()
        self.scheduler = ChunkScheduler(self.config)
        self.inner_calls = 0

    def _chunk(self, obs: dict[str, Any]) -> np.ndarray:
        self.inner_calls += 1
        return AsyncRunner._chunk(self.policy.infer(obs))

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        sch = self.scheduler
        pending: tuple[np.ndarray, Request] | None = None
        if not sch.started:
            chunk = self._chunk(obs)
            if self.d >= len(chunk):
                raise ValueError(
                    f"simulated latency {self.config.latency_ms} ms is {self.d} control steps of "
                    f"{self.period_s * 1000:.1f} ms, not shorter than the policy's chunk of {len(chunk)} actions"
                )
            sch.start(chunk)
        else:
            req = sch.request(self.d)
            chunk = self._chunk(with_prefix(obs, req) if self.config.stitch == "rtc" else obs)
            pending = (chunk, req)
        actions = []
        while True:
            if pending is not None and sch.step == pending[1].step + self.d:  # the chunk arrives now
                sch.integrate(*pending)
                pending = None
            # As `AsyncRunner.act`: the trigger is checked before this step's action, so a chunk that leaves
            # the buffer at or below the threshold on arrival is followed by a request from that same step.
            if actions and pending is None and sch.should_trigger(self.d):
                break
            actions.append(sch.pop())
        return {ACTIONS_KEY: np.stack(actions), "async": {"underruns": sch.underruns, "chunks": sch.chunks}}


@dataclass
class SimAsyncFactory:
    """Wraps a picklable policy factory (``task -> PolicyLike``) with `SimAsyncPolicy`."""

    inner: Any
    config: AsyncConfig

    @property
    def privileged(self) -> bool:
        return bool(getattr(self.inner, "privileged", False))

    def __call__(self, task: str) -> PolicyLike:
        return SimAsyncPolicy(self.inner(task), self.config)


def add_async_arguments(parser: argparse.ArgumentParser) -> None:
    """`--async`, `--latency-ms`, `--stitch`, `--overlap`, `--control-period-ms` for `hy-vla eval`."""
    g = parser.add_argument_group("asynchronous execution (simulated latency)")
    g.add_argument("--async", dest="async_exec", action="store_true", help="execute chunks asynchronously")
    g.add_argument("--latency-ms", type=float, default=100.0, help="simulated inference latency (with --async)")
    g.add_argument("--stitch", choices=STITCH_MODES, default="rtc", help="how consecutive chunks are stitched")
    g.add_argument("--overlap", type=int, default=4, help="blend / guidance window after the committed prefix")
    g.add_argument("--control-period-ms", type=float, default=None, help="default: 1000 / the policy's fps")


def async_factory(factory: Any, args: argparse.Namespace) -> Any:
    """`factory` wrapped for asynchronous execution when `--async` was given, else unchanged."""
    if not getattr(args, "async_exec", False):
        return factory
    if getattr(args, "n_action_steps", None) is not None:
        raise ValueError("--n-action-steps does not apply with --async (the scheduler decides when to ask)")
    config = AsyncConfig(
        stitch=args.stitch,
        overlap=args.overlap,
        latency_ms=args.latency_ms,
        control_period_ms=args.control_period_ms,
    )
    return SimAsyncFactory(factory, config)
