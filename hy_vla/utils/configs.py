"""Building config dataclasses from JSON dicts: a suggestion for every misspelt field, and every value checked
against the field's declared type before the dataclass sees it (a config file is untrusted input)."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")


def build_config(cls: type[T], values: Any, where: str) -> T:
    """`cls(**values)`, refusing non-dicts and unknown keys with a clear error naming `where`."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown field {key!r} in {where}{hint}")
    hints = type_hints(cls)
    for key, value in values.items():
        if not _matches(value, hints[key]):
            raise ValueError(f"{where}.{key}: expected {type_name(hints[key])}, got {value!r:.80}")
    return cls(**values)


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field types (cached: configs are checked on every load)."""
    return typing.get_type_hints(cls)


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON-loaded (or already built) value fits a type hint; lists stand for tuples."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        if origin is tuple and args:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args, strict=True))
        return not args or all(_matches(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, hint | dict)
    return True  # anything else is the dataclass's own business


def type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
