"""`post_train(config) -> report`: the post-training loop behind `hy-vla post-train`.

Per iteration: save the current weights for the workers, roll out `layouts x group` episodes per task on fresh
training layouts (seeds disjoint from evaluation), update (`hy_vla.posttrain.updates`), log scalars to
OUT/tb and OUT/history.jsonl, and every `save_every` iterations write an ordinary checkpoint to OUT/checkpoints
(what `hy-vla eval` and `hy-vla serve` load) with the optimizer state, so re-running the same command resumes
after the last one. Before the first and after the last iteration the policy is evaluated on seeds
0..eval_episodes-1; OUT/report.json holds both with Wilson intervals and the compute spent.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from hy_vla.posttrain.config import CONFIG_FILE, PostTrainConfig
from hy_vla.posttrain.corrections import expert_corrections
from hy_vla.posttrain.pairs import build_pairs, has_pairs, load_pairs, save_pairs
from hy_vla.posttrain.records import EpisodeRollout, with_target
from hy_vla.posttrain.rollouts import RolloutJob, RolloutPool, rollout_job
from hy_vla.posttrain.sample_store import load_batches, save_batches
from hy_vla.posttrain.updates import Updater
from hy_vla.utils.progress import progress as tqdm

HISTORY = "history.jsonl"
POLICY_DIR = ".rollout-policy"  # the weights workers load this iteration
PAIRS_DIR = "pairs"  # offline preference pairs (safetensors + JSON)
VALUE_DIR = "value"  # ppo: the critic saved with each checkpoint
CORRECTIONS_DIR = "corrections"  # dagger: each iteration's expert corrections (the run's aggregated dataset)


def _note(msg: str) -> None:
    print(msg, file=sys.stderr)


def _check_resumable(cfg: PostTrainConfig, out: Path) -> PostTrainConfig:
    """A run folder: the saved config must match except for the budget (iterations, minutes)."""
    saved = PostTrainConfig.load(out)
    budget = ("iterations", "minutes", "workers")
    diff = [k for k, v in cfg.to_dict().items() if k not in budget and saved.to_dict()[k] != v]
    if diff:
        raise ValueError(f"{out} holds a post-training run with other settings ({', '.join(diff)}); use another --out")
    return cfg


def _load_start(cfg: PostTrainConfig) -> tuple[Any, Path]:
    from hy_vla.models.decoders.common import DecoderContext
    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.training.checkpointing import resolve_checkpoint

    path = resolve_checkpoint(cfg.checkpoint)
    model = HyVLA.from_pretrained(path)
    if cfg.method in ("grpo", "ppo", "pref", "rft", "dagger"):  # they sample (or score) through the denoising chain
        model.expert.check_chain(DecoderContext(prefix=None, hidden=None, kv=None, batch={}))  # type: ignore[arg-type]
    return model, path


def _check_fits(model: Any, recipe: Any, task: str) -> None:
    """A checkpoint of another robot than the simulator's: one line, before any rollout."""
    from hy_vla.policy.checkpoint_policy import CheckpointPolicy
    from hy_vla.rollout.episode import check_policy_compat

    with recipe.make(task, recipe.cameras) as env:
        check_policy_compat(CheckpointPolicy(model), env.spec)


def _demo_batches(cfg: PostTrainConfig, model: Any, start: Path, batch_size: int, position: Any) -> tuple[Any, Any]:
    """(an endless iterator of prepared demonstration batches, the run's TrainConfig) or (None, None)."""
    from hy_vla.data.loader import SampleDataset, open_source
    from hy_vla.data.samples import SampleBuilder
    from hy_vla.training.batches import ResumableBatches
    from hy_vla.training.run_config import RUN_CONFIG, RunConfig
    from hy_vla.training.trainer import prepare_batch

    run_dir = next((p for p in (start, *start.parents) if (p / RUN_CONFIG).is_file()), None)
    if run_dir is None:
        if cfg.demo_dataset is None:
            raise ValueError(f"{start} is not inside a training run (no {RUN_CONFIG}): pass --demo-dataset")
        raise ValueError(f"--demo-dataset needs the sample settings of a training run; {start} has no {RUN_CONFIG}")
    run = RunConfig.load(run_dir)
    dataset = cfg.demo_dataset or run.dataset
    source = open_source(dataset)
    if run.train.cache_frames and run.data.cameras:
        from hy_vla.data.frame_cache import FrameCache

        source = FrameCache(source, run.data.cameras, run.data.image_size)
    builder = SampleBuilder(source, run.data, norm_stats=model.norm_stats)
    batches = ResumableBatches(SampleDataset(builder), batch_size, cfg.seed, position=position)
    gen = torch.Generator().manual_seed(cfg.seed + 17)

    def prepared() -> Any:
        for batch in batches:
            yield prepare_batch(batch, model.config, run.train, gen)

    return (prepared(), batches), run.train


