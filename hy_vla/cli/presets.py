"""`hy-vla presets`: list the named presets and their parameter counts (built on the meta device)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=None, help="show one preset's full config as JSON")


def run(args: argparse.Namespace) -> int:
    import torch

    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.presets import PRESETS, get_preset

    if args.name:
        print(get_preset(args.name).model().to_json())
        return 0
    print(f"{'preset':<16} {'params':>10} {'expert':>9}  description")
    for p in PRESETS.values():
        with torch.device("meta"):  # counts parameters without allocating them
            m = HyVLA(p.model())
        expert = sum(t.numel() for t in m.expert.parameters())
        print(f"{p.name:<16} {m.num_parameters() / 1e6:>9.1f}M {expert / 1e6:>8.1f}M  {p.description}")
    return 0
