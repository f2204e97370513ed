"""Batch lists on disk (hy_vla.posttrain.sample_store): exact round trip, empty lists, no pickle."""

import torch

from hy_vla import keys
from hy_vla.posttrain.sample_store import has_batches, load_batches, save_batches


def _batch(i: int) -> dict:
    return {
        "observation.images.top": torch.full((1, 1, 3, 4, 4), i, dtype=torch.uint8),
        keys.HISTORY_IS_PAD: torch.tensor([[i % 2 == 0]]),
        keys.STATE: torch.randn(1, 4),
        keys.TASK: [f"task {i}"],
    }


def test_batches_round_trip_exactly_with_their_dtypes(tmp_path):
    batches = [_batch(i) for i in range(3)]
    stem = tmp_path / "sub" / "00003"
    assert not has_batches(stem)
    save_batches(stem, batches)
    assert has_batches(stem)
    back = load_batches(stem)
    assert len(back) == 3
    for a, b in zip(batches, back, strict=True):
        assert set(a) == set(b) and a[keys.TASK] == b[keys.TASK]
        for k, v in a.items():
            if isinstance(v, torch.Tensor):
                assert b[k].dtype == v.dtype and torch.equal(b[k], v)
    assert sorted(p.name for p in stem.parent.iterdir()) == ["00003.json", "00003.safetensors"]


def test_an_empty_list_is_saved_and_loads_empty(tmp_path):
    save_batches(tmp_path / "none", [])
    assert has_batches(tmp_path / "none") and load_batches(tmp_path / "none") == []


def test_files_are_as_readable_as_the_json_beside_them(tmp_path):
    from hy_vla.utils.atomic import shareable_mode

    save_batches(tmp_path / "x", [_batch(0)])
    for name in ("x.safetensors", "x.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == shareable_mode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "x.safetensors"]  # no temporary left
