"""Both-way compatibility with the real LeRobot 0.4.4, run in its own venv (.venv-lerobot).

Skipped when that venv or lerobot is absent (CI on a fresh machine). See lerobot_interop_helper.py
for how LeRobot is driven and what is substituted (only its low-level video frame decoder).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hy_vla.data.lerobot.reader import LeRobotV3Dataset
from hy_vla.data.lerobot.writer import LeRobotV3Writer
from hy_vla.data.video import psnr

HERE = Path(__file__).parent
REPO = HERE.parents[1]
LEROBOT_PY = REPO / ".venv-lerobot" / "bin" / "python"
HELPER = HERE / "lerobot_interop_helper.py"

sys.path.insert(0, str(HERE))
from lerobot_interop_helper import FEATURES, FPS, LENGTHS, TASKS, synthetic_episode  # noqa: E402


def _has_lerobot() -> bool:
    if not LEROBOT_PY.exists():
        return False
    r = subprocess.run([str(LEROBOT_PY), "-c", "import importlib.util as u; exit(u.find_spec('lerobot') is None)"])
    return r.returncode == 0


pytestmark = [pytest.mark.interop, pytest.mark.skipif(not _has_lerobot(), reason="needs .venv-lerobot with lerobot")]


def _run(*args: str) -> None:
    r = subprocess.run([str(LEROBOT_PY), str(HELPER), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"lerobot helper failed:\n{r.stderr[-3000:]}"


def test_lerobot_writes_we_read(tmp_path: Path) -> None:
    root = tmp_path / "lr"
    _run("write", str(root))
    ds = LeRobotV3Dataset(root)
    assert (ds.num_episodes, ds.num_frames, ds.fps) == (len(LENGTHS), sum(LENGTHS), FPS)
    assert ds.tasks == ["pick the cube", "open the drawer"]
    assert ds.camera_keys == ["observation.images.top"]
    for ep, n in enumerate(LENGTHS):
        cols = synthetic_episode(ep, n)
        assert ds.episode(ep).task == TASKS[ep]
        np.testing.assert_array_equal(ds.column("observation.state", ep), cols["observation.state"])
        np.testing.assert_array_equal(ds.column("action", ep), cols["action"])
        imgs = ds.images("observation.images.top", ep, np.arange(n))
        assert imgs.shape == (n, 64, 64, 3)
        assert psnr(imgs, cols["observation.images.top"]) > 30  # AV1 crf 30 of smooth frames: ~39 dB


@pytest.mark.parametrize("resumed", [False, True], ids=["one-go", "checkpointed-and-resumed"])
def test_we_write_lerobot_reads(tmp_path: Path, resumed: bool) -> None:
    """Resumed: a checkpoint after every episode (a data and a video file each) and a resume half-way."""
    root = tmp_path / "ours"
    feats = {k: {**v, "shape": list(v["shape"])} for k, v in FEATURES.items()}
    w = LeRobotV3Writer.create(
        root, fps=FPS, features=feats, robot_type="sim", embodiment="interop_emb", resumable=resumed
    )
    for ep, (n, task) in enumerate(zip(LENGTHS, TASKS, strict=True)):
        w.add_episode(synthetic_episode(ep, n), task)
        if resumed:
            w.checkpoint()
            if ep == 0:
                w.suspend()
                w, _, _ = LeRobotV3Writer.resume(root)
    w.finalize()
    if resumed:
        assert len(list((root / "videos").rglob("*.mp4"))) == len(LENGTHS)
    out = tmp_path / "items.json"
    _run("read", str(root), str(out))
    got = json.loads(out.read_text())
    assert got["meta"]["num_episodes"] == len(LENGTHS) and got["meta"]["num_frames"] == sum(LENGTHS)
    assert got["meta"]["tasks"] == ["pick the cube", "open the drawer"]
    assert "observation.images.top" in got["meta"]["stats_keys"]
    ours = LeRobotV3Dataset(root)
    for item in got["items"]:
        ep, fi = item["episode_index"], item["frame_index"]
        cols = synthetic_episode(ep, LENGTHS[ep])
        assert item["task"] == TASKS[ep]
        assert item["index"] == sum(LENGTHS[:ep]) + fi
        np.testing.assert_array_equal(np.float32(item["observation.state"]), cols["observation.state"][fi])
        np.testing.assert_array_equal(np.float32(item["action"]), cols["action"][fi])
        theirs = np.asarray(item["observation.images.top"], dtype=np.uint8).transpose(1, 2, 0)  # (H, W, 3)
        mine = ours.images("observation.images.top", ep, [fi])[0]
        assert np.abs(theirs.astype(int) - mine.astype(int)).max() <= 1  # same decoded frame
