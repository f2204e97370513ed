"""Length-prefixed messages over a pipe: a JSON header plus raw numpy arrays (no pickle).

Shared by bench/lerobot_policy.py (our side, .venv) and bench/lerobot_serve.py (LeRobot's side, .venv-lerobot),
which run in different virtual environments and talk over the server's stdin/stdout. numpy only.

Frame: 8 bytes `<II` (header length, payload length), the UTF-8 JSON header, then the payload. The header's
"arrays" entry lists {name, dtype, shape, offset} for each array packed in the payload.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

import numpy as np

_PREFIX = struct.Struct("<II")
_MAX_BYTES = 1 << 30  # a frame larger than this is a protocol error, not a message


def write_message(stream: BinaryIO, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write one message and flush."""
    specs, chunks, offset = [], [], 0
    for name, arr in (arrays or {}).items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype == object:
            raise TypeError(f"array {name!r} has dtype object: only numeric arrays travel")
        specs.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset})
        chunks.append(arr.tobytes())
        offset += arr.nbytes
    head = json.dumps({**header, "arrays": specs}).encode()
    stream.write(_PREFIX.pack(len(head), offset))
    stream.write(head)
    for chunk in chunks:
        stream.write(chunk)
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = stream.read(n - len(buf))
        if not part:
            raise EOFError(f"pipe closed after {len(buf)} of {n} bytes")
        buf += part
    return bytes(buf)


def read_message(stream: BinaryIO) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read one message; raises EOFError when the other side has closed the pipe."""
    head_len, payload_len = _PREFIX.unpack(_read_exact(stream, _PREFIX.size))
    if head_len > _MAX_BYTES or payload_len > _MAX_BYTES:
        raise ValueError(f"message of {head_len} + {payload_len} bytes: not this protocol")
    header = json.loads(_read_exact(stream, head_len))
    payload = _read_exact(stream, payload_len)
    arrays = {}
    for spec in header.pop("arrays", []):
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        arrays[spec["name"]] = np.frombuffer(payload, dtype, count, spec["offset"]).reshape(spec["shape"])
    return header, arrays
