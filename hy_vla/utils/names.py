"""Suggestions for misspelt names (presets, embodiments, suites, tasks, decoders, config fields)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str], n: int = 3, cutoff: float = 0.6) -> str:
    """ " Did you mean: a, b?" for the closest known names, or "" when none is close."""
    close = difflib.get_close_matches(name, list(known), n=n, cutoff=cutoff)
    return f" Did you mean: {', '.join(close)}?" if close else ""
