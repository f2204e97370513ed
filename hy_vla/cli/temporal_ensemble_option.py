"""`--temporal-ensemble [M]`, shared by the commands that evaluate a checkpoint (`eval`, `demo`)."""

from __future__ import annotations

import argparse

from hy_vla.policy.temporal_ensemble import ACT_M


def add_temporal_ensemble(parser: argparse.ArgumentParser, note: str) -> None:
    """`note`: what the option means for this command, appended to the shared description."""
    parser.add_argument(
        "--temporal-ensemble",
        type=float,
        nargs="?",
        const=ACT_M,
        default=None,
        metavar="M",
        help="ACT's temporal ensembling: a query every control step, the executed action the mean of every live "
        f"chunk's action for it, weights exp(-M * i) oldest first (M defaults to ACT's {ACT_M}); {note}",
    )
