"""`hy-vla train` on a tiny LeRobot v3 dataset: resolved config, norm stats, checkpoints, resume."""

from __future__ import annotations

import json

import pytest
from training.training_helpers import write_tiny_dataset

from hy_vla.cli.main import main
from hy_vla.models.hy_vla import HyVLA


def _run(argv: list[str]) -> int:
    return main(["train", *argv])  # through the CLI entry point, which turns bad input into exit code 2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):  # noqa: ANN201
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny", episodes=2, length=8, size=16)


def test_train_then_resume(tmp_path, dataset, capsys) -> None:
    out = tmp_path / "run"
    small = ["--set", "model.vision.image_size=16", "--set", "model.history_frames=1", "--set", "model.horizon=4"]
    base = ["--preset", "hy-vla-tiny", "--dataset", str(dataset), "--out", str(out), "--batch-size", "2"]
    assert _run([*base, "--steps", "1", "--save-every", "1", "--set", "warmup_steps=1", *small]) == 0
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["model"]["camera_names"] == ["top"]  # adopted from the dataset
    assert (saved["model"]["state_dim"], saved["model"]["action_dim"]) == (3, 2)
    assert saved["model"]["embodiment"] == "toy_arm" and saved["data"]["horizon"] == 4
    assert saved["train"]["warmup_steps"] == 1 and saved["train"]["batch_size"] == 2
    assert (out / "norm_stats.json").is_file()
    capsys.readouterr()

    assert _run(["--out", str(out), "--steps", "2"]) == 0  # re-running resumes (and extends to 2 steps)
    assert capsys.readouterr().out.splitlines()[0] == "resuming from step 1"
    model = HyVLA.from_pretrained(out / "checkpoints" / "2")
    assert model.norm_stats.get("action", "toy_arm").mode == "mean_std"


def test_errors(tmp_path, dataset, capsys) -> None:
    assert _run(["--preset", "hy-vla-tyny", "--dataset", str(dataset), "--out", str(tmp_path / "x")]) == 2
    assert "did you mean" in capsys.readouterr().err.lower()
    assert _run(["--preset", "hy-vla-tiny", "--dataset", str(dataset), "--out", str(tmp_path / "y"),
                 "--set", "model.horizn=3"]) == 2  # fmt: skip
    assert "horizon" in capsys.readouterr().err


def test_cotrain_stage_reads_motion_captions(tmp_path, dataset) -> None:
    out = tmp_path / "cotrain"
    small = ["--set", "model.vision.image_size=16", "--set", "model.history_frames=1", "--set", "model.horizon=4"]
    argv = ["--preset", "hy-vla-tiny", "--dataset", str(dataset), "--out", str(out), "--batch-size", "2", "--steps",
            "1", "--set", "stage=cotrain", "--set", "lm_weight=0.3", *small]  # fmt: skip
    assert _run(argv) == 0
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["data"]["text_target"] == "motion" and saved["train"]["lm_weight"] == 0.3
    assert HyVLA.from_pretrained(out / "checkpoints" / "1") is not None  # captions add no parameters


def test_set_values_are_typed(tmp_path, dataset, capsys) -> None:
    base = ["--preset", "hy-vla-tiny", "--dataset", str(dataset), "--batch-size", "2", "--steps", "1"]
    assert _run([*base, "--out", str(tmp_path / "a"), "--set", "lr=abc"]) == 2
    err = capsys.readouterr().err
    assert "--set lr=abc: expected a number" in err and len(err.strip().splitlines()) == 1
    small = ["--set", "model.vision.image_size=16", "--set", "model.history_frames=1", "--set", "model.horizon=4"]
    out = tmp_path / "b"
    assert _run([*base, "--out", str(out), "--set", "wandb=False", "--set", "tensorboard=false", *small]) == 0
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["train"]["wandb"] is False and saved["train"]["tensorboard"] is False
