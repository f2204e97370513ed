"""Training samples from episodes: K history frames, the state, H future actions, the instruction.

A sample for frame t of an episode of length T (DESIGN.md section 4):

    observation.images.<cam>    (K, 3, H, W) uint8    frames t-(K-1)*fs, ..., t-fs, t, clamped at 0
    observation.history_is_pad  (K,) bool             True where the wanted frame is before the episode start
    observation.state           (S,) float32          state at t
    action                      (H, A) float32        actions at t+o*s, t+(o+1)*s, ... (o = action_offset,
                                                      0 by default: LeRobot's action at t is the command
                                                      issued at t), clamped to the last frame, encoded by
                                                      the action representation (absolute = as recorded)
    action_is_pad               (H,) bool             True for steps past the episode end
    task, embodiment            str
    text_target                 str                   only with `text_target` set: the motion caption
                                                      (hy_vla.data.text_targets), for VL co-training
    extra.<name>                (E,) float32          per `extra_columns` entry {name: (column, frame)}: the
                                                      column at t ("current") or at 0 ("first"), normalized;
                                                      for training objectives (hy_vla.training.objectives),
                                                      never a model input
    first_frame.<image key>     (3, H, W) uint8       only with `first_frame_images`: the episode's frame 0

Sources are anything implementing `EpisodeSource` (LeRobot v3 datasets, HDF5 episode files).
Images stay uint8: the model converts to float and resizes (optional `image_size` resizes here,
in the worker, to cut the bytes crossing process boundaries).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from hy_vla import keys
from hy_vla.actions.delta_chunk import future_indices
from hy_vla.actions.representation import ActionRepresentation
from hy_vla.data.text_targets import TEXT_TARGETS, MotionCaptions
from hy_vla.data.transforms import RobotTransforms
from hy_vla.utils.legacy import upgrade_sample_config


@dataclass(frozen=True)
class EpisodeInfo:
    """Where an episode lies in its source: global frame range [start, stop) and its instruction."""

    index: int
    start: int
    stop: int
    task: str
    tasks: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        return self.stop - self.start


@runtime_checkable
class EpisodeSource(Protocol):
    """What the sample builder reads: per-episode low-dim columns and camera frames."""

    fps: int
    camera_keys: list[str]
    embodiment: str | None

    @property
    def num_episodes(self) -> int: ...

    @property
    def num_frames(self) -> int: ...

    def episode(self, i: int) -> EpisodeInfo: ...

    def column(self, key: str, episode: int) -> np.ndarray:  # (T, D)
        ...

    def images(self, camera_key: str, episode: int, frame_indices: Any) -> np.ndarray:  # (N, H, W, 3) uint8
        ...


@dataclass(frozen=True)
class SampleConfig:
    """How samples are cut from episodes (data settings; saved with the training config)."""

    cameras: tuple[str, ...] = ()  # camera feature keys ("observation.images.top") or bare names ("top")
    history_frames: int = 1  # K
    frame_stride: int = 1  # fs, frames between history frames
    horizon: int = 10  # H
    action_stride: int = 1  # s
    action_offset: int = 0  # o, first action index relative to t
    state_key: str = keys.STATE
    action_key: str = keys.ACTION
    representation: dict[str, Any] = field(default_factory=lambda: {"kind": "absolute"})
    image_size: tuple[int, int] | None = None  # (H, W) to resize to in the worker; None keeps the source size
    embodiment: str | None = None  # overrides the source's embodiment id
    text_target: str | None = None  # "motion": a caption per sample for VL co-training (hy_vla.data.text_targets)
    # Extra low-dimensional columns for training objectives: {batch name: (dataset column, "current" | "first")},
    # delivered normalized as `extra.<name>` from the sample's frame or the episode's first frame
    extra_columns: dict[str, tuple[str, str]] = field(default_factory=dict)
    first_frame_images: bool = False  # also deliver every camera's episode-start frame (`first_frame.<image key>`)

    def __post_init__(self) -> None:
        cams = tuple(c if c.startswith(keys.IMAGE_PREFIX) else keys.image_key(c) for c in self.cameras)
        object.__setattr__(self, "cameras", cams)
        for name in ("history_frames", "frame_stride", "horizon", "action_stride"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"SampleConfig.{name}: expected >= 1, got {getattr(self, name)}")
        if self.action_offset < 0:
            raise ValueError(f"SampleConfig.action_offset: expected >= 0, got {self.action_offset}")
        if self.image_size is not None:
            size = tuple(int(s) for s in self.image_size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"SampleConfig.image_size: expected (height, width), got {self.image_size}")
            object.__setattr__(self, "image_size", size)
        extra = {str(k): (str(v[0]), str(v[1])) for k, v in dict(self.extra_columns).items()}
        for name, (_, frame) in extra.items():
            if frame not in EXTRA_FRAMES:
                raise ValueError(f"SampleConfig.extra_columns[{name!r}]: frame must be one of {EXTRA_FRAMES}")
        object.__setattr__(self, "extra_columns", extra)
        if self.text_target is not None and self.text_target not in TEXT_TARGETS:
            raise ValueError(
                f"SampleConfig.text_target: expected one of {TEXT_TARGETS} or None, got {self.text_target!r}"
            )
        rep = self.representation
        if isinstance(rep, ActionRepresentation):
            object.__setattr__(self, "representation", rep.to_dict())
        else:
            ActionRepresentation.from_dict(dict(rep))  # validates

    @property
    def action_representation(self) -> ActionRepresentation:
        return ActionRepresentation.from_dict(dict(self.representation))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cameras"] = list(self.cameras)
        d["image_size"] = list(self.image_size) if self.image_size else None
        d["extra_columns"] = {k: list(v) for k, v in self.extra_columns.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleConfig:
        d = upgrade_sample_config(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"SampleConfig: unknown keys {sorted(unknown)}")
        d = dict(d)
        if "cameras" in d:
            d["cameras"] = tuple(d["cameras"])
        if d.get("image_size") is not None:
            d["image_size"] = tuple(d["image_size"])
        return cls(**d)


EXTRA_FRAMES = ("current", "first")


# Per-episode cache of the trained low-dimensional arrays (state in the model's layout and the encoded action chunks,
# normalized). A delta end-effector chunk costs H + 1 rotation conversions per arm when built per sample (about half
# of an ALOHA sample's time with cached frames); one vectorized pass per episode does them all at once. Datasets whose
# arrays would not fit in this many bytes build every sample from scratch.
LOWDIM_CACHE_BYTES = 512 * 2**20


def history_indices(t: int, history: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices t-(K-1)*fs, ..., t clamped at 0, and (K,) True where clamped (padded)."""
    wanted = t - (history - 1 - np.arange(history, dtype=np.int64)) * stride  # (K,)
    return np.maximum(wanted, 0), wanted < 0


