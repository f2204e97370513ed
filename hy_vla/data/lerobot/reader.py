"""Read LeRobot v3 datasets (ours or LeRobot's) with per-episode column and frame access.

    ds = LeRobotV3Dataset(root)
    ds.num_episodes, ds.num_frames, ds.fps, ds.features, ds.tasks, ds.camera_keys, ds.embodiment
    ds.episode(i)                            -> EpisodeInfo(index, start, stop, length, task, tasks)
    ds.frame(global_index)                   -> {low-dim arrays, "task", "episode_index", "frame_index", "timestamp"}
    ds.column("action", episode)             -> (T, D) array, no video decoding
    ds.images("observation.images.top", episode, [0, 5, 9]) -> (3, H, W, 3) uint8

Low-dim columns of all data files are loaded once into numpy arrays (robot datasets are
small next to their videos; workers forked from the DataLoader share them copy-on-write).
Videos are opened lazily, one container per file per process (`VideoCache`).

Construction validates the metadata against the files and fails with an error naming the
file and the field: a missing meta file, a truncated parquet or mp4, a feature whose shape or
type differs from meta/info.json, frame counts that do not add up.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hy_vla.data.lerobot import meta
from hy_vla.data.samples import EpisodeInfo
from hy_vla.data.video import VideoCache


def _column_to_numpy(col: pa.ChunkedArray, ft: dict[str, Any], where: str) -> np.ndarray:
    """An arrow column -> (N, *shape) numpy array, checking the width against info.json."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    shape = ft["shape"]
    t = col.type
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        if pa.types.is_fixed_size_list(t) and t.list_size != shape[0]:
            raise ValueError(f"{where}: width {t.list_size} but meta/info.json says shape {shape}")
        values = col.flatten().to_numpy(zero_copy_only=False)
        if len(col) and values.size != len(col) * shape[0]:
            raise ValueError(f"{where}: {values.size // max(len(col), 1)} values per row, info.json says shape {shape}")
        return values.reshape(len(col), *shape)
    if shape != [1]:
        raise ValueError(f"{where}: scalar column but meta/info.json says shape {shape}")
    return col.to_numpy(zero_copy_only=False).reshape(len(col), 1)


