"""The journal of a resumable LeRobot v3 dataset: what survives a killed writer, and how it is read back.

A resumable writer (``LeRobotV3Writer.create(root, ..., resumable=True)``) builds its dataset in the hidden
sibling ``.<name>.resume/`` (a fixed name, so a later process finds it) and keeps there:

- ``journal.jsonl``: line 1 is the writer's arguments and the caller's note; then one line per checkpoint
  with the episode rows (meta/episodes rows) completed since the previous one, the task list, and the
  caller's note (a collection's progress);
- ``lock``: held (``flock``) by the process writing, so two processes never write one dataset.

A checkpoint first closes (and fsyncs) the data and video files its episodes live in; only then is its line
appended. Every journaled row therefore points at complete files, and everything after the last line (an
episode in an open mp4, a torn line) is dropped on resume: unreferenced files are deleted and the next
episode starts new files. Rows carry their own per-episode stats; the frames that norm_stats.json needs
are read back from the data files. `finalize` moves the folder to ``root`` and deletes both files.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hy_vla.data.lerobot import meta
from hy_vla.utils.atomic import atomic_write_text

JOURNAL = "journal.jsonl"
LOCK = "lock"


def resume_dir(root: str | os.PathLike) -> Path:
    """Where the resumable dataset of `root` is built until it is finalized."""
    root = Path(root)
    return root.parent / f".{root.name}.resume"


def lock(folder: Path) -> int:
    """Take the folder's writer lock (released when the fd is closed or the process dies); one-line error if held."""
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(f"{folder}: another process is writing this dataset (its lock is held)") from None
    return fd


def unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the only descriptor drops the flock


def append(folder: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to the journal and fsync it."""
    line = json.dumps(record, separators=(",", ":")) + "\n"
    with open(folder / JOURNAL, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_journal(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, checkpoints) of the journal; a torn last line (a process killed mid-append) is dropped from the file."""
    path = folder / JOURNAL
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; {folder} is not a resumable dataset (delete it to start over)")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    records: list[dict[str, Any]] = []
    for line in lines:
        try:
            if not line.endswith("\n"):
                raise ValueError("no newline: torn")
            records.append(json.loads(line))
        except ValueError:
            break  # appends are sequential: nothing valid follows a torn line
    if not records or "writer" not in records[0]:
        raise ValueError(f"{path}: no valid header line; delete {folder} to start over")
    if len(records) < len(lines):
        atomic_write_text(path, "".join(lines[: len(records)]))  # later appends must start on a fresh line
    return records[0], records[1:]


def sync_files(paths: Sequence[Path]) -> None:
    """fsync closed files so a journal line never points at data still in the page cache after a power loss."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _file_paths(row: dict[str, Any], video_keys: Sequence[str]) -> list[str]:
    paths = [meta.DATA_PATH.format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"])]
    for key in video_keys:
        chunk, file = row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"]
        paths.append(meta.VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file))
    return paths


def remove_unreferenced(folder: Path, rows: Sequence[dict[str, Any]], video_keys: Sequence[str]) -> list[Path]:
    """Delete data and video files no journaled row points at (those of episodes after the last checkpoint)."""
    keep = {p for row in rows for p in _file_paths(row, video_keys)}
    removed = []
    for sub in ("data", "videos"):
        for path in sorted((folder / sub).rglob("*")):
            if path.is_file() and path.relative_to(folder).as_posix() not in keep:
                path.unlink()
                removed.append(path)
    return removed


def next_files(
    rows: Sequence[dict[str, Any]], video_keys: Sequence[str], step: Callable[[int, int], tuple[int, int]]
) -> tuple[tuple[int, int], dict[str, tuple[int, int]]]:
    """The (chunk, file) the next data and video files take: the ones after the last referenced (all are closed)."""
    if not rows:
        return (0, 0), {}
    data = step(*max((r["data/chunk_index"], r["data/file_index"]) for r in rows))
    videos = {
        key: step(*max((r[f"videos/{key}/chunk_index"], r[f"videos/{key}/file_index"]) for r in rows))
        for key in video_keys
    }
    return data, videos


def episode_stats(row: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """The per-episode stats a row carries as ``stats/<key>/<stat>`` columns, back as arrays."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, value in row.items():
        if name.startswith("stats/"):
            _, key, stat = name.split("/")  # feature names never contain "/"
            out.setdefault(key, {})[stat] = np.asarray(value)
    return out


def norm_columns(
    folder: Path, rows: Sequence[dict[str, Any]], keys: Sequence[str], features: dict[str, dict[str, Any]]
) -> list[dict[str, np.ndarray]]:
    """Per episode, the (T, D) frames of `keys` read back from the data files (what norm_stats.json is computed on)."""
    if not rows or not keys:
        return [{} for _ in rows]
    files = sorted({(r["data/chunk_index"], r["data/file_index"]) for r in rows})
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    index: list[np.ndarray] = []
    for chunk, file in files:
        table = meta.read_parquet(folder / meta.DATA_PATH.format(chunk_index=chunk, file_index=file), [*keys, "index"])
        index.append(table["index"].to_numpy())
        for key in keys:
            col = table[key].combine_chunks()
            if pa.types.is_fixed_size_list(col.type):
                values = col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), -1)  # (N, D)
            else:
                values = col.to_numpy(zero_copy_only=False).reshape(len(col), 1)  # (N, 1)
            parts[key].append(values.astype(features[key]["dtype"], copy=False))
    total = rows[-1]["dataset_to_index"]
    if not np.array_equal(np.concatenate(index), np.arange(total)):
        raise ValueError(f"{folder}: the data files do not hold frames 0..{total - 1} in order; delete it to restart")
    full = {k: np.concatenate(v) for k, v in parts.items()}
    return [{k: full[k][r["dataset_from_index"] : r["dataset_to_index"]] for k in keys} for r in rows]
