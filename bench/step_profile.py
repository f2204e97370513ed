"""Where a training step of a preset spends its time, and how far it is from what this CPU's matmuls can do.

    .venv/bin/python bench/step_profile.py [--preset metaworld-demo] [--batch-size 32] [--steps 10] [--json OUT]
        [--set model.history_frames=6 ...]

One run, on a real-shaped synthetic batch (the preset's cameras, image size, horizon; its embodiment.s state and
action; the env-state objective's first frames when the preset trains it):
1. the step's FLOPs (forward + backward, `torch.utils.flop_counter`), split by module (vision, projector,
   backbone, action expert, objectives);
2. wall time per phase: forward, backward, optimizer step (medians of --steps steps after 2 warm-ups), and the
   forward's time per top-level module (forward hooks, synchronous on CPU);
3. a matmul probe on this machine: GFLOP/s of (M, K) @ (K, N) products of the step's typical sizes, the bound
   the step is compared against. Achieved GFLOP/s = FLOPs / step time.
CPU-bound: run it on an otherwise idle machine and name the CPU (`lscpu`) with its numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from hy_vla.models.hy_vla import HyVLA
from hy_vla.presets import model_config, train_config
from hy_vla.training.objectives import attach_objectives
from hy_vla.training.parameters import build_adamw
from hy_vla.training.run_config import apply_overrides, parse_overrides
from hy_vla.training.synthetic_batch import synthetic_batch


def flops_by_module(model: HyVLA, batch: dict[str, Any]) -> dict[str, float]:
    """Forward + backward FLOPs in all, and per called module class (ConvStem, ViTBlock, MoTBackbone, ...). Classes
    nest (EnvStateObjective includes its own image-only pass through the vision encoder and the backbone), so the
    per-class numbers overlap and do not sum to the total."""
    with FlopCounterMode(display=False) as counter:
        loss, _ = model.compute_loss(batch, generator=torch.Generator().manual_seed(0))
        loss.backward()
    model.zero_grad(set_to_none=True)
    per = {k: float(sum(v.values())) for k, v in counter.get_flop_counts().items()}
    out = {"total": per.pop("Global")}
    out.update({k: v for k, v in per.items() if "." not in k and k not in ("Linear", "Conv2d", "Sequential")})
    return out


def forward_ms_by_part(model: HyVLA, batch: dict[str, Any], repeats: int) -> dict[str, float]:
    """Median forward time of the named ranges of `HyVLA.compute_loss` (torch.profiler, CPU)."""
    from torch.profiler import ProfilerActivity, profile

    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
            model.compute_loss(batch, generator=torch.Generator().manual_seed(0))
        for ev in prof.key_averages():
            if ev.key.startswith("hy_vla."):
                runs.setdefault(ev.key, []).append(ev.cpu_time_total / 1000)
    return {k: statistics.median(v) for k, v in runs.items()}


def phase_ms(model: HyVLA, opt: torch.optim.Optimizer, batch: dict[str, Any], steps: int) -> dict[str, float]:
    fwd, bwd, st = [], [], []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss, _ = model.compute_loss(batch, generator=torch.Generator().manual_seed(i))
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= 2:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            st.append(t3 - t2)
    med = {k: statistics.median(v) * 1000 for k, v in (("forward", fwd), ("backward", bwd), ("optimizer", st))}
    med["step"] = sum(med.values())
    return med


def matmul_probe(sizes: list[tuple[int, int, int]], repeats: int = 20) -> dict[str, float]:
    """GFLOP/s of float32 (M, K) @ (K, N) on this machine, per size (median of `repeats`)."""
    out = {}
    for m, k, n in sizes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3):
            a @ b
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        out[f"{m}x{k}x{n}"] = 2 * m * k * n / statistics.median(times) / 1e9
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="metaworld-demo")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a model./training setting as in `hy-vla train --set` (repeatable)")  # fmt: skip
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # its embodiment fixes the state and action widths
    cfg, _, train = apply_overrides(model_config(args.preset), train_config(args.preset), parse_overrides(args.set))
    torch.manual_seed(0)
    model = attach_objectives(HyVLA(cfg), train).train()
    opt = build_adamw(model, train)
    batch = synthetic_batch(model, args.batch_size)
    flops = flops_by_module(model, batch)
    phases = phase_ms(model, opt, batch, args.steps)
    modules = forward_ms_by_part(model, batch, max(3, args.steps // 2))
    b, w = args.batch_size, cfg.backbone.width
    tokens = b * (len(cfg.camera_names) * cfg.tokens_per_image + cfg.max_text_len // max(cfg.text_patch, 1))
    probe = matmul_probe([(tokens, w, w), (tokens, w, cfg.backbone.mlp_hidden), (b * cfg.vision.num_patches,
                          cfg.vision.width, cfg.vision.width)])  # fmt: skip
    achieved = flops["total"] / (phases["step"] / 1000) / 1e9
    report = {
        "preset": args.preset,
        "overrides": args.set,
        "batch_size": b,
        "threads": torch.get_num_threads(),
        "gflop_per_step": flops["total"] / 1e9,
        "gflop_by_module": {k: v / 1e9 for k, v in flops.items() if k != "total"},
        "phase_ms": phases,
        "forward_ms_by_part": modules,
        "achieved_gflops": achieved,
        "matmul_probe_gflops": probe,
        "fraction_of_best_probe": achieved / max(probe.values()),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
