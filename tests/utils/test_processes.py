"""Pool workers exit when the process that started them is killed (they used to run on as orphans)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# A parent that starts one spawned pool worker (with the given initializer), prints the worker's pid, and waits.
PARENT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from hy_vla.utils.processes import die_with_parent

    if __name__ == "__main__":
        init = die_with_parent if sys.argv[1] == "fixed" else os.getpid  # getpid: an initializer doing nothing
        pool = ProcessPoolExecutor(1, mp.get_context("spawn"), initializer=init)
        print(pool.submit(os.getpid).result(), flush=True)
        time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _orphan_survives(mode: str, wait_s: float) -> bool:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.1)
    survived = _alive(worker)
    if survived:
        os.kill(worker, signal.SIGKILL)
    return survived


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_killed_parent_takes_its_pool_workers_with_it():
    """SIGTERM to `hy-vla collect` left both LIBERO workers running, 2-3 GB each, still collecting; `die_with_parent`
    (in the pool initializer of collection, evaluation and post-training) makes the kernel kill them."""
    assert _orphan_survives("plain", 2.0)  # what a spawned pool worker does by itself: it outlives its parent
    assert not _orphan_survives("fixed", 10.0)
