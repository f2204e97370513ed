"""`PostTrainConfig`: one post-training run (`hy-vla post-train`), saved as OUT/post_train_config.json.

Methods (all start from a supervised checkpoint and write ordinary checkpoints):

- ``grpo``: online RL. The flow policy samples through the stochastic denoising chain (`hy_vla.flow.stochastic`),
  so every Euler transition has an exact Gaussian log-density; the update is PPO's clipped ratio per transition
  with a group-relative advantage (several rollouts of the same layout, GRPO-style, no value head: with sparse
  binary success the group mean is the natural baseline and there is no critic to fit first), an optional exact
  KL toward the starting policy, gradient clipping and optional EMA.
- ``ppo``: the same clipped update with a learned critic instead of groups: a value head on the policy's
  observation features (`hy_vla.posttrain.value`), per-call advantages by GAE over each rollout, one rollout per
  layout.
- ``rft``: rejection-sampling fine-tuning: roll out, keep the chunks of successful episodes, continue supervised
  flow matching on them mixed with the demonstrations. The cheapest self-improvement loop and RL's baseline.
- ``pref``: preference optimization on chunks (FlowPRO-style, reward-free): pairs of (preferred, dispreferred)
  chunks of one observation, from rollbacks of failed rollouts where the scripted expert takes over (kept only
  when the expert then succeeds) and from first chunks of same-layout rollouts that differ in outcome; a DPO loss
  on the difference of flow-matching losses against the frozen starting policy, with a proximal term.
- ``dagger``: interactive imitation: failed rollouts are rolled back to a few policy calls and the scripted expert
  takes over (`hy_vla.posttrain.corrections`; a human on a real robot); each recovery's next actions become a
  supervised target for the observation the policy saw there. Corrections are aggregated over the whole run and
  trained on mixed with the demonstrations.
- ``sft``: the control: continue supervised training on the demonstrations for the same budget.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

METHODS = ("dagger", "grpo", "ppo", "rft", "pref", "sft")
# Settings whose good value depends on the method; a field left at None takes its method's value. These are the
# recipes measured from the demo checkpoint (bench/RESULTS.md, "Post-training from the demo checkpoint").
# dagger, the default, is the one that lifted success: rollouts of the deterministic policy (sigma 0) on many
# layouts, one each (no group baseline needed), and more supervised steps per iteration on the growing corrections.
PER_METHOD = ("layouts", "group", "sigma", "lr", "steps_per_iteration", "takeovers")  # each method's own default
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "dagger": {"layouts": 8, "group": 1, "sigma": 0.0, "lr": 5e-5, "steps_per_iteration": 80, "takeovers": 4},
    "grpo": {"layouts": 3, "group": 4, "sigma": 0.05, "lr": 2e-5, "steps_per_iteration": 30, "takeovers": 3},
    "ppo": {"layouts": 12, "group": 1, "sigma": 0.05, "lr": 2e-5, "steps_per_iteration": 30, "takeovers": 3},
    "rft": {"layouts": 3, "group": 4, "sigma": 0.05, "lr": 5e-5, "steps_per_iteration": 30, "takeovers": 3},
    "pref": {"layouts": 3, "group": 4, "sigma": 0.05, "lr": 2e-5, "steps_per_iteration": 30, "takeovers": 3},
    "sft": {"layouts": 3, "group": 4, "sigma": 0.0, "lr": 5e-5, "steps_per_iteration": 30, "takeovers": 3},
}
CONFIG_FILE = "post_train_config.json"
# Training layouts start here: disjoint from evaluation seeds (0, 1, ...) and demonstration seeds (100000, ...).
DEFAULT_TRAIN_SEED = 200_000


@dataclass(frozen=True)
class PostTrainConfig:
    checkpoint: str  # the supervised checkpoint to start from
    tasks: tuple[str, ...]
    out: str
    method: str = "dagger"
    suite: str = "metaworld"
    iterations: int = 20
    minutes: float | None = None  # wall-clock budget: stop after the iteration that reaches it
    # None: the method's value (METHOD_DEFAULTS)
    layouts: int | None = None  # training layouts (env seeds) per task per iteration
    group: int | None = None  # rollouts per layout (GRPO's group; more attempts for rft / pref)
    sigma: float | None = None  # noise std per denoising step, normalized action units (grpo; others explore with it)
    lr: float | None = None
    epochs: int = 2  # grpo: passes over each iteration's rollouts
    minibatch: int = 32  # chunks (grpo) or samples (rft / pref / sft) per optimizer step
    clip: float = 0.2  # PPO ratio clip
    gamma: float = 0.99  # ppo: discount per policy call
    gae_lambda: float = 0.95  # ppo: GAE's lambda
    value_lr: float = 1e-3  # ppo: the critic's learning rate
    kl_weight: float = 0.0  # grpo / ppo: weight of the exact per-dimension KL to the starting policy
    max_grad_norm: float = 1.0
    ema_decay: float = 0.0  # 0: off; the exported checkpoint is the average when on
    steps_per_iteration: int | None = None  # rft / pref / dagger / sft: optimizer steps per iteration
    demo_fraction: float = 0.5  # rft / pref / dagger: share of each batch drawn from the demonstrations
    demo_dataset: str | None = None  # None: the dataset the checkpoint was trained on (its train_config.json)
    pref_beta: float = 5.0  # DPO temperature on flow-loss differences
    pref_prox: float = 0.1  # proximal term: pref_prox * (dw^2 + dl^2) / 2 keeps both chunks' losses near the reference
    takeovers: int | None = None  # pref / dagger: rollback points (expert takeovers) per failed rollout
    pref_offline: bool = False  # pref: collect pairs in the first iteration only, then train on them without rollouts
    shaped_reward: bool = False  # grpo: add the environment's shaped return (scaled to [0, 1]) to the success reward
    train_seed: int = DEFAULT_TRAIN_SEED
    eval_episodes: int = 50  # per task, seeds 0..eval_episodes-1, before and after
    save_every: int = 5  # iterations between checkpoints (and always the last)
    workers: int = 2  # simulator worker processes for rollouts and evaluation
    n_action_steps: int | None = None  # actions executed per chunk (None: all)
    image_size: int | None = None  # rendered image side (None: the suite's)
    max_steps: int | None = None  # episode cap (None: the suite's)
    num_steps: int | None = None  # denoising steps (None: the checkpoint's)
    seed: int = 0

    def __post_init__(self) -> None:
        from hy_vla.sim.registry import check_task

        object.__setattr__(self, "tasks", tuple(self.tasks))
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {', '.join(METHODS)}")
        for name, value in METHOD_DEFAULTS[self.method].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"need distinct task names, got {list(self.tasks)}")
        for task in self.tasks:
            check_task(self.suite, task)  # unknown names get suggestions
        positive = (
            "iterations",
            "layouts",
            "group",
            "epochs",
            "minibatch",
            "steps_per_iteration",
            "eval_episodes",
            "takeovers",
        )
        bad = [f"{k}={getattr(self, k)}" for k in positive if getattr(self, k) < 1]
        if self.save_every < 1:
            bad.append(f"save_every={self.save_every}")
        if bad:
            raise ValueError(f"must be >= 1: {', '.join(bad)}")
        if self.method == "grpo" and self.group < 2:
            raise ValueError("grpo needs group >= 2 rollouts per layout for a group-relative advantage")
        if not self.sigma >= 0 or (self.method in ("grpo", "ppo") and self.sigma == 0):
            raise ValueError(f"sigma must be >= 0 (> 0 for grpo / ppo: a log-density needs noise), got {self.sigma}")
        if not (self.lr > 0 and 0 < self.clip < 1 and self.kl_weight >= 0 and self.max_grad_norm > 0):
            raise ValueError("need lr > 0, 0 < clip < 1, kl_weight >= 0, max_grad_norm > 0")
        if not (0 < self.gamma <= 1 and 0 <= self.gae_lambda <= 1 and self.value_lr > 0):
            raise ValueError("need 0 < gamma <= 1, 0 <= gae_lambda <= 1 and value_lr > 0")
        if not (0 <= self.ema_decay < 1 and 0 <= self.demo_fraction < 1):
            raise ValueError("need 0 <= ema_decay < 1 and 0 <= demo_fraction < 1")
        if self.pref_offline and self.method != "pref":
            raise ValueError("pref_offline applies to method 'pref'")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.workers < 0 or self.train_seed < 0:
            raise ValueError("workers and train_seed must be non-negative")
        if self.train_seed < self.eval_episodes:
            raise ValueError(f"train_seed {self.train_seed} overlaps the evaluation seeds 0..{self.eval_episodes - 1}")

    def layout_seed(self, iteration: int, task_index: int, layout: int) -> int:
        """The env seed of one training layout: a fresh one per iteration, task and layout."""
        return self.train_seed + (iteration * len(self.tasks) + task_index) * self.layouts + layout

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, out: Path) -> None:
        from hy_vla.utils.atomic import atomic_write_text

        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / CONFIG_FILE, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, out: Path) -> PostTrainConfig:
        d = json.loads((out / CONFIG_FILE).read_text())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{out / CONFIG_FILE}: unknown settings {unknown}")
        return cls(**d)
