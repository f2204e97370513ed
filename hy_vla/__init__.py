"""Hy-VLA: an open, end-to-end vision-language-action robot learning stack.

`import hy_vla` stays light: the model classes are resolved lazily on first
attribute access, and heavy optional dependencies (simulators, transformers,
websockets) are only imported by the modules that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "HyVLA": "hy_vla.models.hy_vla",
    "HyVLAConfig": "hy_vla.models.config",
}

if TYPE_CHECKING:  # pragma: no cover
    from hy_vla.models.config import HyVLAConfig
    from hy_vla.models.hy_vla import HyVLA


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hy_vla' has no attribute {name!r}")


__all__ = ["HyVLA", "HyVLAConfig", "__version__"]
