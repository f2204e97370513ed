"""Per-file SHA-256 manifests of checkpoint folders (`checksums.json`): bit rot shows on load, not as wrong actions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHECKSUMS = "checksums.json"  # SHA-256 of every file of a checkpoint, written before its COMPLETE marker


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def verify_checksums(path: Path) -> None:
    """Compare every file of a checkpoint with its recorded SHA-256 (checkpoints written before checksums pass)."""
    manifest = path / CHECKSUMS
    if not manifest.is_file():
        return
    try:
        sums = json.loads(manifest.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{manifest}: not valid JSON ({e})") from None
    for name, want in sums.items():
        if not (path / name).is_file():
            raise ValueError(f"{path / name}: missing (listed in {CHECKSUMS})")
        if file_sha256(path / name) != want:
            raise ValueError(f"{path / name}: SHA-256 differs from the one recorded when it was written (bit rot?)")
