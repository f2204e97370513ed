"""A run killed with SIGKILL mid-run and resumed ends with the same bits as an uninterrupted run (CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from hy_vla.training.checkpointing import latest_checkpoint

ROOT = Path(__file__).resolve().parents[2]
STEPS = 6


def _start(out: Path, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "training.training_helpers", str(out), str(STEPS), str(sleep)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    return stdout


def test_sigkill_then_resume_is_bit_identical(tmp_path) -> None:
    straight = _start(tmp_path / "straight", sleep=0.0)  # both runs in parallel: the test takes one run's time
    killed = _start(tmp_path / "killed", sleep=0.4)
    deadline = time.monotonic() + 90
    while (ckpt := latest_checkpoint(tmp_path / "killed")) is None or int(ckpt.name) < 2:
        assert killed.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    stopped_at = int(latest_checkpoint(tmp_path / "killed").name)
    assert 2 <= stopped_at < STEPS

    out = _finish(_start(tmp_path / "killed", sleep=0.0))
    assert out.splitlines()[0] == f"resuming from step {stopped_at}"
    _finish(straight)

    a_dir, b_dir = (tmp_path / run / "checkpoints" / str(STEPS) for run in ("straight", "killed"))
    for name in ("model.safetensors", "training_state.safetensors"):
        a, b = load_file(str(a_dir / name)), load_file(str(b_dir / name))
        assert a.keys() == b.keys()
        for key in a:  # weights, Adam moments, EMA, and the restored RNG states
            assert torch.equal(a[key], b[key]), f"{name}: {key} differs"
