"""Embodiments: named robot layouts, the unified slot space, and the embodiment prompt."""

from hy_vla.embodiments.embodiment import Embodiment, SubVector
from hy_vla.embodiments.prompt import embodiment_prompt, render_prompt
from hy_vla.embodiments.registry import get_embodiment, list_embodiments, register_embodiment
from hy_vla.embodiments.slots import UNIFIED_WIDTH

__all__ = [
    "UNIFIED_WIDTH",
    "Embodiment",
    "SubVector",
    "embodiment_prompt",
    "get_embodiment",
    "list_embodiments",
    "register_embodiment",
    "render_prompt",
]
