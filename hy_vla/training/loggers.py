"""Where training scalars go: TensorBoard (OUT/tb, on by default) and Weights & Biases (when asked).

Both are optional packages, imported only when used; a missing one prints what to install and the
run goes on without it. Only rank 0 logs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


class MetricLoggers:
    """`log(metrics, step)` to every configured backend; `close()` at the end of the run."""

    def __init__(self, config: Any, out_dir: Path, step: int) -> None:
        self.tensorboard = _tensorboard(out_dir, step) if config.tensorboard else None
        self.wandb = _wandb(config, out_dir) if config.wandb else None

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.tensorboard is not None:
            for name, value in metrics.items():
                self.tensorboard.add_scalar(f"train/{name}", value, step)
        if self.wandb is not None:
            self.wandb.log({f"train/{name}": value for name, value in metrics.items()}, step=step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()


def _tensorboard(out_dir: Path, step: int) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)", file=sys.stderr)
        return None
    # purge_step: a resumed run drops events a killed run wrote after its last checkpoint.
    return SummaryWriter(str(out_dir / "tb"), purge_step=step or None)


def _wandb(config: Any, out_dir: Path) -> Any:
    try:
        import wandb
    except ImportError:
        print("wandb=true but wandb is not installed: no wandb logging (pip install wandb; then `wandb login`, "
              "or WANDB_MODE=offline)", file=sys.stderr)  # fmt: skip
        return None
    # One wandb run per OUT: a resumed training run continues the same wandb run (id from the directory).
    run_id = "hyvla-" + "".join(c if c.isalnum() else "-" for c in str(out_dir.resolve()))[-100:].strip("-")
    return wandb.init(
        project=config.wandb_project,
        name=out_dir.name,
        id=run_id,
        resume="allow",
        dir=str(out_dir),
        config=config.to_dict(),
    )
