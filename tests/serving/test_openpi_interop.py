"""The real openpi-client 0.1.2 (in its own venv, .venv-openpi: it pins numpy < 2) drives our server.

Skipped when that venv is absent; create it with scripts/setup_openpi_client.sh (idempotent), or set
HY_VLA_SETUP_OPENPI=1 to let this module run the script itself.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from serving_fixtures import API_KEY

HERE = Path(__file__).parent
REPO = HERE.parents[1]
OPENPI_PY = REPO / ".venv-openpi" / "bin" / "python"
HELPER = HERE / "openpi_client_helper.py"
SETUP = REPO / "scripts" / "setup_openpi_client.sh"


def _has_openpi() -> bool:
    if not OPENPI_PY.exists() and os.environ.get("HY_VLA_SETUP_OPENPI") == "1":
        subprocess.run(["bash", str(SETUP)], check=False, timeout=600)
    if not OPENPI_PY.exists():
        return False
    probe = "import openpi_client.websocket_client_policy, openpi_client.action_chunk_broker"
    return subprocess.run([str(OPENPI_PY), "-c", probe], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not _has_openpi(), reason="needs .venv-openpi: run scripts/setup_openpi_client.sh"),
]


def _drive(port: int, mode: str, *extra: str) -> dict:
    r = subprocess.run(
        [str(OPENPI_PY), str(HELPER), str(port), mode, *extra], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, f"openpi client failed:\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_openpi_client_infer(server):
    out = _drive(server.port, "infer")
    assert out["shape"] == [out["action_horizon"], out["action_dim"]] == [4, 4]
    assert out["dtype"] == "float32" and {"infer_ms", "queue_ms", "total_ms"} <= set(out["timing_keys"])


def test_openpi_action_chunk_broker(server):
    out = _drive(server.port, "broker")
    assert out["steps"] == 8 and out["step_shapes"] == [[4]]  # one (action_dim,) action per step


def test_openpi_client_raises_on_error_text_and_recovers(server):
    out = _drive(server.port, "errors")
    assert "Error in inference server" in out["raised"] and "missing 'prompt'" in out["raised"]
    assert out["shape_after"] == [4, 4]


def test_openpi_client_api_key(auth_server):
    assert _drive(auth_server.port, "auth", API_KEY)["shape"] == [4, 4]
    r = subprocess.run(
        [str(OPENPI_PY), str(HELPER), str(auth_server.port), "auth", "wrong"], capture_output=True, text=True
    )
    assert r.returncode != 0 and "401" in r.stderr


def test_wire_encoding_matches_openpi_byte_for_byte():
    import numpy as np

    from hy_vla.serving import wire

    r = subprocess.run([str(OPENPI_PY), str(HELPER), "codec"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    theirs = bytes.fromhex(json.loads(r.stdout)["hex"])
    message = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([1, 2], np.uint8),
        "s": np.float64(2.5),
        "prompt": "hi",
        "nested": {"x": np.int64(3)},
    }
    assert wire.pack(message) == theirs
    back = wire.unpack(theirs)
    np.testing.assert_array_equal(back["a"], message["a"])
    assert back["a"].dtype == np.float32 and back["s"] == 2.5 and back["nested"]["x"] == 3


def _stock_server(tmp_path, cameras: tuple[str, ...], embodiment: str, state: int, action: int, obs_map: list[str]):
    from model_fixtures import micro_config

    from hy_vla import HyVLA
    from hy_vla.serving.server import ServerConfig, checkpoint_server
    from hy_vla.serving.spec import parse_observation_map

    cfg = micro_config(camera_names=cameras, embodiment=embodiment, state_dim=state, action_dim=action,
                       max_state_dim=max(state, 8), max_action_dim=max(action, 6), history_frames=1)  # fmt: skip
    ckpt = HyVLA(cfg).save_pretrained(tmp_path / embodiment)
    server = checkpoint_server(str(ckpt), ServerConfig(port=0, obs_map=parse_observation_map(obs_map)))
    server.start_in_thread()
    return server


@pytest.mark.parametrize(
    ("mode", "cameras", "embodiment", "state", "action", "obs_map"),
    [("libero", ("agentview", "wrist"), "libero_franka_eef", 8, 7,
      ["observation/image=agentview", "observation/wrist_image=wrist", "observation/state=state"]),
     ("aloha", ("cam_high", "cam_left_wrist"), "aloha_bimanual", 14, 14,
      ["images/cam_high=cam_high", "images/cam_left_wrist=cam_left_wrist", "state=state"])],
)  # fmt: skip
def test_stock_openpi_example_client_layouts_are_served_unchanged(tmp_path, mode, cameras, embodiment, state,
                                                                  action, obs_map):  # fmt: skip
    """openpi's LIBERO / ALOHA example observation dicts (224 px, CHW for ALOHA, other key names), sent by the real
    openpi-client, are served through --obs-map without changing the client."""
    server = _stock_server(tmp_path, cameras, embodiment, state, action, obs_map)
    try:
        out = _drive(server.port, mode)
    finally:
        server.stop_thread()
    assert out["shape"] == [out["action_horizon"], action] and out["finite"]
    assert set(out["observation_map"]) == {m.split("=")[0] for m in obs_map}
