"""Fault probes, rerun in one command: malformed messages and oversize frames against the policy server, a client
sending the largest accepted images beside an ordinary one, SIGKILL during training and during a checkpoint save
(then resume, compared bit for bit with an uninterrupted run), and damaged datasets and checkpoints given to the CLI.

    .venv/bin/python bench/fault_probes.py [--checkpoint CKPT] [--fuzz 500] [--stall-seconds 10] [--json OUT]

Malformed messages reuse bench/serving.py's fuzzer (`run_fuzz`) and its stall probe (`stall_probe`, on --checkpoint;
skipped without one). The training probes use the micro model of tests/training/training_helpers.py; the damaged
inputs are a tiny LeRobot v3 dataset and a tiny checkpoint written here. Every CLI answer must be one line on
stderr, no traceback, and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests"), str(REPO / "tests" / "serving")]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "OMP_NUM_THREADS": "1"}
STEPS = 6


def probe_server(fuzz: int) -> dict:
    """Malformed messages on one connection, then frames over the size limit (header only), then a good request."""
    from serving import run_fuzz
    from serving_fixtures import good_obs, save_tiny_checkpoint
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from hy_vla.serving import wire
    from hy_vla.serving.server import ServerConfig, checkpoint_server

    with tempfile.TemporaryDirectory() as tmp:
        server = checkpoint_server(str(save_tiny_checkpoint(Path(tmp) / "ckpt")), ServerConfig(port=0))
        port = server.start_in_thread()
        t0 = time.perf_counter()
        out = run_fuzz(port, good_obs(), fuzz)
        out["wall_s"] = round(time.perf_counter() - t0, 1)
        closed_1009 = 0
        for _ in range(20):  # each declares 4x the limit and sends 1 KB: must be closed at once, not buffered
            with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
                ws.recv(timeout=10)
                header = bytes([0x82, 0xFF]) + struct.pack(">Q", 4 * server.config.max_message_bytes) + os.urandom(4)
                ws.socket.sendall(header + b"\0" * 1024)
                try:
                    ws.recv(timeout=5)
                except ConnectionClosed as e:
                    closed_1009 += int(e.rcvd is not None and e.rcvd.code == 1009)
        with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            ws.recv(timeout=10)
            ws.send(wire.pack(good_obs()))
            out["good_request_after_oversize"] = list(wire.unpack(ws.recv(timeout=30))["actions"].shape)
        out["oversize_frames_closed_1009_within_5s"] = f"{closed_1009}/20"
        out["server_alive"] = server._thread.is_alive()
        server.stop_thread()
    return out


def _train(out: Path, sleep: float) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "training.training_helpers", str(out), str(STEPS), str(sleep)]
    return subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    stdout, stderr = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"training failed:\n{stderr[-2000:]}")
    return stdout


def _identical(a: Path, b: Path) -> bool:
    import torch
    from safetensors.torch import load_file

    for name in ("model.safetensors", "training_state.safetensors"):
        x, y = load_file(str(a / name)), load_file(str(b / name))
        if x.keys() != y.keys() or not all(torch.equal(x[k], y[k]) for k in x):
            return False
    return True


def _kill_when(out: Path, ready, sleep: float, timeout_s: float = 60.0) -> bool:
    """Start a run, SIGKILL it as soon as ready(out) holds; False if it finished first."""
    proc = _train(out, sleep)
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if ready(out):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    return False


def probe_sigkill(tmp: Path, tries: int) -> dict:
    """SIGKILL mid-training (after checkpoint 2) and during a save (a temporary checkpoint directory exists)."""
    from hy_vla.training.checkpointing import latest_checkpoint

    def after_step_2(out: Path) -> bool:
        ckpt = latest_checkpoint(out) if out.exists() else None
        return ckpt is not None and int(ckpt.name) >= 2

    def saving(out: Path) -> bool:  # a save in progress after the first complete one (so resume has a checkpoint)
        root = out / "checkpoints"
        try:
            return latest_checkpoint(out) is not None and any(p.name.startswith(".tmp") for p in root.iterdir())
        except FileNotFoundError:  # the directory is renamed while we look
            return False

    _finish(_train(tmp / "straight", 0.0))
    final = tmp / "straight" / "checkpoints" / str(STEPS)
    rows = {}
    for label, ready, sleep in (("during training", after_step_2, 0.3), ("during a checkpoint save", saving, 0.0)):
        killed, attempts = False, 0
        while not killed and attempts < tries:
            attempts += 1
            run = tmp / f"{label.replace(' ', '_')}_{attempts}"
            killed = _kill_when(run, ready, sleep)
        if not killed:
            rows[label] = {"attempts": attempts, "killed": False}
            continue
        if not (run / "checkpoints").is_dir():
            rows[label] = {"attempts": attempts, "killed_at_checkpoint": None}
            continue
        leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
        ckpt = latest_checkpoint(run)
        first = (_finish(_train(run, 0.0)).splitlines() or ["(started from scratch)"])[0]
        left_after = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
        rows[label] = {
            "attempts": attempts,
            "killed_at_checkpoint": int(ckpt.name) if ckpt else None,
            "temporary_dirs_after_kill": len(leftovers),
            "temporary_dirs_after_resume": len(left_after),
            "resume_message": first,
            "bit_identical_to_uninterrupted": _identical(final, run / "checkpoints" / str(STEPS)),
        }
    return rows


def _cli(*args: str, timeout_s: float = 60.0) -> dict:
    cmd = [sys.executable, "-m", "hy_vla.cli.main", *args]
    try:
        proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:  # `serve` got past loading: the damage was not noticed
        return {"exit": None, "stderr_lines": 0, "traceback": False, "message": f"still running after {timeout_s:g} s"}
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {
        "exit": proc.returncode,
        "stderr_lines": len(lines),
        "traceback": "Traceback" in proc.stderr,
        "message": lines[-1][:160] if lines else "",
    }


def probe_damaged(tmp: Path) -> dict:
    """Damaged datasets and checkpoints handed to `hy-vla dataset info`, `compute-norm` and `serve`."""
    from serving_fixtures import save_tiny_checkpoint
    from training.training_helpers import write_tiny_dataset

    base = Path(write_tiny_dataset(tmp / "data"))
    cases: dict[str, dict] = {}

    def dataset(name: str, damage) -> Path:
        d = tmp / f"data_{name}"
        shutil.copytree(base, d)
        damage(d)
        return d

    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    parquet = next(p.relative_to(base) for p in sorted(base.rglob("*.parquet")) if "data" in p.parts)
    d = dataset("truncated_parquet", lambda d: truncate(d / parquet))
    cases["dataset: truncated data parquet (dataset info --check)"] = _cli("dataset", "info", "--check", str(d))
    cases["dataset: truncated data parquet (compute-norm)"] = _cli("compute-norm", "--dataset", str(d))
    d = dataset("no_info", lambda d: (d / "meta" / "info.json").unlink())
    cases["dataset: meta/info.json missing (dataset info)"] = _cli("dataset", "info", str(d))
    d = dataset("bad_info", lambda d: (d / "meta" / "info.json").write_text("{not json"))
    cases["dataset: meta/info.json not JSON (dataset info)"] = _cli("dataset", "info", str(d))

    ckpt = save_tiny_checkpoint(tmp / "ckpt")

    def checkpoint(name: str, damage) -> Path:
        c = tmp / f"ckpt_{name}"
        shutil.copytree(ckpt, c)
        damage(c)
        return c

    def flip(path: Path) -> None:
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))

    serve = ("serve", "--port", "0", "--checkpoint")
    c = checkpoint("truncated", lambda c: truncate(c / "model.safetensors"))
    cases["checkpoint: truncated model.safetensors (serve)"] = _cli(*serve, str(c))

    def inflate(c: Path) -> None:
        cfg = json.loads((c / "config.json").read_text())
        cfg["backbone"].update(width=4096, mlp_hidden=10**9)
        (c / "config.json").write_text(json.dumps(cfg))

    c = checkpoint("config", inflate)
    cases["checkpoint: config.json with inflated sizes (serve)"] = _cli(*serve, str(c))
    c = checkpoint("missing", lambda c: (c / "model.safetensors").unlink())
    cases["checkpoint: model.safetensors missing (serve)"] = _cli(*serve, str(c))
    c = checkpoint("bitflip", lambda c: flip(c / "model.safetensors"))
    cases["checkpoint: one flipped byte in model.safetensors (serve)"] = _cli(*serve, str(c))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="checkpoint for the stall probe (skipped without one)")
    ap.add_argument("--fuzz", type=int, default=500, help="malformed messages")
    ap.add_argument("--stall-seconds", type=float, default=10.0)
    ap.add_argument("--kill-tries", type=int, default=20, help="runs started to catch a kill inside a save")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import logging

    import torch

    torch.set_num_threads(1)
    logging.getLogger("hy_vla.serving").setLevel(logging.ERROR)  # the fuzz phase would log every rejection
    results: dict = {}
    results["server"] = probe_server(args.fuzz)
    print("server: " + json.dumps(results["server"]), flush=True)
    if args.checkpoint:
        from serving import stall_probe

        results["stall"] = stall_probe(args.checkpoint, args.stall_seconds, None)
    with tempfile.TemporaryDirectory() as tmp:
        results["sigkill"] = probe_sigkill(Path(tmp) / "kill", args.kill_tries)
        print("sigkill: " + json.dumps(results["sigkill"], indent=1), flush=True)
        results["damaged"] = probe_damaged(Path(tmp) / "damaged")
    for case, r in results["damaged"].items():
        lines = f"{r['stderr_lines']} stderr line(s)"
        print(f"{case}: exit {r['exit']}, {lines}, traceback {r['traceback']}: {r['message']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
