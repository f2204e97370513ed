"""Write evaluation videos as H.264 mp4 with PyAV (which bundles its own FFmpeg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_mp4(path: str | Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Encode uint8 (H, W, 3) RGB frames to `path`; odd sides are padded by one pixel (yuv420p needs even)."""
    import av

    if len(frames) == 0:
        raise ValueError(f"no frames to write to {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    ph, pw = h + h % 2, w + w % 2
    tmp = path.with_name(path.name + ".part")  # never leave a truncated video under the final name
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=max(1, round(fps)))
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for frame in frames:
            if frame.shape[:2] != (h, w):
                raise ValueError(f"frame size changed within a video: {frame.shape[:2]} vs {(h, w)}")
            if (ph, pw) != (h, w):
                frame = np.pad(frame, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            packet = stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24"))
            container.mux(packet)
        container.mux(stream.encode())  # flush
    tmp.replace(path)
    return path
