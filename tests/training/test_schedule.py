import math

import pytest

from hy_vla.training.schedule import lr_at


def test_known_values() -> None:
    # warmup 10, total 110, base 1.0, floor 0.1
    assert lr_at(0, 1.0, 10, 110, 0.1) == pytest.approx(0.1)
    assert lr_at(4, 1.0, 10, 110, 0.1) == pytest.approx(0.5)
    assert lr_at(9, 1.0, 10, 110, 0.1) == pytest.approx(1.0)
    assert lr_at(10, 1.0, 10, 110, 0.1) == pytest.approx(1.0)  # cosine starts at the peak
    assert lr_at(60, 1.0, 10, 110, 0.1) == pytest.approx(0.55)  # half way: (1 + 0.1) / 2
    assert lr_at(35, 1.0, 10, 110, 0.1) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))
    assert lr_at(110, 1.0, 10, 110, 0.1) == pytest.approx(0.1)
    assert lr_at(500, 1.0, 10, 110, 0.1) == pytest.approx(0.1)


def test_no_warmup_and_monotone_decay() -> None:
    lrs = [lr_at(s, 3e-4, 0, 50, 0.0) for s in range(51)]
    assert lrs[0] == pytest.approx(3e-4)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[-1] == 0.0
