"""`hy-vla quickstart`: build a tiny model, save it, reload it the model card's way and predict a chunk."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="hy-vla-tiny", help="model preset to build (default: hy-vla-tiny)")
    p.add_argument("--out", default="runs/quickstart", help="checkpoint directory to write (default: runs/quickstart)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="inference dtype")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import torch

    from hy_vla import HyVLA, HyVLAConfig

    torch.manual_seed(args.seed)
    config = HyVLAConfig.from_preset(args.preset)
    model = HyVLA(config)
    print(f"built {args.preset}: {model.num_parameters() / 1e6:.2f}M parameters")
    out = model.save_pretrained(Path(args.out))
    print(f"saved to {out}/ ({', '.join(sorted(p.name for p in out.iterdir()))})")

    # The model card's snippet, with the local directory instead of a hub id.
    dtype = getattr(torch, args.dtype)
    config = HyVLAConfig.from_pretrained(out)
    policy = HyVLA.from_pretrained(out, config=config)
    policy.enable_video_encoder_if_needed()
    policy = policy.to(device="cpu", dtype=dtype).eval()
    img = torch.zeros(1, config.history_frames, 3, 224, 224, dtype=dtype)
    batch = {key: img for key in config.image_keys}
    batch["observation.state"] = torch.zeros((1, config.max_state_dim), dtype=dtype)
    batch["task"] = ["pick up the bottle"]
    t0 = time.perf_counter()
    with torch.no_grad():
        actions = policy.forward_evaluate(batch)["pred"]
    dt = time.perf_counter() - t0
    actions = actions[..., : config.action_feature.shape[0]]
    print(
        f"reloaded and predicted an action chunk of shape {tuple(actions.shape)} in {dt * 1000:.0f} ms ({args.dtype})"
    )
    return 0
