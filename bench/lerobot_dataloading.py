"""LeRobot 0.4.4's side of bench/dataloading.py: LeRobotDataset + torch DataLoader throughput on a v3 dataset.

    .venv-lerobot/bin/python bench/lerobot_dataloading.py --dataset DIR [--k 1 6] [--workers 0 2] [--horizon 10]

Runs inside .venv-lerobot (bench/setup_lerobot.sh). The samples match ours: K frames per camera at consecutive
frame times (delta_timestamps), the current state, H future actions, with LeRobot's own padding masks. Video frames
come from `lerobot_compat.decode_frames_pyav` (torchcodec cannot load on CPU torch here); everything else is
LeRobot's code. Prints one JSON object per line: {"k", "workers", "samples_per_s", "repeats", "decoder"}.

With --stdin it measures on request instead: each input line "K WORKERS SEED" gets one JSON line back (one
timed run), so that bench/dataloading.py can alternate LeRobot's runs with ours under the same machine load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import lerobot_compat  # noqa: E402  (before anything imports torchvision)
import torch  # noqa: E402


def make_dataset(root: Path, k: int, horizon: int, cameras: int):  # noqa: ANN201 - a LeRobotDataset
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    meta = LeRobotDatasetMetadata("local/bench", root=root)
    cams = meta.video_keys[:cameras]
    if len(cams) < cameras:
        raise SystemExit(f"{root}: needs {cameras} video features, has {meta.video_keys}")
    dt = 1.0 / meta.fps
    deltas = {cam: [(i - (k - 1)) * dt for i in range(k)] for cam in cams}  # t-(K-1), ..., t
    deltas["action"] = [i * dt for i in range(horizon)]  # t, ..., t+H-1
    return LeRobotDataset("local/bench", root=root, delta_timestamps=deltas, video_backend="pyav")


def samples_per_s(ds, batch_size: int, batches: int, workers: int, seed: int) -> float:  # noqa: ANN001
    gen = torch.Generator().manual_seed(seed)
    extra = {"persistent_workers": True, "prefetch_factor": 2} if workers else {}
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=True, num_workers=workers, generator=gen, drop_last=True, **extra
    )
    it = iter(loader)
    next(it)  # warm-up: workers started, files opened
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        n += len(next(it)["task"])
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True, help="LeRobot v3 dataset directory")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 6], help="history frames per camera")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts")
    ap.add_argument("--horizon", type=int, default=10, help="future actions per sample")
    ap.add_argument("--cameras", type=int, default=2, help="the first N video features")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--batches", type=int, default=20, help="timed batches per repeat")
    ap.add_argument("--repeats", type=int, default=3, help="the median of this many repeats is reported")
    ap.add_argument("--stdin", action="store_true", help="measure on request: lines 'K WORKERS SEED' on stdin")
    args = ap.parse_args()
    if not (args.dataset / "meta" / "info.json").is_file():
        raise SystemExit(f"{args.dataset}: not a LeRobot v3 dataset (no meta/info.json)")
    native = lerobot_compat.torchcodec_works()
    if not native:
        lerobot_compat.use_decoder(lerobot_compat.decode_frames_pyav)
    decoder = "torchcodec" if native else "pyav-substitute"
    if args.stdin:
        datasets = {}
        print(json.dumps({"ready": True, "decoder": decoder}), flush=True)
        for line in sys.stdin:
            k, workers, seed = (int(x) for x in line.split())
            if k not in datasets:
                datasets[k] = make_dataset(args.dataset, k, args.horizon, args.cameras)
            rate = samples_per_s(datasets[k], args.batch_size, args.batches, workers, seed)
            print(json.dumps({"k": k, "workers": workers, "samples_per_s": rate, "decoder": decoder}), flush=True)
        return
    for k in args.k:
        ds = make_dataset(args.dataset, k, args.horizon, args.cameras)
        for workers in args.workers:
            rates = [samples_per_s(ds, args.batch_size, args.batches, workers, seed) for seed in range(args.repeats)]
            row = {"k": k, "workers": workers, "samples_per_s": statistics.median(rates), "repeats": rates,
                   "decoder": decoder}  # fmt: skip
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
