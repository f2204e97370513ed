"""Data parallel training through torchrun on CPU (gloo, 2 processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from training.training_helpers import write_tiny_dataset

from hy_vla.models.hy_vla import HyVLA

pytestmark = pytest.mark.slow

SMALL = ["--set", "model.vision.depth=1", "--set", "model.backbone.depth=2", "--set", "model.history_frames=1",
         "--set", "model.horizon=4", "--set", "model.action_stride=1", "--set", "log_every=1", "--set",
         "warmup_steps=0"]  # fmt: skip


def _train(args: list[str], out, nproc: int) -> None:
    cmd = [sys.executable, "-m", "hy_vla.cli.main", "train", *args, "--out", str(out)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "hy_vla.cli.main", "train", *args, "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=600)


def _losses(out) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    return [e.value for e in acc.Scalars("train/loss")]


def test_ddp_matches_single_process_and_saves_a_loadable_checkpoint(tmp_path):
    data = write_tiny_dataset(tmp_path / "data", episodes=4, length=16, size=16)
    args = ["--preset", "hy-vla-tiny", "--dataset", str(data), "--steps", "40", "--batch-size", "8",
            "--save-every", "20", "--lr", "1e-3", *SMALL]  # fmt: skip
    _train(args, tmp_path / "single", 1)
    _train(args, tmp_path / "ddp", 2)
    single, ddp = _losses(tmp_path / "single"), _losses(tmp_path / "ddp")
    assert len(single) == len(ddp) == 40
    # Same samples per global batch; the flow noise is drawn per rank, so the curves agree in expectation:
    # the mean loss of the last 10 steps within 25%, and both fall from their start.
    s, d = sum(single[-10:]) / 10, sum(ddp[-10:]) / 10
    assert abs(s - d) / s < 0.25, (s, d)
    assert d < sum(ddp[:5]) / 5
    ckpts = sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir() if p.name.isdigit())
    assert ckpts == ["20", "40"]  # written once (rank 0), not once per rank
    model = HyVLA.from_pretrained(tmp_path / "ddp" / "checkpoints" / "40")  # loads in a single process
    assert model.config.horizon == 4