class LeRobotV3Dataset:
    """A LeRobot v3 dataset on local disk; implements the `EpisodeSource` protocol."""

    def __init__(self, root: str | os.PathLike, *, check_videos: bool = True, max_open_videos: int = 16) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: dataset directory not found")
        self.info = meta.load_info(self.root)
        self.features: dict[str, dict[str, Any]] = self.info["features"]
        self.fps = int(self.info["fps"])
        self.embodiment: str | None = self.info.get(meta.EMBODIMENT_KEY)
        self.robot_type: str | None = self.info.get("robot_type")
        self.video_keys = [k for k, ft in self.features.items() if ft["dtype"] == "video"]
        self.image_keys = [k for k, ft in self.features.items() if ft["dtype"] == "image"]
        self.camera_keys = self.video_keys + self.image_keys
        self.tasks = meta.read_tasks(self.root)
        self._load_episodes()
        self._load_data()
        self._videos = VideoCache(max_open_videos)
        if check_videos:
            self._check_videos()

    # ------------------------------------------------------------------ loading

    def _load_episodes(self) -> None:
        ep_dir = self.root / meta.EPISODES_DIR
        paths = sorted(ep_dir.glob("*/*.parquet"))
        if not paths:
            raise FileNotFoundError(f"{ep_dir}: no episode metadata files (chunk-*/file-*.parquet)")
        rows: list[dict[str, Any]] = []
        for path in paths:
            table = meta.read_parquet(path)
            keep = [c for c in table.column_names if not c.startswith("stats/")]
            for need in ("episode_index", "length", "dataset_from_index", "dataset_to_index", "tasks"):
                if need not in keep:
                    raise ValueError(f"{path}: missing column {need!r}")
            for key in self.video_keys:
                for sub in ("chunk_index", "file_index", "from_timestamp"):
                    if f"videos/{key}/{sub}" not in keep:
                        raise ValueError(f"{path}: missing column 'videos/{key}/{sub}' for video feature {key!r}")
            rows.extend(table.select(keep).to_pylist())
        rows.sort(key=lambda r: r["episode_index"])
        n = int(self.info["total_episodes"])
        if [r["episode_index"] for r in rows] != list(range(n)):
            raise ValueError(
                f"{ep_dir}: episode indices {[r['episode_index'] for r in rows][:10]}... do not match "
                f"total_episodes={n} in {meta.INFO_PATH}"
            )
        self._episodes = rows
        self._starts = np.array([r["dataset_from_index"] for r in rows], dtype=np.int64)
        self._stops = np.array([r["dataset_to_index"] for r in rows], dtype=np.int64)

    def _load_data(self) -> None:
        paths = sorted((self.root / "data").glob("*/*.parquet"))
        if not paths:
            raise FileNotFoundError(f"{self.root / 'data'}: no data files (chunk-*/file-*.parquet)")
        cols: dict[str, list[np.ndarray]] = {}
        images: dict[str, list[pa.Array]] = {k: [] for k in self.image_keys}
        lowdim = [k for k, ft in self.features.items() if ft["dtype"] not in meta.VISUAL_DTYPES + ("string",)]
        strings = [k for k, ft in self.features.items() if ft["dtype"] == "string"]
        for path in paths:
            table = meta.read_parquet(path)
            rel = path.relative_to(self.root)
            for key in lowdim + strings + self.image_keys:
                if key not in table.column_names:
                    raise ValueError(f"{rel}: missing column {key!r} declared in {meta.INFO_PATH}")
            for key in lowdim:
                cols.setdefault(key, []).append(_column_to_numpy(table[key], self.features[key], f"{rel}: {key!r}"))
            for key in strings:
                cols.setdefault(key, []).append(np.asarray(table[key].to_pylist(), dtype=object)[:, None])
            for key in self.image_keys:
                images[key].append(table[key].combine_chunks().field("bytes"))
        data = {k: np.concatenate(v) for k, v in cols.items()}
        n = len(data["index"])
        if n != int(self.info["total_frames"]):
            raise ValueError(
                f"{self.root / 'data'}: {n} frames but total_frames={self.info['total_frames']} in info.json"
            )
        order = np.argsort(data["index"][:, 0], kind="stable")
        if not np.array_equal(data["index"][order, 0], np.arange(n)):
            raise ValueError(f"{self.root / 'data'}: the 'index' column is not 0..{n - 1}")
        if not np.array_equal(order, np.arange(n)):
            data = {k: v[order] for k, v in data.items()}
        self._data = data
        self._image_bytes = {k: pa.concat_arrays(v) for k, v in images.items()}
        if self._stops[-1] != n or np.any(self._starts[1:] != self._stops[:-1]) or self._starts[0] != 0:
            raise ValueError(f"{self.root / meta.EPISODES_DIR}: dataset_from/to_index do not tile 0..{n}")

    def _video_path(self, key: str, ep: int) -> Path:
        row = self._episodes[ep]
        path = self.root / self.info["video_path"].format(
            video_key=key, chunk_index=row[f"videos/{key}/chunk_index"], file_index=row[f"videos/{key}/file_index"]
        )
        if not path.resolve().is_relative_to(self.root.resolve()):  # a video key naming "../.." and the like
            raise ValueError(f"{self.root}: video path {path} of {key!r} lies outside the dataset")
        return path

    def _check_videos(self) -> None:
        """Open every video file and decode its last needed frame (catches missing and truncated files)."""
        last: dict[Path, float] = {}
        for key in self.video_keys:
            for ep in range(self.num_episodes):
                ts = (
                    self._episodes[ep][f"videos/{key}/from_timestamp"] + self._data["timestamp"][self._stops[ep] - 1, 0]
                )
                path = self._video_path(key, ep)
                last[path] = max(last.get(path, 0.0), float(ts))
        for path, ts in last.items():
            self._videos.get(path).frames_at([ts], self.fps)

    # ------------------------------------------------------------------ EpisodeSource

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    @property
    def num_frames(self) -> int:
        return int(self._stops[-1])

    def episode(self, i: int) -> EpisodeInfo:
        if not 0 <= i < self.num_episodes:
            raise IndexError(f"episode {i} out of range [0, {self.num_episodes})")
        row = self._episodes[i]
        start, stop = int(self._starts[i]), int(self._stops[i])
        tasks = list(row["tasks"]) or [self.tasks[int(self._data["task_index"][start, 0])]]
        return EpisodeInfo(index=i, start=start, stop=stop, task=tasks[0], tasks=tasks)

    def column(self, key: str, episode: int) -> np.ndarray:
        """(T, *shape) values of a low-dim feature over one episode (a view, do not modify)."""
        if key not in self._data:
            raise KeyError(f"{key!r} is not a low-dim feature of {self.root} (have {sorted(self._data)})")
        ep = self.episode(episode)
        return self._data[key][ep.start : ep.stop]

    def images(self, camera_key: str, episode: int, frame_indices: Any) -> np.ndarray:
        """Frames of one camera at episode-relative indices: (N, H, W, 3) uint8."""
        ep = self.episode(episode)
        idx = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= ep.length):
            raise IndexError(f"frame indices {idx.tolist()} out of range [0, {ep.length}) of episode {episode}")
        if camera_key in self.image_keys:
            import imageio.v3 as iio

            raw = self._image_bytes[camera_key]
            return np.stack([iio.imread(io.BytesIO(raw[ep.start + int(i)].as_py())) for i in idx])
        if camera_key not in self.video_keys:
            raise KeyError(f"{camera_key!r} is not a camera of {self.root} (have {self.camera_keys})")
        base = self._episodes[episode][f"videos/{camera_key}/from_timestamp"]
        ts = base + self._data["timestamp"][ep.start + idx, 0].astype(np.float64)
        return self._videos.get(self._video_path(camera_key, episode)).frames_at(ts.tolist(), self.fps)

    # ------------------------------------------------------------------ conveniences

    def frame(self, global_index: int, *, with_images: bool = False) -> dict[str, Any]:
        """One frame by global index: low-dim arrays (shape as in info.json), task, indices, timestamp."""
        if not 0 <= global_index < self.num_frames:
            raise IndexError(f"frame {global_index} out of range [0, {self.num_frames})")
        ep = int(np.searchsorted(self._stops, global_index, side="right"))
        out: dict[str, Any] = {}
        for key, arr in self._data.items():
            v = arr[global_index]
            out[key] = v[0].item() if key in meta.INDEX_FEATURES else v
        out["task"] = self.tasks[out["task_index"]]
        if with_images:
            for cam in self.camera_keys:
                out[cam] = self.images(cam, ep, [out["frame_index"]])[0]
        return out

    def stats(self) -> dict[str, dict[str, np.ndarray]] | None:
        """meta/stats.json as numpy arrays, or None when absent."""
        import json

        path = self.root / meta.STATS_PATH
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in raw.items()}

    def close(self) -> None:
        self._videos.clear()

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return (
            f"LeRobotV3Dataset({str(self.root)!r}, episodes={self.num_episodes}, frames={self.num_frames}, "
            f"fps={self.fps}, cameras={self.camera_keys}, embodiment={self.embodiment!r})"
        )
