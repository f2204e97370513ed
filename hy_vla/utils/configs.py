"""Building config dataclasses from JSON dicts, with a suggestion for every misspelt field."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, TypeVar

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
    return cls(**values)
