"""Picklable policy factories (``task -> PolicyLike``) for the evaluator and the collector.

Worker processes start with "spawn", so a factory must be a module-level class,
not a lambda. Each factory builds its policy in the process that runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hy_vla.policy.protocol import PolicyLike


@dataclass
class ScriptedExpertFactory:
    """The suite's scripted expert of each task (`hy_vla.sim.registry.make_expert`)."""

    suite: str
    privileged = True  # experts read simulator state: environments must be built to expose it

    def __call__(self, task: str) -> PolicyLike:
        from hy_vla.sim.registry import make_expert

        return make_expert(self.suite, task)


@dataclass
class CheckpointFactory:
    """A trained checkpoint, loaded once per process and shared by all tasks (it reads the instruction)."""

    checkpoint: str
    device: str = "cpu"
    predict_mode: str | None = None  # HybridVLA checkpoints: "diff" | "ar" | "diff+ar" instead of the trained one
    stride_mode: str = "hold"  # action_stride > 1: hold each prediction or interpolate (hy_vla.actions.strided)
    temporal_ensemble: float | None = None  # m of ACT's temporal ensembling (query every step); None: off
    _policy: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_policy": None}  # never ship weights

    def __call__(self, task: str) -> PolicyLike:
        if self._policy is None:
            self._policy = load_checkpoint_policy(
                self.checkpoint, self.device, predict_mode=self.predict_mode, stride_mode=self.stride_mode
            )
            if self.temporal_ensemble is not None:
                from hy_vla.policy.temporal_ensemble import TemporalEnsemble

                self._policy = TemporalEnsemble.around(self._policy, self.temporal_ensemble)
        return self._policy


def load_checkpoint_policy(checkpoint: str, device: str = "cpu", **kwargs: Any) -> PolicyLike:
    """`hy_vla.policy.checkpoint_policy.CheckpointPolicy.from_checkpoint`, imported lazily with a clear error."""
    try:
        from hy_vla.policy.checkpoint_policy import CheckpointPolicy
    except ImportError as e:
        raise ImportError(
            f"cannot evaluate checkpoint {checkpoint!r}: hy_vla.policy.checkpoint_policy is not available ({e})"
        ) from e
    return CheckpointPolicy.from_checkpoint(checkpoint, device=device, **kwargs)
