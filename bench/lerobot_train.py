"""Train a LeRobot 0.4.4 policy (diffusion | act) from scratch for a wall-clock budget; checkpoints along the way.

    .venv-lerobot/bin/python bench/lerobot_train.py --dataset DIR --policy diffusion --minutes 10 --out OUT

Runs inside .venv-lerobot (bench/setup_lerobot.sh); bench/vs_lerobot.py starts it. LeRobot's own pieces throughout:
the policy class and config (`make_policy_config`, `get_policy_class`), its processors with the dataset's
normalization stats (meta/stats.json, `make_pre_post_processors`), LeRobotDataset with the policy's
delta_timestamps, EpisodeAwareSampler when the policy drops trailing frames, the policy's optimizer and scheduler
presets and gradient clipping, `policy.forward` for the loss. One substitution: video frames come from
`lerobot_compat.FrameStore` (every video decoded once into RAM with PyAV before the clock starts), because
torchcodec cannot load on CPU torch here; hy-vla's demo recipe trains from an in-RAM frame cache too.

Settings that differ from LeRobot's defaults (PEER_DEFAULTS, each overridable with --set KEY=JSON):
- diffusion: down_dims (128, 256, 512), a 29M-parameter policy instead of the 266M default, which manages only
  a few dozen steps in ten minutes on two CPU cores; n_action_steps 8 (the evaluation protocol's).
- act: pretrained_backbone_weights None (no ImageNet download, from scratch like everything here);
  n_action_steps 8.

The learning-rate schedule needs a step count: a few probe steps on a copy of the policy (before the clock
starts) estimate how many fit in the budget, as hy-vla's demo does. Training stops when the budget is spent.
OUT/checkpoints/<step>/ holds LeRobot's save_pretrained files (config.json, model.safetensors, processors);
OUT/summary.json the steps, wall times and samples/s.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import lerobot_compat  # noqa: E402  (before anything imports torchvision)
import torch  # noqa: E402
from peer_features import split_policy_features  # noqa: E402

PEER_DEFAULTS: dict[str, dict[str, Any]] = {
    "diffusion": {"down_dims": (128, 256, 512), "n_action_steps": 8},
    "act": {"pretrained_backbone_weights": None, "n_action_steps": 8},
}
REPO_ID = "local/vs_lerobot"  # LeRobot wants a repo id; with `root` given nothing is fetched


def log(msg: str) -> None:
    print(f"[lerobot_train] {msg}", file=sys.stderr, flush=True)


def parse_sets(items: list[str]) -> dict[str, Any]:
    """["down_dims=[64,128,256]", "kl_weight=5"] -> {"down_dims": [64, 128, 256], "kl_weight": 5}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE (VALUE in JSON, e.g. down_dims=[64,128,256])")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a bare string
    return out


def build_config(policy: str, meta: Any, cameras: list[str] | None, overrides: dict[str, Any]) -> Any:
    from lerobot.configs.types import FeatureType
    from lerobot.datasets.utils import dataset_to_policy_features
    from lerobot.policies.factory import make_policy_config

    features = dataset_to_policy_features(meta.features)
    visual = [k for k, f in features.items() if f.type is FeatureType.VISUAL]
    if cameras:
        keys = [c if c.startswith("observation.images.") else f"observation.images.{c}" for c in cameras]
        missing = [k for k in keys if k not in visual]
        if missing:
            raise SystemExit(f"cameras {missing} are not in the dataset (it has {visual})")
        features = {k: f for k, f in features.items() if f.type is not FeatureType.VISUAL or k in keys}
    inputs, outputs = split_policy_features(features)  # never the simulator-state (ENV) column
    settings = {**PEER_DEFAULTS[policy], **overrides}
    config_cls = type(make_policy_config(policy, device="cpu"))
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise SystemExit(f"--set: {policy} config has no field(s) {unknown}")
    for key, value in settings.items():  # JSON lists -> the tuples LeRobot's configs declare
        if isinstance(value, list):
            settings[key] = tuple(value)
    return make_policy_config(policy, input_features=inputs, output_features=outputs, device="cpu", **settings)


def endless(loader: torch.utils.data.DataLoader):  # noqa: ANN201 - an iterator of batches
    while True:
        yield from loader


def train_step(policy: Any, batch: dict[str, Any], optimizer: Any, clip: float, scheduler: Any) -> float:
    """One update the way LeRobot's train script does it: forward loss, backward, clip, step, schedule."""
    policy.train()
    loss, _ = policy.forward(batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), clip if clip > 0 else float("inf"))
    optimizer.step()
    optimizer.zero_grad()
    if scheduler is not None:
        scheduler.step()
    return float(loss.detach())


