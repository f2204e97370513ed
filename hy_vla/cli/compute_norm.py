"""`hy-vla compute-norm --dataset DIR`: normalization stats of the trained representation.

One streaming pass over the episodes (no image decoding): the state at every frame and every
unpadded step of every action chunk, encoded by the chosen action representation, so delta
actions get delta stats (DESIGN.md section 3). Writes DIR/norm_stats.json (or --out) and prints
the summary table.

    hy-vla compute-norm --dataset data/demo --mode action=quantile,observation.state=mean_std \\
        --horizon 20 --action-stride 3 --representation '{"kind": "delta_eef", "rotation": "quat"}'
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def parse_modes(text: str) -> dict[str, str]:
    """'action=quantile,observation.state=mean_std' -> {key: mode}."""
    modes: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise ValueError(f"--mode: expected KEY=MODE pairs separated by commas, got {part!r}")
        key, mode = (s.strip() for s in part.split("=", 1))
        modes[key] = mode
    return modes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True, help="LeRobot v3 dataset dir or HDF5 episode files")
    parser.add_argument(
        "--mode",
        default=None,
        help="KEY=MODE,... with MODE in mean_std, min_max, quantile, identity (default: both keys mean_std)",
    )
    parser.add_argument("--history", type=int, default=1, help="history frames K (does not change the stats)")
    parser.add_argument("--horizon", type=int, default=10, help="action chunk length H")
    parser.add_argument("--action-stride", type=int, default=1, help="frames between chunk steps")
    parser.add_argument("--action-offset", type=int, default=0, help="first chunk step relative to t")
    parser.add_argument(
        "--representation",
        default=None,
        help='ActionRepresentation as JSON, e.g. \'{"kind": "delta_eef", "rotation": "quat"}\' (default: the '
        "embodiment's registered representation, absolute for unregistered ones)",
    )
    parser.add_argument("--state-key", default="observation.state")
    parser.add_argument("--action-key", default="action")
    parser.add_argument("--embodiment", default=None, help="embodiment id (default: the dataset's)")
    parser.add_argument("--out", type=Path, default=None, help="output file (default DATASET/norm_stats.json)")


def run(args: argparse.Namespace) -> int:
    from hy_vla.data.loader import open_source
    from hy_vla.data.norm_stats import FILENAME, compute_norm_stats
    from hy_vla.data.samples import SampleBuilder, SampleConfig
    from hy_vla.embodiments.registry import default_representation

    modes = parse_modes(args.mode or f"{args.action_key}=mean_std,{args.state_key}=mean_std")
    source = open_source(args.dataset, **({"check_videos": False} if (args.dataset / "meta").is_dir() else {}))
    embodiment = args.embodiment or source.embodiment
    config = SampleConfig(
        history_frames=args.history,
        horizon=args.horizon,
        action_stride=args.action_stride,
        action_offset=args.action_offset,
        state_key=args.state_key,
        action_key=args.action_key,
        representation=json.loads(args.representation) if args.representation else default_representation(embodiment),
        embodiment=args.embodiment,
    )
    unknown = set(modes) - {config.state_key, config.action_key}
    if unknown:
        raise ValueError(f"--mode: keys {sorted(unknown)} are neither {config.state_key!r} nor {config.action_key!r}")
    builder = SampleBuilder(source, config)
    stats = compute_norm_stats(builder.iter_norm_batches(progress=True), list(modes), modes, builder.embodiment)
    out = args.out or (Path(args.dataset if Path(args.dataset).is_dir() else Path(args.dataset).parent) / FILENAME)
    stats.save(out)
    print(stats.summary_table())
    print(f"wrote {out}")
    return 0
