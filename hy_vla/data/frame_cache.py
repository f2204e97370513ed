"""`FrameCache`: every camera frame of a small dataset decoded once into RAM, at the training size.

Video decoding and resizing dominate the sample pipeline on a CPU (each sample touches K frames
per camera). For datasets that fit in memory (a few hundred demonstrations at 64-128 px), decoding
everything once and slicing arrays afterwards makes data loading essentially free. It wraps any
`EpisodeSource` and is one itself; everything except `images` is delegated to the wrapped source.
Worker processes started by fork share the cache copy-on-write.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hy_vla.data.samples import EpisodeSource, resize_uint8

DEFAULT_MAX_BYTES = 8 * 1024**3


class FrameCache:
    def __init__(
        self,
        source: EpisodeSource,
        cameras: tuple[str, ...],
        image_size: tuple[int, int] | None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        progress: bool = True,
    ) -> None:
        self.source = source
        missing = [c for c in cameras if c not in source.camera_keys]
        if missing:
            raise ValueError(f"cameras {missing} are not in the source (it has {source.camera_keys})")
        lengths = [source.episode(e).length for e in range(source.num_episodes)]
        if image_size is None:  # keep the source's size: read it from the first frame
            first = source.images(cameras[0], 0, [0])
            image_size = (int(first.shape[1]), int(first.shape[2]))
        h, w = image_size
        need = sum(lengths) * len(cameras) * h * w * 3
        if need > max_bytes:
            raise ValueError(
                f"caching {sum(lengths)} frames x {len(cameras)} cameras at {h}x{w} needs {need / 1024**3:.1f} GiB "
                f"> the {max_bytes / 1024**3:.1f} GiB limit: train without cache_frames (workers decode on the fly)"
            )
        from hy_vla.utils.progress import progress as tqdm

        self.frames: dict[str, list[np.ndarray]] = {c: [] for c in cameras}  # camera -> per episode (T, h, w, 3)
        bar = tqdm(total=len(lengths) * len(cameras), desc="caching frames", unit="video", disable=not progress)
        for ep, n in enumerate(lengths):
            for cam in cameras:
                raw = torch.from_numpy(source.images(cam, ep, np.arange(n))).permute(0, 3, 1, 2)  # (T, 3, H, W)
                self.frames[cam].append(resize_uint8(raw, (h, w)).permute(0, 2, 3, 1).contiguous().numpy())
                bar.update(1)
        bar.close()
        self.nbytes = need

    @property
    def camera_keys(self) -> tuple[str, ...]:
        return tuple(self.frames)

    def images(self, camera_key: str, episode: int, frame_indices: Any) -> np.ndarray:
        """(N, h, w, 3) uint8 frames of one episode, from RAM."""
        if camera_key not in self.frames:
            raise KeyError(f"{camera_key!r} is not cached (cached cameras: {list(self.frames)})")
        return self.frames[camera_key][episode][np.asarray(frame_indices, dtype=np.int64).reshape(-1)]

    def __getattr__(self, name: str) -> Any:  # num_episodes, episode, column, embodiment, fps, ...
        return getattr(self.__dict__["source"], name)
