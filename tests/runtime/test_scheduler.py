"""The action buffer: committed prefix never rewritten, triggering, stale chunks, underruns."""

from __future__ import annotations

import numpy as np
import pytest

from hy_vla.runtime.scheduler import AsyncConfig, ChunkScheduler, control_period_s


def _chunk(start: float, n: int = 10) -> np.ndarray:
    return np.stack([np.arange(n, dtype=np.float32) + start] * 2, axis=1)  # (n, 2)


def test_committed_prefix_is_never_rewritten():
    sch = ChunkScheduler(AsyncConfig(stitch="linear", overlap=3, margin=1))
    sch.start(_chunk(0.0))
    d = 2
    while not sch.should_trigger(d):
        sch.pop()
    assert sch.remaining == d + 3 + 1 and sch.step == 4
    req = sch.request(d)
    np.testing.assert_array_equal(req.weights[:d], 1.0)
    executed = [sch.pop()]  # one step passes (arrived earlier than d): step d-1 is still promised
    before = sch.buffer.copy()
    sch.integrate(_chunk(100.0), req)
    np.testing.assert_array_equal(sch.buffer[:1], before[:1])  # committed index 1 of the request untouched
    assert sch.buffer[1, 0] > before[1, 0]  # blended toward the new chunk from there on
    assert sch.boundaries == [0, 6]
    np.testing.assert_array_equal(sch.buffer[-1], _chunk(100.0)[-1])  # ends on the new chunk
    assert executed[0][0] == 4.0


def test_late_chunk_skips_what_was_executed_and_stale_chunk_is_dropped():
    sch = ChunkScheduler(AsyncConfig(stitch="none", overlap=0, margin=0))
    sch.start(_chunk(0.0, 8))
    req = sch.request(1)
    for _ in range(3):  # arrives 3 steps later instead of 1
        sch.pop()
    sch.integrate(_chunk(50.0, 8), req)
    assert sch.buffer[0, 0] == 53.0  # new[3] for step 3: nothing already executed is replayed
    req = sch.request(1)
    for _ in range(5):
        sch.pop()
    sch.integrate(_chunk(70.0, 4), req)  # only 4 actions, 5 steps late: useless
    assert sch.stale_chunks == 1


def test_underrun_holds_the_last_action():
    sch = ChunkScheduler(AsyncConfig())
    sch.start(_chunk(0.0, 2))
    a = [sch.pop() for _ in range(4)]
    assert [x[0] for x in a] == [0.0, 1.0, 1.0, 1.0] and sch.underruns == 2


def test_config_validation_and_period():
    with pytest.raises(ValueError, match="stitch"):
        AsyncConfig(stitch="cubic")
    with pytest.raises(ValueError, match="overlap"):
        AsyncConfig(overlap=-1)
    assert control_period_s(AsyncConfig(), {"fps": 50}) == pytest.approx(0.02)
    assert control_period_s(AsyncConfig(control_period_ms=10), {"fps": 50}) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="control period"):
        control_period_s(AsyncConfig(), {})
