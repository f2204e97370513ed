"""Write LeRobot v3 datasets that LeRobot 0.4.4 loads as its own.

    w = LeRobotV3Writer.create(root, fps=10, features={...}, robot_type="sawyer", embodiment="metaworld_sawyer")
    w.add_frame({"observation.images.corner2": img, "observation.state": s, "action": a}, task="open the drawer")
    w.save_episode()
    w.add_episode({"observation.state": (T, S), "action": (T, A), "observation.images.corner2": (T, H, W, 3)}, task)
    w.finalize()   # the dataset appears at `root` only now

Everything is built in a hidden sibling directory (`.<name>.partial-<pid>-<id>`) and renamed to `root`
by `finalize()`, so a killed collection never leaves a half-written dataset at `root` (the
partial directory is removed by `abort()`, or on an exception inside a `with` block; one left by a killed
process is removed by the next `create` for the same root). `finalize(extra_files=...)` puts files such as
a collection summary inside the dataset before the rename, so they appear with it or not at all.

Resumable datasets (``create(..., resumable=True)``) are built in ``.<name>.resume/`` instead and survive a
kill: ``checkpoint(note)`` makes the episodes written so far durable, ``suspend()`` (or an exception in a
`with` block) releases the files and keeps the folder, and ``LeRobotV3Writer.resume(root)`` reopens it at
the last checkpoint (`resume.py`). Each checkpoint closes the open data and video files, so such a dataset
has more, smaller files.

Differences from LeRobot's own writer that do not change the files' meaning: each camera's
episodes are encoded by one streaming encoder per video file (LeRobot encodes each episode to a
temporary mp4 and concatenates; the timestamps come out the same), frames stay in memory instead
of temporary PNGs, and quantile stats are exact rather than histogram estimates.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hy_vla.data.lerobot import meta, resume
from hy_vla.data.lerobot import stats as lstats
from hy_vla.data.video import DEFAULT_GOP, VideoEncoder, video_stream_info
from hy_vla.utils.atomic import atomic_write_text

DEFAULT_NORM_MODES = {"observation.state": "mean_std", "action": "mean_std"}


def _png_bytes(img: np.ndarray) -> bytes:
    import imageio.v3 as iio  # lazy: only `image` features need it

    buf = io.BytesIO()
    iio.imwrite(buf, img, extension=".png")
    return buf.getvalue()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_partials(root: Path) -> list[Path]:
    """Delete the hidden partial directories of `root` left by writer processes that no longer run."""
    removed = []
    for partial in root.parent.glob(f".{root.name}.partial-*"):
        pid = partial.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if partial.is_dir() and (not pid.isdigit() or not _alive(int(pid))):  # no pid: written before pids were
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    return removed


class LeRobotV3Writer:
    """Builds a LeRobot v3 dataset episode by episode; see the module docstring."""

    def __init__(self) -> None:  # use `create`
        raise TypeError("use LeRobotV3Writer.create(root, fps=..., features=...)")

    @classmethod
    def create(
        cls,
        root: str | os.PathLike,
        fps: int,
        features: dict[str, dict[str, Any]],
        robot_type: str | None = None,
        embodiment: str | None = None,
        *,
        codec: str | None = None,
        gop: int = DEFAULT_GOP,
        norm_modes: dict[str, str] | None = None,
        chunks_size: int = meta.DEFAULT_CHUNK_SIZE,
        data_files_size_in_mb: int = meta.DEFAULT_DATA_FILE_SIZE_IN_MB,
        video_files_size_in_mb: int = meta.DEFAULT_VIDEO_FILE_SIZE_IN_MB,
        resumable: bool = False,
        note: dict[str, Any] | None = None,
    ) -> LeRobotV3Writer:
        """Start a dataset at `root` (which must not exist yet).

        `features` maps key -> {"dtype": "video"|"image"|"float32"|"int64"|..., "shape": [...],
        "names": [...] or None}; videos and images are (height, width, 3). `norm_modes` picks the
        features written to norm_stats.json and their mode (default: state and action, mean_std).
        `resumable`: build in ``.<name>.resume/`` with a journal (module docstring); `note` (JSON) is
        kept in it and returned by `resume`, e.g. the configuration that produced the dataset.
        """
        self = object.__new__(cls)
        root = Path(root)
        if root.exists():
            raise FileExistsError(f"{root}: already exists; refusing to overwrite a dataset")
        args = {
            "fps": fps,
            "features": features,
            "robot_type": robot_type,
            "embodiment": embodiment,
            "codec": codec,
            "gop": gop,
            "norm_modes": norm_modes,
            "chunks_size": chunks_size,
            "data_files_size_in_mb": data_files_size_in_mb,
            "video_files_size_in_mb": video_files_size_in_mb,
        }
        self._setup(root, **args)
        if not resumable:
            remove_stale_partials(self.root)
            self.work = self.root.parent / f".{self.root.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self.work.mkdir(parents=True)
            return self
        self.work = resume.resume_dir(self.root)
        if self.work.exists():
            raise FileExistsError(f"{self.work}: an interrupted dataset is there; resume it or delete it")
        self.work.mkdir(parents=True)
        self._lock = resume.lock(self.work)
        args.update(features=self._user_features, norm_modes=self.norm_modes)  # validated, as resume rebuilds them
        resume.append(self.work, {"writer": args, "note": note or {}})
        self._resumable = True
        return self

    @classmethod
    def resume(cls, root: str | os.PathLike) -> tuple[LeRobotV3Writer, dict[str, Any], list[dict[str, Any]]]:
        """Reopen the interrupted resumable dataset of `root` at its last checkpoint.

        Returns (writer, the `note` given to `create`, the notes of the checkpoints in order). Episodes written
        after the last checkpoint are dropped with their files.
        """
        self = object.__new__(cls)
        root = Path(root)
        work = resume.resume_dir(root)
        if not work.is_dir():
            raise FileNotFoundError(f"{work}: no interrupted dataset of {root} to resume")
        fd = resume.lock(work)
        try:
            header, checkpoints = resume.read_journal(work)
            self._setup(root, **header["writer"])
            self.work, self._lock, self._resumable = work, fd, True
            rows = [row for c in checkpoints for row in c["episodes"]]
            self._episodes, self._journaled = rows, len(rows)
            self._tasks = {t: i for i, t in enumerate(checkpoints[-1]["tasks"])} if checkpoints else {}
            self._episode_stats = [resume.episode_stats(row) for row in rows]
            self._norm_columns = resume.norm_columns(work, rows, list(self.norm_modes), self.features)
            self._total_frames = self._data_file_start = rows[-1]["dataset_to_index"] if rows else 0
            self._data_file, self._video_file = resume.next_files(rows, self.video_keys, self._next_file)
            resume.remove_unreferenced(work, rows, self.video_keys)
        except BaseException:
            resume.unlock(fd)
            raise
        return self, header["note"], [c["note"] for c in checkpoints]

    def _setup(
        self,
        root: Path,
        fps: int,
        features: dict[str, dict[str, Any]],
        robot_type: str | None,
        embodiment: str | None,
        codec: str | None,
        gop: int,
        norm_modes: dict[str, str] | None,
        chunks_size: int,
        data_files_size_in_mb: int,
        video_files_size_in_mb: int,
    ) -> None:
        """Everything but the working folder: validated arguments and an empty dataset."""
        self.root = root
        if int(fps) != fps or fps <= 0:
            raise ValueError(f"fps: expected a positive integer, got {fps!r}")
        user = meta.validate_features(features)
        clash = set(user) & set(meta.INDEX_FEATURES)
        if clash:
            raise ValueError(f"features: {sorted(clash)} are added automatically; do not pass them")
        self._user_features = user
        self.features = {**user, **meta.INDEX_FEATURES}
        self.fps = int(fps)
        self.codec, self.gop = codec, gop
        self.norm_modes = dict(DEFAULT_NORM_MODES if norm_modes is None else norm_modes)
        self.norm_modes = {k: m for k, m in self.norm_modes.items() if k in user or norm_modes is not None}
        self.info = meta.new_info(
            self.fps, self.features, robot_type, embodiment, chunks_size, data_files_size_in_mb, video_files_size_in_mb
        )
        self.embodiment = embodiment
        self.video_keys = [k for k, ft in user.items() if ft["dtype"] == "video"]
        self._schema = meta.data_schema(self.features)
        self._tasks: dict[str, int] = {}
        self._episodes: list[dict[str, Any]] = []
        self._episode_stats: list[dict[str, dict]] = []
        self._norm_columns: list[dict[str, np.ndarray]] = []
        self._buffer: list[tuple[dict[str, np.ndarray], str]] = []
        self._data_writer: pq.ParquetWriter | None = None
        self._data_file = (0, 0)
        self._data_file_start = 0  # global index of the first frame of the current data file
        self._videos: dict[str, VideoEncoder] = {}
        self._video_file: dict[str, tuple[int, int]] = {}
        self._total_frames = 0
        self._closed = False
        self._resumable = False
        self._lock: int | None = None
        self._journaled = 0  # episodes covered by a checkpoint
        self._broken = False  # an episode failed half-way: its files hold partial data

    # ------------------------------------------------------------------ adding data

    def add_frame(self, frame: dict[str, Any], task: str) -> None:
        """Buffer one frame; `save_episode()` writes the buffered frames as one episode."""
        self._check_open()
        if not isinstance(task, str) or not task:
            raise ValueError(f"task: expected a non-empty string, got {task!r}")
        self._buffer.append((frame, task))

    def save_episode(self) -> int:
        """Write the frames added since the last save as one episode; return its index."""
        self._check_open()
        if not self._buffer:
            raise ValueError("save_episode: no frames were added since the last save")
        keys = set(self._buffer[0][0])
        for i, (f, _) in enumerate(self._buffer):
            if set(f) != keys:
                raise ValueError(f"frame {i}: keys {sorted(f)} differ from frame 0's {sorted(keys)}")
        columns = {k: np.stack([np.asarray(f[k]) for f, _ in self._buffer]) for k in keys}
        tasks = [t for _, t in self._buffer]
        self._buffer = []
        return self.add_episode(columns, tasks)

    def add_episode(self, frames: dict[str, np.ndarray], task: str | Sequence[str]) -> int:
        """Write a whole episode: `frames` maps every feature to a (T, ...) array; return its index.

        `task` is one instruction for the whole episode or one per frame. An optional
        "timestamp" array (T,) overrides the default frame_index / fps.
        """
        self._check_open()
        ep = len(self._episodes)
        cols, length = self._check_episode(frames, ep)
        tasks = [task] * length if isinstance(task, str) else list(task)
        if len(tasks) != length or not all(isinstance(t, str) and t for t in tasks):
            raise ValueError(f"episode {ep}: expected one task string or {length} non-empty strings")
        try:
            return self._write_episode(frames, tasks, cols, length)
        except BaseException:
            self._broken = True  # data or video files may hold part of it: no checkpoint may cover them
            raise

    def _write_episode(
        self, frames: dict[str, np.ndarray], tasks: list[str], cols: dict[str, np.ndarray], length: int
    ) -> int:
        ep = len(self._episodes)
        for t in tasks:
            self._tasks.setdefault(t, len(self._tasks))
        start = self._total_frames
        cols["timestamp"] = (
            np.asarray(frames["timestamp"], dtype=np.float32).reshape(length)
            if "timestamp" in frames
            else (np.arange(length) / self.fps).astype(np.float32)
        )
        cols["frame_index"] = np.arange(length, dtype=np.int64)
        cols["episode_index"] = np.full(length, ep, dtype=np.int64)
        cols["index"] = np.arange(start, start + length, dtype=np.int64)
        cols["task_index"] = np.array([self._tasks[t] for t in tasks], dtype=np.int64)

        row: dict[str, Any] = {"episode_index": ep, "tasks": list(dict.fromkeys(tasks)), "length": length}
        row.update(self._write_data(cols, length))
        for key in self.video_keys:
            row.update(self._write_video(key, cols[key]))
        ep_stats = lstats.episode_stats(cols, self.features)
        row.update(lstats.flatten_for_episodes(ep_stats))
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        self._episodes.append(row)
        self._episode_stats.append(ep_stats)
        self._norm_columns.append({k: cols[k].reshape(length, -1) for k in self.norm_modes})
        self._total_frames += length
        return ep

    def _check_episode(self, frames: dict[str, np.ndarray], ep: int) -> tuple[dict[str, np.ndarray], int]:
        expected = [k for k in self.features if k not in meta.INDEX_FEATURES]
        missing = [k for k in expected if k not in frames]
        extra = [k for k in frames if k not in expected and k != "timestamp"]
        if missing or extra:
            raise ValueError(f"episode {ep}: missing features {missing}, unknown keys {extra}")
        cols: dict[str, np.ndarray] = {}
        lengths = {k: len(frames[k]) for k in expected}
        length = lengths[expected[0]]
        if length < 1 or any(n != length for n in lengths.values()):
            raise ValueError(f"episode {ep}: features have different or zero lengths {lengths}")
        for key in expected:
            ft, x = self.features[key], np.asarray(frames[key])
            if ft["dtype"] in meta.VISUAL_DTYPES:
                if x.dtype != np.uint8 or x.shape[1:] != tuple(ft["shape"]):
                    raise ValueError(
                        f"episode {ep}, feature {key!r}: expected uint8 (T, {', '.join(map(str, ft['shape']))}), "
                        f"got {x.dtype} {x.shape}"
                    )
            elif ft["dtype"] == "string":
                x = np.asarray([str(v) for v in x], dtype=object)
            else:
                if ft["shape"] == [1] and x.ndim == 1:
                    x = x[:, None]
                if x.shape[1:] != tuple(ft["shape"]):
                    raise ValueError(
                        f"episode {ep}, feature {key!r}: expected shape (T, {ft['shape'][0]}), got {x.shape}"
                    )
                if not np.can_cast(x.dtype, ft["dtype"], casting="same_kind"):
                    raise ValueError(f"episode {ep}, feature {key!r}: cannot store {x.dtype} as {ft['dtype']}")
                x = x.astype(ft["dtype"])
                if ft["shape"] == [1]:
                    x = x[:, 0]
            cols[key] = x
        return cols, length

    # ------------------------------------------------------------------ files

    def _file_full(self, path: Path, limit_mb: int) -> bool:
        return path.exists() and path.stat().st_size >= limit_mb * 1024 * 1024

    def _next_file(self, chunk: int, file: int) -> tuple[int, int]:
        return (chunk + 1, 0) if file == self.info["chunks_size"] - 1 else (chunk, file + 1)

    def _write_data(self, cols: dict[str, np.ndarray], length: int) -> dict[str, Any]:
        chunk, file = self._data_file
        path = self.work / meta.DATA_PATH.format(chunk_index=chunk, file_index=file)
        if self._data_writer is not None and self._file_full(path, self.info["data_files_size_in_mb"]):
            self._data_writer.close()
            self._data_writer = None
            chunk, file = self._data_file = self._next_file(chunk, file)
            path = self.work / meta.DATA_PATH.format(chunk_index=chunk, file_index=file)
            self._data_file_start = self._total_frames
        arrays = []
        for field in self._schema:
            ft, x = self.features[field.name], cols[field.name]
            if ft["dtype"] == "image":
                arrays.append(pa.array([{"bytes": _png_bytes(img), "path": None} for img in x], type=field.type))
            elif pa.types.is_fixed_size_list(field.type):
                values = pa.array(np.ascontiguousarray(x).reshape(-1), type=field.type.value_type)
                arrays.append(pa.FixedSizeListArray.from_arrays(values, field.type.list_size))
            else:
                arrays.append(pa.array(x, type=field.type))
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        if self._data_writer is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._data_writer = pq.ParquetWriter(path, self._schema, compression="snappy", use_dictionary=True)
        self._data_writer.write_table(table)
        return {
            "data/chunk_index": chunk,
            "data/file_index": file,
            "dataset_from_index": self._total_frames,
            "dataset_to_index": self._total_frames + length,
        }

    def _write_video(self, key: str, frames: np.ndarray) -> dict[str, Any]:
        chunk, file = self._video_file.get(key, (0, 0))
        enc = self._videos.get(key)
        if enc is not None and enc.size_bytes() >= self.info["video_files_size_in_mb"] * 1024 * 1024:
            enc.close()
            enc = None
            chunk, file = self._next_file(chunk, file)
        if enc is None:
            path = self.work / meta.VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)
            h, w = self.features[key]["shape"][:2]
            enc = self._videos[key] = VideoEncoder(path, self.fps, h, w, codec=self.codec, gop=self.gop)
            self._video_file[key] = (chunk, file)
        start = enc.num_frames
        enc.write(frames)
        return {
            f"videos/{key}/chunk_index": chunk,
            f"videos/{key}/file_index": file,
            f"videos/{key}/from_timestamp": start / self.fps,
            f"videos/{key}/to_timestamp": enc.num_frames / self.fps,
        }

    # ------------------------------------------------------------------ finishing

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.root}: writer already finalized or aborted")

    def finalize(self, extra_files: dict[str, str] | None = None) -> Path:
        """Close the files, write the metadata (and `extra_files`: name -> text, e.g. a collection summary), and
        move the dataset into place at `root`."""
        self._check_open()
        if self._buffer:
            raise ValueError(f"finalize: {len(self._buffer)} frames were added but not saved (call save_episode)")
        if not self._episodes:
            raise ValueError("finalize: the dataset has no episodes")
        if self._data_writer is not None:
            self._data_writer.close()
        for enc in self._videos.values():
            enc.close()
        for key in self.video_keys:
            first = self.work / meta.VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0)
            self.info["features"][key]["info"] = video_stream_info(first)
        n = len(self._episodes)
        self.info.update(
            total_episodes=n, total_frames=self._total_frames, total_tasks=len(self._tasks), splits={"train": f"0:{n}"}
        )
        meta.write_tasks(self.work / meta.TASKS_PATH, list(self._tasks))
        ep_path = self.work / meta.EPISODES_PATH.format(chunk_index=0, file_index=0)
        ep_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self._episodes), ep_path, compression="snappy")
        meta.write_json_atomic(self.work / meta.STATS_PATH, lstats.to_json(lstats.aggregate_stats(self._episode_stats)))
        meta.write_json_atomic(self.work / meta.INFO_PATH, self.info)
        self._write_norm_stats()
        for name, text in (extra_files or {}).items():
            atomic_write_text(self.work / name, text)
        if self.root.exists():
            raise FileExistsError(f"{self.root}: appeared while writing; the dataset is left at {self.work}")
        os.rename(self.work, self.root)
        self._closed = True
        if self._resumable:  # the bookkeeping goes once the dataset is in place (a kill here leaves it harmless)
            (self.root / resume.JOURNAL).unlink(missing_ok=True)
            (self.root / resume.LOCK).unlink(missing_ok=True)
            resume.unlock(self._lock)
            self._lock = None
        return self.root

    def checkpoint(self, note: dict[str, Any] | None = None) -> None:
        """Make the episodes written so far survive a kill (resumable writers only).

        Closes the open data and video files (the next episode starts new ones), then journals the episodes
        added since the last checkpoint with `note` (JSON: the caller's progress, returned by `resume`).
        """
        self._check_open()
        if not self._resumable:
            raise RuntimeError(f"{self.root}: checkpoint needs a writer created with resumable=True")
        if self._broken:
            raise RuntimeError(f"{self.root}: an episode failed half-way; only the last checkpoint can be kept")
        closed: list[Path] = []
        if self._data_writer is not None:
            self._data_writer.close()
            self._data_writer = None
            chunk, file = self._data_file
            closed.append(self.work / meta.DATA_PATH.format(chunk_index=chunk, file_index=file))
            self._data_file = self._next_file(chunk, file)
            self._data_file_start = self._total_frames
        for key, enc in self._videos.items():
            enc.close()
            closed.append(enc.path)
            self._video_file[key] = self._next_file(*self._video_file[key])
        self._videos = {}
        resume.sync_files(closed)
        episodes = self._episodes[self._journaled :]
        resume.append(self.work, {"episodes": episodes, "tasks": list(self._tasks), "note": note or {}})
        self._journaled = len(self._episodes)

    def suspend(self) -> None:
        """Release the files of an interrupted resumable dataset, keeping it for `resume` (at its last checkpoint)."""
        if not self._resumable:
            raise RuntimeError(f"{self.root}: suspend needs a writer created with resumable=True (use abort)")
        if self._closed:
            return
        self._closed = True
        self._close_files()
        resume.unlock(self._lock)
        self._lock = None

    def _write_norm_stats(self) -> None:
        if not self.norm_modes:
            return
        from hy_vla.data.norm_stats import FILENAME, compute_norm_stats

        keys = list(self.norm_modes)
        ns = compute_norm_stats(self._norm_columns, keys, self.norm_modes, self.embodiment or "default")
        ns.save(self.work / FILENAME)

    def abort(self) -> None:
        """Drop everything written so far (nothing ever appears at `root`)."""
        if self._closed:
            return
        self._closed = True
        self._close_files()
        shutil.rmtree(self.work, ignore_errors=True)
        resume.unlock(self._lock)
        self._lock = None

    def _close_files(self) -> None:
        """Best effort: the files are deleted (abort) or ignored past the last checkpoint (suspend) anyway."""
        if self._data_writer is not None:
            try:
                self._data_writer.close()
            except Exception:  # noqa: BLE001
                pass
        for enc in self._videos.values():
            try:
                enc.close()
            except Exception:  # noqa: BLE001
                pass

    def __enter__(self) -> LeRobotV3Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.suspend() if self._resumable else self.abort()
        elif not self._closed:
            self.finalize()

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)
