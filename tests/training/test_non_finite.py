"""A run whose loss turns NaN/inf stops with an error (exit code 1) before the weights are touched; damaged
training states, NaN samples and absurd magnitudes are refused with a clear error instead of training on."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from model_fixtures import micro_config
from safetensors.torch import load_file, save_file
from training.training_helpers import micro_samples, write_tiny_dataset

from hy_vla.cli.main import main
from hy_vla.data.norm_stats import FeatureStats
from hy_vla.data.running_stats import RunningStats
from hy_vla.models.hy_vla import HyVLA
from hy_vla.training import TrainConfig, Trainer
from hy_vla.training.batches import ListDataset
from hy_vla.training.checkpointing import STATE_TENSORS, latest_checkpoint, read_checkpoint
from hy_vla.utils.errors import TrainingDiverged


def _config(tmp_path, **kw) -> TrainConfig:
    base = dict(out_dir=str(tmp_path), steps=4, batch_size=2, warmup_steps=1, save_every=1, tensorboard=False,
                device="cpu", log_every=1)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def _poisoned(cfg, n: int, bad_from: int) -> ListDataset:
    samples = list(micro_samples(cfg, n))
    for s in samples[bad_from:]:
        s["action"] = s["action"] * 1e30  # its square is inf in float32
    return ListDataset(samples)


def test_diverging_run_stops_before_the_update_and_keeps_finite_checkpoints(tmp_path) -> None:
    cfg = micro_config()
    torch.manual_seed(0)
    model = HyVLA(cfg)
    # sequential order is not guaranteed, so every sample after the first batch's worth is poisoned: steps 1-2 fine
    trainer = Trainer(model, _config(tmp_path, steps=6), _poisoned(cfg, 8, 0))
    with pytest.raises(TrainingDiverged, match="diverged at step 1"):
        trainer.fit()
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())  # the update never happened
    assert latest_checkpoint(tmp_path) is None


def test_diverging_run_names_the_last_finite_checkpoint(tmp_path) -> None:
    cfg = micro_config()
    model = HyVLA(cfg)
    Trainer(model, _config(tmp_path, steps=1), micro_samples(cfg, 4)).fit()
    trainer = Trainer(model, _config(tmp_path, steps=3), _poisoned(cfg, 4, 0))
    with pytest.raises(TrainingDiverged, match=r"checkpoints/1\) holds finite weights"):
        trainer.fit()
    resumed = read_checkpoint(latest_checkpoint(tmp_path))
    assert resumed.step == 1 and all(bool(torch.isfinite(v).all()) for v in resumed.state.weights.values())


def test_corrupted_optimizer_state_is_named_when_read(tmp_path) -> None:
    cfg = micro_config()
    Trainer(HyVLA(cfg), _config(tmp_path, steps=2), micro_samples(cfg, 4)).fit()
    path = latest_checkpoint(tmp_path) / STATE_TENSORS
    tensors = load_file(str(path))
    name = next(k for k in tensors if k.endswith("exp_avg_sq"))
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(path))
    (path.parent / "checksums.json").unlink()  # as if saved that way (a diverged state has matching checksums)
    with pytest.raises(ValueError, match=rf"{path}: tensor '{name}' holds NaN/inf"):
        read_checkpoint(latest_checkpoint(tmp_path))


def test_running_stats_and_norm_stats_refuse_absurd_magnitudes() -> None:
    with pytest.raises(ValueError, match=r"beyond \+-1e\+18 in channels \[1\]"):
        RunningStats(2).update(np.array([[0.0, 1e30], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="'max' is beyond"):
        FeatureStats(mode="min_max", count=2, min=[0.0], max=[1e30])
    RunningStats(2).update(np.array([[0.0, 1e6], [1.0, -2e9]]))  # large robot units (encoder ticks) are fine


@pytest.fixture()
def small_args():
    return ["--set", "model.vision.image_size=16", "--set", "model.history_frames=1", "--set", "model.horizon=4",
            "--batch-size", "2", "--steps", "2", "--preset", "hy-vla-tiny"]  # fmt: skip


def test_cli_exits_nonzero_on_a_dataset_with_nan_actions(tmp_path, small_args, capsys) -> None:
    import pyarrow.parquet as pq

    root = write_tiny_dataset(tmp_path / "d", episodes=2, length=8, size=16)
    assert (root / "norm_stats.json").is_file()  # finite stats from before the damage: training would use them
    for f in (root / "data").rglob("*.parquet"):  # poison one action after the dataset was written
        table = pq.read_table(f)
        actions = np.stack(table.column("action").to_numpy(zero_copy_only=False)).copy()
        actions[3, 0] = np.nan
        import pyarrow as pa

        col = pa.array(list(actions), type=table.schema.field("action").type)
        pq.write_table(table.set_column(table.schema.get_field_index("action"), "action", col), f)
    # 8 steps x 2 samples = the whole dataset: the damaged frame is drawn
    rc = main(["train", "--dataset", str(root), "--out", str(tmp_path / "run"), *small_args, "--steps", "8"])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(r"episode 0, frame [0-3]: 'action' holds NaN/inf", err), err


@pytest.mark.parametrize("damage", ["truncate_weights", "truncate_state", "nan_state"])
def test_resume_falls_back_to_the_intact_previous_checkpoint(tmp_path, capsys, damage) -> None:
    """Regression: a truncated newest checkpoint stopped resume with a raw traceback naming no file."""
    cfg = micro_config()
    torch.manual_seed(0)
    reference = HyVLA(cfg)
    Trainer(reference, _config(tmp_path / "ref", steps=3, keep_last=3), micro_samples(cfg, 8)).fit()
    run = tmp_path / "run"
    torch.manual_seed(0)
    Trainer(HyVLA(cfg), _config(run, steps=2, keep_last=3), micro_samples(cfg, 8)).fit()
    newest = latest_checkpoint(run)
    assert newest.name == "2"
    if damage == "truncate_weights":
        f = newest / "model.safetensors"
        f.write_bytes(f.read_bytes()[:4000])
    elif damage == "truncate_state":
        f = newest / STATE_TENSORS
        f.write_bytes(f.read_bytes()[:100])
    else:
        tensors = load_file(str(newest / STATE_TENSORS))
        name = next(k for k in tensors if k.endswith("exp_avg"))
        tensors[name] = torch.full_like(tensors[name], float("nan"))
        save_file(tensors, str(newest / STATE_TENSORS))
    capsys.readouterr()
    model = HyVLA(cfg)
    Trainer(model, _config(run, steps=3, keep_last=3), micro_samples(cfg, 8)).fit()
    out, err = capsys.readouterr()
    assert f"cannot resume from {newest}" in err and "resuming from step 1" in out
    for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # exact resume from the intact step-1 checkpoint


def test_resume_with_every_checkpoint_damaged_is_a_clear_error(tmp_path) -> None:
    cfg = micro_config()
    Trainer(HyVLA(cfg), _config(tmp_path, steps=1), micro_samples(cfg, 4)).fit()
    f = latest_checkpoint(tmp_path) / "model.safetensors"
    f.write_bytes(b"")
    with pytest.raises(ValueError, match="reads back intact"):
        Trainer(HyVLA(cfg), _config(tmp_path, steps=2), micro_samples(cfg, 4)).fit()


def test_bit_rot_is_detected_and_resume_falls_back(tmp_path, capsys) -> None:
    """A flipped byte that still parses (no truncation) is caught by the checkpoint's checksums."""
    cfg = micro_config()
    Trainer(HyVLA(cfg), _config(tmp_path, steps=2, keep_last=3), micro_samples(cfg, 8)).fit()
    newest = latest_checkpoint(tmp_path)
    f = newest / STATE_TENSORS
    data = bytearray(f.read_bytes())
    data[-3] ^= 0x01  # a bit inside the last tensor's bytes
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256 differs"):
        read_checkpoint(newest)
    capsys.readouterr()
    Trainer(HyVLA(cfg), _config(tmp_path, steps=3, keep_last=3), micro_samples(cfg, 8)).fit()
    assert "resuming from step 1" in capsys.readouterr().out


def test_rare_bad_batches_can_be_skipped_and_counted(tmp_path, capsys) -> None:
    cfg = micro_config()
    samples = list(micro_samples(cfg, 8))
    samples[5]["action"] = samples[5]["action"] * 1e30  # one bad sample: one bad batch per epoch
    model = HyVLA(cfg)
    metrics = Trainer(model, _config(tmp_path, steps=4, skip_nonfinite=1), ListDataset(samples)).fit()
    assert metrics["skipped_steps"] == 1.0 and "update skipped (1 of at most 1)" in capsys.readouterr().err
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    with pytest.raises(TrainingDiverged):  # a second bad batch beyond the allowance still stops the run
        Trainer(HyVLA(cfg), _config(tmp_path / "b", steps=8, skip_nonfinite=1), ListDataset(samples)).fit()
