"""`hy-vla dataset info DIR` and `hy-vla dataset visualize DIR --episode N --out FILE.mp4`.

Works on LeRobot v3 datasets and HDF5 episode directories (anything `open_source` opens).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="episodes, frames, features with shapes, fps, tasks, embodiment")
    info.add_argument("path", type=Path, help="LeRobot v3 dataset directory or HDF5 episode files")
    info.add_argument(
        "--check", action="store_true", help="also decode every frame of every camera and read every low-dim value"
    )
    viz = sub.add_parser("visualize", help="write one episode's cameras side by side to an mp4")
    viz.add_argument("path", type=Path, help="LeRobot v3 dataset directory or HDF5 episode files")
    viz.add_argument("--episode", type=int, default=0, help="episode index (default 0)")
    viz.add_argument("--out", type=Path, required=True, help="output .mp4 file")
    viz.add_argument("--fps", type=int, default=None, help="playback fps (default: the dataset's)")


def describe(source: object) -> str:
    """A human-readable summary of a data source."""
    lines = [f"path:        {getattr(source, 'root', None) or getattr(source, 'files', ['?'])[0]}"]
    lines.append(f"episodes:    {source.num_episodes}")
    lines.append(f"frames:      {source.num_frames}")
    lines.append(f"fps:         {source.fps}")
    lines.append(f"embodiment:  {source.embodiment}")
    if getattr(source, "robot_type", None):
        lines.append(f"robot_type:  {source.robot_type}")
    lines.append("features:")
    features = getattr(source, "features", None)
    if features is not None:
        for key, ft in features.items():
            names = ft.get("names")
            extra = f"  names={names}" if isinstance(names, list) and len(names) <= 8 else ""
            lines.append(f"  {key:<34} {ft['dtype']:<8} {tuple(ft['shape'])}{extra}")
    else:  # HDF5: shapes from the first episode
        for key in sorted(source._lowdim(0)):  # noqa: SLF001 - HDF5Episodes' column cache
            lines.append(f"  {key:<34} float32  ({source.column(key, 0).shape[1]},)")
        for cam in source.camera_keys:
            lines.append(f"  {cam:<34} image    {source.images(cam, 0, [0]).shape[1:]}")
    tasks = getattr(source, "tasks", None)
    if tasks is None:
        tasks = sorted({source.episode(e).task for e in range(source.num_episodes)})
    lines.append(f"tasks ({len(tasks)}):")
    lines.extend(f"  [{i}] {t}" for i, t in enumerate(tasks[:50]))
    if len(tasks) > 50:
        lines.append(f"  ... {len(tasks) - 50} more")
    return "\n".join(lines)


def check_frames(source: Any) -> int:
    """Decode every frame of every camera and read every low-dim column, episode by episode; ValueError naming
    the episode, camera or column and frame of the first problem (a corrupt video in the middle of a file, a
    truncated file, NaN/inf). -> frames checked."""
    from hy_vla.utils.progress import progress

    lowdim = [k for k, ft in (getattr(source, "features", None) or {}).items() if ft["dtype"] in ("float32", "float64")]
    total = 0
    for ep in progress(range(source.num_episodes), desc="check", unit="ep"):
        n = source.episode(ep).length
        for cam in source.camera_keys:
            try:
                frames = source.images(cam, ep, list(range(n)))
            except Exception as e:  # noqa: BLE001 - any decoder error is the finding
                raise ValueError(f"episode {ep}, {cam}: cannot decode its frames ({type(e).__name__}: {e})") from None
            if len(frames) != n:
                raise ValueError(f"episode {ep}, {cam}: {len(frames)} frames decoded, {n} expected")
        for key in lowdim:
            values = np.asarray(source.column(key, ep), dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(values).reshape(n, -1).all(axis=1))
            if bad.size:
                raise ValueError(f"episode {ep}, {key!r}: NaN/inf at frame {int(bad[0])}")
        total += n
    return total


def visualize(source: object, episode: int, out: Path, fps: int | None = None) -> Path:
    """Write the cameras of one episode side by side (heights matched) to `out` (mp4)."""
    from hy_vla.data.video import VideoEncoder
    from hy_vla.utils.progress import progress as tqdm

    info = source.episode(episode)
    cams = source.camera_keys
    if not cams:
        raise ValueError(f"{getattr(source, 'root', '')}: no camera to visualize")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    enc = None
    try:
        for start in tqdm(range(0, info.length, 64), desc=f"episode {episode}", unit="chunk"):
            idx = np.arange(start, min(start + 64, info.length))
            views = [source.images(c, episode, idx) for c in cams]  # each (N, H, W, 3)
            h = max(v.shape[1] for v in views)
            views = [np.pad(v, ((0, 0), (0, h - v.shape[1]), (0, 0), (0, 0))) for v in views]
            frames = np.concatenate(views, axis=2)  # (N, h, sum W, 3)
            frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]  # yuv420p needs even sizes
            if enc is None:
                enc = VideoEncoder(tmp, fps or source.fps, frames.shape[1], frames.shape[2], codec="libx264")
            enc.write(np.ascontiguousarray(frames))
        enc.close()
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def run(args: argparse.Namespace) -> int:
    from hy_vla.data.loader import open_source

    source = open_source(args.path)
    if args.dataset_command == "info":
        print(describe(source))
        if args.check:
            frames = check_frames(source)
            print(f"check: {frames} frames x {len(source.camera_keys)} cameras decoded, every low-dim value finite")
        return 0
    if not 0 <= args.episode < source.num_episodes:
        print(f"error: --episode {args.episode} out of range [0, {source.num_episodes})")
        return 2
    path = visualize(source, args.episode, args.out, args.fps)
    print(f"wrote {path} ({source.episode(args.episode).length} frames, cameras {source.camera_keys})")
    return 0
