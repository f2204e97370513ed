"""MP4 video encoding and timestamp-based frame decoding with PyAV.

Encoding follows LeRobot v3's defaults so the files we write look like the files
LeRobot writes: AV1 through `libsvtav1` (preset 12, crf 30), yuv420p, a keyframe
every `gop` frames (default 2). When PyAV's bundled FFmpeg has no `libsvtav1`
(or the frame is smaller than SVT-AV1 accepts), we fall back to H.264 (`libx264`,
crf 23, no B-frames so presentation order equals decode order).

Why a GOP of 2: training reads short, random windows of frames. Decoding frame n
costs decoding from the keyframe at or before n, so with a keyframe every 2 frames
a random frame costs at most 2 decodes. The size penalty of frequent keyframes is
small at the 64-256 px resolutions robot datasets use. Measured on 64x64 synthetic
moving-gradient frames (tests/data/test_video.py prints it): PSNR vs raw frames is
~40 dB for AV1 crf 30 (LeRobot reports ~33 dB on 96x96 Meta-World renders).

Decoding: one `VideoFile` per mp4 keeps its container open (cache them per worker
process: a container must never cross a fork). A request for several timestamps
seeks once to the keyframe at or before the earliest one and decodes forward,
seeking again only when the next wanted frame is further ahead than a few GOPs.

Our own DataLoader workers start from a fork server (`hy_vla.data.loader.worker_context`) and
receive caches pickled empty. Forked children (a DataLoader built with torch's default fork start)
must never free a PyAV object made by the parent: its scaler and decoder own thread pools that do
not exist in the child, and freeing them waits forever on the pool's condition variable (or
crashes). Two paths lead there: a cache dropping the parent's containers (see `VideoCache`) and the
cyclic garbage collector sweeping up the parent's garbage; the fork hook below freezes everything
the child inherits, so the collector only ever frees objects the child made itself.
"""

from __future__ import annotations

import gc
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

DEFAULT_GOP = 2  # keyframe interval in frames (LeRobot's `g=2`)
AV1_CRF = 30  # LeRobot's default
H264_CRF = 23
SVTAV1_MIN_SIDE = 64  # SVT-AV1 refuses smaller frames in some builds; use H.264 below this
_SEEK_AHEAD_FRAMES = 8  # decode forward instead of seeking when the target is this close

os.register_at_fork(after_in_child=gc.freeze)


def available_codec() -> str:
    """The encoder we use: libsvtav1 when PyAV's FFmpeg has it, else libx264."""
    return "libsvtav1" if "libsvtav1" in av.codecs_available else "libx264"


def _codec_options(codec: str, gop: int) -> dict[str, str]:
    if codec == "libsvtav1":
        return {"g": str(gop), "crf": str(AV1_CRF), "preset": "12"}
    if codec == "libx264":
        return {"g": str(gop), "crf": str(H264_CRF), "bf": "0", "preset": "veryfast"}
    raise ValueError(f"unsupported video codec {codec!r} (expected libsvtav1 or libx264)")


def choose_codec(height: int, width: int, codec: str | None = None) -> str:
    """Pick the encoder for frames of this size (H.264 for tiny frames or when AV1 is missing)."""
    if codec is not None:
        return codec
    if available_codec() == "libsvtav1" and min(height, width) >= SVTAV1_MIN_SIDE:
        return "libsvtav1"
    return "libx264"


class VideoEncoder:
    """Streams RGB frames into one mp4; frame i gets timestamp `(start_frame + i) / fps`.

    The file is written at `path` as frames arrive (an encoder per open video file);
    `close()` flushes it. Several episodes may go into one file back to back: their
    timestamps continue, which is exactly what LeRobot's concatenation produces.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: int,
        height: int,
        width: int,
        codec: str | None = None,
        gop: int = DEFAULT_GOP,
    ) -> None:
        if height % 2 or width % 2:
            raise ValueError(f"{path}: yuv420p video needs even height and width, got {height}x{width}")
        # SVT-AV1 prints its banner on stderr at every encoder start; keep errors only unless asked.
        os.environ.setdefault("SVT_LOG", "1")
        self.path = Path(path)
        self.fps = int(fps)
        self.height, self.width = height, width
        self.codec = choose_codec(height, width, codec)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream(self.codec, rate=self.fps, options=_codec_options(self.codec, gop))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = Fraction(1, self.fps)
        self.num_frames = 0

    def write(self, frames: np.ndarray) -> None:
        """Append frames: (N, H, W, 3) or (H, W, 3) uint8 RGB."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(
                f"{self.path}: expected uint8 frames (N, {self.height}, {self.width}, 3), "
                f"got {frames.dtype} {frames.shape}"
            )
        for img in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = self.num_frames
            frame.time_base = Fraction(1, self.fps)
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.num_frames += 1

    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None


