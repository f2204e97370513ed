"""Episodes stored one per HDF5 file, in the ALOHA or the RoboTwin 2.0 layout (an `EpisodeSource`).

Supported datasets (T = episode length):

ALOHA (ACT / gym-aloha recordings, `episode_<i>.hdf5`)
    /observations/qpos              (T, S) float   -> "observation.state"
    /observations/qvel, /effort     (T, S) float   -> "observation.qvel", "observation.effort" (optional)
    /action                         (T, A) float   -> "action"
    /observations/images/<cam>      (T, H, W, 3) uint8 raw frames, or, when the file attribute
                                    `compress` is true, (T, L) uint8 zero-padded JPEG bytes
                                    -> camera "observation.images.<cam>"
    instruction: file attribute `instruction` or `task` if present, else the `task` argument.

RoboTwin 2.0 (`data/episode<i>.hdf5`, instructions in `instructions/episode<i>.json`; written by RoboTwin's
envs/utils/pkl2hdf5.py from one `get_obs()` dict per saved frame, stable_2.0 @ 13c3c47)
    /endpose/{left,right}_endpose   (T, 7) xyz + quaternion (w, x, y, z), {left,right}_gripper (T,) in [0, 1]
                                    -> "observation.endpose" (T, 16) = [left pose, left gripper, right pose,
                                       right gripper] (the `robotwin_dual_eef` state layout) and
                                       "action.endpose" = its row t+1 (the last row repeated)
    /joint_action/vector            (T, 14) float  -> "observation.joints" (joints at t) and "action.joints"
                                                      (joints at t+1: RoboTwin's own policies train on vector[t+1])
    /joint_action/{left,right}_arm (T, 6), {left,right}_gripper (T,)  (read through `vector`)
    /observation/<cam>/rgb          (T,) JPEG bytes (fixed-length strings, zero-padded)
                                    -> camera "observation.images.<cam>"
    "observation.state" / "action" (the default keys) are the end-pose pair when the file has /endpose, so the
    RoboTwin embodiment (`robotwin_dual_eef`, delta_eef actions from 16-D poses) trains with default keys; they
    are the joint pair when the file has no /endpose or `embodiment` names a joint-state robot (aloha_bimanual).
    RoboTwin encodes its RGB frames with OpenCV's `imencode`, which takes BGR: the stored JPEG holds the channels
    reversed, and RoboTwin's policies decode with `cv2.imdecode` without converting. A standard decoder therefore
    returns BGR; the reader reverses the channels so frames match the RGB of `get_obs()` at evaluation.
    instruction: the first "seen" entry of ../instructions/episode<i>.json, else the `task` argument.

File handles are opened lazily per process (h5py handles must not cross a fork) and cached.
`write_hdf5_episode` writes small files in either layout for tests.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hy_vla import keys
from hy_vla.data.samples import EpisodeInfo

LAYOUTS = ("aloha", "robotwin")
_FORK_INHERITED: list[object] = []  # handles inherited from a parent process, never closed by the child
_ENDPOSE_PARTS = ("left_endpose", "left_gripper", "right_endpose", "right_gripper")


def _natural_key(p: Path) -> tuple:
    return tuple(int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name))


def detect_layout(f: h5py.File) -> str:
    if "observations" in f and "action" in f:
        return "aloha"
    if "joint_action" in f and "observation" in f:
        return "robotwin"
    raise ValueError(
        f"{f.filename}: neither ALOHA (/observations, /action) nor RoboTwin 2.0 (/joint_action, /observation)"
    )


def _decode_image(buf: bytes | np.ndarray, where: str) -> np.ndarray:
    import imageio.v3 as iio

    data = bytes(buf) if not isinstance(buf, bytes) else buf
    try:
        img = iio.imread(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - any decoder error means a bad image
        raise ValueError(f"{where}: cannot decode image bytes ({e})") from None
    return img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1)


def _joint_state_robot(embodiment: str | None) -> bool:
    """Whether `embodiment` is a registered robot whose state is joint positions (reads RoboTwin's joint pair)."""
    from hy_vla.embodiments.registry import EMBODIMENTS

    emb = EMBODIMENTS.get(embodiment) if embodiment else None
    return emb is not None and any(s.kind == "joint_pos" for s in emb.state)


def _shift_next(x: np.ndarray) -> np.ndarray:
    """x[t+1] for every t, the last row repeated."""
    return np.concatenate([x[1:], x[-1:]], axis=0)


class HDF5Episodes:
    """A directory (or list) of per-episode HDF5 files; implements `EpisodeSource`."""

    def __init__(
        self,
        path: str | os.PathLike | list[str | os.PathLike],
        *,
        fps: int = 50,
        task: str = "",
        embodiment: str | None = None,
        max_open: int = 8,
    ) -> None:
        if isinstance(path, list):
            files = [Path(p) for p in path]
        else:
            p = Path(path)
            if p.is_file():
                files = [p]
            elif p.is_dir():
                files = sorted([*p.glob("*.hdf5"), *p.glob("*.h5")], key=_natural_key)
                if not files and (p / "data").is_dir():  # a RoboTwin task folder
                    files = sorted(p.glob("data/*.hdf5"), key=_natural_key)
            else:
                raise FileNotFoundError(f"{p}: no such file or directory")
        if not files:
            raise FileNotFoundError(f"{path}: no .hdf5 episode files")
        self.files, self.fps, self.embodiment, self._default_task = files, int(fps), embodiment, task
        self._joint_state = _joint_state_robot(embodiment)
        self._open: OrderedDict[Path, h5py.File] = OrderedDict()
        self._max_open, self._pid = max_open, os.getpid()
        self._lowdim_cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._infos: list[EpisodeInfo] = []
        self._cams: list[dict[str, str]] = []
        start = 0
        for i, fp in enumerate(files):
            f = self._file(i)
            layout = detect_layout(f)
            cams = self._cameras(f, layout)
            length = len(f["action"] if layout == "aloha" else f["joint_action/vector"])
            if length < 1:
                raise ValueError(f"{fp}: empty episode")
            self._infos.append(EpisodeInfo(i, start, start + length, self._task(f, fp, layout), []))
            self._cams.append(cams)
            start += length
        self.layout = detect_layout(self._file(0))
        self.camera_keys = list(self._cams[0])
        for i, cams in enumerate(self._cams):
            if list(cams) != self.camera_keys:
                raise ValueError(f"{files[i]}: cameras {list(cams)} differ from {files[0]}'s {self.camera_keys}")

    # ------------------------------------------------------------------ files

    def __getstate__(self) -> dict[str, object]:
        # Pickled into a worker process: open HDF5 handles cannot travel; the worker opens its own.
        return {k: v for k, v in self.__dict__.items() if k not in ("_open", "_pid")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state, _open=OrderedDict(), _pid=os.getpid())

    def _file(self, ep: int) -> h5py.File:
        if os.getpid() != self._pid:  # forked: the parent's handles are not ours; keep them, unused
            _FORK_INHERITED.append(self._open)
            self._open, self._pid = OrderedDict(), os.getpid()
        path = self.files[ep]
        f = self._open.pop(path, None)
        if f is None:
            try:
                f = h5py.File(path, "r")
            except OSError as e:
                raise ValueError(f"{path}: not a readable HDF5 file ({e})") from None
            while len(self._open) >= self._max_open:
                self._open.popitem(last=False)[1].close()
        self._open[path] = f
        return f

    @staticmethod
    def _cameras(f: h5py.File, layout: str) -> dict[str, str]:
        if layout == "aloha":
            grp = f.get("observations/images")
            return {keys.image_key(c): f"observations/images/{c}" for c in (grp.keys() if grp else [])}
        obs = f["observation"]
        return {keys.image_key(c): f"observation/{c}/rgb" for c in obs.keys() if "rgb" in obs[c]}

    def _task(self, f: h5py.File, path: Path, layout: str) -> str:
        for attr in ("instruction", "task"):
            if attr in f.attrs:
                v = f.attrs[attr]
                return v.decode() if isinstance(v, bytes) else str(v)
        if layout == "robotwin":
            inst = path.parent.parent / "instructions" / (path.stem + ".json")
            if inst.exists():
                d = json.loads(inst.read_text())
                seen = d.get("seen") if isinstance(d, dict) else d
                if seen:
                    return str(seen[0])
        return self._default_task

    def _lowdim(self, ep: int) -> dict[str, np.ndarray]:
        cached = self._lowdim_cache.pop(ep, None)
        if cached is None:
            f = self._file(ep)
            if detect_layout(f) == "aloha":
                cached = {keys.STATE: f["observations/qpos"][()], keys.ACTION: f["action"][()]}
                for extra in ("qvel", "effort"):
                    if f"observations/{extra}" in f:
                        cached[f"observation.{extra}"] = f[f"observations/{extra}"][()]
            else:
                vec = f["joint_action/vector"][()]
                cached = {"observation.joints": vec, "action.joints": _shift_next(vec)}
                if "endpose" in f and all(p in f["endpose"] for p in _ENDPOSE_PARTS):
                    parts = [f[f"endpose/{p}"][()].reshape(len(vec), -1) for p in _ENDPOSE_PARTS]
                    endpose = np.concatenate(parts, axis=1)
                    cached["observation.endpose"], cached["action.endpose"] = endpose, _shift_next(endpose)
                pair = "endpose" if "observation.endpose" in cached and not self._joint_state else "joints"
                cached[keys.STATE], cached[keys.ACTION] = cached[f"observation.{pair}"], cached[f"action.{pair}"]
            cached = {k: np.asarray(v, dtype=np.float32).reshape(len(v), -1) for k, v in cached.items()}
            n = self._infos[ep].length if ep < len(self._infos) else None
            for k, v in cached.items():
                if n is not None and len(v) != n:
                    raise ValueError(f"{self.files[ep]}: {k!r} has {len(v)} rows, the episode has {n} frames")
            while len(self._lowdim_cache) >= 64:
                self._lowdim_cache.popitem(last=False)
        self._lowdim_cache[ep] = cached
        return cached

    # ------------------------------------------------------------------ EpisodeSource

    @property
    def num_episodes(self) -> int:
        return len(self._infos)

    @property
    def num_frames(self) -> int:
        return self._infos[-1].stop

    def episode(self, i: int) -> EpisodeInfo:
        if not 0 <= i < self.num_episodes:
            raise IndexError(f"episode {i} out of range [0, {self.num_episodes})")
        return self._infos[i]

    def column(self, key: str, episode: int) -> np.ndarray:
        cols = self._lowdim(self.episode(episode).index)
        if key not in cols:
            raise KeyError(f"{key!r} is not a column of {self.files[episode]} (have {sorted(cols)})")
        return cols[key]

    def images(self, camera_key: str, episode: int, frame_indices: Any) -> np.ndarray:
        info = self.episode(episode)
        if camera_key not in self._cams[episode]:
            raise KeyError(f"{camera_key!r} is not a camera of {self.files[episode]} (have {self.camera_keys})")
        idx = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= info.length):
            raise IndexError(f"frame indices {idx.tolist()} out of range [0, {info.length}) of episode {episode}")
        f = self._file(episode)
        dpath = self._cams[episode][camera_key]
        ds = f[dpath]
        uniq, inverse = np.unique(idx, return_inverse=True)
        where = f"{self.files[episode]}:/{dpath}"
        if ds.ndim == 4 and ds.dtype == np.uint8:  # raw frames
            frames = ds[uniq]  # h5py fancy indexing needs increasing indices
        elif ds.ndim == 2 and ds.dtype == np.uint8:  # ALOHA compressed: zero-padded JPEG rows
            frames = np.stack([_decode_image(ds[int(i)].tobytes(), where) for i in uniq])
        elif ds.ndim == 1:  # RoboTwin: one encoded image per element, channels reversed (see module doc)
            frames = np.stack([_decode_image(ds[int(i)], where)[..., ::-1] for i in uniq])
        else:
            raise ValueError(f"{where}: unsupported image dataset {ds.dtype} {ds.shape}")
        return frames[inverse]

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()


