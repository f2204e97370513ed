"""`PolicyServer`: a policy behind a websocket speaking the openpi wire protocol.

Protocol (what openpi-client 0.1.2's `WebsocketClientPolicy` expects):

1. the client connects (openpi sends ``Authorization: Api-Key <KEY>`` when given a key);
2. the server speaks first: one binary msgpack frame of metadata (`spec.build_metadata`);
3. then strict request/response: one binary msgpack observation in, one binary msgpack reply out,
   ``{"actions": float32 (action_horizon, action_dim), "server_timing": {...}, "policy_timing": {...}}``.
   A problem with a request is answered by one *text* frame naming it ("hy-vla server error: ..."),
   which openpi's client raises as an exception; the connection stays open and usable.

Robustness: a non-binary frame, undecodable msgpack, a missing key, a wrong shape or dtype, NaN/inf,
an exception inside the policy or a NaN/inf action in its reply each get an error text frame and a log line;
nothing reaches past the connection handler. Memory per connection is bounded before anything is decoded: a
message over `max_message_mb` closes the connection (code 1009) as soon as its frame header declares the size,
so it is never buffered; while a request is answered, at most two further messages are read from its socket
(websockets' `max_queue=1` pauses reading once more than one message waits; TCP then holds the sender back,
nothing is dropped); and a request's
structure and declared array sizes are checked against the model's spec (`limits`) before `wire.unpack`
allocates, so what a request may cost is set by the model, not by what a client sends.

Time per request is kept off the shared threads: a request is decoded, validated and its images resized to the
model's size (`resize_to_model`) in a small pool of decode threads, neither on the event loop (which every session's
I/O shares) nor on the inference thread (whose forward pass a request shares with the others in its batch). So
a client sending the largest accepted images delays the others by what its forward pass costs, not by its decode.
Authentication happens at the handshake: with an API key configured, a missing or wrong
``Authorization: Api-Key`` header gets HTTP 401 with the reason in the body, and no metadata.
``GET /healthz`` answers 200 "ok" (no key needed) for load balancers and scripts.

Sessions: each connection gets its own policy instance from `policy_factory` (own frame history,
dropped on disconnect); instances may share one model. Inference runs on a single worker thread: the
requests waiting when it becomes free (up to `max_batch`, from different sessions) are answered together,
with one forward pass per model (`hy_vla.policy.batched.infer_batch`; each session keeps its own history and
noise, so a reply equals the one it would get alone). `max_batch=1` serves one request at a time. With
`max_wait_ms`, a batch that holds fewer requests than there are open sessions waits up to that long for the others
(they typically send again within a few ms of their last reply), so many closed-loop clients share one pass instead
of splitting into groups that wait for each other; a lone session never waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import http
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hy_vla.policy.protocol import ACTIONS_KEY, PolicyLike
from hy_vla.serving import limits, wire
from hy_vla.serving.spec import (
    RESET_KEY,
    ObservationError,
    apply_observation_map,
    build_metadata,
    validate_observation,
)

log = logging.getLogger("hy_vla.serving")
ERROR_PREFIX = "hy-vla server error: "
DECODE_THREADS = 2  # requests decoded at once (msgpack, validation, image resizing): off the loop and inference


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000  # 0 picks a free port (see `PolicyServer.port`)
    api_key: str | None = None
    max_message_mb: float = 16.0  # a larger message closes its connection from the frame header on (never buffered)
    # A session that sends nothing for this long (also one stuck in a half-sent frame) is closed (0: never)
    idle_timeout_s: float = 300.0
    max_sessions: int = 64  # connections beyond this are refused at the handshake (HTTP 503)
    # Stock clients' keys -> ours: ((their key or "/"-path, our camera / "state" / key), ...) (`spec`)
    obs_map: tuple[tuple[str, str], ...] = ()
    max_batch: int = 8  # requests of different sessions answered by one forward pass (1: one at a time)
    max_wait_ms: float = 0.0  # how long a batch may wait for the other open sessions' requests (0: never waits)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if not self.max_message_mb > 0:
            raise ValueError(f"max_message_mb must be positive, got {self.max_message_mb}")
        if self.idle_timeout_s < 0 or self.max_wait_ms < 0 or self.max_sessions < 1 or self.max_batch < 1:
            raise ValueError("idle_timeout_s and max_wait_ms must be >= 0, max_sessions and max_batch >= 1")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty (leave it unset to disable authentication)")

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 1024 * 1024)


def _reply_value(value: Any) -> Any:
    """Keep only what msgpack + openpi's encoding can carry (arrays, numbers, strings, nested dicts)."""
    if isinstance(value, dict):
        return {str(k): _reply_value(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | np.generic | str | int | float | bool) or value is None:
        return value
    return repr(value)


def resize_to_model(obs: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """A validated observation with every image of another size resized to the model's (S, S, 3), exactly as the
    policy would resize it (`CheckpointPolicy._frames`: CHW, antialiased bilinear `resize_uint8`, back to HWC)."""
    size = int(meta["image_size"])
    out = dict(obs)
    for key, want in meta["observation_spec"].items():
        image = obs.get(key)
        if want["dtype"] != "uint8" or not isinstance(image, np.ndarray) or image.shape[:2] == (size, size):
            continue
        if image.shape[0] == 3 and image.shape[1:] == (size, size):  # CHW at the model's size: nothing to resize
            continue
        from hy_vla.data.samples import resize_uint8  # torch: only a server asked to resize imports it
        from hy_vla.policy.checkpoint_policy import to_chw_uint8

        chw = to_chw_uint8(key, image)  # (3, H, W)
        out[key] = resize_uint8(chw[None], (size, size))[0].permute(1, 2, 0).contiguous().numpy()  # (S, S, 3)
    return out


def check_finite_actions(actions: Any) -> None:
    """Refuse a chunk with NaN/inf: a robot must never receive it as a normal reply."""
    a = np.asarray(actions, dtype=np.float64)
    if not np.isfinite(a).all():
        n = int((~np.isfinite(a)).sum())
        raise FloatingPointError(f"the policy produced {n} of {a.size} action values as NaN/inf; refusing to send them")


class PolicyServer:
    """Serve `policy_factory()` instances (one per connection) over the openpi websocket protocol."""

    def __init__(self, policy_factory: Callable[[], PolicyLike], config: ServerConfig | None = None) -> None:
        from hy_vla.utils.versions import require

        require("websockets", "the policy server")  # before any session: older releases lack the asyncio server
        self.policy_factory = policy_factory
        self.config = config or ServerConfig()
        probe = policy_factory()  # the metadata is the same for every session
        self.metadata = build_metadata(
            dict(getattr(probe, "metadata", {})), self.config.max_message_bytes, self.config.api_key is not None
        )
        if self.config.obs_map:  # what the server renames, so a client can see its layout is understood
            self.metadata["observation_map"] = {theirs: ours for theirs, ours in self.config.obs_map}
        self._packed_metadata = wire.pack(self.metadata)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hy-vla-infer")
        self._decoder = concurrent.futures.ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="hy-vla-decode")
        self._session_ids = itertools.count(1)
        self.sessions = 0  # open connections
        self.requests = 0
        self.errors = 0
        self.port: int | None = None
        self._stop: asyncio.Event | None = None
        self._queue: asyncio.Queue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- HTTP side: health check and authentication ------------------------------------------
    def _process_request(self, connection: Any, request: Any) -> Any:
        if request.path.split("?", 1)[0] == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if self.sessions >= self.config.max_sessions:
            log.warning("refused a connection from %s: %d sessions open", connection.remote_address, self.sessions)
            reason = f"too many sessions ({self.config.max_sessions} open); try again later\n"
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, reason)
        key = self.config.api_key
        if key is not None:
            got = request.headers.get("Authorization", "")
            if not hmac.compare_digest(got.encode(), f"Api-Key {key}".encode()):
                log.warning("rejected a connection from %s: invalid or missing API key", connection.remote_address)
                reason = "invalid or missing API key: send the header 'Authorization: Api-Key <KEY>'\n"
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, reason)
        return None

    # -- one connection -----------------------------------------------------------------------
    async def _send_error(self, ws: Any, session: int, problem: str) -> None:
        self.errors += 1
        log.warning("session %d: %s", session, problem)
        await ws.send(ERROR_PREFIX + problem)

    def read_request(self, message: bytes) -> dict[str, Any]:
        """A binary frame -> the validated observation, images at the model's size. Runs on a decode thread.

        Its structure and declared array sizes are checked first, so a request the model cannot accept is refused
        before it is decoded (`WireError` / `ObservationError`)."""
        limits.check_request(message, self.metadata, self.config.obs_map)
        raw = apply_observation_map(wire.unpack(message), self.config.obs_map, self.metadata["cameras"])
        return resize_to_model(validate_observation(raw, self.metadata), self.metadata)

    @staticmethod
    def _infer_batch(items: list[tuple[PolicyLike, dict[str, Any], float]]) -> list[tuple[Any, float, float]]:
        """Runs on the single inference thread: -> per request (output or exception, queue_ms, infer_ms)."""
        from hy_vla.policy.batched import infer_batch

        start = time.perf_counter()
        for policy, obs, _ in items:
            if obs.pop(RESET_KEY, False):
                policy.reset()
        outs = infer_batch([(policy, obs) for policy, obs, _ in items])
        infer_ms = (time.perf_counter() - start) * 1000.0
        return [
            (out, (start - submitted) * 1000.0, infer_ms) for out, (_, _, submitted) in zip(outs, items, strict=True)
        ]

    async def _collect(self) -> list[tuple[PolicyLike, dict[str, Any], float, asyncio.Future]]:
        """The next batch: the waiting requests (up to max_batch), then, for up to max_wait_ms, those of the other
        open sessions (a session has at most one request in the server, so there is no one else to wait for once
        every open session has one in the batch)."""
        assert self._queue is not None
        items = [await self._queue.get()]
        deadline = time.perf_counter() + self.config.max_wait_ms / 1000.0
        while len(items) < self.config.max_batch:
            if not self._queue.empty():
                items.append(self._queue.get_nowait())
                continue
            left = deadline - time.perf_counter()
            if left <= 0 or len(items) >= self.sessions:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), left))
            except TimeoutError:
                break
        return items

    async def _batcher(self) -> None:
        """Answers the next batch (`_collect`) whenever the inference thread is free."""
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            try:
                results = await loop.run_in_executor(self._executor, self._infer_batch, [i[:3] for i in items])
            except Exception as e:  # noqa: BLE001 - e.g. the executor shut down: every waiting request hears it
                results = [(e, 0.0, 0.0)] * len(items)
            for (_, _, _, fut), (out, queue_ms, infer_ms) in zip(items, results, strict=True):
                if fut.done():  # the client went away
                    continue
                if isinstance(out, BaseException):
                    fut.set_exception(out)
                else:
                    fut.set_result((out, queue_ms, infer_ms))

    async def _submit(self, policy: PolicyLike, obs: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
        fut = asyncio.get_running_loop().create_future()
        assert self._queue is not None
        self._queue.put_nowait((policy, obs, time.perf_counter(), fut))
        return await fut

    async def _handle(self, ws: Any) -> None:
        import websockets

        session = next(self._session_ids)
        loop = asyncio.get_running_loop()
        policy = await loop.run_in_executor(self._executor, self.policy_factory)
        self.sessions += 1
        log.info("session %d opened from %s (%d open)", session, ws.remote_address, self.sessions)
        prev_total_ms: float | None = None
        try:
            await ws.send(self._packed_metadata)
            timeout = self.config.idle_timeout_s or None
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), timeout)
                except TimeoutError:
                    log.info("session %d: closing after %g s without a complete request", session, timeout)
                    await ws.close(1008, f"idle for {timeout:g} s")
                    break
                t0 = time.perf_counter()
                self.requests += 1
                if isinstance(message, str):
                    await self._send_error(ws, session, "expected a binary msgpack frame, got a text frame")
                    continue
                try:
                    obs = await loop.run_in_executor(self._decoder, self.read_request, message)
                except (wire.WireError, ObservationError) as e:
                    await self._send_error(ws, session, str(e))
                    continue
                except Exception as e:  # a case the checks above did not foresee: still only this request fails
                    log.debug("session %d: unreadable request", session, exc_info=True)
                    await self._send_error(ws, session, f"could not read the request: {type(e).__name__}: {e}")
                    continue
                try:
                    out, queue_ms, infer_ms = await self._submit(policy, obs)
                    if not isinstance(out, dict) or ACTIONS_KEY not in out:
                        raise TypeError(f"the policy returned no {ACTIONS_KEY!r}")
                    check_finite_actions(out[ACTIONS_KEY])
                except Exception as e:  # the policy failed on this input: report it (one log line), keep serving
                    log.debug("session %d: inference failed", session, exc_info=True)  # the traceback, when asked
                    await self._send_error(ws, session, f"inference failed: {type(e).__name__}: {e}")
                    continue
                timing = {"infer_ms": infer_ms, "queue_ms": queue_ms, "total_ms": (time.perf_counter() - t0) * 1000.0}
                if prev_total_ms is not None:
                    timing["prev_total_ms"] = prev_total_ms
                try:
                    reply = {k: _reply_value(v) for k, v in out.items()}
                    reply[ACTIONS_KEY] = np.asarray(out[ACTIONS_KEY], dtype=np.float32)
                    reply["server_timing"] = timing
                    packed = wire.pack(reply)
                except Exception as e:  # e.g. an output the wire format cannot carry
                    log.debug("session %d: cannot encode the reply", session, exc_info=True)
                    await self._send_error(ws, session, f"cannot encode the policy output: {type(e).__name__}: {e}")
                    continue
                await ws.send(packed)
                prev_total_ms = (time.perf_counter() - t0) * 1000.0
        except websockets.ConnectionClosed as e:
            if e.sent is not None and e.sent.code == 1009:  # over --max-message-mb, refused from its frame header
                self.errors += 1
                log.warning("session %d: closed: %s", session, e.sent.reason)
            elif e.rcvd is not None and e.rcvd.code not in (1000, 1001):
                log.info("session %d: closed with code %s (%s)", session, e.rcvd.code, e.rcvd.reason)
        finally:
            self.sessions -= 1
            del policy  # this session's frame history goes with it
            log.info("session %d closed (%d open)", session, self.sessions)

    # -- lifecycle ------------------------------------------------------------------------------
    async def serve(self, ready: threading.Event | None = None) -> None:
        """Serve until `stop()`; sets `self.port` (useful with port 0) and then `ready`."""
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._queue = asyncio.Queue()
        batcher = asyncio.create_task(self._batcher())
        try:
            await self._serve_until_stopped(serve, ready)
        finally:  # also on cancellation (SIGINT under asyncio.run): no inference thread may outlive the server
            batcher.cancel()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._decoder.shutdown(wait=False, cancel_futures=True)

    async def _serve_until_stopped(self, serve: Any, ready: threading.Event | None) -> None:
        async with serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            compression=None,  # like openpi: images are incompressible and deflate costs latency
            max_size=self.config.max_message_bytes,  # checked on each frame's header, before its payload is read
            max_queue=1,  # request/response: stop reading a socket once 2 messages wait (test_server_threads.py)
            ping_interval=None,  # a long inference must not look like a dead peer
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            where = f"{self.config.host}:{self.port}"
            log.info("serving on ws://%s (health check: http://%s/healthz)", where, where)
            if ready is not None:
                ready.set()
            await self._stop.wait()

    def stop(self) -> None:
        """Ask `serve` to return (thread-safe)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def start_in_thread(self, timeout_s: float = 10.0) -> int:
        """Run the server on a daemon thread (tests, benchmarks); -> the bound port."""
        ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(ready),), daemon=True, name="hy-vla-serve")
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError(f"the policy server did not start within {timeout_s} s")
        assert self.port is not None
        return self.port

    def stop_thread(self, timeout_s: float = 10.0) -> None:
        self.stop()
        if getattr(self, "_thread", None) is not None:
            self._thread.join(timeout_s)


def checkpoint_server(
    checkpoint: str,
    config: ServerConfig | None = None,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    num_steps: int | None = None,
    seed: int = 0,
    stride_mode: str = "hold",
) -> PolicyServer:
    """A server for a checkpoint: the model is loaded once and shared; each session gets its own
    `CheckpointPolicy` (frame history, generator seeded with `seed`, guided continuation)."""
    import torch

    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.policy.checkpoint_policy import CheckpointPolicy

    model = HyVLA.from_pretrained(checkpoint).to(device=torch.device(device), dtype=getattr(torch, dtype)).eval()

    def factory() -> PolicyLike:
        return CheckpointPolicy(model, num_steps=num_steps, seed=seed, stride_mode=stride_mode)

    return PolicyServer(factory, config)
