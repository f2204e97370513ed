"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` through a temporary sibling, fsync, then rename over `path`.

    mkstemp creates files readable by the owner only; the file gets the permissions an ordinary
    `open(path, "w")` would give (0666 minus the umask), so datasets and checkpoints stay shareable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, shareable_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def shareable_mode() -> int:
    """The permissions `open(path, "w")` gives a new file: 0666 minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_tensors(tensors: dict[str, Any], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """safetensors' `save_file` (which creates files readable by the owner only), then the permissions of any other
    file we write, so a checkpoint copied to a shared server stays readable beside its JSON files."""
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    os.chmod(path, shareable_mode())
    return Path(path)


def atomic_save_tensors(tensors: dict[str, Any], path: str | os.PathLike) -> Path:
    """`save_tensors` through a temporary sibling renamed over `path`: a reader never sees a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_tensors(tensors, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, data: Any, indent: int = 2) -> Path:
    """JSON (strict: NaN/inf refused) written with `atomic_write_text`."""
    return atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False) + "\n")
