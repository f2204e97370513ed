"""A LeRobot checkpoint as a hy-vla `PolicyLike`, so that our evaluation harness runs it like any other policy.

LeRobot lives in its own venv (.venv-lerobot), so the model runs in a child process (bench/lerobot_serve.py)
and this wrapper talks to it over stdin/stdout (bench/stdio_wire.py: JSON + raw numpy, no pickle).

Observation mapping, ours -> LeRobot's feature names: "observation.images.<camera>" (HWC uint8) goes to the
LeRobot image feature of that camera ("observation.images.<camera>", or "observation.image" for a policy trained
on a single unnamed camera, which then takes our only camera); "observation.state" stays "observation.state" in
robot units (LeRobot's saved preprocessor normalizes it); the prompt is dropped (Diffusion Policy and ACT are not
language-conditioned). Actions come back unnormalized, (chunk, A), robot units.
"""

from __future__ import annotations

import atexit
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from stdio_wire import read_message, write_message  # noqa: E402

BENCH = Path(__file__).resolve().parent
LEROBOT_PY = BENCH.parent / ".venv-lerobot" / "bin" / "python"
IMAGE_PREFIX = "observation.images."
STATE = "observation.state"


def map_observation(obs: dict[str, Any], cameras: list[str]) -> dict[str, np.ndarray]:
    """Our raw observation -> LeRobot feature arrays for a policy with image features `cameras`."""
    ours = {k: v for k, v in obs.items() if k.startswith(IMAGE_PREFIX)}
    out: dict[str, np.ndarray] = {}
    for key in cameras:
        if key == "observation.image":  # a single-camera policy: our only camera
            if len(ours) != 1:
                raise ValueError(f"the policy has one unnamed camera but the observation has {sorted(ours)}")
            src = next(iter(ours.values()))
        elif key in ours:
            src = ours[key]
        else:
            raise ValueError(f"the policy needs {key!r}; the observation has {sorted(ours)} (pass --cameras)")
        img = np.asarray(src)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3:
            raise ValueError(f"{key}: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
        out[key] = img
    if STATE not in obs:
        raise ValueError(f"the observation has no {STATE!r}")
    out[STATE] = np.asarray(obs[STATE], dtype=np.float32).reshape(-1)
    return out


class LeRobotProcessPolicy:
    """`infer(obs) -> {"actions": (chunk, A)}`, `reset()`, and `observe(obs)` for policies with a history."""

    def __init__(self, checkpoint: str | Path, threads: int = 1, python: str | Path = LEROBOT_PY) -> None:
        if not Path(python).exists():
            raise FileNotFoundError(f"{python} not found: run `bash bench/setup_lerobot.sh` first")
        if not (Path(checkpoint) / "config.json").is_file():
            raise FileNotFoundError(f"{checkpoint}: not a LeRobot checkpoint (no config.json)")
        self.checkpoint = str(checkpoint)
        cmd = [str(python), str(BENCH / "lerobot_serve.py"), "--checkpoint", self.checkpoint, "--threads", str(threads)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        atexit.register(self.close)
        self.info = self._call({"op": "info"})[0]
        self.metadata = {
            "name": f"lerobot-{self.info['type']}",
            "cameras": [c.removeprefix(IMAGE_PREFIX) for c in self.info["cameras"] if c.startswith(IMAGE_PREFIX)],
            "state_dim": self.info["state_dim"],
            "action_dim": self.info["action_dim"],
        }
        # Diffusion Policy conditions on the last n_obs_steps observations: the harness must show it every step.
        self.wants_every_frame = self.info["n_obs_steps"] > 1
        self.last_compute_ms = float("nan")

    def _call(self, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> tuple[dict, dict]:
        if self._proc.poll() is not None:
            raise RuntimeError(f"the LeRobot policy process for {self.checkpoint} exited ({self._proc.returncode})")
        assert self._proc.stdin is not None and self._proc.stdout is not None
        write_message(self._proc.stdin, header, arrays)
        reply, out = read_message(self._proc.stdout)
        if "error" in reply:
            raise RuntimeError(f"LeRobot policy {self.checkpoint} failed on {header['op']!r}:\n{reply['error']}")
        return reply, out

    def reset(self) -> None:
        self._call({"op": "reset"})

    def observe(self, obs: dict[str, Any]) -> None:
        if self.wants_every_frame:
            self._call({"op": "observe"}, map_observation(obs, self.info["cameras"]))

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        reply, out = self._call({"op": "infer"}, map_observation(obs, self.info["cameras"]))
        self.last_compute_ms = reply["compute_ms"]
        return {"actions": out["actions"].copy(), "compute_ms": reply["compute_ms"]}

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is None or proc.poll() is not None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()  # the server exits on end of input
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def __del__(self) -> None:
        self.close()


@dataclass
class LeRobotFactory:
    """Picklable `task -> PolicyLike` for `Evaluator.run` worker processes: one server per process, all tasks."""

    checkpoint: str
    threads: int = 1
    _policy: LeRobotProcessPolicy | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "threads": self.threads, "_policy": None}

    def __call__(self, task: str) -> LeRobotProcessPolicy:
        if self._policy is None:
            self._policy = LeRobotProcessPolicy(self.checkpoint, self.threads)
        return self._policy
