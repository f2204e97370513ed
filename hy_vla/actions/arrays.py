"""Let torch-written math accept numpy arrays too.

The action and embodiment math is written once, in torch, on batched tensors.
Data pipelines and robot drivers hand us numpy arrays, so `numpy_compatible`
wraps a function: numpy arguments are turned into tensors on the way in (no
copy when possible), and if any argument was numpy every tensor in the result
is turned back into numpy on the way out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

F = TypeVar("F", bound=Callable[..., Any])


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x))
    if not (t.is_floating_point() or t.dtype == torch.bool):
        # integer inputs (e.g. `np.eye(3, dtype=int)`) would break trigonometry and division
        t = t.to(torch.get_default_dtype())
    return t


def _to_numpy(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.detach().cpu().numpy()
    if isinstance(out, tuple):
        return tuple(_to_numpy(o) for o in out)
    if isinstance(out, list):
        return [_to_numpy(o) for o in out]
    if isinstance(out, dict):
        return {k: _to_numpy(v) for k, v in out.items()}
    return out


def numpy_compatible(fn: F) -> F:
    """Decorator: numpy in -> numpy out, tensors in -> tensors out (dtype kept)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        was_numpy = any(isinstance(a, np.ndarray) for a in (*args, *kwargs.values()))
        if not was_numpy:
            return fn(*args, **kwargs)
        args = tuple(_to_tensor(a) if isinstance(a, np.ndarray) else a for a in args)
        kwargs = {k: _to_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        return _to_numpy(fn(*args, **kwargs))

    return wrapper  # type: ignore[return-value]
