"""Policy server benchmark: round trip with the real openpi-client, concurrent clients, fuzzed messages.

    .venv/bin/python bench/serving.py [--checkpoint DIR] [--requests 50] [--clients 4] [--seconds 10] [--fuzz 500]

The server (`PolicyServer`, the code behind `hy-vla serve`) runs in this process; clients run in
separate processes with the real openpi-client 0.1.2 from .venv-openpi (scripts/setup_openpi_client.sh),
so the GIL is not shared. Without .venv-openpi the clients fall back to our `RemotePolicy` (noted).
Without --checkpoint a tiny random-weight model is used (bench/async_smoothness.py's `tiny_config`).

1. round trip: one client, sequential requests: client-side p50 / p99 and the server's own inference
   time, so the protocol overhead (msgpack + websocket + validation) is the difference;
2. load: N concurrent clients for S seconds: requests, errors, client p50 / p99, throughput;
3. fuzz: M malformed messages (random bytes, truncations, bit flips, wrong types / shapes / dtypes,
   NaN / inf, lying array headers, text frames, deep nesting, maps of thousands of keys, images over the
   largest accepted side) on one connection: every one must be answered with an
   error text frame, the server must survive (crashes = 0) and still answer a good request.

`--compare-batching` instead runs the load phase for 1, 4 and 16 clients against the server answering one
request at a time (`max_batch=1`) and against batched answering (`--max-batch`, default 8), in one run, and
prints p50 / p99 latency and throughput side by side:

    .venv/bin/python bench/serving.py --checkpoint CKPT --compare-batching --seconds 20

`--stall` measures what the largest images the server accepts cost the other sessions: one client sends
ordinary requests for --seconds alone, then again while a second client sends requests whose every image has
the largest accepted side (resized by the server); the first client's p50 / p99 are compared.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np

REPO = Path(__file__).resolve().parents[1]
OPENPI_PY = REPO / ".venv-openpi" / "bin" / "python"

# Runs in a client process (openpi venv: numpy < 2, no hy_vla): argv = port, seconds, requests, kind.
CLIENT = r"""
import json, sys, time
import numpy as np
port, seconds, n_req, kind = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if kind == "openpi":
    from openpi_client.websocket_client_policy import WebsocketClientPolicy
    client = WebsocketClientPolicy("127.0.0.1", port)
    meta = client.get_server_metadata()
else:
    from hy_vla.serving.client import RemotePolicy
    client = RemotePolicy("127.0.0.1", port)
    meta = client.metadata
rng = np.random.default_rng(0)
obs = {k: (rng.integers(0, 255, s["shape"], dtype=np.uint8) if s["dtype"] == "uint8"
           else np.zeros(s["shape"], np.float32)) for k, s in meta["observation_spec"].items()}
obs[meta["prompt_key"]] = "reach the goal"
client.infer(obs)  # warm-up
lat, server_ms, errors = [], [], 0
t_end = time.perf_counter() + seconds
while (time.perf_counter() < t_end) if seconds > 0 else (len(lat) + errors < n_req):
    t0 = time.perf_counter()
    try:
        out = client.infer(obs)
        lat.append((time.perf_counter() - t0) * 1000)
        server_ms.append(out["server_timing"]["infer_ms"])
    except Exception:
        errors += 1
