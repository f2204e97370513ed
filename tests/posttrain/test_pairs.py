"""Preference pairs (hy_vla.posttrain.pairs): outcome contrast, takeover points, saving."""

import numpy as np
import torch

from hy_vla import keys
from hy_vla.posttrain.corrections import takeover_points
from hy_vla.posttrain.pairs import has_pairs, load_pairs, outcome_pairs, save_pairs
from hy_vla.posttrain.records import ChunkRecord, EpisodeRollout


class _Cfg:
    slot_layout, action_dim, embodiment = "leading", 2, "x"


def _record(value: float) -> ChunkRecord:
    states = torch.full((3, 1, 4, 3), value)
    mask = torch.zeros(1, 4, 3, dtype=torch.bool)
    mask[:, :2, :2] = True
    batch = {keys.STATE: torch.zeros(1, 2), keys.TASK: ["reach"], "observation.images.top": torch.zeros(1, 1, 3, 4, 4)}
    return ChunkRecord(batch, states, mask, torch.zeros(2), np.zeros(2, np.float32), 0)


def _episode(seed: int, rollout: int, success: bool, value: float) -> EpisodeRollout:
    return EpisodeRollout("reach", seed, rollout, success, 5, float(success), np.zeros((5, 2), np.float32),
                          [_record(value)])  # fmt: skip


def test_outcome_pairs_contrast_first_chunks_of_one_layout_only():
    eps = [_episode(0, 0, True, 1.0), _episode(0, 1, False, -1.0)]
    eps += [_episode(1, 0, False, 5.0), _episode(2, 0, True, 3.0)]
    pairs = outcome_pairs(eps, _Cfg())
    assert len(pairs) == 1  # layouts 1 and 2 have no contrast
    win, lose = pairs[0]
    assert win[keys.ACTION].unique().tolist() == [1.0] and lose[keys.ACTION].unique().tolist() == [-1.0]
    assert win[keys.ACTION].shape == (1, 4, 2) and win[keys.ACTION_IS_PAD].tolist() == [[False, False, True, True]]


def test_takeover_points_are_distinct_seeded_and_bounded():
    pts = takeover_points(10, 3, seed=4)
    assert len(set(pts)) == 3 and pts == sorted(pts) and pts == takeover_points(10, 3, seed=4)
    assert takeover_points(2, 3, seed=0) == [0, 1]


def test_pairs_round_trip_through_safetensors_and_json(tmp_path):
    pairs = outcome_pairs([_episode(0, 0, True, 1.0), _episode(0, 1, False, -1.0)] * 2, _Cfg())
    assert not has_pairs(tmp_path)
    save_pairs(tmp_path, pairs)
    assert has_pairs(tmp_path)
    back = load_pairs(tmp_path)
    assert len(back) == len(pairs)
    for (w, lo), (w2, lo2) in zip(pairs, back, strict=True):
        for a, b in ((w, w2), (lo, lo2)):
            assert set(a) == set(b) and a[keys.TASK] == b[keys.TASK]
            assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
    assert not list(tmp_path.glob("*.pkl"))
