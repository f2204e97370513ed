"""Data-loading throughput (samples/s) of our sample pipeline on a video LeRobot v3 dataset.

    .venv/bin/python bench/dataloading.py [--dataset DIR] [--batches 20] [--workers 0 2]

Without --dataset a synthetic one is written to a temporary directory (2 cameras, 96x96, AV1,
20 episodes x 100 frames). Each configuration (K = 1 and 6 history frames, H = 10 actions) is
timed after one warm-up batch; the median of 3 repeats is printed (this machine suffers CPU steal).

LeRobot 0.4.4 as a peer: its own video decoding cannot run here (torchcodec's CPU-torch wheels link
CUDA torch, and torchvision 0.28 dropped VideoReader), so no like-for-like number is printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np


def synthetic_dataset(root: Path, episodes: int = 20, length: int = 100, size: int = 96) -> Path:
    from hy_vla.data.lerobot.writer import LeRobotV3Writer

    feats = {
        "observation.images.cam_a": {"dtype": "video", "shape": [size, size, 3], "names": None},
        "observation.images.cam_b": {"dtype": "video", "shape": [size, size, 3], "names": None},
        "observation.state": {"dtype": "float32", "shape": [8], "names": None},
        "action": {"dtype": "float32", "shape": [7], "names": None},
    }
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    w = LeRobotV3Writer.create(root, fps=20, features=feats, embodiment="bench")
    for ep in range(episodes):
        t = np.arange(length)[:, None, None]
        cx = size / 2 + size / 4 * np.cos(0.1 * t + ep)
        blob = 200 * np.exp(-((xx - cx) ** 2 + (yy - size / 2) ** 2) / 80.0)  # (T, H, W)
        img = np.clip(np.stack([blob + 30, np.broadcast_to(xx * 2, blob.shape), blob * 0.5], -1), 0, 255)
        img = img.astype(np.uint8)
        w.add_episode(
            {
                "observation.images.cam_a": img,
                "observation.images.cam_b": img[:, ::-1].copy(),
                "observation.state": rng.normal(size=(length, 8)).astype(np.float32),
                "action": rng.normal(size=(length, 7)).astype(np.float32),
            },
            task=f"task {ep % 4}",
        )
    return w.finalize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = ap.parse_args()

    from hy_vla.data.loader import make_dataloader, measure_frames_per_second, open_source
    from hy_vla.data.samples import SampleBuilder, SampleConfig

    tmp = None
    root = args.dataset
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = synthetic_dataset(Path(tmp.name) / "ds")
    source = open_source(root)
    cams = tuple(source.camera_keys[:2])
    print(f"dataset {root}: {source.num_episodes} episodes, {source.num_frames} frames, cameras {cams}")
    print(f"{'K':>3} {'workers':>8} {'samples/s':>10} {'frames/s':>10}")
    for k in (1, 6):
        builder = SampleBuilder(source, SampleConfig(cameras=cams, history_frames=k, horizon=10))
        for nw in args.workers:
            rates = []
            for rep in range(3):
                loader = make_dataloader(builder, args.batch_size, seed=rep, num_workers=nw)
                rates.append(measure_frames_per_second(loader, args.batches)["samples_per_s"])
                del loader
            med = statistics.median(rates)
            print(f"{k:>3} {nw:>8} {med:>10.1f} {med * k * len(cams):>10.1f}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