class PostTrainer:
    def __init__(self, config: PostTrainConfig, *, progress: bool = True) -> None:
        self.config = config
        self.progress = progress
        self.out = Path(config.out)
        self._pairs: list | None = None
        self._corrections: list[dict[str, Any]] = []

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, checkpoint: Path, name: str) -> dict[str, Any]:
        from hy_vla.eval.runner import EvalConfig, Evaluator
        from hy_vla.rollout.factories import CheckpointFactory

        cfg = self.config
        out = self.out / "eval" / name
        if (out / "report.json").is_file():  # already evaluated (a resumed run)
            return json.loads((out / "report.json").read_text())
        ecfg = EvalConfig(cfg.suite, cfg.tasks, episodes=cfg.eval_episodes, workers=cfg.workers,
                          n_action_steps=cfg.n_action_steps, image_size=cfg.image_size, max_steps=cfg.max_steps,
                          cameras=tuple(self.model.config.camera_names), out=str(out),
                          extra={"checkpoint": str(checkpoint), "post_train": name})  # fmt: skip
        return Evaluator(ecfg, progress=self.progress).run(CheckpointFactory(str(checkpoint)))

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from hy_vla.rollout.workers import EnvRecipe, WorkerSetup
        from hy_vla.training.batches import DataPosition
        from hy_vla.training.checkpointing import load_ema, load_weights, read_resumable, save_checkpoint
        from hy_vla.training.ema import EMA
        from hy_vla.training.loggers import MetricLoggers

        cfg, out = self.config, self.out
        resuming = (out / CONFIG_FILE).is_file()
        if resuming:
            _check_resumable(cfg, out)
        self.model, start = _load_start(cfg)
        model = self.model
        model.eval()  # no dropout: the update scores chains with the very function that sampled them
        recipe = EnvRecipe(cfg.suite, tuple(model.config.camera_names), cfg.image_size, cfg.max_steps, privileged=True)
        _check_fits(model, recipe, cfg.tasks[0])
        cfg.save(out)  # after the checks: a refused command leaves no run folder behind
        reference = None
        if cfg.method in ("grpo", "ppo", "pref"):
            reference = copy.deepcopy(model).eval().requires_grad_(False)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                      betas=(0.9, 0.95), weight_decay=0.0)  # fmt: skip
        ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        resumed = read_resumable(out, note=_note) if resuming else None
        iteration, position = 0, DataPosition()
        if resumed is not None:
            assert resumed.state is not None
            load_weights(model, resumed.state.weights, resumed.path)
            optimizer.load_state_dict(resumed.state.optimizer)
            if ema is not None:
                load_ema(ema, resumed)
            iteration, position = resumed.step, resumed.position
            _note(f"resuming {out} after iteration {iteration}")
        history = self._history(iteration)
        demos, run_train = None, None
        if cfg.method in ("rft", "sft", "pref", "dagger") and (cfg.method == "sft" or cfg.demo_fraction > 0):
            size = cfg.minibatch if cfg.method == "sft" else max(1, round(cfg.minibatch * cfg.demo_fraction))
            demos, run_train = _demo_batches(cfg, model, start, size, position)
        updater = Updater(model, optimizer, cfg, reference, ema, demos[0] if demos else None,
                          run_train.flow if run_train is not None else None)  # fmt: skip
        updater.steps = int(history[-1]["optimizer_steps"]) if history else 0
        if cfg.method == "ppo":
            from hy_vla.posttrain.value import Critic

            updater.critic = Critic(cfg.value_lr, cfg.seed)
            if iteration > 0:
                updater.critic.load(out / VALUE_DIR, iteration)
        if cfg.method == "dagger":
            self._corrections = self._load_corrections(iteration)
        before = self.evaluate(start, "before")
        pool = RolloutPool(WorkerSetup(recipe, str(out), cfg.n_action_steps, None), cfg.workers)
        loggers = MetricLoggers(SimpleNamespace(tensorboard=True, wandb=False), out, iteration)
        spent = history[-1]["minutes"] if history else 0.0
        t0 = time.perf_counter()
        bar = tqdm(total=cfg.iterations, initial=iteration, desc=f"post-train {cfg.method}", unit="it",
                   disable=not self.progress)  # fmt: skip
        try:
            while iteration < cfg.iterations and (cfg.minutes is None or spent < cfg.minutes):
                metrics = self._iteration(iteration, updater, pool)
                iteration += 1
                spent = (history[-1]["minutes"] if history else 0.0) + (time.perf_counter() - t0) / 60.0
                t0 = time.perf_counter()
                metrics = {"iteration": iteration, "minutes": spent, "optimizer_steps": updater.steps, **metrics}
                history.append(metrics)
                loggers.log({k: v for k, v in metrics.items() if k != "iteration"}, iteration)
                last = iteration >= cfg.iterations or (cfg.minutes is not None and spent >= cfg.minutes)
                if iteration % cfg.save_every == 0 or last:
                    pos = demos[1].position if demos else DataPosition()
                    if updater.critic is not None:  # before the checkpoint that a resume would pair it with
                        updater.critic.save(out / VALUE_DIR, iteration)
                    save_checkpoint(out, iteration, model, optimizer, pos, ema=ema, keep_last=2)
                    self._write_history(history)  # only what a checkpoint covers: a resume replays the rest
                bar.update(1)
                if "rollout_success" in metrics:
                    bar.set_postfix(rollout_success=f"{metrics['rollout_success']:.0%}")
        finally:
            bar.close()
            pool.close()
            loggers.close()
        from hy_vla.training.checkpointing import latest_checkpoint

        final = latest_checkpoint(out) or start
        after = self.evaluate(final, f"after-{iteration}")
        return self._report(before, after, history, final)

    def _iteration(self, iteration: int, updater: Updater, pool: RolloutPool) -> dict[str, float]:
        cfg, model = self.config, self.model
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + iteration)
        if cfg.method == "sft":
            return updater.supervised([], gen)
        stored = self.out / PAIRS_DIR
        if cfg.pref_offline and has_pairs(stored):  # offline preference: no rollouts after collection
            if self._pairs is None:
                self._pairs = load_pairs(stored)
            t0 = time.perf_counter()
            return {**updater.preference(self._pairs, gen), "update_s": time.perf_counter() - t0}
        policy_dir = self.out / POLICY_DIR
        model.save_pretrained(policy_dir)  # the raw (not averaged) weights: rollouts are on-policy
        control = cfg.n_action_steps or model.config.horizon * model.config.action_stride
        jobs = [
            RolloutJob(task, cfg.layout_seed(iteration, ti, lay), r, noise_seed=cfg.seed * 7919 + cfg.layout_seed(
                iteration, ti, lay) * 31 + r, policy_dir=str(policy_dir), version=iteration, sigma=cfg.sigma,
                control_steps=control, num_steps=cfg.num_steps, shaped_reward=cfg.shaped_reward)
            for ti, task in enumerate(cfg.tasks) for lay in range(cfg.layouts) for r in range(cfg.group)
        ]  # fmt: skip
        t0 = time.perf_counter()
        episodes: list[EpisodeRollout] = list(
            tqdm(
                pool.map(rollout_job, jobs),
                total=len(jobs),
                desc=f"rollouts {iteration + 1}",
                unit="ep",
                leave=False,
                disable=not self.progress,
            )  # fmt: skip
        )
        rollout_s = time.perf_counter() - t0
        stats = {
            "rollout_success": sum(e.success for e in episodes) / len(episodes),
            "rollout_reward": sum(e.reward for e in episodes) / len(episodes),
            "rollout_episodes": float(len(episodes)),
            "rollout_env_steps": float(sum(e.length for e in episodes)),
            "rollout_s": rollout_s,
        }
        for task in cfg.tasks:
            mine = [e.success for e in episodes if e.task == task]
            stats[f"rollout_success/{task}"] = sum(mine) / len(mine)
        t0 = time.perf_counter()
        if cfg.method == "grpo":
            upd = updater.grpo(episodes, gen)
        elif cfg.method == "ppo":
            upd = updater.ppo(episodes, gen)
        elif cfg.method == "rft":
            samples = [r.action_batch(model.config) for e in episodes if e.success for r in e.records]
            upd = updater.supervised(samples, gen)
        elif cfg.method == "dagger":
            fresh = [with_target(rec.batch, chunk, n) for rec, chunk, n in expert_corrections(episodes, model, cfg,
                     pool)]  # fmt: skip
            save_batches(self.out / CORRECTIONS_DIR / f"{iteration:05d}", fresh)  # a resume reloads the aggregate
            self._corrections.extend(fresh)
            upd = updater.supervised(self._corrections, gen) | {"corrections": float(len(fresh))}
        else:
            pairs = build_pairs(episodes, model, cfg, pool)
            if cfg.pref_offline:  # the one collection round: kept for every later iteration (and a resume)
                if not pairs:
                    raise ValueError("offline preference: the collection round found no pairs (raise --layouts)")
                save_pairs(stored, pairs)
                self._pairs = pairs
            upd = updater.preference(pairs, gen)
        return {**stats, **upd, "update_s": time.perf_counter() - t0}

    # -- bookkeeping ---------------------------------------------------------------------------
    def _load_corrections(self, iteration: int) -> list[dict[str, Any]]:
        """The corrections of iterations 0..iteration-1; files of later iterations (past the checkpoint a resume
        starts from) are removed: those iterations run again."""
        folder = self.out / CORRECTIONS_DIR
        out: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            stem = path.with_suffix("")
            if int(stem.name) < iteration:
                out.extend(load_batches(stem))
            else:
                path.unlink()
                stem.with_name(stem.name + ".safetensors").unlink(missing_ok=True)
        return out

    def _history(self, iteration: int) -> list[dict[str, Any]]:
        path = self.out / HISTORY
        if not path.is_file():
            return []
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [r for r in rows if r["iteration"] <= iteration]

    def _write_history(self, history: list[dict[str, Any]]) -> None:
        from hy_vla.utils.atomic import atomic_write_text

        atomic_write_text(self.out / HISTORY, "".join(json.dumps(r) + "\n" for r in history))

    def _report(self, before: dict, after: dict, history: list[dict], final: Path) -> dict[str, Any]:
        from hy_vla.utils.atomic import atomic_write_text

        def summary(rep: dict) -> dict[str, Any]:
            tasks = {t: {k: v[k] for k in ("success_rate", "ci95", "n")} for t, v in rep["tasks"].items()}
            return {"overall": rep["overall"], "tasks": tasks, "report": rep["config"]["out"]}

        last = history[-1] if history else {}
        report = {
            "config": self.config.to_dict(),
            "checkpoint": str(final),
            "before": summary(before),
            "after": summary(after),
            "lift": after["overall"]["success_rate"] - before["overall"]["success_rate"],
            "compute": {
                "iterations": last.get("iteration", 0),
                "minutes": last.get("minutes", 0.0),  # rollouts + updates, evaluation excluded
                "optimizer_steps": last.get("optimizer_steps", 0),
                "rollout_episodes": sum(r.get("rollout_episodes", 0) for r in history),
                "rollout_env_steps": sum(r.get("rollout_env_steps", 0) for r in history),
            },
            "history": history,
        }
        atomic_write_text(self.out / "report.json", json.dumps(report, indent=2) + "\n")
        return report


def post_train(config: PostTrainConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) a post-training run; returns the report also written to OUT/report.json."""
    return PostTrainer(config, progress=progress).run()
