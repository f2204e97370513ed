"""Helper run under the separate LeRobot 0.4.4 venv (.venv-lerobot) by test_lerobot_interop.py.

    python lerobot_interop_helper.py write ROOT      # LeRobot writes a small dataset at ROOT
    python lerobot_interop_helper.py read ROOT OUT   # LeRobot loads ROOT, dumps items to OUT (JSON)

Never imported by hy_vla. The torchvision workaround below (op schemas defined before the import,
because the only torchvision wheel matching torch 2.13 is a CUDA build whose C extension does not
load on CPU torch) lives here, in a test helper, and nowhere in the package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch


def _patch_torchvision() -> None:
    lib = torch.library.Library("torchvision", "DEF")  # noqa: F841 - keeps the schemas alive
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _patch_torchvision.lib = lib  # type: ignore[attr-defined]


def _patch_video_decoder() -> None:
    """LeRobot 0.4.4 decodes with torchcodec (its CPU-torch wheels do not load here: they link CUDA
    torch) or torchvision.io.VideoReader (removed in torchvision 0.28). Substitute a plain PyAV
    decoder with LeRobot's contract: frames nearest each timestamp within tolerance, float32 (N, 3,
    H, W) in [0, 1]. Everything else (metadata, parquet, timestamp arithmetic) stays LeRobot's."""
    import av
    import lerobot.datasets.lerobot_dataset as lds

    def decode(video_path, timestamps, tolerance_s, backend=None):  # noqa: ANN001, ANN202
        with av.open(str(video_path)) as c:
            frames = [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
        times = np.array([t for t, _ in frames])
        out = []
        for ts in timestamps:
            i = int(np.argmin(np.abs(times - ts)))
            if abs(times[i] - ts) >= tolerance_s:
                raise RuntimeError(f"{video_path}: no frame within {tolerance_s}s of {ts}")
            out.append(torch.from_numpy(frames[i][1]).permute(2, 0, 1).float() / 255.0)
        return torch.stack(out)

    lds.decode_video_frames = decode


def synthetic_episode(ep: int, length: int, h: int = 64, w: int = 64) -> dict[str, np.ndarray]:
    """Deterministic smooth frames and low-dim columns; the test rebuilds the same arrays."""
    t = np.arange(length, dtype=np.float32)
    state = np.stack([np.sin(0.1 * t + ep), np.cos(0.1 * t + ep), 0.01 * t + ep], -1).astype(np.float32)
    action = np.stack([np.cos(0.2 * t - ep), 0.5 * np.sin(0.3 * t) + ep], -1).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    imgs = []
    for i in range(length):
        cx, cy = w / 2 + 12 * np.cos(0.2 * i + ep), h / 2 + 12 * np.sin(0.2 * i + ep)
        blob = 200 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 60.0)
        img = np.stack([blob + 30, 0.5 * xx / w * 255, 0.5 * yy / h * 255 + 40 * ep], -1)
        imgs.append(np.clip(img, 0, 255).astype(np.uint8))
    return {"observation.state": state, "action": action, "observation.images.top": np.stack(imgs)}


FEATURES = {
    "observation.state": {"dtype": "float32", "shape": (3,), "names": ["x", "y", "z"]},
    "action": {"dtype": "float32", "shape": (2,), "names": ["a0", "a1"]},
    "observation.images.top": {"dtype": "video", "shape": (64, 64, 3), "names": ["height", "width", "channels"]},
}
LENGTHS = [12, 9, 15]
TASKS = ["pick the cube", "open the drawer", "pick the cube"]
FPS = 10


def write(root: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset.create("local/interop", fps=FPS, features=FEATURES, root=root, use_videos=True)
    for ep, (n, task) in enumerate(zip(LENGTHS, TASKS, strict=True)):
        cols = synthetic_episode(ep, n)
        for i in range(n):
            ds.add_frame({k: v[i] for k, v in cols.items()} | {"task": task})
        ds.save_episode(parallel_encoding=False)
    ds.finalize()


def read(root: Path, out: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    _patch_video_decoder()
    ds = LeRobotDataset("local/interop", root=root, video_backend="pyav")
    items = []
    for idx in range(len(ds)):
        it = ds[idx]
        row = {"task": it["task"]}
        for k, v in it.items():
            if isinstance(v, torch.Tensor):
                row[k] = v.tolist() if not k.startswith("observation.images.") else (v * 255).round().byte().tolist()
        items.append(row)
    meta = {
        "num_episodes": ds.num_episodes,
        "num_frames": ds.num_frames,
        "fps": ds.fps,
        "camera_keys": ds.meta.camera_keys,
        "tasks": list(ds.meta.tasks.index),
        "stats_keys": sorted(ds.meta.stats) if ds.meta.stats is not None else None,
    }
    out.write_text(json.dumps({"meta": meta, "items": items}))


if __name__ == "__main__":
    _patch_torchvision()
    cmd = sys.argv[1]
    if cmd == "write":
        write(Path(sys.argv[2]))
    elif cmd == "read":
        read(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit(f"unknown command {cmd!r}")
