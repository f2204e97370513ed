"""Worker processes that do not outlive the process that started them.

A worker pool's children get no signal when their parent is killed (SIGTERM from a job scheduler, SIGKILL, the
OOM killer): they keep running simulator episodes, each holding its scene and GL context (2-3 GB for LIBERO), and
compete with whatever runs next. Linux can deliver a signal to a process when its parent dies; other systems
keep the old behaviour. Linux sends it when the *thread* that started the worker exits, so a pool must be
started (its first `submit`) from a thread that lives as long as the pool: ours start from the main thread.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits; True where that is in effect (Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the request: nobody will send the signal
        os._exit(1)
    return True
