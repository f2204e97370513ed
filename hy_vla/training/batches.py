"""Resumable, deterministic micro-batches from a map-style dataset of samples.

The sample order of epoch e is a permutation drawn from a generator seeded by (seed, e) alone, so
it is the same in every run and needs no RNG state to restore: a position (epoch, index of the next
micro-batch within the epoch) is enough to continue exactly where a killed run stopped. Worker
processes (num_workers > 0) only load samples; they never decide the order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from hy_vla.data.loader import collate_samples, worker_context


@dataclass
class DataPosition:
    """Where the next micro-batch comes from: epoch and micro-batch index within the epoch."""

    epoch: int = 0
    index: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """(n,) sample order of one epoch (every sample once), a pure function of (n, seed, epoch)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)  # distinct streams per (seed, epoch)
    return torch.randperm(n, generator=g)


class ResumableBatches:
    """Yields collated micro-batches forever, epoch after epoch, tracking `position`.

    `position` always names the next micro-batch to be yielded, so a checkpoint taken between two
    optimizer steps stores exactly what the resumed run must read next. Incomplete tail batches are
    dropped (every micro-batch has the same size, which keeps accumulation weights equal).
    """

    def __init__(
        self,
        dataset: Dataset,
        micro_batch_size: int,
        seed: int,
        num_workers: int = 0,
        collate: Callable[[list[dict[str, Any]]], dict[str, Any]] = collate_samples,
        position: DataPosition | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.dataset, self.micro_batch_size, self.seed = dataset, micro_batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.num_workers, self.collate = num_workers, collate
        self.position = position or DataPosition()
        n = len(dataset)  # type: ignore[arg-type]
        # Data parallel: global micro-batch i of an epoch is micro_batch_size * world_size samples of the
        # shared order; rank r reads slice r of it. With one process this is the plain order.
        self.batches_per_epoch = n // (micro_batch_size * world_size)
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"the dataset has {n} samples, fewer than one micro-batch of {micro_batch_size} x {world_size} rank(s)"
            )

    def _epoch_batches(self, epoch: int, start: int) -> list[list[int]]:
        order = epoch_permutation(len(self.dataset), self.seed, epoch).tolist()  # type: ignore[arg-type]
        b, w, r = self.micro_batch_size, self.world_size, self.rank
        return [order[(i * w + r) * b : (i * w + r + 1) * b] for i in range(start, self.batches_per_epoch)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            pos = self.position
            index_lists = self._epoch_batches(pos.epoch, pos.index)
            if self.num_workers > 0:
                loader: Any = DataLoader(
                    self.dataset,
                    batch_sampler=index_lists,
                    num_workers=self.num_workers,
                    collate_fn=self.collate,
                    multiprocessing_context=worker_context(),
                )
            else:
                loader = (self.collate([self.dataset[i] for i in idx]) for idx in index_lists)
            for batch in loader:
                # Advance before yielding: once the consumer holds this batch, it is no longer "next".
                self.position = DataPosition(pos.epoch, self.position.index + 1)
                yield batch
            self.position = DataPosition(pos.epoch + 1, 0)


class ListDataset(Dataset):
    """A map-style dataset over an in-memory list of samples (tests, benchmarks)."""

    def __init__(self, samples: list[dict[str, Any]]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.samples[i]