def probe_seconds_per_step(policy: Any, optim_cfg: Any, batches: Any, preprocessor: Any, steps: int) -> float:
    """Median seconds of an update, timed on a throwaway copy of the policy (the real one is untouched)."""
    twin = copy.deepcopy(policy)
    opt = optim_cfg.build(twin.get_optim_params())
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        train_step(twin, preprocessor(next(batches)), opt, optim_cfg.grad_clip_norm, None)
        times.append(time.perf_counter() - t0)
    del twin, opt
    rest = sorted(times[1:])  # the first step pays one-off allocations
    return rest[len(rest) // 2]


def save(policy: Any, pre: Any, post: Any, out: Path, step: int, train_s: float, samples: int) -> dict[str, Any]:
    path = out / "checkpoints" / f"{step:06d}"
    policy.save_pretrained(path)
    pre.save_pretrained(path)
    post.save_pretrained(path)
    return {"step": step, "train_s": round(train_s, 2), "samples": samples, "path": str(path)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--dataset", type=Path, required=True, help="LeRobot v3 dataset directory")
    ap.add_argument("--policy", choices=sorted(PEER_DEFAULTS), required=True)
    ap.add_argument("--out", type=Path, required=True, help="checkpoints/ and summary.json go here")
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget")
    ap.add_argument("--checkpoints", type=int, default=5, help="checkpoints at every 1/N of the budget")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--cameras", default=None, help="comma-separated cameras to use (default: every video feature)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="policy config override")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--probe-steps", type=int, default=4, help="steps timed to size the LR schedule")
    args = ap.parse_args()
    if not args.minutes > 0 or args.checkpoints < 1 or args.batch_size < 1 or args.probe_steps < 1:
        ap.error("--minutes must be > 0; --checkpoints, --batch-size and --probe-steps >= 1")
    if not (args.dataset / "meta" / "info.json").is_file():
        ap.error(f"--dataset {args.dataset}: not a LeRobot v3 dataset (no meta/info.json)")

    from lerobot.datasets.factory import resolve_delta_timestamps
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata
    from lerobot.datasets.sampler import EpisodeAwareSampler
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    meta = LeRobotDatasetMetadata(REPO_ID, root=args.dataset)
    cameras = args.cameras.split(",") if args.cameras else None
    cfg = build_config(args.policy, meta, cameras, parse_sets(args.set))
    policy = get_policy_class(cfg.type)(cfg)
    n_params = sum(p.numel() for p in policy.parameters())
    preprocessor, postprocessor = make_pre_post_processors(cfg, dataset_stats=meta.stats)

    t0 = time.perf_counter()
    store = lerobot_compat.FrameStore()
    for ep in range(meta.total_episodes):
        for key in meta.video_keys:
            store.load(args.dataset / meta.get_video_file_path(ep, key))
    lerobot_compat.use_decoder(store)
    decode_s = time.perf_counter() - t0
    dataset = LeRobotDataset(REPO_ID, root=args.dataset, delta_timestamps=resolve_delta_timestamps(cfg, meta),
                             video_backend="pyav")  # fmt: skip
    sampler = None
    if getattr(cfg, "drop_n_last_frames", 0):
        sampler = EpisodeAwareSampler(meta.episodes["dataset_from_index"], meta.episodes["dataset_to_index"],
                                      drop_n_last_frames=cfg.drop_n_last_frames, shuffle=True)  # fmt: skip
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=sampler is None,
                                         sampler=sampler, num_workers=0, drop_last=False)  # fmt: skip
    batches = endless(loader)
    optim_cfg = cfg.get_optimizer_preset()
    per_step = probe_seconds_per_step(policy, optim_cfg, batches, preprocessor, args.probe_steps)
    budget_s = args.minutes * 60.0
    planned = max(10, int(budget_s / per_step))
    optimizer = optim_cfg.build(policy.get_optim_params())
    sched_cfg = cfg.get_scheduler_preset()
    scheduler = sched_cfg.build(optimizer, planned) if sched_cfg is not None else None
    log(
        f"{n_params / 1e6:.1f}M parameters, {len(dataset)} frames, videos decoded in {decode_s:.0f} s "
        f"({store.num_bytes / 2**20:.0f} MiB); ~{per_step:.2f} s/step: LR schedule for {planned} steps of batch "
        f"{args.batch_size} in {args.minutes:g} min"
    )

    checkpoints: list[dict[str, Any]] = []
    marks = [budget_s * (i + 1) / args.checkpoints for i in range(args.checkpoints)]
    step = samples = 0
    loss = float("nan")
    bar = tqdm(total=round(budget_s), unit="s", desc=f"train {args.policy}", file=sys.stderr, dynamic_ncols=True)
    t_start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - t_start
        if elapsed >= budget_s:
            break
        batch = next(batches)
        n = len(batch["index"])
        loss = train_step(policy, preprocessor(batch), optimizer, optim_cfg.grad_clip_norm, scheduler)
        step, samples = step + 1, samples + n
        elapsed = time.perf_counter() - t_start
        bar.update(min(round(elapsed), bar.total) - bar.n)
        bar.set_postfix(step=step, loss=f"{loss:.4f}", sps=f"{samples / elapsed:.1f}", refresh=False)
        if len(checkpoints) < len(marks) - 1 and elapsed >= marks[len(checkpoints)]:
            checkpoints.append(save(policy, preprocessor, postprocessor, args.out, step, elapsed, samples))
    train_s = time.perf_counter() - t_start
    bar.close()
    if not checkpoints or checkpoints[-1]["step"] != step:  # else the last save already holds these weights
        checkpoints.append(save(policy, preprocessor, postprocessor, args.out, step, train_s, samples))
    summary = {
        "policy": args.policy,
        "parameters": n_params,
        "steps": step,
        "planned_steps": planned,
        "batch_size": args.batch_size,
        "train_s": round(train_s, 2),
        "samples_per_s": samples / train_s,
        "final_loss": loss,
        "decode_s": round(decode_s, 2),
        "config_overrides": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in {**PEER_DEFAULTS[args.policy], **parse_sets(args.set)}.items()
        },  # fmt: skip
        "checkpoints": checkpoints,
        "frames": "lerobot_compat.FrameStore (PyAV, decoded once into RAM); torchcodec unavailable on CPU torch",
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    log(f"{step} steps in {train_s:.0f} s, {summary['samples_per_s']:.1f} samples/s, final loss {loss:.4f}")


if __name__ == "__main__":
    main()
