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


_FORK_AFTER_GARBAGE = """
import gc, multiprocessing, sys
import numpy as np
from hy_vla.data.video import VideoFile, encode_video

gc.disable()  # keep the parent's cyclic garbage alive until the child runs the collector
path = sys.argv[1]
encode_video(path, (np.arange(30 * 64 * 64 * 3) % 251).astype(np.uint8).reshape(30, 64, 64, 3), fps=10)
for _ in range(3):
    vf = VideoFile(path)
    vf.frames_at([0.5, 1.0], fps=10)
    cycle = {"video": vf, "frames": list(vf._container.decode(video=0))[:2]}
    cycle["self"] = cycle
del vf, cycle
child = multiprocessing.get_context("fork").Process(target=gc.collect)
child.start()
child.join(timeout=20)
if child.is_alive():
    child.kill()
    sys.exit("the forked child hung collecting the parent's garbage")
sys.exit(child.exitcode)
"""


def test_forked_child_collecting_inherited_video_garbage_finishes(tmp_path: Path) -> None:
    """A DataLoader worker forked from a process holding PyAV garbage must not hang or crash in gc."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FORK_AFTER_GARBAGE, str(tmp_path / "v.mp4")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
