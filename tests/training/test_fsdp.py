"""FSDP2 (fully_shard) training through torchrun on CPU (gloo, 2 processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from training.test_ddp import SMALL, _losses
from training.training_helpers import write_tiny_dataset

from hy_vla.models.hy_vla import HyVLA
from hy_vla.training.sharding import CPU_FSDP_TORCH
from hy_vla.utils.versions import release

# Below CPU_FSDP_TORCH the trainer refuses FSDP on CPU with one line (tests/training/test_sharding.py).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(release(torch.__version__) < release(CPU_FSDP_TORCH), reason="FSDP on CPU needs torch 2.7"),
]

# Constant learning rate (min_lr == lr): a run stopped at step 8 and resumed to 16 follows the same schedule
# as one run of 16. EMA and accumulation on, so their sharded paths are exercised too.
FSDP = ["--batch-size", "16", "--save-every", "8", "--lr", "1e-3", "--set", "min_lr=1e-3", "--set", "ema_decay=0.9",
        "--set", "grad_accum=2", "--set", "parallel=fsdp", *SMALL]  # fmt: skip


def _torchrun(args: list[str], out) -> str:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "hy_vla.cli.main", "train", *args, "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _files(ckpt) -> dict[str, torch.Tensor]:
    files = {name: load_file(ckpt / f"{name}.safetensors") for name in ("model", "training_state")}
    return {f"{name}:{k}": v for name, tensors in files.items() for k, v in tensors.items()}


def test_fsdp_trains_like_ddp_saves_full_checkpoints_and_resumes_exactly(tmp_path):
    data = write_tiny_dataset(tmp_path / "data", episodes=4, length=16, size=16)
    base = ["--preset", "hy-vla-tiny", "--dataset", str(data)]
    _torchrun([*base, "--steps", "16", *FSDP], tmp_path / "fsdp")
    _torchrun([*base, "--steps", "16", *FSDP, "--set", "parallel=ddp"], tmp_path / "ddp")
    fsdp, ddp = _losses(tmp_path / "fsdp"), _losses(tmp_path / "ddp")
    assert len(fsdp) == 16
    # Same samples, same noise per rank, gradients averaged over ranks either way: only the reduction
    # order differs (measured: equal to 5 decimals for 14 steps, weights within 2e-5).
    torch.testing.assert_close(torch.tensor(fsdp), torch.tensor(ddp), rtol=1e-3, atol=1e-4)
    assert sum(fsdp[-4:]) < sum(fsdp[:4])  # and it trains
    ckpts = sorted(p.name for p in (tmp_path / "fsdp" / "checkpoints").iterdir() if p.name.isdigit())
    assert ckpts == ["16", "8"]  # written once (rank 0)
    last = tmp_path / "fsdp" / "checkpoints" / "16"
    ddp_weights = load_file(tmp_path / "ddp" / "checkpoints" / "16" / "model.safetensors")
    for k, v in load_file(last / "model.safetensors").items():  # full tensors, not shards
        torch.testing.assert_close(v, ddp_weights[k], rtol=0, atol=1e-3)

    # A plain model directory: loads and predicts in a single process.
    model = HyVLA.from_pretrained(last).eval()
    batch = {"observation.images.top": torch.zeros(1, 1, 3, 16, 16, dtype=torch.uint8), "task": ["pick the cube"],
             "observation.state": torch.zeros(1, 3)}  # fmt: skip
    assert torch.isfinite(model.forward_evaluate(batch)["pred"]).all()

    # Stopped at step 8 and resumed under FSDP: the same files, bit for bit (weights, moments, EMA, RNG).
    _torchrun([*base, "--steps", "8", *FSDP], tmp_path / "resumed")
    out = _torchrun(["--steps", "16"], tmp_path / "resumed")
    assert out.splitlines()[0] == "resuming from step 8"
    expected, got = _files(last), _files(tmp_path / "resumed" / "checkpoints" / "16")
    assert expected.keys() == got.keys()
    assert [k for k in expected if not torch.equal(expected[k], got[k])] == []

    # The same files resume in a single process (the layout does not depend on how the run was split).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "hy_vla.cli.main", "train", "--out", str(tmp_path / "fsdp"), "--steps", "17"]
    single = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=True)
    assert single.stdout.splitlines()[0] == "resuming from step 16"
    assert (tmp_path / "fsdp" / "checkpoints" / "17" / "COMPLETE").is_file()
