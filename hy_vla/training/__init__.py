"""Training: one trainer for every stage (SFT, text-to-action, training-time real-time chunking).

from hy_vla.training import TrainConfig, Trainer
Trainer(model, TrainConfig(steps=1000, batch_size=32, out_dir="runs/x"), dataset).fit()
"""

from hy_vla.training.config import TrainConfig
from hy_vla.training.schedule import lr_at
from hy_vla.training.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "lr_at"]
