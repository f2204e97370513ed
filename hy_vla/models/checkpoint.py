"""Saving and loading model directories: model.safetensors + config.json + norm_stats.json (+ tokenizer files).

Writes are atomic at the directory level: everything is written and fsynced into a
hidden temporary sibling, which is then renamed into place, so a crash never leaves a
half-written checkpoint under the final name. Nothing is ever pickled.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from hy_vla.models.config import CONFIG_NAME, HyVLAConfig
from hy_vla.models.objective_context import OBJECTIVES_PREFIX
from hy_vla.models.tokenizer import load_tokenizer
from hy_vla.utils.atomic import atomic_write_text, save_tensors
from hy_vla.utils.legacy import rename_weights

WEIGHTS_NAME = "model.safetensors"
NORM_STATS_NAME = "norm_stats.json"
EMPTY_NORM_STATS: dict[str, Any] = {"format": "hy-vla/norm-stats", "version": 1, "embodiments": {}}


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a fully written directory `tmp` to `final`, replacing an existing one."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save_model(model: Any, directory: Path, state_dict: dict[str, Any] | None = None) -> Path:
    """Write `model` (a HyVLA) to `directory` atomically; returns the directory.

    `state_dict` replaces the model's own weights (same names and shapes): e.g. EMA averages, or the
    full weights gathered from an FSDP-sharded model, whose own parameters are shards.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    weights = model.state_dict() if state_dict is None else state_dict
    state = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    save_tensors(state, tmp / WEIGHTS_NAME, metadata={"format": "pt", "model_type": model.config.model_type})
    cfg = model.config
    if cfg.tokenizer == "hf":  # the tokenizer travels inside the checkpoint from now on
        model.tokenizer.save(tmp)
        cfg = cfg.replace(tokenizer_path=None)
    atomic_write_text(tmp / CONFIG_NAME, cfg.to_json())
    stats = model.norm_stats.to_dict() if model.norm_stats is not None else EMPTY_NORM_STATS
    atomic_write_text(tmp / NORM_STATS_NAME, json.dumps(stats, indent=2, sort_keys=True))
    replace_dir(tmp, directory)
    return directory


def read_norm_stats(directory: Path) -> Any:
    """Read and validate norm_stats.json (-> NormStats, or None when absent); refuse pickled stats files."""
    path = directory / NORM_STATS_NAME
    if not path.is_file():
        pkl = [p.name for p in directory.glob("norm_stats*.pkl")]
        if pkl:
            raise ValueError(
                f"{directory} has pickled normalization stats ({pkl[0]}) and no {NORM_STATS_NAME}: pickle can run "
                "arbitrary code when loaded, so Hy-VLA never unpickles. Convert it once to JSON in a trusted session."
            )
        return None
    from hy_vla.data.norm_stats import NormStats

    return NormStats.load(path)


def physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not available on this platform
        return None


def check_fits_in_memory(cls: type, config: HyVLAConfig, tokenizer: Any, directory: Path) -> None:
    """Refuse a config.json whose model would not fit in this machine's memory, before allocating anything: the
    model is built on the meta device to count its parameters (a config file is untrusted input)."""
    ram = physical_memory_bytes()
    if ram is None or config.hf_backbone.enabled:  # a transformers backbone is sized by its own files
        return
    with torch.device("meta"):
        n = sum(p.numel() for p in cls(config, tokenizer=tokenizer).parameters())
    if 4 * n > ram:
        raise ValueError(
            f"{directory / CONFIG_NAME} describes a model of {n / 1e9:.1f}B parameters ({4 * n / 2**30:.0f} GiB in "
            f"float32), more than this machine's {ram / 2**30:.0f} GiB of memory: not allocating it (check the "
            "vision / backbone / expert sizes of the config)"
        )


def load_model(
    cls: type,
    directory: Path,
    config: HyVLAConfig | None = None,
    strict: bool = True,
    weights: dict[str, Any] | None = None,
    trust_tokenizer_path: bool = False,
) -> Any:
    """Build `cls(config)` (config.json's by default) and load the directory's weights (or `weights`, e.g.
    the checkpoint's weights adapted for fine-tuning) and norm stats."""
    directory = Path(directory)
    if not (directory / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {directory}: not a Hy-VLA checkpoint directory")
    config = config or HyVLAConfig.from_pretrained(directory)
    tokenizer = None
    if config.tokenizer == "hf":
        has_files = (directory / "tokenizer_config.json").is_file() or (directory / "tokenizer.json").is_file()
        if not has_files and not trust_tokenizer_path:
            # A saved checkpoint carries its tokenizer; a config.json pointing elsewhere could load any directory.
            raise ValueError(
                f"{directory} has no tokenizer files and its config.json points the tokenizer at "
                f"{config.tokenizer_path!r}: copy the tokenizer into the checkpoint (or load with "
                "trust_tokenizer_path=True if you trust that directory)"
            )
        tokenizer = load_tokenizer("hf", directory if has_files else config.tokenizer_path)
    check_fits_in_memory(cls, config, tokenizer, directory)
    model = cls(config, tokenizer=tokenizer)
    if weights is None:
        try:
            weights = load_file(str(directory / WEIGHTS_NAME))
        except SafetensorError as e:
            reason = f"unreadable safetensors file (truncated or corrupt?): {e}"
            raise ValueError(f"{directory / WEIGHTS_NAME}: {reason}") from e
    state = weights
    # older checkpoints saved training-only heads with the network: they are not part of it any more
    state = {k: v for k, v in rename_weights(state).items() if not k.startswith(OBJECTIVES_PREFIX)}
    own = model.state_dict()
    for name, tensor in state.items():
        if name in own and own[name].shape != tensor.shape:
            raise ValueError(
                f"{directory / WEIGHTS_NAME}: parameter {name!r} has shape {tuple(tensor.shape)} but the config builds "
                f"{tuple(own[name].shape)} (config.json and weights disagree)"
            )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if strict and (missing or unexpected):
        raise ValueError(f"{directory / WEIGHTS_NAME}: missing parameters {missing[:5]}, unexpected {unexpected[:5]}")
    model.norm_stats = read_norm_stats(directory)
    return model
