"""The openpi wire encoding: msgpack with numpy arrays as tagged maps. Torch-free.

An array travels as a msgpack map with *bytes* keys (the openpi-client convention)::

    {b"__ndarray__": True, b"data": <raw bytes, C order>, b"dtype": "<f4", b"shape": [H, A]}

and a numpy scalar as ``{b"__npgeneric__": True, b"data": <python value>, b"dtype": "<f4"}``.
Everything else is plain msgpack (str keys, ints, floats, strings, lists, maps).

Encoding matches openpi-client 0.1.2 byte for byte in what it sends; decoding is stricter than
openpi's: a message from the network is untrusted, so a tag with a bad dtype (object or void arrays
could smuggle anything), a malformed shape or a byte count that does not match the shape raises
`WireError` with a readable reason instead of an obscure numpy error.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

NDARRAY, NPGENERIC = b"__ndarray__", b"__npgeneric__"
ALLOWED_KINDS = "biuf"  # bool, signed, unsigned, float: no object / void / complex / string arrays


class WireError(ValueError):
    """A message that is not valid msgpack in the openpi array encoding."""


def _encode(obj: Any) -> Any:
    """msgpack `default` hook: numpy arrays and scalars -> tagged maps."""
    if isinstance(obj, np.ndarray | np.generic) and obj.dtype.kind not in ALLOWED_KINDS:
        raise TypeError(f"cannot send numpy dtype {obj.dtype} (only bool, int, uint and float travel)")
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        return {NDARRAY: True, b"data": a.tobytes(), b"dtype": a.dtype.str, b"shape": list(a.shape)}
    if isinstance(obj, np.generic):
        return {NPGENERIC: True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot send an object of type {type(obj).__name__}")


def _dtype(raw: Any) -> np.dtype:
    if not isinstance(raw, str | bytes):
        raise WireError(f"array dtype must be a string like '<f4', got {type(raw).__name__}")
    try:
        dt = np.dtype(raw)
    except TypeError as e:
        raise WireError(f"unknown array dtype {raw!r}") from e
    if dt.kind not in ALLOWED_KINDS:
        raise WireError(f"array dtype {dt} is not allowed (only bool, int, uint and float arrays)")
    return dt


def array_header(dtype: Any, shape: Any, nbytes: int | None) -> tuple[np.dtype, tuple[int, ...]]:
    """Check an array tag's header (dtype, shape, and the byte count of its data, None if the data is not
    bytes) -> (dtype, shape). Shared by the decoder and `limits.scan`, which reads headers without the data."""
    dt = _dtype(dtype)
    if not isinstance(shape, list | tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise WireError(f"array shape must be a list of non-negative ints, got {shape!r}")
    if nbytes is None:
        raise WireError("array data must be bytes")
    expected = math.prod(shape) * dt.itemsize
    if nbytes != expected:
        raise WireError(f"array of shape {list(shape)} and dtype {dt} needs {expected} bytes, got {nbytes}")
    return dt, tuple(shape)


def _decode(obj: dict) -> Any:
    """msgpack `object_hook`: tagged maps -> numpy arrays and scalars; other maps unchanged."""
    if NDARRAY in obj:
        data = obj.get(b"data")
        dt, shape = array_header(obj.get(b"dtype"), obj.get(b"shape"), len(data) if isinstance(data, bytes) else None)
        return np.frombuffer(data, dtype=dt).reshape(shape).copy()  # writable: policies may edit in place
    if NPGENERIC in obj:
        dt = _dtype(obj.get(b"dtype"))
        try:
            return dt.type(obj.get(b"data"))
        except (TypeError, ValueError, OverflowError) as e:
            raise WireError(f"bad numpy scalar of dtype {dt}: {e}") from e
    return obj


def pack(obj: Any) -> bytes:
    """Encode a message (nested dicts / lists of numbers, strings and numpy arrays)."""
    return msgpack.packb(obj, default=_encode)


def unpack(data: bytes) -> Any:
    """Decode a message; any malformation raises `WireError` naming the problem."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WireError(f"expected a binary msgpack frame, got {type(data).__name__}")
    try:
        return msgpack.unpackb(data, object_hook=_decode)
    except WireError:
        raise
    except msgpack.ExtraData as e:
        raise WireError("not a single msgpack message: extra bytes after the first object") from e
    except Exception as e:  # msgpack raises several types (ValueError, FormatError, StackError, TypeError...)
        raise WireError(f"not valid msgpack ({type(e).__name__}: {e})") from e
