"""`CheckpointPolicy`: a trained checkpoint behind the raw-observation policy interface.

    raw obs (uint8 images, state in robot units, prompt)
      -> frame history (K frames per camera) + normalized state          (input transforms)
      -> HyVLA.sample_actions                                              (normalized chunk)
      -> unnormalize -> action representation decode (delta -> absolute)  (output transforms)
      -> {"actions": (H * action_stride, action_dim) float32 robot units}

The transforms are the training sample builder's (`hy_vla.data.transforms.RobotTransforms`, the history
indexing of `hy_vla.data.samples.history_indices`) with the norm stats saved in the checkpoint. Strided
predictions (one action every `action_stride` control steps) are held for `action_stride` steps, or blended
linearly into the next one (`stride_mode="interp"`, `hy_vla.actions.strided`), so the result is one command per
control period.

Real-time chunking: an observation may carry the previous chunk's remaining actions and their guidance weights
(`ACTION_PREFIX_KEY`, `ACTION_PREFIX_WEIGHTS_KEY`, robot units). They are mapped into the model's space by the
same transforms as training targets and passed to `HyVLA.sample_actions(prefix_actions=, prefix_weights=)`
(`hy_vla.flow.guidance`). They travel the same way locally and over the wire (`hy-vla serve`), so the async
runtime does not care whether the policy is local or remote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hy_vla import keys
from hy_vla.actions.strided import STRIDE_MODES, expand_strided
from hy_vla.data.samples import resize_uint8
from hy_vla.data.transforms import RobotTransforms
from hy_vla.policy.history import FrameHistory
from hy_vla.policy.protocol import (
    ACTION_PREFIX_KEY,
    ACTION_PREFIX_WEIGHTS_KEY,
    ACTIONS_KEY,
    PROMPT_KEY,
    SUPPORTS_PREFIX,
)


def to_chw_uint8(key: str, image: Any) -> torch.Tensor:
    """An HWC (or CHW) uint8 image -> (3, H, W) uint8 tensor; clear error otherwise."""
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or 3 not in (a.shape[0], a.shape[-1]):
        raise ValueError(f"{key!r}: expected a uint8 image (H, W, 3) or (3, H, W), got {a.dtype} {a.shape}")
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t if a.shape[0] == 3 and a.shape[-1] != 3 else t.permute(2, 0, 1).contiguous()


def check_predict_mode(cfg: Any, mode: str | None) -> str | None:
    """An inference-time HybridVLA predict mode (diff / ar / diff+ar); only a hybrid decoder has one."""
    if mode is None:
        return None
    from hy_vla.models.decoders.hybrid import PREDICT_MODES

    if cfg.decoder != "hybrid":
        raise ValueError(
            f"predict_mode {mode!r} needs a checkpoint with decoder 'hybrid'; this one has {cfg.decoder!r}"
        )
    if mode not in PREDICT_MODES:
        raise ValueError(f"predict_mode {mode!r} not in {PREDICT_MODES}")
    return mode


@dataclass
class Prepared:
    """One session's request, ready for the model (`CheckpointPolicy.prepare`)."""

    batch: dict[str, Any]  # the model batch, B = 1
    noise: torch.Tensor  # (1, H, max_action_dim): the flow's starting point, from the session's generator
    guidance: dict[str, Any]  # sample_actions' prefix arguments ({} without real-time chunking)
    state: np.ndarray  # (S,) robot-unit state, for the output transform
    t0: float  # when the request started (policy timing)


