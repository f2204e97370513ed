"""Tiny synthetic datasets for the data and CLI tests (LeRobot v3 via our writer, HDF5 episodes)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hy_vla.data.hdf5_episodes import write_hdf5_episode
from hy_vla.data.lerobot.writer import LeRobotV3Writer

LENGTHS = (12, 7, 16)
TASKS = ("reach the goal", "push the puck", "reach the goal")


def smooth_frames(length: int, h: int, w: int, seed: int) -> np.ndarray:
    """(T, H, W, 3) uint8: a moving blob on a gradient (video-codec friendly, frames differ)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for t in range(length):
        cx, cy = w / 2 + w / 4 * np.cos(0.3 * t + seed), h / 2 + h / 4 * np.sin(0.3 * t + seed)
        blob = 180 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.02 * h * w))
        out.append(np.stack([blob + 40, 200 * xx / w, 200 * yy / h + 10 * seed], -1))
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def episode_columns(ep: int, length: int) -> dict[str, np.ndarray]:
    """Low-dim columns whose values encode (episode, frame): state[t] = [ep, t, t^2/100, 1], action[t] = [t, -ep]."""
    t = np.arange(length, dtype=np.float32)
    state = np.stack([np.full(length, ep, np.float32), t, t**2 / 100, np.ones(length, np.float32)], -1)
    action = np.stack([t, np.full(length, -ep, np.float32)], -1)
    return {"observation.state": state, "action": action}


FEATURES = {
    "observation.images.front": {"dtype": "video", "shape": [64, 64, 3], "names": ["height", "width", "channels"]},
    "observation.images.wrist": {"dtype": "video", "shape": [32, 48, 3], "names": ["height", "width", "channels"]},
    "observation.state": {"dtype": "float32", "shape": [4], "names": ["e", "t", "t2", "one"]},
    "action": {"dtype": "float32", "shape": [2], "names": ["a0", "a1"]},
}


def make_lerobot(root: Path, lengths: tuple[int, ...] = LENGTHS, **kwargs) -> Path:
    w = LeRobotV3Writer.create(root, fps=10, features=FEATURES, robot_type="toy", embodiment="toy_arm", **kwargs)
    for ep, n in enumerate(lengths):
        cols = episode_columns(ep, n)
        cols["observation.images.front"] = smooth_frames(n, 64, 64, ep)
        cols["observation.images.wrist"] = smooth_frames(n, 32, 48, ep + 10)
        w.add_episode(cols, TASKS[ep % len(TASKS)])
    return w.finalize()


def make_hdf5(root: Path, layout: str = "aloha", compress: bool = False, lengths: tuple[int, ...] = (9, 6)) -> Path:
    for ep, n in enumerate(lengths):
        t = np.arange(n, dtype=np.float32)
        state = np.stack([t + 100 * ep + j for j in range(14)], -1).astype(np.float32)  # (T, 14)
        endpose = np.tile(np.array([0, 0, 0, 1, 0, 0, 0, 0.5] * 2, np.float32), (n, 1))  # xyz, wxyz quat, grip
        endpose[:, 0] = t
        write_hdf5_episode(
            root / f"episode_{ep}.hdf5",
            layout,
            state,
            state * 2,
            {"cam_high": smooth_frames(n, 32, 32, ep)},
            compress=compress,
            instruction=f"task {ep}",
            endpose=endpose,
        )
    return root


HELD_BY_PARENT = threading.Lock()  # a lock another thread of the training process may hold while workers start


class LockingDataset(Dataset):
    """Four samples, each read under `HELD_BY_PARENT` (as a decoder's or allocator's internal lock would be)."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        with HELD_BY_PARENT:
            return {"x": torch.tensor([float(i)])}
