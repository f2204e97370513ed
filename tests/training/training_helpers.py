"""Synthetic in-memory samples at the micro model's shapes, and a tiny training entry for subprocess tests."""

from __future__ import annotations

import sys
import time
from typing import Any

import torch

from hy_vla.models.config import HyVLAConfig
from hy_vla.training.batches import ListDataset


def micro_samples(cfg: HyVLAConfig, n: int = 16, seed: int = 0) -> ListDataset:
    """n single samples (uint8 frames, state, action chunk, instruction) drawn from a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    s, k = cfg.image_size, cfg.history_frames
    samples: list[dict[str, Any]] = []
    for i in range(n):
        sample: dict[str, Any] = {
            key: torch.randint(0, 256, (k, 3, s, s), generator=g, dtype=torch.uint8) for key in cfg.image_keys
        }
        sample["observation.state"] = torch.randn(cfg.state_dim, generator=g)
        sample["action"] = torch.randn(cfg.horizon, cfg.action_dim, generator=g)
        sample["task"] = ["pick the cube", "open the drawer"][i % 2]
        samples.append(sample)
    return ListDataset(samples)


def main(out: str, steps: int, sleep: float) -> None:
    """Train the micro model for `steps` steps into `out`, checkpointing every step, sleeping per step."""
    torch.set_num_threads(1)  # reduction order must not depend on the thread count between runs
    from model_fixtures import micro_config

    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.training import TrainConfig, Trainer

    cfg = micro_config()
    torch.manual_seed(0)
    model = HyVLA(cfg)
    tc = TrainConfig(
        out_dir=out, steps=steps, batch_size=4, grad_accum=2, lr=1e-3, min_lr=1e-4, warmup_steps=2,
        save_every=1, keep_last=2, log_every=1, ema_decay=0.9, tensorboard=False, device="cpu",
    )  # fmt: skip
    Trainer(model, tc, micro_samples(cfg, n=10), on_step_end=lambda *_: time.sleep(sleep)).fit()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))


def write_tiny_dataset(
    root: Any,
    episodes: int = 2,
    length: int = 12,
    size: int = 32,
    state_dim: int = 3,
    action_dim: int = 2,
    cameras: tuple[str, ...] = ("top",),
    embodiment: str = "toy_arm",
) -> Any:
    """A LeRobot v3 dataset with PNG cameras (one by default), 3-d state and 2-d action (fast to write and read)."""
    import numpy as np

    from hy_vla.data.lerobot.writer import LeRobotV3Writer

    features = {
        "observation.state": {"dtype": "float32", "shape": (state_dim,), "names": None},
        "action": {"dtype": "float32", "shape": (action_dim,), "names": None},
    }
    for cam in cameras:
        features[f"observation.images.{cam}"] = {
            "dtype": "image", "shape": (size, size, 3), "names": ["height", "width", "channel"]
        }  # fmt: skip
    w = LeRobotV3Writer.create(root, fps=10, features=features, embodiment=embodiment)
    rng = np.random.default_rng(0)
    for ep in range(episodes):
        t = np.arange(length, dtype=np.float32)
        state = np.stack([np.sin(0.3 * t), np.cos(0.3 * t), t / length + ep], -1).astype(np.float32)
        action = np.stack([np.cos(0.3 * t), 0.1 * t - ep], -1).astype(np.float32)
        columns = {
            "observation.state": np.resize(state, (length, state_dim)) if state_dim != 3 else state,
            "action": np.resize(action, (length, action_dim)) if action_dim != 2 else action,
        }
        for cam in cameras:
            columns[f"observation.images.{cam}"] = rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8)
        w.add_episode(columns, task=["pick the cube", "open the drawer"][ep % 2])
    return w.finalize()
