"""DataLoader: batch layout, seeded shuffling, worker processes with their own video handles."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import torch
from data.data_fixtures import HELD_BY_PARENT, LENGTHS, LockingDataset, make_hdf5, make_lerobot

from hy_vla import keys
from hy_vla.data.loader import make_dataloader, measure_frames_per_second, open_source
from hy_vla.data.samples import SampleBuilder, SampleConfig
from hy_vla.training.batches import ResumableBatches


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> SampleBuilder:
    src = open_source(make_lerobot(tmp_path_factory.mktemp("l") / "ds"))
    return SampleBuilder(src, SampleConfig(cameras=("front", "wrist"), history_frames=2, horizon=5))


def _order(loader) -> list[tuple[int, int]]:  # noqa: ANN001
    return [(e, f) for b in loader for e, f in zip(b["episode_index"].tolist(), b["frame_index"].tolist(), strict=True)]


def test_batch_layout(builder: SampleBuilder) -> None:
    batch = next(iter(make_dataloader(builder, batch_size=4, seed=0)))
    assert batch["observation.images.front"].shape == (4, 2, 3, 64, 64)
    assert batch["observation.images.front"].dtype == torch.uint8
    assert batch[keys.HISTORY_IS_PAD].shape == (4, 2)
    assert batch[keys.STATE].shape == (4, 4) and batch[keys.ACTION].shape == (4, 5, 2)
    assert batch[keys.ACTION_IS_PAD].dtype == torch.bool
    assert isinstance(batch[keys.TASK], list) and len(batch[keys.TASK]) == 4
    assert batch[keys.EMBODIMENT] == ["toy_arm"] * 4


def test_seeded_shuffle_same_with_workers(builder: SampleBuilder) -> None:
    a = _order(make_dataloader(builder, batch_size=5, seed=3))
    b = _order(make_dataloader(builder, batch_size=5, seed=3, num_workers=2))
    c = _order(make_dataloader(builder, batch_size=5, seed=4))
    assert a == b and a != c
    assert len(a) == sum(LENGTHS) // 5 * 5
    assert sorted(a) != a  # shuffled


def test_persistent_workers_two_epochs(builder: SampleBuilder) -> None:
    loader = make_dataloader(builder, batch_size=8, num_workers=2, persistent_workers=True)
    first, second = _order(loader), _order(loader)
    assert len(first) == len(second) and first != second
    stats = measure_frames_per_second(loader, num_batches=2)
    assert stats["samples"] == 16 and stats["samples_per_s"] > 0


def _first_batch_while_parent_holds_a_lock(make: Callable[[], Iterable[dict]], wait_s: float = 60.0) -> dict:
    """Start workers while another thread of this process holds a lock the samples need; the first batch."""
    held, release, got = threading.Event(), threading.Event(), []

    def hold() -> None:
        with HELD_BY_PARENT:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait()
    try:
        reader = threading.Thread(target=lambda: got.append(next(iter(make()))), daemon=True)
        reader.start()
        reader.join(wait_s)
    finally:
        release.set()
        holder.join()
    assert got, f"no batch within {wait_s:.0f} s: a worker inherited a lock held by another thread of the parent"
    return got[0]


def test_workers_do_not_inherit_the_parents_locks() -> None:
    # A plain fork copies the held lock into the worker, locked, with no thread left to release it.
    batch = _first_batch_while_parent_holds_a_lock(
        lambda: make_dataloader(LockingDataset(), batch_size=2, shuffle=False, num_workers=1)
    )
    assert batch["x"].flatten().tolist() == [0.0, 1.0]
    batch = _first_batch_while_parent_holds_a_lock(lambda: ResumableBatches(LockingDataset(), 2, seed=0, num_workers=1))
    assert batch["x"].shape == (2, 1)


def test_open_source_hdf5(tmp_path: Path) -> None:
    src = open_source(make_hdf5(tmp_path))
    batch = next(iter(make_dataloader(SampleBuilder(src, SampleConfig(cameras=("cam_high",))), batch_size=3)))
    assert batch["observation.images.cam_high"].shape == (3, 1, 3, 32, 32)
    # A worker receives the source pickled, without the open HDF5 handles the line above left behind.
    loader = make_dataloader(SampleBuilder(src, SampleConfig(cameras=("cam_high",))), batch_size=3, num_workers=1)
    assert torch.equal(next(iter(loader))["observation.images.cam_high"], batch["observation.images.cam_high"])
    with pytest.raises(FileNotFoundError, match="neither"):
        open_source(tmp_path / "nothing")
