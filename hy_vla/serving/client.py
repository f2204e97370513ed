"""`RemotePolicy`: a PolicyLike that runs on a `hy-vla serve` (or any openpi-protocol) server.

Torch-free on purpose (msgpack + websockets + numpy only), so a robot computer or a simulator
process can use it without installing torch:

    from hy_vla.serving.client import RemotePolicy
    policy = RemotePolicy("127.0.0.1", 8000, api_key=None)
    policy.metadata["action_horizon"], policy.metadata["observation_spec"]
    actions = policy.infer(obs)["actions"]      # (action_horizon, action_dim) float32 robot units
    policy.reset()                              # next request carries "reset": True

`reset()` costs no round trip: the next request carries ``"reset": True`` and the server clears this
session's frame history before using it. An error text frame from the server raises
`RemotePolicyError` with the server's message; the connection stays usable.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from hy_vla.serving import wire

RESET_KEY = "reset"  # same as hy_vla.serving.spec.RESET_KEY (kept local: spec imports more)


class RemotePolicyError(RuntimeError):
    """The server answered with an error (or refused the connection)."""


class RemotePolicy:
    """Client side of the openpi websocket protocol, as a PolicyLike (`infer`, `reset`, `metadata`)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = 8000, api_key: str | None = None, timeout_s: float = 60.0
    ) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        uri = host if host.startswith("ws") else f"ws://{host}"
        self.uri = uri if port is None else f"{uri}:{port}"
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Api-Key {api_key}"} if api_key else None
        # websockets >= 16 wants `legacy=True` to return a plain connection (not a context manager) quietly
        extra = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
        try:
            self._ws = connect(
                self.uri, compression=None, max_size=None, additional_headers=headers, open_timeout=timeout_s, **extra
            )
        except InvalidStatus as e:
            body = (e.response.body or b"").decode(errors="replace").strip()
            raise RemotePolicyError(f"{self.uri} refused the connection: HTTP {e.response.status_code} {body}") from e
        first = self._ws.recv(timeout=timeout_s)
        if isinstance(first, str):
            self._ws.close()
            raise RemotePolicyError(f"{self.uri}: {first}")
        self.server_metadata: dict[str, Any] = wire.unpack(first)
        # What the evaluation harness checks (cameras, state_dim, action_dim) comes straight from the server.
        self.metadata: dict[str, Any] = {**self.server_metadata, "name": f"remote:{self.uri}", "remote": self.uri}
        self._reset_pending = False

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        if self._reset_pending:
            obs = {**obs, RESET_KEY: True}
        self._ws.send(wire.pack(obs))
        reply = self._ws.recv(timeout=self.timeout_s)
        self._reset_pending = False  # the server has read the request, whatever its answer
        if isinstance(reply, str):
            raise RemotePolicyError(reply)
        return wire.unpack(reply)

    def reset(self) -> None:
        self._reset_pending = True

    def close(self) -> None:
        self._ws.close()

    def __enter__(self) -> RemotePolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class RemotePolicyFactory:
    """Picklable ``task -> RemotePolicy`` for the evaluator: one connection (session) per process."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    _policy: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "api_key": self.api_key, "_policy": None}

    def __call__(self, task: str) -> RemotePolicy:
        if self._policy is None:
            self._policy = RemotePolicy(self.host, self.port, self.api_key)
        return self._policy
