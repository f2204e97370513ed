"""Progress bars that stay readable in a log file.

On a terminal: tqdm's bar, redrawn in place. When stderr is not a terminal (a job's log, CI): one plain line
every `LOG_INTERVAL_S` seconds (and at the end) instead of carriage-return redraws, which a file keeps as one
ever-growing line.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


class _Lines:
    """A file wrapper turning tqdm's carriage-return redraws into whole lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip("\n")
        if line.strip():
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress(*args: Any, **kwargs: Any) -> tqdm:
    """`tqdm(...)` on a terminal; periodic whole lines otherwise (same arguments)."""
    stream = kwargs.pop("file", None) or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        kwargs["file"] = _Lines(stream)
        kwargs["dynamic_ncols"] = False  # a file has no width to follow
        kwargs.setdefault("ncols", 100)
    else:
        kwargs["file"] = stream
    return tqdm(*args, **kwargs)
