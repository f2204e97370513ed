import torch

from hy_vla.data.samples import history_indices
from hy_vla.policy.history import FrameHistory


def test_history_matches_the_training_sample_indices():
    """Live history must equal what the sample builder cuts from a recorded episode."""
    k, stride = 3, 2
    hist = FrameHistory(("cam",), k, stride)
    frames = [torch.full((3, 2, 2), i, dtype=torch.uint8) for i in range(8)]
    for t, f in enumerate(frames):
        hist.push({"cam": f})
        stacked, is_pad = hist.stacked()
        idx, pad = history_indices(t, k, stride)
        assert [int(x[0, 0, 0]) for x in stacked["cam"]] == idx.tolist(), t
        assert is_pad.tolist() == pad.tolist()
    hist.reset()
    hist.push({"cam": frames[5]})
    stacked, is_pad = hist.stacked()
    assert is_pad.tolist() == [True, True, False] and int(stacked["cam"][0, 0, 0, 0]) == 5
