"""`hy-vla presets`: list the named presets (whole recipes) and their parameter counts (built on the meta device)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=None, help="print one preset's every setting as the --set key that overrides it")


def run(args: argparse.Namespace) -> int:
    import torch

    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.presets import PRESETS, get_preset
    from hy_vla.training.objectives import attach_objectives
    from hy_vla.training.run_config import settings_lines

    if args.name:
        preset = get_preset(args.name)
        print("\n".join(settings_lines(preset.model().to_dict(), None, preset.train().to_dict())))
        return 0
    width = max(len(name) for name in PRESETS)
    print(f"{'preset':<{width}} {'params':>10} {'expert':>9}  description")
    for p in PRESETS.values():
        m = HyVLA.on_meta(p.model())  # counts parameters without allocating them or reading a model directory
        with torch.device("meta"):
            m = attach_objectives(m, p.train())
            n_objectives = sum(t.numel() for t in m.objectives.parameters())
        expert = sum(t.numel() for t in m.expert.parameters())
        extra = f" (+{n_objectives / 1e6:.2f}M in training objectives)" if n_objectives else ""
        network = m.num_parameters() - n_objectives
        print(f"{p.name:<{width}} {network / 1e6:>9.1f}M {expert / 1e6:>8.1f}M  {p.description}{extra}")
    return 0