def encode_video(
    path: str | os.PathLike, frames: np.ndarray, fps: int, codec: str | None = None, gop: int = DEFAULT_GOP
) -> str:
    """Encode (T, H, W, 3) uint8 frames into `path`; return the codec used."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{path}: expected frames (T, H, W, 3), got {frames.shape}")
    enc = VideoEncoder(path, fps, frames.shape[1], frames.shape[2], codec=codec, gop=gop)
    try:
        enc.write(frames)
    finally:
        enc.close()
    return enc.codec


class VideoFile:
    """An open mp4 that returns frames by timestamp (seconds from the start of the file)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"video file not found: {self.path}")
        try:
            self._container = av.open(str(self.path), mode="r")
            self._stream = self._container.streams.video[0]
        except (av.error.FFmpegError, IndexError) as e:
            raise ValueError(f"{self.path}: not a readable video file ({e})") from None
        # No codec threading: frame threads add latency to every seek, and the parallelism comes from
        # DataLoader workers. (Threads inherited through fork would also deadlock on close.)
        self.time_base = self._stream.time_base
        rate = self._stream.average_rate or self._stream.base_rate
        self.fps = float(rate) if rate else None
        self.height, self.width = self._stream.codec_context.height, self._stream.codec_context.width
        self._iter: Iterator[av.VideoFrame] | None = None
        self._last_index: int | None = None  # frame index (round(t * fps)) of the last decoded frame
        self._last_frame: np.ndarray | None = None  # (H, W, 3) uint8, that frame

    def close(self) -> None:
        self._container.close()

    def _decode_from(self, seconds: float) -> Iterator[av.VideoFrame]:
        # Seek lands on the keyframe at or before the target (backward=True), then we decode forward.
        self._container.seek(max(0, int(seconds / self.time_base)), stream=self._stream, backward=True, any_frame=False)
        return self._container.decode(self._stream)

    def frames_at(self, timestamps: Sequence[float], fps: float) -> np.ndarray:
        """Frames at `timestamps` (seconds, file time): (N, H, W, 3) uint8, in the order asked.

        A decoded frame matches a request when both round to the same frame index at `fps`
        (timestamps are multiples of 1/fps by construction in LeRobot datasets).
        """
        targets = [round(float(t) * fps) for t in timestamps]
        out = np.empty((len(targets), self.height, self.width, 3), dtype=np.uint8)
        for want in sorted(set(targets)):
            try:
                if self._last_index != want:
                    near = self._iter is not None and self._last_index is not None
                    if not (near and self._last_index < want <= self._last_index + _SEEK_AHEAD_FRAMES):
                        self._iter = self._decode_from(want / fps)
                    self._advance_to(want, fps)
            except av.error.FFmpegError as e:
                self._iter, self._last_index = None, None
                raise ValueError(f"{self.path}: decoding failed near t={want / fps:.3f}s ({e})") from None
            for i, t in enumerate(targets):
                if t == want:
                    out[i] = self._last_frame
        return out

    _last_frame: np.ndarray | None = None

    def _advance_to(self, want: int, fps: float) -> None:
        assert self._iter is not None
        for frame in self._iter:
            idx = round(float(frame.time) * fps) if frame.time is not None else -1
            if idx < want:
                continue
            self._last_index = idx
            self._last_frame = frame.to_ndarray(format="rgb24")
            if idx > want:
                # The wanted frame is missing (truncated or corrupt file, or wrong timestamps).
                self._iter, self._last_index = None, None
                raise ValueError(f"{self.path}: no frame at t={want / fps:.4f}s (next frame is t={idx / fps:.4f}s)")
            return
        self._iter, self._last_index = None, None
        raise ValueError(f"{self.path}: no frame at t={want / fps:.4f}s (the video ends before it; truncated file?)")


_FORK_INHERITED: list[object] = []  # containers inherited from a parent process, never touched


class VideoCache:
    """At most `max_open` open `VideoFile`s, least recently used closed first.

    Keep one cache per process (worker): PyAV containers are not fork-safe.
    """

    def __init__(self, max_open: int = 16) -> None:
        self.max_open = max_open
        self._files: OrderedDict[Path, VideoFile] = OrderedDict()
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, object]:
        # Pickled into a worker process: open containers cannot travel; the worker opens its own.
        return {"max_open": self.max_open}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.max_open, self._files, self._pid = state["max_open"], OrderedDict(), os.getpid()

    def get(self, path: str | os.PathLike) -> VideoFile:
        if os.getpid() != self._pid:
            # Inherited through fork: the parent's containers are not ours to use or close (closing
            # them here could wait on codec state of the parent). Keep them referenced, unused.
            _FORK_INHERITED.append(self._files)
            self._files = OrderedDict()
            self._pid = os.getpid()
        path = Path(path)
        vf = self._files.pop(path, None)
        if vf is None:
            vf = VideoFile(path)
            while len(self._files) >= self.max_open:
                self._files.popitem(last=False)[1].close()
        self._files[path] = vf
        return vf

    def clear(self) -> None:
        for vf in self._files.values():
            vf.close()
        self._files.clear()


def read_all_frames(path: str | os.PathLike) -> np.ndarray:
    """Every frame of a video, (T, H, W, 3) uint8 (tests, visualization)."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays of equal shape."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def video_stream_info(path: str | os.PathLike) -> dict[str, object]:
    """LeRobot's per-video `info` block of meta/info.json (keys `video.*`, `has_audio`)."""
    from hy_vla.utils.versions import require

    require("av", "writing a dataset's video metadata")
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pix = s.pix_fmt or s.codec_context.pix_fmt
        return {
            "video.height": s.height,
            "video.width": s.width,
            "video.codec": s.codec_context.codec.canonical_name,
            "video.pix_fmt": pix,
            "video.is_depth_map": False,
            "video.fps": int(s.base_rate),
            "video.channels": 1 if "gray" in pix else 4 if ("rgba" in pix or "yuva" in pix) else 3,
            "has_audio": len(c.streams.audio) > 0,
        }
