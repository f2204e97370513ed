"""Training throughput (samples/s) of hy-vla-tiny on CPU: forward + backward + AdamW step on synthetic batches.

    .venv/bin/python bench/train_throughput.py [--batch-size 8] [--steps 5] [--threads N]

Two input shapes: the preset's own (3 cameras, K=6, 64 px, H=20, 20-d state/action) and a
Meta-World-like one (2 cameras, K=1, 96 px, H=10, 4-d state/action). Data loading is excluded:
this measures the model's training step, the ceiling the data loader has to keep up with.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from hy_vla.models.config import HyVLAConfig
from hy_vla.models.hy_vla import HyVLA
from hy_vla.presets import model_config
from hy_vla.training.schedule import lr_at


def shapes() -> dict[str, HyVLAConfig]:
    tiny = model_config("hy-vla-tiny")
    metaworld = tiny.replace(
        camera_names=("corner2", "gripperPOV"),
        history_frames=1,
        horizon=10,
        action_stride=1,
        state_dim=4,
        action_dim=4,
        vision=dataclasses.replace(tiny.vision, image_size=96),
    )
    return {"preset (3 cam, K=6, 64px, H=20)": tiny, "metaworld-like (2 cam, K=1, 96px, H=10)": metaworld}


def synthetic_batch(cfg: HyVLAConfig, b: int) -> dict:
    g = torch.Generator().manual_seed(0)
    s, k = cfg.image_size, cfg.history_frames
    batch: dict = {
        key: torch.randint(0, 256, (b, k, 3, s, s), generator=g, dtype=torch.uint8) for key in cfg.image_keys
    }
    batch["observation.state"] = torch.randn(b, cfg.state_dim, generator=g)  # (B, S)
    batch["action"] = torch.randn(b, cfg.horizon, cfg.action_dim, generator=g)  # (B, H, A)
    batch["task"] = ["push the puck to the goal"] * b
    return batch


def measure(cfg: HyVLAConfig, batch_size: int, steps: int, warmup: int = 2) -> dict[str, float]:
    torch.manual_seed(0)
    model = HyVLA(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = synthetic_batch(cfg, batch_size)
    gen = torch.Generator().manual_seed(0)
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, 1e-4, 10, 1000, 1e-5)
        opt.zero_grad(set_to_none=True)
        loss, _ = model.compute_loss(batch, generator=gen)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    per_step = sorted(times)[len(times) // 2]  # median: robust to other processes on a shared machine
    return {"params_m": model.num_parameters() / 1e6, "s_per_step": per_step, "samples_per_s": batch_size / per_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed steps (after 2 warm-up steps)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"hy-vla-tiny training step on CPU, batch {args.batch_size}, {torch.get_num_threads()} threads, fp32")
    print(f"{'shape':<42} {'params':>8} {'s/step':>8} {'samples/s':>10}")
    for name, cfg in shapes().items():
        r = measure(cfg, args.batch_size, args.steps)
        print(f"{name:<42} {r['params_m']:>7.2f}M {r['s_per_step']:>8.3f} {r['samples_per_s']:>10.1f}")


if __name__ == "__main__":
    main()
