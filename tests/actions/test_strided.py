"""Strided chunks become one command per control step: held or interpolated (hand-computed values)."""

from __future__ import annotations

import pytest
import torch

from hy_vla.actions.strided import expand_strided


def test_hold_repeats_each_prediction():
    a = torch.tensor([[0.0, 1.0], [3.0, -2.0]])
    assert torch.equal(expand_strided(a, 3, "hold"), a.repeat_interleave(3, dim=0))
    assert expand_strided(a, 1, "interp") is a  # stride 1: nothing to fill


def test_interp_moves_linearly_and_holds_the_last():
    a = torch.tensor([[0.0], [3.0], [9.0]])  # (H=3, A=1), stride 3
    out = expand_strided(a, 3, "interp")[:, 0].tolist()
    assert out == pytest.approx([0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 9.0, 9.0, 9.0])
    batched = expand_strided(torch.stack([a, 2 * a]), 3, "interp")  # leading dims are kept
    assert batched.shape == (2, 9, 1) and torch.allclose(batched[1], 2 * expand_strided(a, 3, "interp"))
    # control step h * stride carries prediction h exactly (what real-time chunking's prefix mapping assumes)
    assert torch.equal(expand_strided(a, 3, "interp")[::3], a)


def test_bad_arguments():
    with pytest.raises(ValueError, match="stride mode"):
        expand_strided(torch.zeros(2, 1), 2, "cubic")
    with pytest.raises(ValueError, match="stride must be"):
        expand_strided(torch.zeros(2, 1), 0)
