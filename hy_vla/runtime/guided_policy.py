"""`GuidedCheckpointPolicy`: a `CheckpointPolicy` that can continue a previous chunk (real-time chunking).

Design: the raw observation may carry two optional keys (`hy_vla.runtime.obs_keys`): the previous
chunk's actions from this step on, in robot units, and their guidance weights. They travel the same
way locally and over the wire (`hy-vla serve` accepts them), so the async runtime does not care
whether the policy is local or remote. This class maps them into the model's space, exactly as
training targets are built (`representation.encode` relative to the current state, then the
checkpoint's action normalization, then one action per `action_stride` control steps), and hands
them to `HyVLA.sample_actions(prefix_actions=, prefix_weights=)`, which applies the guidance of
`hy_vla.flow.guidance`. Without the keys it behaves exactly like `CheckpointPolicy`.

The prefix reaches `sample_actions` through a thin proxy around the (possibly shared) model, so the
whole input/output pipeline of `CheckpointPolicy.infer` is reused rather than copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hy_vla import keys
from hy_vla.policy.checkpoint_policy import CheckpointPolicy
from hy_vla.runtime.obs_keys import ACTION_PREFIX_KEY, ACTION_PREFIX_WEIGHTS_KEY, SUPPORTS_PREFIX


class _PrefixModel:
    """Forwards everything to the model; `sample_actions` also receives the pending prefix, if any.

    One proxy per policy (per session), so sessions sharing a model never see each other's prefix.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self.pending: tuple[Tensor, Tensor] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def eval(self) -> _PrefixModel:
        self._model.eval()
        return self

    def sample_actions(self, batch: dict[str, Any], **kwargs: Any) -> Tensor:
        if self.pending is not None:
            kwargs["prefix_actions"], kwargs["prefix_weights"] = self.pending
        return self._model.sample_actions(batch, **kwargs)


class GuidedCheckpointPolicy(CheckpointPolicy):
    """`CheckpointPolicy` + the optional `action_prefix` / `action_prefix_weights` observation keys."""

    def __init__(self, model: Any, **kwargs: Any) -> None:
        super().__init__(_PrefixModel(model), **kwargs)
        self.metadata[SUPPORTS_PREFIX] = True

    def model_prefix(self, state: np.ndarray, prefix: np.ndarray, weights: np.ndarray) -> tuple[Tensor, Tensor]:
        """Robot-unit prefix (P, A) + weights (P,) -> normalized model prefix (1, P', A), weights (P',).

        P' = ceil(P / action_stride) capped at the horizon: control step j is model step j // stride,
        whose action is the one held from control step (j // stride) * stride.
        """
        cfg = self.config
        prefix = np.asarray(prefix, dtype=np.float32)
        weights = np.asarray(weights, dtype=np.float32).reshape(-1)
        if prefix.ndim != 2 or prefix.shape[1] != cfg.action_dim or len(prefix) != len(weights) or len(prefix) == 0:
            raise ValueError(
                f"{ACTION_PREFIX_KEY!r} must be (P >= 1, {cfg.action_dim}) with {ACTION_PREFIX_WEIGHTS_KEY!r} (P,); "
                f"got {prefix.shape} and {weights.shape}"
            )
        if not (np.isfinite(prefix).all() and np.isfinite(weights).all()):
            raise ValueError(f"{ACTION_PREFIX_KEY!r} / {ACTION_PREFIX_WEIGHTS_KEY!r} contain NaN or inf")
        idx = np.arange(0, len(prefix), cfg.action_stride)[: cfg.horizon]
        acts = self.representation.encode(torch.from_numpy(state), torch.from_numpy(prefix[idx]))  # (P', A)
        if self.stats is not None:
            acts = self.stats.normalize(keys.ACTION, acts, cfg.embodiment)
        return torch.as_tensor(acts, dtype=torch.float32).unsqueeze(0), torch.from_numpy(weights[idx].copy())

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        has_prefix, has_weights = ACTION_PREFIX_KEY in obs, ACTION_PREFIX_WEIGHTS_KEY in obs
        if has_prefix != has_weights:
            raise ValueError(f"give both {ACTION_PREFIX_KEY!r} and {ACTION_PREFIX_WEIGHTS_KEY!r}, or neither")
        if not has_prefix:
            return super().infer(obs)
        model: _PrefixModel = self.model
        model.pending = self.model_prefix(self._state(obs), obs[ACTION_PREFIX_KEY], obs[ACTION_PREFIX_WEIGHTS_KEY])
        try:
            return super().infer(obs)
        finally:
            model.pending = None


@dataclass
class GuidedCheckpointFactory:
    """Picklable ``task -> GuidedCheckpointPolicy`` for the evaluator (one policy per process, as
    `hy_vla.eval.factories.CheckpointFactory`)."""

    checkpoint: str
    device: str = "cpu"
    predict_mode: str | None = None  # as `CheckpointFactory.predict_mode`
    _policy: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_policy": None}  # never ship weights

    def __call__(self, task: str) -> GuidedCheckpointPolicy:
        if self._policy is None:
            from hy_vla.models.hy_vla import HyVLA

            model = HyVLA.from_pretrained(self.checkpoint).to(torch.device(self.device))
            self._policy = GuidedCheckpointPolicy(model, predict_mode=self.predict_mode)
        return self._policy
