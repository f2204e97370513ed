"""`hy-vla serve`: serve a checkpoint over websockets with the openpi wire protocol.

hy-vla serve --checkpoint runs/train/ckpt --host 127.0.0.1 --port 8000
hy-vla serve --checkpoint runs/train/ckpt --port 8000 --api-key KEY     # or HY_VLA_API_KEY=KEY
curl http://127.0.0.1:8000/healthz

Clients: openpi-client's `WebsocketClientPolicy(host, port, api_key)` or `hy_vla.serving.client.RemotePolicy`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from hy_vla.cli.stride_option import add_stride_mode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder to serve")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: pick a free one)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("HY_VLA_API_KEY"),
        help="require the header 'Authorization: Api-Key KEY' (default: $HY_VLA_API_KEY; unset: no auth)",
    )
    parser.add_argument(
        "--max-message-mb",
        type=float,
        default=16.0,
        help="largest message accepted, in MiB; a larger one closes its connection unread (default 16)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=300.0,
        help="close a session silent this long, in s (0: never; default 300)",
    )
    parser.add_argument("--max-sessions", type=int, default=64, help="concurrent sessions accepted (default 64)")
    parser.add_argument(
        "--max-batch",
        type=int,
        default=8,
        help="waiting requests answered by one forward pass (default 8; 1: one by one)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=0.0,
        help="how long a batch may wait for the other open sessions' requests (default 0: never; a lone session "
        "never waits)",
    )
    parser.add_argument(
        "--obs-map",
        action="append",
        default=[],
        metavar="THEIRS=OURS",
        help="rename a stock client's observation key (or '/'-path into nested maps) to a camera name, 'state' or a "
        "key, e.g. observation/image=agentview, images/cam_high=cam_high (repeatable)",
    )
    parser.add_argument("--device", default="cpu", help="torch device of the model")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="model weights dtype")
    parser.add_argument("--num-steps", type=int, default=None, help="Euler steps (default: the checkpoint's)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of every session")
    add_stride_mode(parser)
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip comparing the checkpoint's files with its checksums.json (SHA-256; default: verify, ~1 s per GB)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (1 avoids spin-wait contention on busy hosts)"
    )


def run(args: argparse.Namespace) -> int:
    from hy_vla.serving.server import ServerConfig, checkpoint_server
    from hy_vla.serving.spec import parse_observation_map

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        config = ServerConfig(
            args.host,
            args.port,
            args.api_key,
            args.max_message_mb,
            args.idle_timeout,
            args.max_sessions,
            parse_observation_map(args.obs_map),
            args.max_batch,
            args.max_wait_ms,
        )
        if not args.no_verify:  # a flipped byte in the weights would otherwise serve wrong actions silently
            from hy_vla.training.checkpointing import resolve_checkpoint
            from hy_vla.utils.checksums import verify_checksums

            verify_checksums(resolve_checkpoint(args.checkpoint))
        server = checkpoint_server(
            args.checkpoint,
            config,
            device=args.device,
            dtype=args.dtype,
            num_steps=args.num_steps,
            seed=args.seed,
            stride_mode=args.stride_mode,
        )
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        pass
    except OSError as e:  # port in use, bad interface
        print(f"error: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    return 0
