"""`hy-vla train`: train a preset on a LeRobot v3 / HDF5 dataset; re-running with the same --out resumes.

    hy-vla train --preset hy-vla-tiny --dataset data/mw_reach --out runs/reach --steps 2000 --batch-size 16
    hy-vla train --preset hy-vla-tiny --dataset data/mw_reach --out runs/reach          # resumes
    hy-vla train --preset hy-vla-tiny --dataset D --out O --set stage=uac --set max_delay=4 --set model.horizon=10

How the model config is resolved from the preset and the dataset: `hy_vla.training.run_config`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", help="a preset: model + training settings (hy-vla presets lists them); with --init: training only"
    )
    parser.add_argument("--dataset", help="LeRobot v3 dataset directory or HDF5 episodes (default on resume: saved)")
    parser.add_argument("--out", required=True, help="run directory: checkpoints/, tb/, train_config.json")
    parser.add_argument(
        "--steps", type=int, help="optimizer steps (default: the preset's; on resume: extends or shortens the run)"
    )
    parser.add_argument("--batch-size", type=int, help="samples per optimizer step (default: the preset's)")
    parser.add_argument("--save-every", type=int, help="steps between checkpoints (default: the preset's)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument(
        "--print-config", action="store_true", help="print every setting of the resolved run (--set keys) and exit"
    )
    parser.add_argument("--init", help="start from this checkpoint directory's weights and config")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override: a TrainConfig field (grad_accum=2), model.<field> (model.horizon=10), data.<field>",
    )


def _fresh(args: argparse.Namespace, out: Path):  # noqa: ANN202
    from hy_vla.data.loader import open_source
    from hy_vla.models.config import HyVLAConfig
    from hy_vla.presets import model_config, train_config
    from hy_vla.training.config import TrainConfig
    from hy_vla.training.run_config import parse_overrides, resolve_run

    if not args.dataset:
        raise ValueError("--dataset is required for a new run")
    flags = {"steps": args.steps, "batch_size": args.batch_size, "save_every": args.save_every, "lr": args.lr}
    flags = {"out_dir": str(out), **{k: v for k, v in flags.items() if v is not None}}
    if args.init:  # the checkpoint's architecture; training settings from --preset when given
        model = HyVLAConfig.from_pretrained(args.init)
        train = train_config(args.preset, **flags) if args.preset else TrainConfig(**flags)
    elif args.preset:  # the preset's whole recipe: architecture and training settings
        model, train = model_config(args.preset), train_config(args.preset, **flags)
    else:
        raise ValueError("give --preset NAME (or --init CHECKPOINT_DIR)")
    source = open_source(args.dataset)
    run = resolve_run(model, source, args.dataset, train, parse_overrides(args.set), init=args.init)
    return run, source


def _resumed(args: argparse.Namespace, out: Path):  # noqa: ANN202
    from hy_vla.data.loader import open_source
    from hy_vla.training.run_config import RunConfig

    run = RunConfig.load(out)
    ignored = [f"--{k.replace('_', '-')}" for k in ("preset", "batch_size", "save_every", "lr", "init", "set")
               if getattr(args, k)]  # fmt: skip
    if ignored:
        print(f"note: {out} holds a run; {', '.join(ignored)} ignored (edit train_config.json to change it)",
              file=sys.stderr)  # fmt: skip
    if args.dataset and Path(args.dataset).resolve() != Path(run.dataset).resolve():
        raise ValueError(f"{out} was trained on {run.dataset}, not {args.dataset}; use another --out")
    run.train = run.train.replace(out_dir=str(out), **({"steps": args.steps} if args.steps else {}))
    return run, open_source(run.dataset)


def run(args: argparse.Namespace) -> int:
    from hy_vla.training.launch import launch
    from hy_vla.training.run_config import RUN_CONFIG

    out = Path(args.out)
    resuming = (out / RUN_CONFIG).is_file()
    run_cfg, _ = _resumed(args, out) if resuming else _fresh(args, out)
    if args.print_config:
        from hy_vla.training.run_config import settings_lines

        print("\n".join(settings_lines(run_cfg.model.to_dict(), run_cfg.data.to_dict(), run_cfg.train.to_dict())))
        return 0
    from hy_vla.training.distributed import context_from_env

    metrics = launch(run_cfg, out, resuming=resuming)
    if metrics and context_from_env().is_main:
        print(f"done: step {run_cfg.train.steps}, loss {metrics['loss']:.4f}, checkpoints in {out / 'checkpoints'}")
    return 0
