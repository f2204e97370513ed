"""What the server announces (its first frame) and how it checks every request against it. Torch-free.

The metadata frame (one binary msgpack map, sent first on every connection) holds:

    action_horizon     control steps per reply chunk (= horizon * action_stride)
    action_dim, state_dim, cameras, image_size, fps, embodiment, horizon, action_stride, history_frames
    observation_spec   {key: {"shape": [...], "dtype": "uint8" | "float32"}} for every array required
    prompt_key         "prompt": the instruction string
    optional_keys      {"reset": ..., "action_prefix": ..., "action_prefix_weights": ...} (described)
    action_prefix      True when guided continuation (real-time chunking) is supported
    max_message_bytes  a larger message closes the connection (1009) as soon as its frame header arrives
    max_array_bytes    the most array bytes one request may declare (`max_array_bytes`; refused before decoding)
    auth               how to authenticate, or None

A request must hold every `observation_spec` key. Images are uint8, HWC or CHW with 3 channels, of any
size up to `max_image_side(image_size)` (`image_size` square is what the model reads; others are resized
by the policy, and the bound limits what one request's resizing costs the other sessions); the state must
have exactly its shape, any float dtype (cast to float32), finite. Unknown keys are dropped (openpi clients
may send extras), so the policy only ever sees validated values.

Stock openpi clients send their own layouts (LIBERO: "observation/image", "observation/state"; ALOHA:
"images": {"cam_high": ...}, "state"). An observation map (`hy-vla serve --obs-map THEIRS=OURS`) renames
their keys first: THEIRS is a top-level key or a "/"-separated path into nested maps, OURS a camera
name, "state", or a full key (`apply_observation_map`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hy_vla.keys import IMAGE_PREFIX, STATE
from hy_vla.policy.protocol import ACTION_PREFIX_KEY, ACTION_PREFIX_WEIGHTS_KEY, PROMPT_KEY, SUPPORTS_PREFIX

RESET_KEY = "reset"  # optional bool: clear this session's frame history before using the observation


def max_image_side(image_size: int) -> int:
    """The largest image side accepted: 4x the model's input, and at least 1024 px (a 224 px client always fits)."""
    return max(1024, 4 * int(image_size))


PROTOCOL = "openpi-msgpack-numpy/1"
AUTH_HEADER_HELP = "send the HTTP header 'Authorization: Api-Key <KEY>' when connecting"


class ObservationError(ValueError):
    """A request that does not match the announced observation spec."""


