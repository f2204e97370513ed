"""Data-loading throughput of our sample pipeline against LeRobot 0.4.4's LeRobotDataset, side by side in one run.

    .venv/bin/python bench/dataloading.py [--dataset DIR] [--batches 20] [--workers 0 2] [--no-lerobot]

Without --dataset a synthetic one is written to a temporary directory (2 cameras, 96x96, AV1,
20 episodes x 100 frames). Each configuration (K = 1 and 6 history frames per camera, 2 video cameras,
H = 10 actions, batch 16) is timed after one warm-up batch; the median of `--repeats` runs is printed
(this machine suffers CPU steal). frames/s = decoded camera frames delivered per second (samples/s x K x 2).

The LeRobot side runs bench/lerobot_dataloading.py in .venv-lerobot (bench/setup_lerobot.sh) on the same
dataset: LeRobotDataset with delta_timestamps, torch DataLoader. Caveat, printed with the numbers: LeRobot's
own decoders cannot run here (torchcodec's wheels link CUDA torch; torchvision 0.28 dropped VideoReader), so
its frames come from a PyAV substitute (bench/lerobot_compat.py: seek to the keyframe, decode forward).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

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


BENCH = Path(__file__).resolve().parent
LEROBOT_PY = BENCH.parent / ".venv-lerobot" / "bin" / "python"


class LeRobotSide:
    """bench/lerobot_dataloading.py --stdin in .venv-lerobot: one timed LeRobotDataset run per request."""

    def __init__(self, root: Path, batch_size: int, batches: int) -> None:
        cmd = [str(LEROBOT_PY), str(BENCH / "lerobot_dataloading.py"), "--stdin", "--dataset", str(root),
               "--batch-size", str(batch_size), "--batches", str(batches)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.decoder = self._reply()["decoder"]

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the LeRobot side exited ({self.proc.wait()}); its error is printed above")
        return json.loads(line)

    def measure(self, k: int, workers: int, seed: int) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{k} {workers} {seed}\n")
        self.proc.stdin.flush()
        return float(self._reply()["samples_per_s"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def measure(root: Path, workers: list[int], batch_size: int, batches: int, repeats: int, peer: LeRobotSide | None
            ) -> list[dict[str, Any]]:  # fmt: skip
    """Per (K, workers): `repeats` runs of ours, each followed by one of LeRobot's (same load for both)."""
    from hy_vla.data.loader import make_dataloader, measure_frames_per_second, open_source
    from hy_vla.data.samples import SampleBuilder, SampleConfig

    source = open_source(root)
    cams = tuple(source.camera_keys[:2])
    rows = []
    for k in (1, 6):
        builder = SampleBuilder(source, SampleConfig(cameras=cams, history_frames=k, horizon=10))
        for nw in workers:
            mine, theirs = [], []
            for rep in range(repeats):
                loader = make_dataloader(builder, batch_size, seed=rep, num_workers=nw)
                mine.append(measure_frames_per_second(loader, batches)["samples_per_s"])
                del loader
                if peer is not None:
                    theirs.append(peer.measure(k, nw, rep))
            row = {"k": k, "workers": nw, "ours": statistics.median(mine), "ours_runs": mine,
                   "lerobot": statistics.median(theirs) if theirs else None, "lerobot_runs": theirs}  # fmt: skip
            rows.append(row)
            peer_txt = f", LeRobot {row['lerobot']:.1f}" if theirs else ""
            print(f"  K={k} workers={nw}: hy-vla {row['ours']:.1f}{peer_txt} samples/s", flush=True)
    return rows


def table(rows: list[dict[str, Any]], cams: int) -> str:
    head = "| K | workers | hy-vla samples/s | hy-vla frames/s | LeRobot samples/s | LeRobot frames/s | ratio |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        k, ours_s, theirs = r["k"], r["ours"], r["lerobot"]
        peer_cols = "- | - | -"
        if theirs:
            peer_cols = f"{theirs:,.0f} | {theirs * k * cams:,.0f} | {ours_s / theirs:.2f}x"
        lines.append(f"| {k} | {r['workers']} | {ours_s:,.0f} | {ours_s * k * cams:,.0f} | {peer_cols} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--dataset", type=Path, default=None, help="LeRobot v3 dataset with >= 2 video cameras")
    ap.add_argument("--batches", type=int, default=20, help="timed batches per repeat")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts")
    ap.add_argument("--repeats", type=int, default=3, help="the median of this many runs is reported")
    ap.add_argument("--no-lerobot", action="store_true", help="measure only our pipeline")
    args = ap.parse_args()
    if min(args.batches, args.batch_size, args.repeats) < 1 or min(args.workers) < 0:
        ap.error("--batches, --batch-size and --repeats must be >= 1 and --workers >= 0")
    if args.dataset is not None and not (args.dataset / "meta" / "info.json").is_file():
        ap.error(f"--dataset {args.dataset}: not a LeRobot v3 dataset (no meta/info.json)")
    run_peer = not args.no_lerobot
    if run_peer and not LEROBOT_PY.exists():
        print(f"note: {LEROBOT_PY} not found (bash bench/setup_lerobot.sh makes it): measuring hy-vla only")
        run_peer = False

    from hy_vla.data.loader import open_source

    tmp = None
    root = args.dataset
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = synthetic_dataset(Path(tmp.name) / "ds")
    source = open_source(root)
    if len(source.camera_keys) < 2:
        ap.error(f"{root}: needs 2 video cameras, has {source.camera_keys}")
    print(f"dataset {root}: {source.num_episodes} episodes, {source.num_frames} frames, "
          f"cameras {source.camera_keys[:2]}, batch {args.batch_size}, H=10, median of {args.repeats}")  # fmt: skip
    peer = LeRobotSide(root, args.batch_size, args.batches) if run_peer else None
    try:
        rows = measure(root, args.workers, args.batch_size, args.batches, args.repeats, peer)
    finally:
        if peer is not None:
            peer.close()
    print()
    print(table(rows, cams=2))
    print("ratio = hy-vla samples/s / LeRobot samples/s (same dataset, K, workers, batch; runs alternate)")
    if peer is not None:
        if peer.decoder != "torchcodec":
            print("\ncaveat: LeRobot 0.4.4's own video decoders cannot run on CPU torch here (torchcodec wheels link "
                  "CUDA torch; torchvision 0.28 has no VideoReader), so its frames come from a PyAV substitute "
                  "(bench/lerobot_compat.py). Everything else is LeRobot's LeRobotDataset. Our frames are uint8, "
                  "LeRobot's float32 in [0, 1].")  # fmt: skip
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
