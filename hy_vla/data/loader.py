"""torch Dataset and DataLoader over a `SampleBuilder`, and opening a data source from a path.

    source = open_source("data/metaworld_demo")            # LeRobot v3 dir, HDF5 dir or file
    builder = SampleBuilder(source, SampleConfig(cameras=("corner2",), history_frames=2, horizon=10))
    loader = make_dataloader(builder, batch_size=32, num_workers=2, seed=0)

Worker processes start from a clean fork server (`worker_context`), never as a fork of the
training process, and open their own video containers and HDF5 handles. Shuffling is seeded
through a torch.Generator, so the order of samples is the same for the same seed whatever the
number of workers; with `persistent_workers=True` workers (and their open files) survive across
epochs.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Iterable
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hy_vla.data.samples import EpisodeSource, SampleBuilder


def open_source(path: str | os.PathLike, **kwargs: Any) -> EpisodeSource:
    """A LeRobot v3 dataset (a directory with meta/info.json) or HDF5 episode files."""
    p = Path(path)
    if (p / "meta" / "info.json").exists():
        from hy_vla.data.lerobot.reader import LeRobotV3Dataset

        return LeRobotV3Dataset(p, **kwargs)
    if p.suffix in (".hdf5", ".h5") or (p.is_dir() and (any(p.glob("*.hdf5")) or any(p.glob("data/*.hdf5")))):
        from hy_vla.data.hdf5_episodes import HDF5Episodes

        return HDF5Episodes(p, **kwargs)
    raise FileNotFoundError(f"{p}: neither a LeRobot v3 dataset (meta/info.json) nor HDF5 episode files")


class SampleDataset(Dataset):
    """Map-style torch Dataset of samples (dicts of tensors and strings)."""

    def __init__(self, builder: SampleBuilder) -> None:
        self.builder = builder

    def __len__(self) -> int:
        return len(self.builder)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.builder[i]


def collate_samples(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors along a new batch dim; strings and ints become lists / int64 tensors."""
    out: dict[str, Any] = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        if isinstance(vals[0], torch.Tensor):
            out[key] = torch.stack(vals)
        elif isinstance(vals[0], int | np.integer):
            out[key] = torch.tensor(vals, dtype=torch.int64)
        else:
            out[key] = vals
    return out


def worker_context() -> BaseContext:
    """The multiprocessing context DataLoader workers start in: a fork server.

    A plain fork copies the training process mid-flight: locks held by its other threads (video
    decoder thread pools, progress-bar monitors, the allocator) stay locked forever in the child,
    and a worker that touches one never returns a batch. The fork server is a fresh,
    single-threaded process that has only imported torch and the data code, so workers fork
    from it quickly and clean; the dataset reaches them pickled (sources drop open files). As with
    `spawn`, a script that starts workers needs an `if __name__ == "__main__":` guard.
    """
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["hy_vla.data.loader", "hy_vla.data.video"])
    return ctx


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; derive numpy's seed from it so any
    # numpy randomness (augmentations) differs across workers and repeats across runs.
    np.random.seed(torch.initial_seed() % 2**32)


def make_dataloader(
    data: SampleBuilder | Dataset,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    persistent_workers: bool = True,
    prefetch_factor: int = 2,
    drop_last: bool = True,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader with seeded shuffling and per-worker file handles."""
    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    dataset = SampleDataset(data) if isinstance(data, SampleBuilder) else data
    generator = torch.Generator()
    generator.manual_seed(seed)
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra = {
            "persistent_workers": persistent_workers,
            "prefetch_factor": prefetch_factor,
            "multiprocessing_context": worker_context(),
        }
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_samples,
        generator=generator,
        worker_init_fn=_seed_worker,
        drop_last=drop_last,
        pin_memory=pin_memory,
        **extra,
    )


def measure_frames_per_second(loader: Iterable[dict[str, Any]], num_batches: int, warmup: int = 1) -> dict[str, float]:
    """Samples per second over `num_batches` batches after `warmup` batches (workers started)."""
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    n, t0 = 0, time.perf_counter()
    for _ in range(num_batches):
        try:
            batch = next(it)
        except StopIteration:
            break
        n += len(batch["task"])
    dt = time.perf_counter() - t0
    return {"samples": float(n), "seconds": dt, "samples_per_s": n / dt if dt > 0 else float("nan")}
