"""Smoothness of asynchronous chunk execution: jerk at chunk boundaries vs within chunks.

    .venv/bin/python bench/async_smoothness.py [--checkpoint DIR] [--latency-ms 100] [--period-ms 25]
        [--episodes 4] [--steps 50] [--train-steps 300] [--save DIR]

Compares, on the same closed loop and seeds:
    sync          latency 0 (the robot waits for each chunk), same re-planning period as the async modes
    async-none    naive asynchronous execution: switch to the new chunk as soon as it arrives
    async-linear  linear cross-fade over the overlap
    async-bezier  cubic Bezier cross-fade over the overlap
    async-rtc     guided denoising toward the old chunk (inference-time real-time chunking)

Without --checkpoint, a tiny model (16 px camera, 4-d state/action, horizon 16) is fitted for
--train-steps steps (~half a minute on 2 cores) to a *bimodal* synthetic task: from the state, move
up-and-right or down-and-right, 50/50. Consecutive chunks that pick different modes is what makes naive
asynchronous switching jerky and what guided continuation avoids. --train-steps 0 keeps random weights.
The "environment" executes each action as the next position (state = last action).

Jerk is the norm of the third difference of the executed actions; a boundary window is the three
jerk samples that straddle a step where stitched actions begin. Reported: mean jerk in boundary
windows, mean jerk elsewhere, their ratio; the same for acceleration (second difference); and, for the
toy task, "flips": how often the net vertical direction changes from one executed chunk segment to the
next (a mode switch).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hy_vla import HyVLA
from hy_vla.data.norm_stats import FeatureStats, NormStats
from hy_vla.models.action_expert import ActionExpertConfig
from hy_vla.models.backbone import BackboneConfig
from hy_vla.models.config import HyVLAConfig
from hy_vla.models.vision import VisionConfig
from hy_vla.policy.checkpoint_policy import CheckpointPolicy
from hy_vla.runtime.scheduler import AsyncConfig
from hy_vla.runtime.sim_async import SimAsyncPolicy

EMBODIMENT, CAMERA, PROMPT = "metaworld_sawyer", "corner2", "move right"
SPEED = 0.05  # per control step, both axes


def tiny_config(horizon: int = 16) -> HyVLAConfig:
    """A ~200k-parameter Hy-VLA: one 16 px camera, one frame, 4-d state and action."""
    return HyVLAConfig(
        camera_names=(CAMERA,),
        embodiment=EMBODIMENT,
        history_frames=1,
        horizon=horizon,
        action_stride=1,
        max_state_dim=4,
        max_action_dim=4,
        state_dim=4,
        action_dim=4,
        num_inference_steps=5,
        max_text_len=16,
        vision=VisionConfig(image_size=16, patch_size=8, width=32, depth=1, num_heads=2, mlp_ratio=2.0),
        backbone=BackboneConfig(width=48, depth=2, num_heads=2, head_dim=16, mlp_hidden=96, vocab_size=259),
        expert=ActionExpertConfig(width=64, mlp_hidden=128),
    )


def tiny_norm_stats() -> NormStats:
    return NormStats(
        {
            EMBODIMENT: {
                "observation.state": FeatureStats(mode="mean_std", count=1, mean=[0.0] * 4, std=[1.0] * 4),
                "action": FeatureStats(mode="min_max", count=1, min=[-1.0, -4.0, -1.0, -1.0], max=[4.0, 4.0, 1.0, 1.0]),
            }
        }
    )


def bimodal_batch(n: int, horizon: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """States (n, 4) and chunks (n, H, 4): a_j = s + (j + 1) * SPEED * [1, m, 0, 0], m = +-1."""
    s = torch.rand(n, 4, generator=g) * torch.tensor([3.0, 5.0, 0.2, 0.2]) - torch.tensor([0.0, 2.5, 0.1, 0.1])
    m = torch.randint(0, 2, (n, 1), generator=g).float() * 2 - 1
    steps = torch.arange(1, horizon + 1).float().view(1, -1, 1)  # (1, H, 1)
    direction = torch.cat([torch.ones(n, 1), m, torch.zeros(n, 2)], dim=1).view(n, 1, 4)
    return s, s.view(n, 1, 4) + steps * SPEED * direction


def make_tiny_checkpoint(directory: Path, horizon: int = 16, train_steps: int = 0, seed: int = 0) -> Path:
    """Save a tiny checkpoint; with train_steps > 0 it is first fitted to the bimodal task."""
    torch.manual_seed(seed)
    model = HyVLA(tiny_config(horizon))
    model.norm_stats = tiny_norm_stats()
    if train_steps > 0:
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
        image = torch.full((64, 1, 3, 16, 16), 128, dtype=torch.uint8)
        t0 = time.perf_counter()
        for step in range(train_steps):
            s, a = bimodal_batch(64, horizon, g)
            batch = {
                f"observation.images.{CAMERA}": image,
                "observation.state": model.norm_stats.normalize("observation.state", s, EMBODIMENT),
                "action": model.norm_stats.normalize("action", a, EMBODIMENT),
                "task": [PROMPT] * 64,
            }
            loss, _ = model.compute_loss(batch, generator=g)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 100 == 0 or step == train_steps - 1:
                took = time.perf_counter() - t0
                print(f"  train step {step}: loss {loss.item():.4f} ({took:.0f} s)", file=sys.stderr)
    return model.eval().save_pretrained(directory)


def observation(state: np.ndarray) -> dict:
    return {
        f"observation.images.{CAMERA}": np.full((16, 16, 3), 128, np.uint8),
        "observation.state": state.astype(np.float32),
        "prompt": PROMPT,
    }


def rollout(policy: SimAsyncPolicy, steps: int) -> tuple[np.ndarray, list[int]]:
    """Closed loop: the executed action becomes the next state. -> actions (steps, 4), boundary steps."""
    policy.reset()
    state = np.zeros(4, np.float32)
    executed: list[np.ndarray] = []
    while len(executed) < steps:
        for a in policy.infer(observation(state))["actions"]:
            executed.append(a)
            state = np.asarray(a, np.float32)
    return np.array(executed[:steps]), [b for b in policy.scheduler.boundaries if 0 < b < steps]


def jerk_stats(actions: np.ndarray, boundaries: list[int]) -> dict[str, float]:
    """Mean jerk / acceleration in boundary windows vs elsewhere (see the module docstring)."""
    out: dict[str, float] = {}
    for name, order in (("jerk", 3), ("accel", 2)):
        mag = np.linalg.norm(np.diff(actions, n=order, axis=0), axis=1)  # sample i uses a[i .. i + order]
        near = np.zeros(len(mag), bool)
        for b in boundaries:  # samples whose window contains both a[b - 1] and a[b]
            near[max(0, b - order) : b] = True
        out[f"{name}_boundary"] = float(mag[near].mean()) if near.any() else float("nan")
        out[f"{name}_within"] = float(mag[~near].mean()) if (~near).any() else float("nan")
        out[f"{name}_ratio"] = out[f"{name}_boundary"] / max(out[f"{name}_within"], 1e-12)
    return out


def direction_flips(actions: np.ndarray, boundaries: list[int]) -> int:
    """Sign changes of the net y motion between consecutive chunk segments (mode switches of the toy task)."""
    edges = [0, *boundaries, len(actions)]
    signs = [np.sign(actions[b - 1, 1] - actions[a, 1]) for a, b in zip(edges, edges[1:], strict=False) if b - a > 1]
    return int(sum(s1 != s2 for s1, s2 in zip(signs, signs[1:], strict=False) if s1 and s2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="a trained checkpoint (default: a tiny fitted one)")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--period-ms", type=float, default=25.0, help="control period T")
    ap.add_argument("--overlap", type=int, default=4)
    ap.add_argument("--margin", type=int, default=1)
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--steps", type=int, default=50, help="control steps per episode (the task covers ~50)")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save", default=None, help="keep the tiny checkpoint here (reuse it with --checkpoint)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    where = Path(args.save) if args.save else Path(tmp.name) / "ckpt"
    ckpt = args.checkpoint or str(make_tiny_checkpoint(where, train_steps=args.train_steps))
    model = HyVLA.from_pretrained(ckpt).eval()
    period_s = args.period_ms / 1000.0
    d = int(np.ceil(args.latency_ms / args.period_ms - 1e-9))
    common = {"overlap": args.overlap, "margin": args.margin, "control_period_ms": args.period_ms}
    modes = {
        "sync": AsyncConfig(stitch="none", latency_ms=0.0, **{**common, "overlap": args.overlap + d}),
        "async-none": AsyncConfig(stitch="none", latency_ms=args.latency_ms, **common),
        "async-linear": AsyncConfig(stitch="linear", latency_ms=args.latency_ms, **common),
        "async-bezier": AsyncConfig(stitch="bezier", latency_ms=args.latency_ms, **common),
        "async-rtc": AsyncConfig(stitch="rtc", latency_ms=args.latency_ms, **common),
    }
    print(f"latency {args.latency_ms:g} ms, period {period_s * 1000:g} ms -> d = {d}; horizon {model.config.horizon}")
    print(f"{'mode':14s} {'jerk@boundary':>14s} {'jerk within':>12s} {'ratio':>6s} {'accel ratio':>11s} "
          f"{'flips/ep':>8s} {'chunks/ep':>9s} {'underruns':>9s}")  # fmt: skip
    results = {}
    for name, cfg in modes.items():
        per_ep, chunks, underruns = [], 0, 0
        for ep in range(args.episodes):
            policy = SimAsyncPolicy(CheckpointPolicy(model, seed=ep), cfg)
            actions, boundaries = rollout(policy, args.steps)
            per_ep.append({**jerk_stats(actions, boundaries), "flips": direction_flips(actions, boundaries)})
            chunks += policy.scheduler.chunks
            underruns += policy.scheduler.underruns
        r = {k: float(np.nanmean([e[k] for e in per_ep])) for k in per_ep[0]}
        r.update(chunks_per_episode=chunks / args.episodes, underruns=underruns)
        results[name] = r
        print(f"{name:14s} {r['jerk_boundary']:14.4f} {r['jerk_within']:12.4f} {r['jerk_ratio']:6.2f} "
              f"{r['accel_ratio']:11.2f} {r['flips']:8.2f} {r['chunks_per_episode']:9.1f} {underruns:9d}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "d": d, "results": results}, indent=2))


if __name__ == "__main__":
    main()