class CheckpointPolicy:
    """PolicyLike around a HyVLA checkpoint (one session: call `reset` between episodes)."""

    def __init__(
        self,
        model: Any,
        *,
        num_steps: int | None = None,
        seed: int = 0,
        predict_mode: str | None = None,
        stride_mode: str = "hold",
    ) -> None:
        from hy_vla.embodiments import get_embodiment

        if stride_mode not in STRIDE_MODES:
            raise ValueError(f"stride_mode must be one of {STRIDE_MODES}, got {stride_mode!r}")
        self.stride_mode = stride_mode
        self.model = model.eval()
        cfg = model.config
        self.config = cfg
        self.num_steps = num_steps
        self.predict_mode = check_predict_mode(cfg, predict_mode)
        self.embodiment = get_embodiment(cfg.embodiment)
        self.representation = self.embodiment.representation
        self.stats = model.norm_stats if model.norm_stats is not None and model.norm_stats.embodiments() else None
        if self.stats is not None and cfg.embodiment not in self.stats.embodiments():
            raise ValueError(
                f"checkpoint norm stats cover {self.stats.embodiments()}, not its embodiment {cfg.embodiment!r}"
            )
        self.transforms = RobotTransforms(self.representation, self.stats, cfg.embodiment)
        self.robot_state_dim = self.embodiment.robot_state_dim  # what a request's state has
        self.robot_action_dim = self.embodiment.robot_action_dim  # what `infer` returns per step
        model_widths = self.representation.model_widths(self.robot_state_dim, self.embodiment.robot_action_dim)
        if model_widths != (cfg.state_dim, cfg.action_dim):
            raise ValueError(
                f"checkpoint config has state/action widths {cfg.state_dim}/{cfg.action_dim}, but embodiment "
                f"{cfg.embodiment!r} feeds the model {model_widths[0]}/{model_widths[1]}"
            )
        self.history = FrameHistory(cfg.camera_names, cfg.history_frames, cfg.history_stride)
        self.generator = torch.Generator().manual_seed(seed)
        self.metadata: dict[str, Any] = {
            "name": "hy-vla",
            "cameras": list(cfg.camera_names),
            # What the robot sends and receives (the embodiment's own layout, e.g. quaternion poses); the model's
            # widths (e.g. rot6d) can differ and follow from them through the representation.
            "state_dim": self.embodiment.robot_state_dim,
            "action_dim": self.embodiment.robot_action_dim,
            "image_size": cfg.image_size,
            "horizon": cfg.horizon,
            "action_stride": cfg.action_stride,
            "history_frames": cfg.history_frames,
            "embodiment": cfg.embodiment,
            "fps": self.embodiment.fps,
            SUPPORTS_PREFIX: True,
        }
        if self.predict_mode is not None:
            self.metadata["predict_mode"] = self.predict_mode

    @classmethod
    def from_checkpoint(
        cls, directory: str | Path, device: str = "cpu", dtype: str = "float32", **kwargs: Any
    ) -> CheckpointPolicy:
        from hy_vla.models.hy_vla import HyVLA

        model = HyVLA.from_pretrained(directory).to(device=torch.device(device), dtype=getattr(torch, dtype))
        return cls(model, **kwargs)

    def reset(self) -> None:
        self.history.reset()

    def seed_noise(self, seed: int) -> None:
        """Restart this session's noise stream from `seed` (evaluation: one stream per episode seed)."""
        self.generator.manual_seed(seed)

    def _frames(self, obs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Each camera's (3, S, S) uint8 frame; other sizes are resized as training samples are."""
        cfg = self.config
        frames = {}
        size = (cfg.image_size, cfg.image_size)
        for cam, key in zip(cfg.camera_names, cfg.image_keys, strict=True):
            if key not in obs:
                raise ValueError(f"missing {key!r}: this checkpoint's cameras are {list(cfg.camera_names)}")
            frame = to_chw_uint8(key, obs[key])
            frames[cam] = frame if tuple(frame.shape[1:]) == size else resize_uint8(frame[None], size)[0]
        return frames

    @property
    def wants_every_frame(self) -> bool:
        """Only a multi-frame history needs the frames of steps executed without a query."""
        return self.history.span > 1

    def observe(self, obs: dict[str, Any]) -> None:
        """Record the frames of a control step executed without a query (history stride = control steps)."""
        self.history.push(self._frames(obs))

    def _state(self, obs: dict[str, Any]) -> np.ndarray:
        if keys.STATE not in obs:
            raise ValueError(f"missing {keys.STATE!r}: expected float32 ({self.robot_state_dim},) in robot units")
        s = np.asarray(obs[keys.STATE], dtype=np.float32).reshape(-1)
        if s.shape != (self.robot_state_dim,):
            raise ValueError(f"{keys.STATE!r} has shape {s.shape}; expected ({self.robot_state_dim},)")
        if not np.isfinite(s).all():
            raise ValueError(f"{keys.STATE!r} contains NaN or inf")
        return s

    def model_prefix(self, state: np.ndarray, prefix: Any, weights: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Robot-unit prefix (P, A) + weights (P,) -> normalized model prefix (1, P', A), weights (P',).

        P' = ceil(P / action_stride) capped at the horizon: control step j is model step j // stride,
        whose action is the one held from control step (j // stride) * stride.
        """
        cfg = self.config
        prefix = np.asarray(prefix, dtype=np.float32)
        weights = np.asarray(weights, dtype=np.float32).reshape(-1)
        width = self.embodiment.robot_action_dim
        if prefix.ndim != 2 or prefix.shape[1] != width or len(prefix) != len(weights) or len(prefix) == 0:
            raise ValueError(
                f"{ACTION_PREFIX_KEY!r} must be (P >= 1, {width}) with {ACTION_PREFIX_WEIGHTS_KEY!r} (P,); "
                f"got {prefix.shape} and {weights.shape}"
            )
        if not (np.isfinite(prefix).all() and np.isfinite(weights).all()):
            raise ValueError(f"{ACTION_PREFIX_KEY!r} / {ACTION_PREFIX_WEIGHTS_KEY!r} contain NaN or inf")
        idx = np.arange(0, len(prefix), cfg.action_stride)[: cfg.horizon]
        acts = self.transforms.actions_to_model(torch.from_numpy(state), torch.from_numpy(prefix[idx]))  # (P', A)
        return acts.unsqueeze(0), torch.from_numpy(weights[idx].copy())

    @staticmethod
    def guided(obs: dict[str, Any]) -> bool:
        """Whether the observation carries a real-time-chunking prefix (its sampling is this session's own)."""
        return ACTION_PREFIX_KEY in obs or ACTION_PREFIX_WEIGHTS_KEY in obs

    def _guidance(self, obs: dict[str, Any], state: np.ndarray) -> dict[str, Any]:
        """sample_actions' prefix arguments from the optional real-time-chunking keys ({} without them)."""
        has_prefix, has_weights = ACTION_PREFIX_KEY in obs, ACTION_PREFIX_WEIGHTS_KEY in obs
        if has_prefix != has_weights:
            raise ValueError(f"give both {ACTION_PREFIX_KEY!r} and {ACTION_PREFIX_WEIGHTS_KEY!r}, or neither")
        if not has_prefix:
            return {}
        acts, weights = self.model_prefix(state, obs[ACTION_PREFIX_KEY], obs[ACTION_PREFIX_WEIGHTS_KEY])
        return {"prefix_actions": acts, "prefix_weights": weights}

    def prepare(self, obs: dict[str, Any]) -> Prepared:
        """Everything before the model: checks, frame history, the model batch (B=1), this session's noise.

        `infer` = `prepare` -> `model.sample_actions` -> `finish`; `hy_vla.policy.batched` runs the middle step once
        for several sessions sharing a model.
        """
        t0 = time.perf_counter()
        cfg = self.config
        state = self._state(obs)
        prompt = obs.get(PROMPT_KEY)
        if not isinstance(prompt, str) or not prompt:
            raise ValueError(f"missing {PROMPT_KEY!r}: the instruction string")
        guidance = self._guidance(obs, state)  # checked before the frame enters the history
        self.history.push(self._frames(obs))
        stacked, is_pad = self.history.stacked()
        batch: dict[str, Any] = {
            key: stacked[cam].unsqueeze(0) for cam, key in zip(cfg.camera_names, cfg.image_keys, strict=True)
        }
        batch[keys.HISTORY_IS_PAD] = is_pad.unsqueeze(0)
        batch[keys.STATE] = self.transforms.state_to_model(torch.from_numpy(state)).unsqueeze(0)
        batch[keys.TASK] = [prompt]
        noise = torch.randn((1, cfg.horizon, cfg.max_action_dim), generator=self.generator)  # this session's stream
        return Prepared(batch, noise, guidance, state, t0)

    def finish(self, prepared: Prepared, pred: torch.Tensor) -> dict[str, Any]:
        """pred: (H, max_action_dim) normalized model actions -> the reply, in robot units."""
        cfg = self.config
        model_actions = expand_strided(pred[:, : cfg.action_dim].cpu(), cfg.action_stride, self.stride_mode)
        actions = self.transforms.actions_to_robot(torch.from_numpy(prepared.state), model_actions)
        out = actions.numpy().astype(np.float32)  # (H * action_stride, A) robot units: one per control step
        if not np.isfinite(out).all():  # e.g. weights of a run that diverged: never hand these to a robot
            raise FloatingPointError(
                f"the model produced NaN/inf actions ({int((~np.isfinite(out)).sum())} of {out.size} values); "
                "the checkpoint's weights or norm stats are not finite"
            )
        return {ACTIONS_KEY: out, "policy_timing": {"infer_ms": (time.perf_counter() - prepared.t0) * 1000.0}}

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        p = self.prepare(obs)
        pred = self.model.sample_actions(
            p.batch, num_steps=self.num_steps, noise=p.noise, predict_mode=self.predict_mode, **p.guidance
        )[0]
        return self.finish(p, pred)
