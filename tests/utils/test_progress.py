"""Progress output written to a file (a job log) is whole lines, not carriage-return redraws."""

from __future__ import annotations

import io

from hy_vla.utils.progress import progress


def test_a_file_gets_whole_lines_not_carriage_returns():
    """Regression: a demo log became three lines of 30-74 KB of redraws."""
    out = io.StringIO()
    bar = progress(total=1000, desc="train", file=out, mininterval=0)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert lines and all(len(line) < 200 for line in lines) and "1000/1000" in lines[-1]


def test_a_terminal_keeps_the_redrawn_bar():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = progress(total=3, file=out, mininterval=0)
    bar.update(3)
    bar.close()
    assert "\r" in out.getvalue()
