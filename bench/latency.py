"""forward_evaluate latency of a preset on CPU: Euler steps x prefix cache x dtype.

    .venv/bin/python bench/latency.py [--preset hy-vla-tiny] [--repeats 20] [--threads 2]

Reports the median over repeats (the machine's two virtual cores see CPU steal; medians and
ratios are what to compare) and the speed-up of the prefix KV cache over recomputing the joint
attention at every Euler step. Inputs are the model card's: 3 cameras x K frames of 224 x 224.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from hy_vla import HyVLA, HyVLAConfig


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="hy-vla-tiny")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", default="1,5,10")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = HyVLAConfig.from_preset(args.preset)
    base = HyVLA(cfg).eval()
    print(
        f"# {args.preset}: {base.num_parameters() / 1e6:.2f}M params, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {args.threads} threads, median of {args.repeats}"
    )
    print("| dtype | Euler steps | cached (ms) | uncached (ms) | cache speed-up |")
    print("|---|---|---|---|---|")
    for dtype in (torch.float32, torch.bfloat16):
        model = base.to(dtype)
        img = torch.rand(1, cfg.history_frames, 3, 224, 224).to(dtype)
        batch = {k: img for k in cfg.image_keys}
        batch["observation.state"] = torch.zeros(1, cfg.max_state_dim, dtype=dtype)
        batch["task"] = ["pick up the bottle"]
        for n in (int(s) for s in args.steps.split(",")):
            cached = median_ms(
                lambda n=n, m=model, b=batch: m.sample_actions(b, num_steps=n, use_cache=True), args.repeats
            )
            uncached = median_ms(
                lambda n=n, m=model, b=batch: m.sample_actions(b, num_steps=n, use_cache=False), args.repeats
            )
            name = str(dtype).removeprefix("torch.")
            print(f"| {name} | {n} | {cached:.1f} | {uncached:.1f} | {uncached / cached:.2f}x |")


if __name__ == "__main__":
    main()