def observation_spec(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{key: {"shape", "dtype"}} of every array a request must carry, from a policy's metadata."""
    for field in ("cameras", "image_size", "state_dim"):
        if field not in meta:
            raise ValueError(f"policy metadata lacks {field!r}; cannot describe the observation")
    size = int(meta["image_size"])
    spec = {IMAGE_PREFIX + cam: {"shape": [size, size, 3], "dtype": "uint8"} for cam in meta["cameras"]}
    spec[STATE] = {"shape": [int(meta["state_dim"])], "dtype": "float32"}
    return spec


def build_metadata(policy_meta: dict[str, Any], max_message_bytes: int, auth_required: bool) -> dict[str, Any]:
    """The server's first frame, from the metadata of the (per-session) policy."""
    h, stride = int(policy_meta.get("horizon", 1)), int(policy_meta.get("action_stride", 1))
    meta = {k: v for k, v in policy_meta.items() if isinstance(v, str | int | float | bool | list | type(None))}
    optional: dict[str, str] = {RESET_KEY: "bool: clear the session's frame history first (start of an episode)"}
    if policy_meta.get(SUPPORTS_PREFIX):
        optional[ACTION_PREFIX_KEY] = "float32 (P <= action_horizon, action_dim) robot units: previous chunk from now"
        optional[ACTION_PREFIX_WEIGHTS_KEY] = "float32 (P,) in [0, 1]: guidance weights (1 = committed)"
    meta.update(
        protocol=PROTOCOL,
        action_horizon=h * stride,
        observation_spec=observation_spec(policy_meta),
        prompt_key=PROMPT_KEY,
        optional_keys=optional,
        action_prefix=bool(policy_meta.get(SUPPORTS_PREFIX, False)),
        max_message_bytes=int(max_message_bytes),
        auth=AUTH_HEADER_HELP if auth_required else None,
    )
    meta["max_array_bytes"] = max_array_bytes(meta)
    return meta


def parse_observation_map(items: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """["observation/image=agentview", ...] -> (("observation/image", "agentview"), ...); one-line errors."""
    pairs = []
    for item in items:
        theirs, sep, ours = item.partition("=")
        if not sep or not theirs.strip() or not ours.strip():
            raise ValueError(f"--obs-map expects THEIRS=OURS (e.g. observation/image=agentview), got {item!r}")
        pairs.append((theirs.strip(), ours.strip()))
    return tuple(pairs)


def _lookup(obs: dict[str, Any], path: str) -> Any:
    if path in obs:
        return obs[path]
    node: Any = obs
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def apply_observation_map(obs: Any, mapping: tuple[tuple[str, str], ...], cameras: list[str]) -> Any:
    """The request with each mapped value also under our key (camera name -> observation.images.<cam>,
    "state" -> observation.state); unmapped keys stay as they are. A mapped key the request lacks is left missing
    (validation then names our key)."""
    if not mapping or not isinstance(obs, dict):
        return obs
    out = dict(obs)
    for theirs, ours in mapping:
        value = _lookup(obs, theirs)
        if value is None:
            continue
        key = IMAGE_PREFIX + ours if ours in cameras else STATE if ours == "state" else ours
        out[key] = value
    return out


def check_image_header(key: str, dtype: np.dtype, shape: tuple[int, ...], size: int) -> None:
    """An image of this dtype and shape is accepted for a model reading `size` px squares (else `ObservationError`)."""
    if dtype != np.uint8:
        raise ObservationError(f"{key!r} must have dtype uint8, got {dtype}")
    side = max_image_side(size)
    if len(shape) != 3 or 3 not in (shape[0], shape[-1]) or max(shape) > side or 0 in shape:
        raise ObservationError(
            f"{key!r} has shape {list(shape)}; expected {[size, size, 3]} (HWC; CHW and other sizes up to "
            f"{side} px are resized)"
        )


def max_array_bytes(meta: dict[str, Any]) -> int:
    """The most array bytes one request may declare: what the largest valid request carries (every camera at the
    largest accepted side, state and a full action prefix as float64), and as much again for arrays a stock client
    sends that the model does not read (e.g. an unmapped wrist camera)."""
    images = len(meta["cameras"]) * max_image_side(int(meta["image_size"])) ** 2 * 3
    horizon, action_dim = int(meta.get("action_horizon", 1)), int(meta.get("action_dim", 1))
    floats = int(meta["state_dim"]) + horizon * (action_dim + 1)
    return 2 * (images + 8 * floats)


def _finite(key: str, a: np.ndarray) -> None:
    if not np.isfinite(a).all():
        raise ObservationError(f"{key!r} contains NaN or inf")


def _float_array(key: str, value: Any, shape: tuple[int, ...] | None, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise ObservationError(f"{key!r} must be a numpy array (openpi ndarray encoding), got {type(value).__name__}")
    if value.dtype.kind != "f":
        raise ObservationError(f"{key!r} must have a float dtype (float32 preferred), got {value.dtype}")
    if value.ndim != ndim or (shape is not None and value.shape != shape):
        want = list(shape) if shape is not None else f"{ndim} dimensions"
        raise ObservationError(f"{key!r} has shape {list(value.shape)}; expected {want}")
    a = value.astype(np.float32)
    _finite(key, a)
    return a


def validate_observation(obs: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """Check a decoded request against the metadata -> the clean observation for the policy.

    Raises `ObservationError` naming the first problem found (missing key, shape, dtype, NaN/inf...).
    """
    if not isinstance(obs, dict):
        raise ObservationError(f"the request must be a msgpack map of observations, got {type(obs).__name__}")
    bad_keys = [k for k in obs if not isinstance(k, str)]
    if bad_keys:
        raise ObservationError(f"observation keys must be strings, got {bad_keys[:3]!r}")
    spec: dict[str, dict[str, Any]] = meta["observation_spec"]
    clean: dict[str, Any] = {}
    for key, want in spec.items():
        if key not in obs:
            raise ObservationError(f"missing {key!r}: expected {want['dtype']} {want['shape']}")
        shape = tuple(want["shape"])
        if want["dtype"] == "uint8":
            v = obs[key]
            if not isinstance(v, np.ndarray):
                raise ObservationError(f"{key!r} must be a uint8 numpy array, got {type(v).__name__}")
            check_image_header(key, v.dtype, v.shape, shape[0])
            clean[key] = v
        else:
            clean[key] = _float_array(key, obs[key], shape, len(shape))
    prompt = obs.get(PROMPT_KEY)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ObservationError(f"missing {PROMPT_KEY!r}: a non-empty instruction string")
    clean[PROMPT_KEY] = prompt
    reset = obs.get(RESET_KEY, False)
    if not isinstance(reset, bool | np.bool_):
        raise ObservationError(f"{RESET_KEY!r} must be a bool, got {type(reset).__name__}")
    clean[RESET_KEY] = bool(reset)
    has_prefix, has_weights = ACTION_PREFIX_KEY in obs, ACTION_PREFIX_WEIGHTS_KEY in obs
    if has_prefix or has_weights:
        if not meta.get("action_prefix"):
            raise ObservationError(f"this server does not support {ACTION_PREFIX_KEY!r} (guided continuation)")
        if has_prefix != has_weights:
            raise ObservationError(f"give both {ACTION_PREFIX_KEY!r} and {ACTION_PREFIX_WEIGHTS_KEY!r}, or neither")
        prefix = _float_array(ACTION_PREFIX_KEY, obs[ACTION_PREFIX_KEY], None, 2)
        if prefix.shape[1] != int(meta["action_dim"]) or not 1 <= prefix.shape[0] <= int(meta["action_horizon"]):
            raise ObservationError(
                f"{ACTION_PREFIX_KEY!r} has shape {list(prefix.shape)}; expected [1 <= P <= "
                f"{meta['action_horizon']}, {meta['action_dim']}]"
            )
        weights = _float_array(ACTION_PREFIX_WEIGHTS_KEY, obs[ACTION_PREFIX_WEIGHTS_KEY], (prefix.shape[0],), 1)
        if (weights < 0).any() or (weights > 1).any():
            raise ObservationError(f"{ACTION_PREFIX_WEIGHTS_KEY!r} must lie in [0, 1]")
        clean[ACTION_PREFIX_KEY], clean[ACTION_PREFIX_WEIGHTS_KEY] = prefix, weights
    return clean