def _encode_jpeg(img: np.ndarray, quality: int = 95) -> bytes:
    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, img, extension=".jpg", quality=quality)
    return buf.getvalue()


def write_hdf5_episode(
    path: str | os.PathLike,
    layout: str,
    state: np.ndarray,
    action: np.ndarray | None,
    images: dict[str, np.ndarray],
    *,
    compress: bool = False,
    instruction: str | None = None,
    endpose: np.ndarray | None = None,
) -> Path:
    """Write one small episode file (tests, examples). `images` maps camera name -> (T, H, W, 3) uint8.

    aloha: state -> /observations/qpos, action -> /action, images raw or JPEG-compressed.
    robotwin: state (T, 14) -> /joint_action/vector (+ arm/gripper splits), `endpose` (T, 16) ->
    /endpose/*, images JPEG bytes under /observation/<cam>/rgb as RoboTwin writes them; `action` is
    ignored (RoboTwin's actions are the next rows).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as f:
        if instruction is not None:
            f.attrs["instruction"] = instruction
        if layout == "aloha":
            f.attrs["sim"] = True
            f.attrs["compress"] = compress
            f["observations/qpos"] = state
            f["observations/qvel"] = np.zeros_like(state)
            f["action"] = action
            for cam, frames in images.items():
                if compress:
                    enc = [np.frombuffer(_encode_jpeg(im), np.uint8) for im in frames]
                    pad = np.zeros((len(enc), max(len(e) for e in enc)), np.uint8)
                    for i, e in enumerate(enc):
                        pad[i, : len(e)] = e
                    f[f"observations/images/{cam}"] = pad
                else:
                    f[f"observations/images/{cam}"] = frames
        else:
            f["joint_action/vector"] = state
            f["joint_action/left_arm"], f["joint_action/left_gripper"] = state[:, :6], state[:, 6]
            f["joint_action/right_arm"], f["joint_action/right_gripper"] = state[:, 7:13], state[:, 13]
            if endpose is not None:
                f["endpose/left_endpose"], f["endpose/left_gripper"] = endpose[:, :7], endpose[:, 7]
                f["endpose/right_endpose"], f["endpose/right_gripper"] = endpose[:, 8:15], endpose[:, 15]
            for cam, frames in images.items():
                # RoboTwin stores fixed-length byte strings (numpy "S" dtype, zero-padded), encoded by OpenCV
                # from RGB arrays taken as BGR: reversing the channels first writes the same JPEG content.
                f[f"observation/{cam}/rgb"] = np.array(
                    [_encode_jpeg(np.ascontiguousarray(im[..., ::-1])) for im in frames]
                )
    os.replace(tmp, path)
    return path
