"""Serve one LeRobot 0.4.4 checkpoint (diffusion | act) over stdin/stdout for hy-vla's evaluation harness.

    .venv-lerobot/bin/python bench/lerobot_serve.py --checkpoint OUT/checkpoints/000800 [--threads 1]

Started by bench/lerobot_policy.py (our PolicyLike wrapper) inside .venv-lerobot; messages are stdio_wire frames.
Requests and replies (arrays travel as raw numpy):

- {"op": "info"} -> {"type", "n_obs_steps", "cameras": [feature keys], "state_dim", "action_dim", "chunk",
  "parameters"}
- {"op": "reset"} -> {}: a new episode (the observation history is cleared)
- {"op": "observe"} + arrays {<camera feature key>: (H, W, 3) uint8, "observation.state": (S,)} -> {}:
  an observation the policy is not queried on (diffusion keeps the last n_obs_steps)
- {"op": "infer"} + the same arrays -> {"compute_ms"} + {"actions": (chunk, A) float32, robot units}

The policy runs the way LeRobot's own rollout runs it: the observation goes through the checkpoint's saved
preprocessor (batch dimension, normalization with the dataset stats), the model predicts, the saved postprocessor
unnormalizes. ACT: `predict_action_chunk` on the current observation (its chunk_size actions). Diffusion: the
last n_obs_steps normalized observations (the first one repeated at an episode start, as LeRobot's observation
queue does) go to `DiffusionModel.generate_actions`, which returns the n_action_steps actions starting at the
current step: exactly the chunk LeRobot's `select_action` would queue. Any error goes back as {"error": text}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import lerobot_compat  # noqa: E402, F401  (before anything imports torchvision)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from stdio_wire import read_message, write_message  # noqa: E402

STATE = "observation.state"


class Served:
    """A loaded LeRobot policy with its processors and the current episode's observation history."""

    def __init__(self, checkpoint: Path) -> None:
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.configs.types import FeatureType
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors

        self.cfg = PreTrainedConfig.from_pretrained(checkpoint)
        self.cfg.device = "cpu"
        self.policy = get_policy_class(self.cfg.type).from_pretrained(checkpoint, config=self.cfg).eval()
        self.pre, self.post = make_pre_post_processors(self.cfg, pretrained_path=str(checkpoint))
        self.cameras = [k for k, f in self.cfg.input_features.items() if f.type is FeatureType.VISUAL]
        self.n_obs = int(self.cfg.n_obs_steps)
        self.history: deque[dict[str, torch.Tensor]] = deque(maxlen=self.n_obs)

    def info(self) -> dict[str, Any]:
        chunk = self.cfg.n_action_steps if self.cfg.type == "diffusion" else self.cfg.chunk_size
        return {
            "type": self.cfg.type,
            "n_obs_steps": self.n_obs,
            "cameras": self.cameras,
            "state_dim": int(self.cfg.input_features[STATE].shape[0]),
            "action_dim": int(self.cfg.output_features["action"].shape[0]),
            "chunk": int(chunk),
            "parameters": sum(p.numel() for p in self.policy.parameters()),
        }

    def observe(self, arrays: dict[str, np.ndarray]) -> None:
        missing = [k for k in (*self.cameras, STATE) if k not in arrays]
        if missing:
            raise KeyError(f"observation lacks {missing} (got {sorted(arrays)})")
        frame: dict[str, Any] = {
            cam: torch.from_numpy(arrays[cam].copy()).permute(2, 0, 1).float() / 255.0 for cam in self.cameras
        }  # fmt: skip  (3, H, W) in [0, 1], as LeRobotDataset gives
        frame[STATE] = torch.from_numpy(arrays[STATE].astype(np.float32))
        normalized = self.pre(frame)  # (1, ...) each, normalized
        if not self.history:  # episode start: fill the history with copies, like LeRobot's queues
            self.history.extend([normalized] * self.n_obs)
        else:
            self.history.append(normalized)

    @torch.no_grad()
    def infer(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        self.observe(arrays)
        if self.cfg.type == "diffusion":
            steps = list(self.history)
            batch = {STATE: torch.stack([s[STATE] for s in steps], dim=1)}  # (1, n_obs, S)
            per_cam = [torch.stack([s[cam] for s in steps], dim=1) for cam in self.cameras]  # (1, n_obs, 3, H, W)
            batch["observation.images"] = torch.stack(per_cam, dim=-4)  # (1, n_obs, n_cams, 3, H, W)
            actions = self.policy.diffusion.generate_actions(batch)  # (1, n_action_steps, A)
        else:
            actions = self.policy.predict_action_chunk(self.history[-1])  # (1, chunk_size, A)
        return self.post(actions)[0].numpy().astype(np.float32)  # (chunk, A), robot units


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--checkpoint", type=Path, required=True, help="a directory written by bench/lerobot_train.py")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    if not (args.checkpoint / "config.json").is_file():
        ap.error(f"--checkpoint {args.checkpoint}: no config.json (not a LeRobot checkpoint)")
    # The protocol owns the real stdout; anything else printing (libraries, warnings) goes to stderr.
    wire_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    wire_in = sys.stdin.buffer
    torch.set_num_threads(args.threads)
    served = Served(args.checkpoint)
    while True:
        try:
            header, arrays = read_message(wire_in)
        except EOFError:
            return  # the client is gone
        op = header.get("op")
        try:
            if op == "info":
                write_message(wire_out, served.info())
            elif op == "reset":
                served.history.clear()
                write_message(wire_out, {})
            elif op == "observe":
                served.observe(arrays)
                write_message(wire_out, {})
            elif op == "infer":
                t0 = time.perf_counter()
                actions = served.infer(arrays)
                write_message(wire_out, {"compute_ms": (time.perf_counter() - t0) * 1e3}, {"actions": actions})
            elif op == "close":
                write_message(wire_out, {})
                return
            else:
                write_message(wire_out, {"error": f"unknown op {op!r}"})
        except Exception:  # noqa: BLE001 - reported to the client, which raises it
            write_message(wire_out, {"error": traceback.format_exc(limit=8)})


if __name__ == "__main__":
    main()
