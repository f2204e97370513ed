"""`ChunkScheduler`: the action buffer of asynchronous chunk execution, in control steps. No threads, no torch.

The same logic drives the real-time `AsyncRunner` (inference on a thread, wall-clock latency) and the
simulated `SimAsyncPolicy` (latency counted in steps), so both are tested by testing this class.

Timeline of one request, in control steps (period T, latency estimate L, d = ceil(L / T)):

    step k: buffer holds r not-yet-executed actions old[0..r-1] (old[0] is executed at step k).
            r <= d + overlap + margin -> request a new chunk from the observation at step k.
    step k + delay: the chunk new[0..H-1] arrives (new[j] was planned for step k + j).
            committed c = max(d, delay): old[0..c-1] are executed no matter what the new chunk says
            (the first `delay` already were; the rest up to d were promised to the controller).
            The buffer becomes old[delay..c-1] + stitch(old[c..r-1], new[c..H-1], mode).

Triggering at r <= d + overlap + margin leaves `overlap + margin` old actions after the committed
prefix for blending or guidance, and `margin` steps of slack for latency above the estimate, so the
buffer runs dry only if a request takes more than (d + overlap + margin) periods. When it does run
dry the last action is held and counted in `underruns`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hy_vla.runtime.blend import STITCH_MODES, WEIGHT_SCHEDULES, rtc_prefix_weights, stitch


@dataclass
class AsyncConfig:
    """How asynchronous execution stitches chunks and when it asks for the next one."""

    stitch: str = "rtc"  # none | linear | bezier | rtc (see hy_vla.runtime.blend)
    overlap: int = 4  # old actions kept past the committed prefix at arrival: blend / guidance window
    margin: int = 1  # extra steps of slack against latency jitter
    weight_schedule: str = "exp"  # RTC guidance-weight decay over the overlap: exp | linear
    latency_ms: float | None = None  # simulated latency (sim) or the initial estimate (real time)
    latency_ema: float = 0.3  # weight of the newest measurement in the latency estimate
    control_period_ms: float | None = None  # default: 1000 / the policy's metadata["fps"]

    def __post_init__(self) -> None:
        if self.stitch not in STITCH_MODES:
            raise ValueError(f"stitch must be one of {STITCH_MODES}, got {self.stitch!r}")
        if self.weight_schedule not in WEIGHT_SCHEDULES:
            raise ValueError(f"weight_schedule must be one of {WEIGHT_SCHEDULES}, got {self.weight_schedule!r}")
        if self.overlap < 0 or self.margin < 0:
            raise ValueError(f"overlap and margin must be >= 0, got {self.overlap}, {self.margin}")
        if self.latency_ms is not None and not self.latency_ms >= 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if not 0 < self.latency_ema <= 1:
            raise ValueError(f"latency_ema must be in (0, 1], got {self.latency_ema}")
        if self.control_period_ms is not None and not self.control_period_ms > 0:
            raise ValueError(f"control_period_ms must be positive, got {self.control_period_ms}")


def control_period_s(config: AsyncConfig, metadata: dict | None) -> float:
    """T in seconds: the config's, else 1 / metadata["fps"]; a clear error when neither is known."""
    if config.control_period_ms is not None:
        return config.control_period_ms / 1000.0
    fps = (metadata or {}).get("fps")
    if not fps or float(fps) <= 0:
        raise ValueError("the control period is unknown: set AsyncConfig.control_period_ms (policy has no 'fps')")
    return 1.0 / float(fps)


@dataclass
class Request:
    """A chunk request made at `step` with the old buffer's `prefix` (r, A) and its guidance weights."""

    step: int
    committed: int  # d estimated when the request was made
    prefix: np.ndarray  # (r, A) old actions for steps step .. step + r - 1
    weights: np.ndarray  # (r,) RTC guidance weights (1 on the committed part)


@dataclass
class ChunkScheduler:
    """Buffer of future actions: `pop` one per control step, `integrate` each chunk as it arrives."""

    config: AsyncConfig
    step: int = 0  # control step of buffer[0]
    buffer: np.ndarray | None = None  # (n, A) future actions
    last_action: np.ndarray | None = None
    underruns: int = 0
    chunks: int = 0
    stale_chunks: int = 0  # arrived so late that nothing of them was usable
    boundaries: list[int] = field(default_factory=list)  # steps at which stitched actions start

    @property
    def started(self) -> bool:
        return self.buffer is not None

    @property
    def remaining(self) -> int:
        return 0 if self.buffer is None else len(self.buffer)

    def start(self, chunk: np.ndarray) -> None:
        """The first chunk (obtained synchronously for the current step)."""
        self.buffer = np.array(chunk, dtype=np.float32, copy=True)
        self.chunks += 1
        self.boundaries.append(self.step)

    def should_trigger(self, d: int) -> bool:
        return self.started and self.remaining <= d + self.config.overlap + self.config.margin

    def request(self, d: int) -> Request:
        """Describe a request made now with committed-prefix estimate d."""
        assert self.buffer is not None, "request() before start()"
        r = len(self.buffer)
        weights = rtc_prefix_weights(r, min(d, r), self.config.weight_schedule)
        return Request(self.step, d, self.buffer.copy(), weights)

    def integrate(self, chunk: np.ndarray, req: Request) -> None:
        """Stitch a chunk requested at `req.step` into the buffer at the current step (see module doc)."""
        assert self.buffer is not None, "integrate() before start()"
        chunk = np.asarray(chunk, dtype=np.float32)
        delay = self.step - req.step
        if delay < 0:
            raise ValueError(f"a chunk requested at step {req.step} cannot arrive at step {self.step}")
        # old actions still to run that stay untouched: the committed ones not yet executed
        keep = min(max(req.committed, delay) - delay, len(self.buffer))
        start = delay + keep  # first index of the new chunk that can still be used
        if start >= len(chunk):
            self.stale_chunks += 1
            return
        rest = stitch(self.buffer[keep:], chunk[start:], self.config.stitch)
        self.buffer = np.concatenate([self.buffer[:keep], rest], axis=0)
        self.chunks += 1
        self.boundaries.append(self.step + keep)

    def pop(self) -> np.ndarray:
        """The action for the current step; holds the last one (and counts an underrun) if the buffer is dry."""
        if self.buffer is None:
            raise RuntimeError("pop() before the first chunk")
        if len(self.buffer) == 0:
            self.underruns += 1
            action = self.last_action
        else:
            action, self.buffer = self.buffer[0], self.buffer[1:]
        self.last_action = action
        self.step += 1
        assert action is not None
        return action
