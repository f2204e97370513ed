"""How well a demo checkpoint locates the object and the goal: its env-state head's error, in cm, on Meta-World.

    MUJOCO_GL=egl .venv/bin/python bench/env_state_probe.py CHECKPOINT [--episodes 10] [--tasks reach-v3,push-v3]

CHECKPOINT is a training checkpoint (OUT/train/checkpoints/<step>, or the run folder OUT/train): the head's weights
travel in its training state, not in the model. For each task and evaluation seed (0..episodes-1, the layouts the
evaluation protocol uses, never trained on) the scripted expert drives the episode; at control steps 0, 10 and 30
the env-state objective's head (hy_vla.training.objectives.env_state, which inference never runs) predicts the
object and goal xyz
from the camera images, and the mean absolute error per axis is printed next to the layouts' own spread (the
error of always answering the average). Step 0 is where a policy must choose its direction from the scene alone;
later the arm's own motion gives the answer away. Analysis only: the simulator's positions are read to score.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

from hy_vla import keys
from hy_vla.models.hy_vla import HyVLA
from hy_vla.policy.checkpoint_policy import to_chw_uint8
from hy_vla.policy.protocol import ACTIONS_KEY
from hy_vla.sim.metaworld.env import ENV_STATE_NAMES, MetaWorldEnv, MetaWorldEnvConfig
from hy_vla.sim.metaworld.expert import MetaWorldExpert
from hy_vla.sim.privileged import ENV_STATE_OBS
from hy_vla.training.objectives import load_with_objectives

PROBE_STEPS = (0, 10, 30)


def predict(model: HyVLA, obs: dict) -> np.ndarray:
    """(E,) the head's env-state prediction in simulator units for one observation."""
    cfg, stats, head = model.config, model.norm_stats, model.objectives["env_state"]
    batch: dict = {key: to_chw_uint8(key, obs[key]).unsqueeze(0).unsqueeze(0) for key in cfg.image_keys}
    batch[keys.HISTORY_IS_PAD] = torch.zeros(1, 1, dtype=torch.bool)
    with torch.no_grad():
        pred = head.predict(model.encode_images(batch, 1), cfg.tokens_per_image)[0]
    return stats.unnormalize(head.cfg.column, pred, cfg.embodiment).numpy()


def probe_task(model: HyVLA, task: str, episodes: int, image_size: int) -> dict[int, np.ndarray]:
    """{step: (E,) mean absolute error in cm}, plus key -1: the layouts' spread (mean |x - mean x|) in cm."""
    cams = tuple(model.config.camera_names)
    env = MetaWorldEnv(MetaWorldEnvConfig(task=task, cameras=cams, image_size=(image_size,) * 2, privileged=True))
    errors: dict[int, list[np.ndarray]] = {s: [] for s in PROBE_STEPS}
    starts = []
    try:
        for seed in tqdm(range(episodes), desc=task, leave=False):
            obs, expert = env.reset(seed), MetaWorldExpert(task)
            starts.append(obs[ENV_STATE_OBS])
            for step in range(max(PROBE_STEPS) + 1):
                if step in errors:
                    errors[step].append(np.abs(predict(model, obs) - obs[ENV_STATE_OBS]) * 100)
                result = env.step(expert.infer(obs)[ACTIONS_KEY][0])
                if result.done:
                    break
                obs = result.obs
    finally:
        env.close()
    start = np.array(starts)
    out = {s: np.mean(e, axis=0) for s, e in errors.items() if e}
    out[-1] = np.abs(start - start.mean(axis=0)).mean(axis=0) * 100
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--tasks", default="reach-v3,push-v3,pick-place-v3")
    ap.add_argument("--image-size", type=int, default=None, help="render size (default: the model's input size)")
    args = ap.parse_args()
    model = load_with_objectives(args.checkpoint).eval()
    if "env_state" not in model.objectives:
        raise SystemExit(f"{args.checkpoint} was trained without the env-state objective (env_state.weight = 0)")
    print(
        f"cm of mean absolute error, {args.episodes} evaluation layouts per task; columns: {', '.join(ENV_STATE_NAMES)}"
    )
    for task in args.tasks.split(","):
        rows = probe_task(model, task, args.episodes, args.image_size or model.config.image_size)
        print(f"{task:16s} spread   " + " ".join(f"{v:5.1f}" for v in rows.pop(-1)))
        for step, err in rows.items():
            print(f"{'':16s} step {step:3d} " + " ".join(f"{v:5.1f}" for v in err))


if __name__ == "__main__":
    main()
