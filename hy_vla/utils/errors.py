"""Errors the command line reports as one line (no traceback) with their own exit code."""

from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN/inf: training stopped before the update reached the weights.

    The command line exits with code 1 (not 0: a run that trained to NaN must not look like a success).
    """
