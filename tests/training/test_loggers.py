"""Training scalars to wandb when asked: wired to the run, and a clear note when wandb is not installed."""

from __future__ import annotations

import sys
import types

from model_fixtures import micro_config
from training.training_helpers import micro_samples

from hy_vla.models.hy_vla import HyVLA
from hy_vla.training import TrainConfig, Trainer


def _config(tmp_path, **changes) -> TrainConfig:
    return TrainConfig(out_dir=str(tmp_path), steps=2, batch_size=2, log_every=1, tensorboard=False, device="cpu",
                       warmup_steps=0, **changes)  # fmt: skip


class FakeRun:
    def __init__(self, **kwargs) -> None:
        self.kwargs, self.logged, self.finished = kwargs, [], False

    def log(self, metrics: dict, step: int) -> None:
        self.logged.append((step, metrics))

    def finish(self) -> None:
        self.finished = True


def test_wandb_logs_every_scalar_of_the_run(tmp_path, monkeypatch) -> None:
    runs: list[FakeRun] = []
    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: runs.append(FakeRun(**kwargs)) or runs[-1]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wandb", fake)
    cfg = micro_config()
    Trainer(HyVLA(cfg), _config(tmp_path, wandb=True, wandb_project="p"), micro_samples(cfg, 4)).fit()
    (run,) = runs
    assert run.kwargs["project"] == "p" and run.kwargs["config"]["wandb"] is True
    assert run.kwargs["resume"] == "allow" and run.kwargs["id"].startswith("hyvla-")  # a resumed run continues it
    assert [step for step, _ in run.logged] == [1, 2]
    assert {"train/loss", "train/lr", "train/grad_norm"} <= run.logged[0][1].keys()
    assert run.finished


def test_wandb_missing_says_so_and_training_goes_on(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` raise ImportError
    cfg = micro_config()
    metrics = Trainer(HyVLA(cfg), _config(tmp_path, wandb=True), micro_samples(cfg, 4)).fit()
    assert "wandb is not installed" in capsys.readouterr().err
    assert metrics["loss"] > 0
