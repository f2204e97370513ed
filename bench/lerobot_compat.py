"""Workarounds that let LeRobot 0.4.4 run on CPU torch 2.13.0 in .venv-lerobot (made by bench/setup_lerobot.sh).

Imported first by every bench script that runs inside that venv; never imported by hy_vla. Nothing in
site-packages is changed: the two substitutions happen in the running process only.

1. `import torchvision` (0.28.0, the only release matching torch 2.13.0, a CUDA build) fails on CPU torch: its C
   extension does not load, and its Python side then registers a fake kernel for `torchvision::nms`, an operator
   nobody defined. Defining the `nms` / `qnms` schemas first (with a plain CPU kernel for nms) makes the import
   and everything LeRobot uses from torchvision (models, transforms) work.
2. LeRobot 0.4.4 decodes video with torchcodec (its wheels link CUDA torch and do not load here) or
   torchvision.io.VideoReader (removed in torchvision 0.28). `use_decoder()` substitutes a decoder with
   LeRobot's contract (frames nearest each timestamp, within tolerance, float32 (N, 3, H, W) in [0, 1]): a
   seeking PyAV decoder (`decode_frames_pyav`) or an in-RAM store of decoded frames (`FrameStore`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

EXPECTED = {"lerobot": "0.4.4", "torch": "2.13.0", "torchvision": "0.28.0"}
_LIB: torch.library.Library | None = None


def _nms_cpu(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression, (N, 4) xyxy boxes -> kept indices by decreasing score. Not on any path
    LeRobot's policies take; present so the operator is callable rather than a stub that crashes."""
    order = torch.argsort(scores, descending=True)
    keep: list[int] = []
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    area = (dets[:, 2] - dets[:, 0]).clamp(min=0) * (dets[:, 3] - dets[:, 1]).clamp(min=0)
    for pos, i in enumerate(order.tolist()):
        if suppressed[pos]:
            continue
        keep.append(i)
        rest = order[pos + 1 :]
        lt = torch.maximum(dets[i, :2], dets[rest, :2])
        rb = torch.minimum(dets[i, 2:], dets[rest, 2:])
        inter = (rb - lt).clamp(min=0).prod(-1)
        iou = inter / (area[i] + area[rest] - inter).clamp(min=1e-12)
        suppressed[pos + 1 :] |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def patch_torchvision() -> None:
    """Define torchvision's nms/qnms operator schemas so that `import torchvision` works on CPU torch."""
    global _LIB
    if _LIB is not None:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - already defined (a working torchvision build): nothing to do
        return
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", _nms_cpu, "CPU")
    _LIB = lib  # the Library object must stay alive for the schemas to stay registered


_OPEN: dict[tuple[int, str], Any] = {}  # (pid, path) -> open PyAV container; containers are not fork-safe


def _container(path: str) -> Any:
    import av

    key = (os.getpid(), path)
    if key not in _OPEN:
        _OPEN[key] = av.open(path)
    return _OPEN[key]


def _nearest(times: np.ndarray, timestamps: list[float], tolerance_s: float, path: str | Path) -> np.ndarray:
    """Index into `times` of the frame nearest each timestamp; raises beyond `tolerance_s` (LeRobot's rule)."""
    idx = np.abs(times[None, :] - np.asarray(timestamps, dtype=np.float64)[:, None]).argmin(1)  # (N,)
    worst = np.abs(times[idx] - np.asarray(timestamps)).max()
    if worst >= tolerance_s:
        raise RuntimeError(f"{path}: a requested frame is {worst:.5f}s from the nearest decoded one (> {tolerance_s})")
    return idx


def decode_frames_pyav(
    video_path: str | Path, timestamps: list[float], tolerance_s: float, backend: str | None = None
) -> torch.Tensor:
    """LeRobot's `decode_video_frames` contract with PyAV: the frames nearest `timestamps` (seconds, file time),
    float32 (N, 3, H, W) in [0, 1]. Keeps one open container per file and process, seeks to the keyframe at or
    before the first timestamp and decodes forward to the last (what torchcodec does, in Python)."""
    path = str(video_path)
    container = _container(path)
    stream = container.streams.video[0]
    first, last = min(timestamps) - tolerance_s, max(timestamps) + tolerance_s
    container.seek(max(0, int(first / stream.time_base)), stream=stream, backward=True, any_frame=False)
    times: list[float] = []
    images: list[np.ndarray] = []
    for frame in container.decode(stream):
        t = float(frame.time)
        if t < first:
            continue
        if t > last:
            break
        times.append(t)
        images.append(frame.to_ndarray(format="rgb24"))  # (H, W, 3) uint8
    if not times:
        raise RuntimeError(f"{path}: no frame between t={first:.4f}s and t={last:.4f}s")
    idx = _nearest(np.asarray(times), timestamps, tolerance_s, path)
    frames = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2)  # (N, 3, H, W) uint8
    return frames.float() / 255.0


class FrameStore:
    """Every frame of every video decoded once into RAM (uint8), answering LeRobot's `decode_video_frames` calls.

    The training side of bench/vs_lerobot.py uses it so that LeRobot's policies train from decoded frames, the way
    hy-vla's demo recipe trains from its in-RAM frame cache: decoding cost stays out of both training budgets.
    """

    def __init__(self) -> None:
        self._videos: dict[str, tuple[np.ndarray, torch.Tensor]] = {}  # path -> (times (T,), frames (T, 3, H, W))

    def load(self, video_path: str | Path) -> None:
        import av

        path = str(video_path)
        if path in self._videos:
            return
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            decoded = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
        if not decoded:
            raise RuntimeError(f"{path}: no decodable video frame")
        times = np.asarray([t for t, _ in decoded])
        frames = torch.from_numpy(np.stack([im for _, im in decoded])).permute(0, 3, 1, 2).contiguous()
        self._videos[path] = (times, frames)

    @property
    def num_bytes(self) -> int:
        return sum(f.numel() for _, f in self._videos.values())

    def __call__(
        self, video_path: str | Path, timestamps: list[float], tolerance_s: float, backend: str | None = None
    ) -> torch.Tensor:
        path = str(video_path)
        if path not in self._videos:
            self.load(path)
        times, frames = self._videos[path]
        return frames[torch.from_numpy(_nearest(times, timestamps, tolerance_s, path))].float() / 255.0


def torchcodec_works() -> bool:
    """True when LeRobot's default decoder (torchcodec) can be imported here."""
    try:
        import torchcodec.decoders  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure (missing, CUDA-linked wheel, missing FFmpeg) means "no"
        return False
    return True


def use_decoder(decoder: Callable[..., torch.Tensor] = decode_frames_pyav) -> None:
    """Make LeRobotDataset decode video frames with `decoder` (default: `decode_frames_pyav`); everything else
    (metadata, parquet, delta timestamps, padding masks, timestamp arithmetic) stays LeRobot's own code."""
    import lerobot.datasets.lerobot_dataset as lds

    lds.decode_video_frames = decoder


def check_versions() -> None:
    """Raise unless LeRobot's dataset and policy modules import and lerobot, torch and torchvision are the versions
    the benchmarks were written against."""
    import importlib.metadata as md

    patch_torchvision()
    import lerobot.datasets.lerobot_dataset  # noqa: F401
    import lerobot.policies.factory  # noqa: F401  (pulls in everything the policies need, pyserial included)
    import torchvision  # noqa: F401

    for name, want in EXPECTED.items():
        got = md.version(name).split("+")[0]
        if got != want:
            raise RuntimeError(f"{name} {got} installed, bench scripts expect {want}: rerun bench/setup_lerobot.sh")


patch_torchvision()
