"""`AsyncRunner`: real-time asynchronous chunk execution (an inference thread + the control loop).

The control loop calls `act(obs)` once per control period T and gets the action to send now; the
runner never blocks it except for the very first chunk. Meanwhile one inference thread computes the
next chunk from the observation of the step that triggered it. The latency L of a request (submit
to result, so queueing and network included) is tracked as an exponential moving average, and
d = ceil(L / T) is the committed prefix of the next request (see `ChunkScheduler`).

Works with any PolicyLike: a local `CheckpointPolicy`, a `RemotePolicy`, a scripted policy.
The "rtc" stitch mode needs a policy that declares ``metadata["action_prefix"]`` (it then receives
the old chunk as `action_prefix` / `action_prefix_weights`); other modes work with every policy.
This module is torch-free, so a robot computer can run it against a remote server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hy_vla.policy.protocol import (
    ACTION_PREFIX_KEY,
    ACTION_PREFIX_WEIGHTS_KEY,
    ACTIONS_KEY,
    SUPPORTS_PREFIX,
    PolicyLike,
)
from hy_vla.runtime.blend import latency_steps
from hy_vla.runtime.scheduler import AsyncConfig, ChunkScheduler, Request, control_period_s


def with_prefix(obs: dict[str, Any], req: Request) -> dict[str, Any]:
    """The observation plus the RTC keys describing the old chunk (a shallow copy)."""
    return {**obs, ACTION_PREFIX_KEY: req.prefix, ACTION_PREFIX_WEIGHTS_KEY: req.weights}


def check_rtc_support(policy: PolicyLike, config: AsyncConfig) -> None:
    meta = getattr(policy, "metadata", None)
    if config.stitch == "rtc" and not (isinstance(meta, dict) and meta.get(SUPPORTS_PREFIX)):
        raise ValueError(
            "stitch='rtc' needs a policy that accepts 'action_prefix' (a CheckpointPolicy or a hy-vla server); "
            "use stitch='bezier', 'linear' or 'none' for this policy"
        )


class LatencyEstimate:
    """Exponential moving average of measured latencies (seconds)."""

    def __init__(self, initial_s: float | None, weight: float) -> None:
        self.value, self.weight, self.samples, self.max = initial_s, weight, 0, 0.0

    def update(self, seconds: float) -> None:
        self.value = seconds if self.value is None else (1 - self.weight) * self.value + self.weight * seconds
        self.samples += 1
        self.max = max(self.max, seconds)


class AsyncRunner:
    """Asynchronous execution of `policy` at a fixed control period (see module doc)."""

    def __init__(self, policy: PolicyLike, config: AsyncConfig | None = None) -> None:
        self.policy = policy
        self.config = config or AsyncConfig()
        check_rtc_support(policy, self.config)
        self.period_s = control_period_s(self.config, getattr(policy, "metadata", None))
        initial = None if self.config.latency_ms is None else self.config.latency_ms / 1000.0
        self.latency = LatencyEstimate(initial, self.config.latency_ema)
        self._cond = threading.Condition()
        self._job: tuple[dict[str, Any], Request] | None = None  # waiting for the inference thread
        self._result: tuple[np.ndarray, Request] | None = None  # waiting for the control loop
        self._error: Exception | None = None
        self._busy = False  # a request is queued or running
        self._closed = False
        self._thread = threading.Thread(target=self._worker, name="hy-vla-async-infer", daemon=True)
        self._thread.start()
        self.scheduler = ChunkScheduler(self.config)

    # -- inference thread -----------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                assert self._job is not None
                obs, req = self._job
                self._job = None
            t0 = time.perf_counter()
            try:
                chunk = self._chunk(self.policy.infer(obs))
            except Exception as e:  # surfaced in the control loop at its next act()
                with self._cond:
                    self._error, self._busy = e, False
                continue
            self.latency.update(time.perf_counter() - t0)
            with self._cond:
                self._result = (chunk, req)

    @staticmethod
    def _chunk(out: dict[str, Any]) -> np.ndarray:
        chunk = np.asarray(out[ACTIONS_KEY], dtype=np.float32)
        if chunk.ndim != 2 or len(chunk) == 0 or not np.isfinite(chunk).all():
            raise ValueError(f"policy returned an invalid chunk of shape {chunk.shape} (or non-finite values)")
        return chunk

    # -- control loop -------------------------------------------------------------------------------
    @property
    def d(self) -> int:
        """Committed prefix length for a request made now: ceil(L / T) from the latency estimate."""
        return 0 if self.latency.value is None else latency_steps(self.latency.value, self.period_s)

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        """The action for this control step; call once per period with the current observation."""
        sch = self.scheduler
        with self._cond:
            if self._error is not None:
                err, self._error = self._error, None
                raise RuntimeError(f"asynchronous inference failed: {err}") from err
            result, self._result = self._result, None
            if result is not None:
                self._busy = False
        if result is not None:
            sch.integrate(*result)
        if not sch.started:  # the first chunk: nothing to execute yet, so wait for it
            t0 = time.perf_counter()
            chunk = self._chunk(self.policy.infer(obs))
            self.latency.update(time.perf_counter() - t0)
            sch.start(chunk)
        elif not self._busy and sch.should_trigger(self.d):
            req = sch.request(self.d)
            job_obs = with_prefix(obs, req) if self.config.stitch == "rtc" else obs
            with self._cond:
                self._job, self._busy = (job_obs, req), True
                self._cond.notify()
        return sch.pop()

    def reset(self) -> None:
        """New episode: wait for any request in flight, drop it and the buffer, reset the policy."""
        deadline = time.perf_counter() + 60.0
        while self._busy and time.perf_counter() < deadline:
            with self._cond:
                if self._result is not None or self._error is not None:
                    self._result, self._error, self._busy = None, None, False
            time.sleep(0.001)
        self.policy.reset()
        self.scheduler = ChunkScheduler(self.config)

    def run(
        self, get_obs: Callable[[], dict[str, Any]], apply_action: Callable[[np.ndarray], Any], steps: int
    ) -> dict[str, Any]:
        """A fixed-rate control loop for `steps` periods: -> stats (underruns, overruns, latency...).

        An overrun is a period whose `get_obs` + `act` + `apply_action` took longer than T.
        """
        overruns = 0
        next_tick = time.perf_counter()
        for _ in range(steps):
            apply_action(self.act(get_obs()))
            next_tick += self.period_s
            slack = next_tick - time.perf_counter()
            if slack > 0:
                time.sleep(slack)
            else:
                overruns += 1
                next_tick = time.perf_counter()  # do not try to catch up with a burst
        return {**self.stats(), "overruns": overruns}

    def stats(self) -> dict[str, Any]:
        sch = self.scheduler
        return {
            "steps": sch.step,
            "chunks": sch.chunks,
            "underruns": sch.underruns,
            "stale_chunks": sch.stale_chunks,
            "latency_ms": None if self.latency.value is None else self.latency.value * 1000.0,
            "latency_max_ms": self.latency.max * 1000.0,
            "d": self.d,
            "period_ms": self.period_s * 1000.0,
        }

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> AsyncRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
