"""Text targets for vision-language co-training: a templated caption of the motion still to come.

Source: any recorded dataset, no annotation needed. For the sample at frame t of an episode, the
recorded state at t is compared with the state at the episode's last frame, channel by channel;
the caption names the channels that still have to rise or fall by more than `min_change` (a
fraction, 0.1 by default) of that channel's range over the whole dataset:

    "to go: hand_pos x up z down, gripper_opening down"        ("to go: nothing" near the end)

Channels are named by the embodiment's state sub-vectors (x / y / z for 3-wide Cartesian kinds,
x / y for planar ones, [i] otherwise; "state[i]" when the embodiment is not registered). Answering
needs the images (where the hand is relative to the object and the goal) and the instruction (which
goal), so the target ties the backbone's language to the scene, in the spirit of language-motion
targets (RT-H); it is computed from the future, so it is a training target only, and the model never
lets the action expert see it (`hy_vla.models.text_loss`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

TEXT_TARGETS = ("motion",)  # SampleConfig.text_target values
_AXES = {3: "xyz", 2: "xy"}
_CARTESIAN = ("eef_pos", "eef_delta_pos", "eef_euler", "eef_axis_angle", "eef_delta_rot", "planar_pos", "base_vel")


def channel_labels(embodiment: str | None, width: int) -> list[str]:
    """One label per state channel: "<sub-vector> <axis>", "<sub-vector>[i]", or "state[i]"."""
    from hy_vla.embodiments.registry import EMBODIMENTS

    emb = EMBODIMENTS.get(embodiment) if embodiment else None
    if emb is None or emb.state_dim != width:
        return [f"state[{i}]" for i in range(width)]
    labels = []
    for sub in emb.state:
        axes = _AXES.get(sub.width) if sub.kind in _CARTESIAN else None
        if sub.width == 1:
            labels.append(sub.name)
        else:
            labels += [f"{sub.name} {axes[i]}" if axes else f"{sub.name}[{i}]" for i in range(sub.width)]
    return labels


def motion_caption(now: np.ndarray, end: np.ndarray, scale: np.ndarray, labels: list[str], min_change: float) -> str:
    """now, end, scale: (S,) state at t, at the episode end, and each channel's range -> the caption.

    Consecutive channels of one sub-vector share its name: "hand_pos x up z down" (see module doc).
    """
    change = end - now  # (S,)
    moving = (np.abs(change) > min_change * scale) & (scale > 0)
    words: list[str] = []
    group = None
    for i in np.flatnonzero(moving):
        name, _, axis = labels[i].partition(" ")
        direction = "up" if change[i] > 0 else "down"
        if axis and name == group:
            words[-1] += f" {axis} {direction}"
        else:
            words.append(f"{name} {axis} {direction}" if axis else f"{name} {direction}")
        group = name if axis else None
    return "to go: " + (", ".join(words) if words else "nothing")


class MotionCaptions:
    """`captions(episode, t)` -> the caption of frame t (module doc), for one `EpisodeSource`."""

    def __init__(self, source: Any, state_key: str, embodiment: str | None, min_change: float = 0.1) -> None:
        self.source, self.state_key, self.min_change = source, state_key, min_change
        lo, hi = None, None
        for ep in range(source.num_episodes):  # one pass over the low-dim column: the per-channel range
            s = self._states(ep)
            lo = s.min(0) if lo is None else np.minimum(lo, s.min(0))
            hi = s.max(0) if hi is None else np.maximum(hi, s.max(0))
        if lo is None or hi is None:
            raise ValueError("motion captions need at least one episode")
        self.scale = hi - lo  # (S,)
        self.labels = channel_labels(embodiment, len(self.scale))

    def _states(self, ep: int) -> np.ndarray:
        length = self.source.episode(ep).length
        return np.asarray(self.source.column(self.state_key, ep), dtype=np.float32).reshape(length, -1)

    def __call__(self, episode: int, t: int) -> str:
        s = self._states(episode)
        return motion_caption(s[t], s[-1], self.scale, self.labels, self.min_change)
