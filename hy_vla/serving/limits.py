"""What one request may cost, checked before it is decoded. Torch-free.

A msgpack message is cheap to send and can be expensive to decode: a map of short keys becomes ~19x its size in
Python objects, and every numpy array is copied out of the message. So the server first reads the message's
structure (`scan`: maps, lists, numbers and short strings; each array as its declared dtype and shape, its bytes
never copied) and checks it against the served model's spec (`check_declared`) before `wire.unpack` allocates:

- at most `MAX_OBJECTS` msgpack objects and `MAX_DEPTH` levels of nesting (a valid request has a few dozen and 3);
- each array the model reads has a dtype and shape it accepts (images uint8, three sides of at most
  `max_image_side`; the state its exact shape; an action prefix at most `action_horizon` rows);
- all arrays together declare at most `spec.max_array_bytes(meta)` bytes.

What is left after these checks is bounded by the message size (itself refused by the websocket layer from its
frame header on) plus the declared array bytes, whatever the message holds.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from hy_vla.policy.protocol import ACTION_PREFIX_KEY, ACTION_PREFIX_WEIGHTS_KEY
from hy_vla.serving.spec import ObservationError, apply_observation_map, check_image_header, max_array_bytes
from hy_vla.serving.wire import NDARRAY, WireError, array_header

MAX_OBJECTS = 4096  # msgpack objects in one request; bounds the Python objects a decode can create
MAX_DEPTH = 32  # nesting levels (openpi's ALOHA layout uses 3)
SHORT = 256  # strings and bins up to this long are kept by the scan (keys, dtypes, prompts); longer ones are skipped


@dataclass(frozen=True)
class ArrayHeader:
    """An array as declared by its tag: dtype and shape, without its data."""

    dtype: Any  # np.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class Skipped:
    """A string, bin or ext payload longer than `SHORT` bytes: only its length is read."""

    def __init__(self, length: int) -> None:
        self.length = length


# Fixed-size msgpack types: first byte -> struct format (numbers) or byte count to skip (fixext: type + data)
_NUMBERS = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q"}
_NUMBERS |= {0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
_FIXEXT = {0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}
_LEN = {1: ">B", 2: ">H", 4: ">I"}


class _Scanner:
    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.view, self.pos, self.objects = memoryview(data), 0, 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.view):
            raise WireError("not valid msgpack (truncated message)")
        out = self.view[self.pos : self.pos + n]
        self.pos += n
        return out

    def length(self, size: int) -> int:
        return struct.unpack(_LEN[size], self.take(size))[0]

    def payload(self, n: int, text: bool) -> Any:
        raw = self.take(n)
        if n > SHORT:
            return Skipped(n)
        if not text:
            return bytes(raw)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as e:
            raise WireError(f"not valid msgpack (a string is not UTF-8: {e})") from e

    def value(self, depth: int) -> Any:
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise WireError(f"more than {MAX_OBJECTS} msgpack objects in one request")
        if depth > MAX_DEPTH:
            raise WireError(f"msgpack nested deeper than {MAX_DEPTH} levels")
        b = self.take(1)[0]
        if b <= 0x7F or b >= 0xE0:  # positive / negative fixint
            return b if b <= 0x7F else b - 0x100
        if b <= 0x8F:
            return self.map(b & 0x0F, depth)
        if b <= 0x9F:
            return [self.value(depth + 1) for _ in range(b & 0x0F)]
        if b <= 0xBF:
            return self.payload(b & 0x1F, text=True)
        if b in (0xC0, 0xC2, 0xC3):
            return {0xC0: None, 0xC2: False, 0xC3: True}[b]
        if b in (0xC4, 0xC5, 0xC6):  # bin 8/16/32
            return self.payload(self.length(1 << (b - 0xC4)), text=False)
        if b in (0xC7, 0xC8, 0xC9):  # ext 8/16/32: length, type byte, data
            n = self.length(1 << (b - 0xC7))
            self.take(n + 1)
            return Skipped(n)
        if b in _NUMBERS:
            fmt = _NUMBERS[b]
            return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        if b in _FIXEXT:
            self.take(_FIXEXT[b])
            return Skipped(_FIXEXT[b] - 1)
        if b in (0xD9, 0xDA, 0xDB):  # str 8/16/32
            return self.payload(self.length(1 << (b - 0xD9)), text=True)
        if b in (0xDC, 0xDD):  # array 16/32
            return [self.value(depth + 1) for _ in range(self.length(2 if b == 0xDC else 4))]
        if b in (0xDE, 0xDF):  # map 16/32
            return self.map(self.length(2 if b == 0xDE else 4), depth)
        raise WireError(f"not valid msgpack (byte 0x{b:02x} starts no object)")

    def map(self, n: int, depth: int) -> Any:
        out: dict[Any, Any] = {}
        for _ in range(n):
            key = self.value(depth + 1)
            if not isinstance(key, str | bytes | Skipped):  # msgpack's strict_map_key: only str / bytes keys
                raise WireError(f"not valid msgpack (a map key of type {type(key).__name__})")
            out[key] = self.value(depth + 1)
        if NDARRAY not in out:
            return out
        data = out.get(b"data")
        nbytes = len(data) if isinstance(data, bytes) else data.length if isinstance(data, Skipped) else None
        dtype, shape = array_header(out.get(b"dtype"), out.get(b"shape"), nbytes)
        return ArrayHeader(dtype, shape)


def scan(data: bytes | bytearray | memoryview) -> Any:
    """The structure of one msgpack message in the openpi encoding, arrays as `ArrayHeader`s, long payloads as
    `Skipped`; raises `WireError` for malformed or excessive messages. Never copies a long payload."""
    s = _Scanner(data)
    out = s.value(0)
    if s.pos != len(s.view):
        raise WireError("not a single msgpack message: extra bytes after the first object")
    return out


def _arrays(node: Any) -> list[ArrayHeader]:
    if isinstance(node, ArrayHeader):
        return [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return [a for child in children for a in _arrays(child)]


def check_declared(structure: Any, meta: dict[str, Any], obs_map: tuple[tuple[str, str], ...] = ()) -> None:
    """Refuse (`ObservationError`) a scanned request whose declared arrays the model cannot accept, naming the key.

    Only what the headers tell is checked here; `spec.validate_observation` checks the decoded values."""
    total, budget = sum(a.nbytes for a in _arrays(structure)), max_array_bytes(meta)
    if total > budget:
        raise ObservationError(f"the request's arrays declare {total} bytes; this model accepts at most {budget}")
    if not isinstance(structure, dict):
        return  # validate_observation names the problem (the decode is bounded by the checks above)
    obs = apply_observation_map(structure, obs_map, list(meta["cameras"]))
    for key, want in meta["observation_spec"].items():
        a = obs.get(key)
        if not isinstance(a, ArrayHeader):
            continue
        if want["dtype"] == "uint8":
            check_image_header(key, a.dtype, a.shape, want["shape"][0])
        elif a.shape != tuple(want["shape"]):
            raise ObservationError(f"{key!r} has shape {list(a.shape)}; expected {want['shape']}")
    horizon = int(meta["action_horizon"])
    for key in (ACTION_PREFIX_KEY, ACTION_PREFIX_WEIGHTS_KEY):
        a = obs.get(key)
        if isinstance(a, ArrayHeader) and (len(a.shape) not in (1, 2) or (a.shape[:1] or (0,))[0] > horizon):
            raise ObservationError(f"{key!r} has shape {list(a.shape)}; at most {horizon} rows are read")


def check_request(message: bytes, meta: dict[str, Any], obs_map: tuple[tuple[str, str], ...] = ()) -> None:
    """`scan` + `check_declared`: raises `WireError` / `ObservationError` before anything is decoded."""
    check_declared(scan(message), meta, obs_map)
