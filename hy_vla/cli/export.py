"""`hy-vla export`: fold a LoRA checkpoint's adapters into its weights and write a plain checkpoint.

    hy-vla export runs/ft_lora/checkpoints/2000 exported/ft_merged

The result loads without LoRA (config lora.rank 0, no adapter tensors) and predicts the same actions.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint directory trained with LoRA (model.lora.rank > 0)")
    parser.add_argument("out", help="where to write the plain checkpoint (replaced if it exists)")


def run(args: argparse.Namespace) -> int:
    from hy_vla.training.finetune import export_plain

    out = export_plain(args.checkpoint, args.out)
    print(f"wrote {out} (LoRA adapters merged into the weights)")
    return 0