def resize_uint8(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 3, h, w) uint8 with antialiased bilinear resampling."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    x = torch.nn.functional.interpolate(frames.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8)


class SampleBuilder:
    """Turns (episode, frame) positions of an `EpisodeSource` into sample dicts (see module docstring)."""

    def __init__(self, source: EpisodeSource, config: SampleConfig, norm_stats: Any | None = None) -> None:
        self.source, self.config, self.norm_stats = source, config, norm_stats
        missing = [c for c in config.cameras if c not in source.camera_keys]
        if missing:
            raise ValueError(f"cameras {missing} are not in the source (it has {source.camera_keys})")
        self.representation = config.action_representation
        self.embodiment = config.embodiment or source.embodiment or "default"
        # robot <-> model transforms, the same ones the inference policy applies (hy_vla.data.transforms)
        self.transforms = RobotTransforms(
            self.representation, norm_stats, self.embodiment, config.state_key, config.action_key
        )
        lengths = np.array([source.episode(e).length for e in range(source.num_episodes)], dtype=np.int64)
        self.episode_of = np.repeat(np.arange(len(lengths)), lengths)  # (N,) sample -> episode
        self.frame_of = np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.zeros(0, np.int64)
        for name, (column, _) in config.extra_columns.items():
            if source.num_episodes:
                try:
                    source.column(column, 0)
                except (KeyError, ValueError) as e:
                    raise ValueError(
                        f"{column!r} (data.extra_columns[{name!r}]) is not a column of the dataset ({e}); "
                        "`hy-vla collect` records observation.environment_state for Meta-World"
                    ) from e
        if norm_stats is not None:
            for key in self.lowdim_keys:
                norm_stats.get(key, self.embodiment)  # fails early, naming the missing key
        self.captions = MotionCaptions(source, config.state_key, self.embodiment) if config.text_target else None
        self._lowdim: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = (
            {} if self._lowdim_bytes() <= LOWDIM_CACHE_BYTES else None
        )

    def _lowdim_bytes(self) -> int:
        """Bytes the per-episode cache would hold for the whole source (0 for an empty one)."""
        if not self.source.num_episodes:
            return 0
        c = self.config
        state = np.asarray(self.source.column(c.state_key, 0), dtype=np.float32)[:1]  # (1, S)
        action = np.asarray(self.source.column(c.action_key, 0), dtype=np.float32)[:1]  # (1, D)
        s_model = self.representation.state_to_model(torch.from_numpy(state)).shape[-1]
        a_model = self.representation.encode(torch.from_numpy(state), torch.from_numpy(action)[:, None]).shape[-1]
        return self.source.num_frames * (s_model + c.horizon * (a_model + 1)) * 4

    def _episode_arrays(self, ep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model state (T, S'), actions (T, H, A) (normalized, by the same transforms as one sample) and
        action_is_pad (T, H) of one episode (cached)."""
        cache = self._lowdim
        assert cache is not None, "the per-episode arrays are off for this source (LOWDIM_CACHE_BYTES)"
        if ep not in cache:
            state, future, pad = self._episode_chunks(ep)
            cache[ep] = (
                np.asarray(self.transforms.state_to_model(state), dtype=np.float32),
                np.asarray(self.transforms.actions_to_model(state, future), dtype=np.float32),
                pad,
            )
        return cache[ep]

    def _episode_chunks(self, ep: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """One episode's recorded state (T, S), the recorded actions of every frame's chunk (T, H, D) and
        action_is_pad (T, H)."""
        c = self.config
        length = self.source.episode(ep).length
        state = np.asarray(self.source.column(c.state_key, ep), dtype=np.float32).reshape(length, -1)
        acts = np.asarray(self.source.column(c.action_key, ep), dtype=np.float32).reshape(length, -1)
        idx, pad = zip(
            *(future_indices(t, c.horizon, c.action_stride, length, offset=c.action_offset) for t in range(length)),
            strict=True,
        )
        idx, pad = np.stack(idx), np.stack(pad)  # (T, H)
        return torch.from_numpy(state), torch.from_numpy(acts[idx]), pad

    def __len__(self) -> int:
        return len(self.episode_of)

    @property
    def lowdim_keys(self) -> list[str]:
        """The normalized low-dimensional columns: state, action and the extra columns."""
        c = self.config
        extra = [col for col, _ in c.extra_columns.values()]
        return list(dict.fromkeys([c.state_key, c.action_key, *extra]))

    def _actions(self, ep: int, t: int, length: int, state: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        idx, is_pad = future_indices(t, c.horizon, c.action_stride, length, offset=c.action_offset)
        future = torch.from_numpy(np.asarray(self.source.column(c.action_key, ep)[idx], dtype=np.float32))  # (H, D)
        return self.transforms.actions_to_model(torch.from_numpy(state), future), torch.from_numpy(is_pad)  # (H, A)

    def __getitem__(self, i: int) -> dict[str, Any]:
        c = self.config
        ep, t = int(self.episode_of[i]), int(self.frame_of[i])
        info = self.source.episode(ep)
        out: dict[str, Any] = {}
        hist, hist_pad = history_indices(t, c.history_frames, c.frame_stride)
        for cam in c.cameras:
            frames = torch.from_numpy(self.source.images(cam, ep, hist)).permute(0, 3, 1, 2)  # (K, 3, H, W)
            out[cam] = resize_uint8(frames, c.image_size) if c.image_size else frames.contiguous()
        out[keys.HISTORY_IS_PAD] = torch.from_numpy(hist_pad)
        if self._lowdim is not None:
            states, chunks, pads = self._episode_arrays(ep)
            state_t, actions, is_pad = (torch.from_numpy(a[t].copy()) for a in (states, chunks, pads))
        else:
            state = np.asarray(self.source.column(c.state_key, ep)[t], dtype=np.float32)  # (S,)
            actions, is_pad = self._actions(ep, t, info.length, state)
            state_t = self.transforms.state_to_model(torch.from_numpy(state))
        if not (bool(torch.isfinite(state_t).all()) and bool(torch.isfinite(actions).all())):
            which = c.state_key if not bool(torch.isfinite(state_t).all()) else c.action_key
            raise ValueError(
                f"episode {ep}, frame {t}: {which!r} holds NaN/inf (in the recording, or produced by the action "
                "representation); training on it would turn the weights into NaN"
            )
        out[keys.STATE] = state_t
        out[keys.ACTION] = actions
        out[keys.ACTION_IS_PAD] = is_pad
        out[keys.TASK] = info.task
        out[keys.EMBODIMENT] = self.embodiment
        if c.first_frame_images:
            for cam in c.cameras:
                first = torch.from_numpy(self.source.images(cam, ep, [0])).permute(0, 3, 1, 2)  # (1, 3, H, W)
                first = resize_uint8(first, c.image_size) if c.image_size else first
                out[keys.FIRST_FRAME_PREFIX + cam] = first[0].contiguous()
        for name, (column, frame) in c.extra_columns.items():
            row = self.source.column(column, ep)[0 if frame == "first" else t]
            value = torch.from_numpy(np.asarray(row, dtype=np.float32))
            if self.norm_stats is not None:
                value = self.norm_stats.normalize(column, value, self.embodiment)
            out[keys.EXTRA_PREFIX + name] = value.float()
        if self.captions is not None:
            out[keys.TEXT_TARGET] = self.captions(ep, t)
        out["episode_index"], out["frame_index"] = ep, t
        return out

    def episode_lowdim(self, ep: int) -> dict[str, np.ndarray]:
        """Raw (unnormalized) trained arrays of every frame of one episode, without images:
        state (T, S') as the model is fed it, action (T, H, A), action_is_pad (T, H). Used to compute norm
        stats."""
        c = self.config
        length = self.source.episode(ep).length
        state, future, pad = self._episode_chunks(ep)
        encoded = self.representation.encode(state, future)  # (T, H, A)
        model_state = np.asarray(self.representation.state_to_model(state), dtype=np.float32)
        out = {c.state_key: model_state, c.action_key: np.asarray(encoded, dtype=np.float32), "action_is_pad": pad}
        for column in self.lowdim_keys[2:]:  # the extra columns
            out[column] = np.asarray(self.source.column(column, ep), np.float32).reshape(length, -1)
        return out

    def iter_norm_batches(self, progress: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """One batch per episode for `compute_norm_stats`: state (T, S), action (M, A) over unpadded steps
        (and env state (T, E) when read)."""
        from hy_vla.utils.progress import progress as tqdm

        c = self.config
        for ep in tqdm(range(self.source.num_episodes), desc="norm stats", unit="ep", disable=not progress):
            d = self.episode_lowdim(ep)
            d[c.action_key] = d[c.action_key][~d.pop("action_is_pad")]
            yield d