print(json.dumps({"lat_ms": lat, "server_infer_ms": server_ms, "errors": errors}))
"""


def client_kind() -> str:
    if OPENPI_PY.exists():
        probe = subprocess.run([str(OPENPI_PY), "-c", "import openpi_client.websocket_client_policy"])
        if probe.returncode == 0:
            return "openpi"
    return "hy_vla"


def spawn_client(port: int, seconds: float, requests: int, kind: str) -> subprocess.Popen:
    py = str(OPENPI_PY) if kind == "openpi" else sys.executable
    args = [py, "-c", CLIENT, str(port), str(seconds), str(requests), kind]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def collect(proc: subprocess.Popen, timeout: float) -> dict:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"client failed:\n{err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def without(obs: dict, key: str) -> dict:
    return {k: v for k, v in obs.items() if k != key}


def nested(depth: int) -> list:
    out: list = []
    for _ in range(depth):
        out = [out]
    return out


def fuzz_messages(good: dict, m: int, seed: int = 0) -> list[bytes | str]:
    """M malformed requests derived from a good observation."""
    from hy_vla.serving import wire

    rng = np.random.default_rng(seed)
    packed = wire.pack(good)
    state_tag = {b"__ndarray__": True, b"data": b"\x00" * 16, b"dtype": "<f4", b"shape": [4]}
    makers = [
        lambda: rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes(),  # random bytes
        lambda: packed[: int(rng.integers(1, len(packed)))],  # truncated
        lambda: bytes(b ^ (1 << int(rng.integers(0, 8))) if rng.random() < 0.01 else b for b in packed),  # bit flips
        lambda: wire.pack(without(good, str(rng.choice(list(good))))),  # a key missing
        lambda: wire.pack({**good, "observation.state": np.full(4, np.nan, np.float32)}),
        lambda: wire.pack({**good, "observation.state": np.zeros(int(rng.integers(5, 50)), np.float32)}),
        lambda: wire.pack({**good, "observation.state": "not an array"}),
        lambda: msgpack.packb({**good, "observation.state": {**state_tag, b"shape": [10**9]}}, default=wire._encode),
        lambda: msgpack.packb({**good, "observation.state": {**state_tag, b"dtype": "|O"}}, default=wire._encode),
        lambda: wire.pack([good["prompt"]] * int(rng.integers(1, 10))),
        lambda: "a text frame",
        lambda: wire.pack({**good, "prompt": int(rng.integers(0, 100))}),
        lambda: wire.pack({**good, "observation.state": np.array([np.inf, 0, 0, 0], np.float32)}),
        lambda: wire.pack({**good, "extra": nested(int(rng.integers(33, 500)))}),  # deep nesting
        lambda: wire.pack({**good, "extra": {f"{i:x}": i for i in range(int(rng.integers(5000, 20000)))}}),  # wide
        lambda: wire.pack({**good, next(k for k in good if "images" in k): np.zeros((1100, 8, 3), np.uint8)}),
    ]
    return [makers[i % len(makers)]() for i in range(m)]


def run_fuzz(port: int, good: dict, m: int) -> dict:
    from websockets.sync.client import connect

    from hy_vla.serving import wire

    answered = errors_text = good_replies = closed = 0
    ws = connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None, legacy=True)
    ws.recv(timeout=30)
    for msg in fuzz_messages(good, m):
        try:
            ws.send(msg)
            reply = ws.recv(timeout=60)
        except Exception:  # the connection died: reconnect and count it
            closed += 1
            ws = connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None, legacy=True)
            ws.recv(timeout=30)
            continue
        answered += 1
        if isinstance(reply, str):
            errors_text += 1
        else:
            good_replies += 1  # a bit flip that still made a valid request (e.g. in image bytes)
    ws.send(wire.pack(good))
    after = wire.unpack(ws.recv(timeout=60))
    ws.close()
    return {
        "sent": m,
        "answered": answered,
        "error_text_replies": errors_text,
        "valid_after_mutation": good_replies,
        "connections_lost": closed,
        "good_request_after": list(after["actions"].shape),
    }


def run_load(port: int, clients: int, seconds: float, kind: str) -> dict:
    """`clients` concurrent clients sending for `seconds`: latency percentiles and throughput."""
    rs = [collect(p, timeout=seconds + 600) for p in [spawn_client(port, seconds, 0, kind) for _ in range(clients)]]
    lat = [x for r in rs for x in r["lat_ms"]]
    return {
        "clients": clients,
        "requests": len(lat),
        "errors": sum(r["errors"] for r in rs),
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "throughput_rps": len(lat) / seconds,
        "server_infer_p50_ms": pct([x for r in rs for x in r["server_infer_ms"]], 50),
    }


def compare_batching(ckpt: str, seconds: float, max_batch: int, json_out: str | None) -> None:
    """1 / 4 / 16 clients against max_batch=1 and max_batch=N servers (the same checkpoint, one run)."""
    from hy_vla.serving.server import ServerConfig, checkpoint_server

    kind = client_kind()
    rows = []
    for mb in (1, max_batch):
        server = checkpoint_server(ckpt, ServerConfig(port=0, max_batch=mb))
        port = server.start_in_thread()
        collect(spawn_client(port, 0, 5, kind), timeout=600)  # warm-up
        for clients in (1, 4, 16):
            row = {"max_batch": mb, **run_load(port, clients, seconds, kind)}
            rows.append(row)
            print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        server.stop_thread()
    print(f"\n| clients | one at a time p50 / p99 ms, req/s | batched (max {max_batch}) p50 / p99 ms, req/s |")
    print("|---|---|---|")
    for clients in (1, 4, 16):
        a, b = (next(r for r in rows if r["clients"] == clients and r["max_batch"] == mb) for mb in (1, max_batch))
        print(f"| {clients} | {a['p50_ms']:.0f} / {a['p99_ms']:.0f}, {a['throughput_rps']:.1f} | "
              f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f}, {b['throughput_rps']:.1f} |")  # fmt: skip
    if json_out:
        Path(json_out).write_text(json.dumps({"client": kind, "checkpoint": ckpt, "rows": rows}, indent=2))


def stall_probe(ckpt: str, seconds: float, json_out: str | None) -> dict:
    """An ordinary client's latency alone and beside a client sending the largest accepted images."""
    import threading

    from hy_vla.serving.client import RemotePolicy
    from hy_vla.serving.server import ServerConfig, checkpoint_server
    from hy_vla.serving.spec import max_image_side

    server = checkpoint_server(ckpt, ServerConfig(port=0))
    port = server.start_in_thread()
    meta = server.metadata
    rng = np.random.default_rng(0)
    side = max_image_side(meta["image_size"])

    def obs(big: bool) -> dict:
        out = {}
        for k, s in meta["observation_spec"].items():
            shape = [side, side, 3] if big and s["dtype"] == "uint8" else s["shape"]
            out[k] = (
                rng.integers(0, 255, shape, dtype=np.uint8) if s["dtype"] == "uint8" else np.zeros(shape, np.float32)
            )
        return {**out, "prompt": "reach the goal"}

    def ordinary(lat: list[float], stop: threading.Event) -> None:
        with RemotePolicy("127.0.0.1", port) as p:
            o = obs(False)
            while not stop.is_set():
                t = time.perf_counter()
                p.infer(o)
                lat.append((time.perf_counter() - t) * 1000)

    def big_sender(stop: threading.Event, sent: list[int]) -> None:
        with RemotePolicy("127.0.0.1", port) as p:
            o = obs(True)
            while not stop.is_set():
                p.infer(o)
                sent.append(1)

    results = {}
    for label, with_big in (("alone", False), ("beside largest images", True)):
        lat: list[float] = []
        sent: list[int] = []
        stop = threading.Event()
        threads = [threading.Thread(target=ordinary, args=(lat, stop))]
        if with_big:
            threads.append(threading.Thread(target=big_sender, args=(stop, sent)))
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(60)
        results[label] = {"requests": len(lat), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "big_sent": len(sent)}
        print(
            f"{label}: "
            + json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in results[label].items()})
        )
    server.stop_thread()
    results["largest_side_px"] = side
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--requests", type=int, default=50, help="sequential round trips")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of the concurrent load")
    ap.add_argument("--fuzz", type=int, default=500, help="malformed messages")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the server (1: no spin-wait contention)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--compare-batching", action="store_true", help="max_batch 1 vs --max-batch at 1/4/16 clients")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--stall", action="store_true", help="ordinary client alone vs beside a largest-image client")
    args = ap.parse_args()

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from async_smoothness import make_tiny_checkpoint

    from hy_vla.serving.server import ServerConfig, checkpoint_server

    torch.set_num_threads(args.threads)
    logging.getLogger("hy_vla.serving").setLevel(logging.ERROR)  # the fuzz phase would log every rejection
    tmp = tempfile.TemporaryDirectory()
    ckpt = args.checkpoint or str(make_tiny_checkpoint(Path(tmp.name) / "ckpt"))
    if args.compare_batching:
        compare_batching(ckpt, args.seconds, args.max_batch, args.json)
        return
    if args.stall:
        stall_probe(ckpt, args.seconds, args.json)
        return
    server = checkpoint_server(ckpt, ServerConfig(port=0))
    port = server.start_in_thread()
    kind = client_kind()
    meta = server.metadata
    print(f"server on port {port}; clients: {kind}; model {Path(ckpt).name}, action_horizon {meta['action_horizon']}")
    results: dict = {"client": kind, "checkpoint": args.checkpoint or "tiny random"}

    r = collect(spawn_client(port, 0, args.requests, kind), timeout=600)
    rt = {
        "requests": len(r["lat_ms"]),
        "errors": r["errors"],
        "p50_ms": pct(r["lat_ms"], 50),
        "p99_ms": pct(r["lat_ms"], 99),
        "server_infer_p50_ms": pct(r["server_infer_ms"], 50),
    }
    rt["overhead_p50_ms"] = rt["p50_ms"] - rt["server_infer_p50_ms"]
    results["round_trip"] = rt
    print("round trip: " + json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in rt.items()}))

    procs = [spawn_client(port, args.seconds, 0, kind) for _ in range(args.clients)]
    rs = [collect(p, timeout=args.seconds + 600) for p in procs]
    lat = [x for r in rs for x in r["lat_ms"]]
    load = {
        "clients": args.clients,
        "seconds": args.seconds,
        "requests": len(lat),
        "errors": sum(r["errors"] for r in rs),
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "throughput_rps": len(lat) / args.seconds,
        "server_infer_p50_ms": pct([x for r in rs for x in r["server_infer_ms"]], 50),
        "server_infer_p99_ms": pct([x for r in rs for x in r["server_infer_ms"]], 99),
        "per_client_requests": [len(r["lat_ms"]) for r in rs],
    }
    results["load"] = load
    print("load: " + json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in load.items()}))

    rng = np.random.default_rng(0)
    good = {k: (rng.integers(0, 255, s["shape"], dtype=np.uint8) if s["dtype"] == "uint8" else
                np.zeros(s["shape"], np.float32)) for k, s in meta["observation_spec"].items()}  # fmt: skip
    good["prompt"] = "reach the goal"
    t0 = time.perf_counter()
    fz = run_fuzz(port, good, args.fuzz)
    fz["wall_s"] = time.perf_counter() - t0
    fz["server_alive"] = bool(getattr(server, "_thread", None) and server._thread.is_alive())
    fz["crashes"] = int(not fz["server_alive"])
    results["fuzz"] = fz
    print("fuzz: " + json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in fz.items()}))
    server.stop_thread()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
