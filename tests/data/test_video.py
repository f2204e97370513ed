"""Video encoding/decoding: codec choice, quality, random access by timestamp, damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data.data_fixtures import smooth_frames

from hy_vla.data.video import VideoCache, VideoFile, choose_codec, encode_video, psnr, read_all_frames


@pytest.mark.parametrize("codec", ["libsvtav1", "libx264"])
def test_encode_quality_and_random_access(tmp_path: Path, codec: str) -> None:
    frames = smooth_frames(30, 64, 64, 0)
    path = tmp_path / "v.mp4"
    assert encode_video(path, frames, fps=10, codec=codec) == codec
    decoded = read_all_frames(path)
    assert decoded.shape == frames.shape
    quality = psnr(decoded, frames)
    print(f"{codec}: PSNR {quality:.1f} dB vs raw frames")
    assert quality > 33
    vf = VideoFile(path)
    order = [17, 3, 3, 29, 0, 16, 28]  # unsorted, repeated, both ends
    got = vf.frames_at([i / 10 for i in order], fps=10)
    np.testing.assert_array_equal(got, decoded[order])


def test_small_frames_fall_back_to_h264() -> None:
    assert choose_codec(32, 48) == "libx264"


def test_truncated_video_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    encode_video(path, smooth_frames(40, 64, 64, 1), fps=10)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="v.mp4"):
        VideoFile(path).frames_at([3.9], fps=10)


def test_cache_bounds_open_files(tmp_path: Path) -> None:
    cache = VideoCache(max_open=2)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.mp4")
        encode_video(paths[-1], smooth_frames(4, 32, 32, i), fps=10)
    for p in paths:
        cache.get(p)
    assert len(cache._files) == 2 and paths[0] not in cache._files
