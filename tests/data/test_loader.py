"""DataLoader: batch layout, seeded shuffling, worker processes with their own video handles."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from data.data_fixtures import LENGTHS, make_hdf5, make_lerobot

from hy_vla import keys
from hy_vla.data.loader import make_dataloader, measure_frames_per_second, open_source
from hy_vla.data.samples import SampleBuilder, SampleConfig


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


def test_open_source_hdf5(tmp_path: Path) -> None:
    src = open_source(make_hdf5(tmp_path))
    batch = next(iter(make_dataloader(SampleBuilder(src, SampleConfig(cameras=("cam_high",))), batch_size=3)))
    assert batch["observation.images.cam_high"].shape == (3, 1, 3, 32, 32)
    with pytest.raises(FileNotFoundError, match="neither"):
        open_source(tmp_path / "nothing")
