"""Typed `--set key=value` overrides: a raw string becomes the value of the field's declared type.

`coerce("false", bool)` is False (not the truthy string "false"); `coerce("abc", float)` raises a
ValueError naming what was expected. Dotted keys reach nested config dataclasses
(`field_type(HyVLAConfig, "vision.depth")` is int); an unknown key raises with the closest valid names.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, Union

from hy_vla.utils.configs import type_hints, type_name
from hy_vla.utils.names import did_you_mean

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_NONE = ("none", "null")


def field_type(cls: type, dotted: str, where: str = "") -> Any:
    """The declared type of `cls`'s (possibly nested, dot-separated) field; ValueError if there is none."""
    hint: Any = cls
    walked = []
    for part in dotted.split("."):
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            raise ValueError(f"--set {where}{'.'.join(walked)}: not a nested config, cannot set {part!r} in it")
        names = [f.name for f in dataclasses.fields(hint)]
        if part not in names:
            prefix = f"{where}{'.'.join(walked)}." if walked else where
            known = [f"{prefix}{n}" for n in names]
            raise ValueError(f"--set {prefix}{part}: unknown setting.{did_you_mean(prefix + part, known)}")
        hint = type_hints(hint)[part]
        walked.append(part)
    return hint


def coerce(raw: str, hint: Any) -> Any:
    """`raw` (the text after `=`) as a value of type `hint`; ValueError when it is not one."""
    text = raw.strip()
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    if origin in (Union, types.UnionType):
        if type(None) in args and text.lower() in _NONE:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(raw, arg)
            except ValueError:
                continue
        raise ValueError(f"expected {' or '.join(type_name(a) for a in args)}, got {raw!r}")
    if origin is Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        raise ValueError(f"expected one of {list(args)}, got {raw!r}")
    if hint is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"expected a boolean (true/false), got {raw!r}")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if hint is str:
        return raw
    if origin in (tuple, list):
        items = _items(text)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(i, args[0]) for i in items)
        if origin is tuple and args:
            if len(items) != len(args):
                raise ValueError(f"expected {len(args)} values, got {raw!r}")
            return tuple(coerce(i, a) for i, a in zip(items, args, strict=True))
        return [coerce(i, args[0]) if args else i for i in items]
    if origin is dict or hint is dict:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {raw!r}")
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        raise ValueError(f"is a nested config: set its fields one by one (<key>.<field>=...), got {raw!r}")
    raise ValueError(f"cannot parse a value of type {type_name(hint)} from {raw!r}")


def _items(text: str) -> list[str]:
    """A JSON list (`["a","b"]`, `[1,2]`) or comma-separated items (`a,b`) -> the items as strings."""
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"expected a JSON list, got {text!r}") from None
        return [v if isinstance(v, str) else json.dumps(v) for v in values]
    return [t.strip() for t in text.split(",") if t.strip()] if text and text not in ("()", "[]") else []


def typed(cls: type, dotted: str, value: Any, where: str = "") -> Any:
    """`value` for the field `dotted` of `cls`: strings are parsed to the declared type, other values kept."""
    hint = field_type(cls, dotted, where)
    if not isinstance(value, str):
        return value
    try:
        return coerce(value, hint)
    except ValueError as e:
        raise ValueError(f"--set {where}{dotted}={value}: {e}") from None
