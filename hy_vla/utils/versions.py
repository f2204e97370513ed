"""The versions of the packages a result depends on, recorded next to every report and dataset."""

from __future__ import annotations

import platform
from importlib import metadata

VERSIONED_PACKAGES = ("hy-vla", "numpy", "torch", "mujoco", "metaworld", "gymnasium", "gym-aloha", "gym-pusht")


def package_versions(names: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Installed versions (None when absent), read from package metadata without importing anything."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
