"""Lists of B = 1 model batches on disk (safetensors + JSON, never pickle): preference pairs, expert corrections.

`stem.safetensors` holds each tensor key stacked over the batches, `stem.json` the count and the list-valued
keys (the instruction strings). All batches of one file share their keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def save_batches(stem: Path, batches: list[dict[str, Any]]) -> None:
    """Write `batches` (each B = 1) to stem.safetensors + stem.json (JSON last: it marks the pair complete)."""
    from hy_vla.utils.atomic import atomic_save_tensors, atomic_write_json

    tensors: dict[str, torch.Tensor] = {}
    lists: dict[str, list] = {}
    for key, value in batches[0].items() if batches else ():
        vals = [b[key] for b in batches]
        if isinstance(value, torch.Tensor):
            tensors[key] = torch.cat(vals).contiguous()
        else:
            lists[key] = [v for val in vals for v in val]
    atomic_save_tensors(tensors, stem.with_name(stem.name + ".safetensors"))
    atomic_write_json(stem.with_name(stem.name + ".json"), {"count": len(batches), "lists": lists})


def has_batches(stem: Path) -> bool:
    return stem.with_name(stem.name + ".json").is_file()


def load_batches(stem: Path) -> list[dict[str, Any]]:
    """The batches `save_batches` wrote (B = 1 each)."""
    from safetensors.torch import load_file

    meta = json.loads(stem.with_name(stem.name + ".json").read_text())
    tensors = load_file(str(stem.with_name(stem.name + ".safetensors")))
    out = []
    for i in range(meta["count"]):
        batch: dict[str, Any] = {k: v[i : i + 1] for k, v in tensors.items()}
        batch.update({k: [v[i]] for k, v in meta["lists"].items()})
        out.append(batch)
    return out
