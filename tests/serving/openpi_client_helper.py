"""Drives a hy-vla server with the real openpi-client 0.1.2; runs inside .venv-openpi (numpy < 2, no hy_vla).

    python openpi_client_helper.py PORT MODE [API_KEY]

or `python openpi_client_helper.py codec` (openpi's encoding of a fixed message, for byte comparison).
MODE: "infer" (metadata + one inference), "broker" (ActionChunkBroker over two chunks), "errors"
(a malformed request raises, the next good one works), "auth" (with API_KEY), "libero" / "aloha" (the
observation dicts openpi's LIBERO and ALOHA example clients send, unchanged). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from openpi_client.action_chunk_broker import ActionChunkBroker
from openpi_client.websocket_client_policy import WebsocketClientPolicy


def observation(meta: dict, seed: int = 0) -> dict:
    """A valid observation built only from the server's announced observation_spec."""
    rng = np.random.default_rng(seed)
    obs = {}
    for key, spec in meta["observation_spec"].items():
        if spec["dtype"] == "uint8":
            obs[key] = rng.integers(0, 255, spec["shape"], dtype=np.uint8)
        else:
            obs[key] = rng.normal(size=spec["shape"]).astype(spec["dtype"])
    obs[meta["prompt_key"]] = "reach the goal"
    return obs


def stock_observation(mode: str, seed: int = 0) -> dict:
    """What openpi's example clients send: LIBERO's flat "observation/..." keys with 224 px HWC images and an
    8-d state; ALOHA's nested "images" map of 224 px CHW images and a 14-d state."""
    rng = np.random.default_rng(seed)
    if mode == "libero":
        return {
            "observation/image": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
            "observation/wrist_image": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
            "observation/state": rng.normal(size=8).astype(np.float64),
            "prompt": "put the bowl on the plate",
        }
    return {
        "state": rng.normal(size=14).astype(np.float32),
        "images": {
            cam: rng.integers(0, 255, (3, 224, 224), dtype=np.uint8)
            for cam in ("cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist")
        },
        "prompt": "transfer the cube",
    }


def fixed_message() -> dict:
    """The same message is built by test_openpi_interop.py to compare encodings byte for byte."""
    return {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([1, 2], np.uint8),
        "s": np.float64(2.5),
        "prompt": "hi",
        "nested": {"x": np.int64(3)},
    }


def main() -> None:
    if sys.argv[1] == "codec":  # openpi's own encoding of a fixed message, hex
        from openpi_client import msgpack_numpy

        print(json.dumps({"hex": msgpack_numpy.packb(fixed_message()).hex()}))
        return
    port, mode = int(sys.argv[1]), sys.argv[2]
    api_key = sys.argv[3] if len(sys.argv) > 3 else None
    client = WebsocketClientPolicy("127.0.0.1", port, api_key=api_key)
    meta = client.get_server_metadata()
    result: dict = {"action_horizon": meta["action_horizon"], "action_dim": meta["action_dim"]}
    if mode in ("infer", "auth"):
        out = client.infer(observation(meta))
        result.update(shape=list(out["actions"].shape), dtype=str(out["actions"].dtype))
        result["timing_keys"] = sorted(out["server_timing"])
    elif mode in ("libero", "aloha"):
        outs = [client.infer(stock_observation(mode, i))["actions"] for i in range(2)]
        result.update(shape=list(outs[0].shape), finite=bool(all(np.isfinite(o).all() for o in outs)))
        result["observation_map"] = meta.get("observation_map")
    elif mode == "broker":
        broker = ActionChunkBroker(client, action_horizon=meta["action_horizon"])
        steps = [broker.infer(observation(meta, i))["actions"] for i in range(2 * meta["action_horizon"])]
        result["step_shapes"] = sorted({tuple(a.shape) for a in steps})
        result["steps"] = len(steps)
    elif mode == "errors":
        bad = observation(meta)
        del bad[meta["prompt_key"]]
        try:
            client.infer(bad)
            result["raised"] = None
        except RuntimeError as e:
            result["raised"] = str(e)
        result["shape_after"] = list(client.infer(observation(meta))["actions"].shape)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
