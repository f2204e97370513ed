"""`--stride-mode`, shared by the commands that run a checkpoint (`eval`, `serve`)."""

from __future__ import annotations

import argparse

from hy_vla.actions.strided import STRIDE_MODES


def add_stride_mode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stride-mode",
        choices=STRIDE_MODES,
        default="hold",
        help="checkpoints with action_stride > 1: hold each predicted action for its stride, or move linearly to "
        "the next one (default: hold)",
    )
