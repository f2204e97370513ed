"""The demo's up-front time estimate, from rates measured on this machine before any work starts.

A fixed step count makes the demo's result the same on every machine; what differs is the time it takes
(on 2 cores, an AVX2 AMD EPYC with CPU steal trains ~2.5x slower than an AVX-512 Xeon). So nothing is assumed:
`measure_rates` times, in a few seconds, one training step of the recipe's model on a batch of its real shapes,
one scripted-expert episode rendered as collection renders it, the simulator's step and render costs, and one
policy query on one thread as an evaluation worker runs it. `estimate_time` turns those rates into minutes per
stage (pure arithmetic, tested); the demo prints the estimate first and the actual times at the end.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from hy_vla.demo.recipe import DemoRecipe

# Data loading, logging and checkpoints on top of the timed step (measured on the demo's runs).
TRAIN_OVERHEAD = 0.10
# Fixed costs per stage: building the model, spawning workers, loading the checkpoint, writing the report.
TRAIN_STARTUP_S = 10.0
EVAL_STARTUP_S = 20.0
# The success rate the evaluation estimate assumes: successes end near the expert's episode length, failures run
# to `max_steps`; the default recipe's policy succeeds in ~70% of episodes.
EXPECTED_SUCCESS = 0.7
POLICY_LENGTH_RATIO = 1.2  # a successful policy episode vs the expert's length (109 vs ~90 steps measured)
# Collection also encodes every frame into the dataset's videos, beside the episode itself.
COLLECT_OVERHEAD = 0.15
# No further expert episodes are timed once the measurement has taken this long.
MEASURE_BUDGET_S = 15.0


@dataclass(frozen=True)
class MachineRates:
    """Seconds per unit of work on this machine (all measured by `measure_rates`)."""

    train_step_s: float  # one optimizer step of the recipe's model at its batch size (all threads)
    expert_episode_s: float  # one scripted-expert episode, every frame rendered (one process)
    expert_length: int  # its steps
    sim_step_s: float  # one simulator step, nothing rendered
    render_s: float  # one render of the recipe's cameras
    infer_s: float  # one policy query at batch 1 on one thread (an evaluation worker)
    cores: int  # CPUs this process may use
    # Building one task's environment (LIBERO: its scene is compiled from XML, ~4 s idle) and resetting it (LIBERO
    # 0.3-0.8 s idle: the benchmark settles objects); each worker builds each task it runs once, and pays the
    # simulator's imports once (`first_build_s`: on a loaded machine LIBERO's first build took twice its second).
    env_build_s: float = 0.0
    reset_s: float = 0.0
    first_build_s: float = 0.0  # the one-off part of a worker's first build (imports), on top of env_build_s

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TimeEstimate:
    collect_min: float
    train_min: float
    eval_min: float  # at EXPECTED_SUCCESS
    eval_max_min: float = 0.0  # if no episode succeeds: every one runs to its cap

    @property
    def total_min(self) -> float:
        return self.collect_min + self.train_min + self.eval_min

    def to_dict(self) -> dict[str, float]:
        d = {k: round(v, 2) for k, v in asdict(self).items()}
        d["total_min"] = round(self.total_min, 2)
        return d


def parallel_workers(workers: int, cores: int) -> int:
    """Episodes that run at once: one per worker process, at most one per core (0 workers: in-process)."""
    return max(1, min(workers, cores))


def eval_episode_s(
    recipe: DemoRecipe, rates: MachineRates, every_frame: bool, success: float = EXPECTED_SUCCESS
) -> float:
    """Expected seconds of one evaluation episode at a success rate: a reset, physics every step, a policy query
    every `actions_per_query`, a render per query (every step when the policy keeps a frame history)."""
    caps = recipe.episode_caps().values()
    cap = sum(caps) / len(caps)
    length = success * min(cap, rates.expert_length * POLICY_LENGTH_RATIO)
    length += (1 - success) * cap
    queries = math.ceil(length / recipe.actions_per_query)
    renders = length if every_frame else queries
    return rates.reset_s + length * rates.sim_step_s + renders * rates.render_s + queries * rates.infer_s


def env_builds_s(recipe: DemoRecipe, rates: MachineRates) -> float:
    """Wall seconds spent building environments: every worker builds every task it runs (tasks are handed out
    in order, so each worker meets each task), `parallel_workers` of them at once."""
    workers = max(1, recipe.workers)
    builds = workers * (len(recipe.tasks) * rates.env_build_s + rates.first_build_s)
    return builds / parallel_workers(recipe.workers, rates.cores)


def estimate_time(
    recipe: DemoRecipe, rates: MachineRates, *, steps: int | None, have_data: bool, every_frame: bool
) -> TimeEstimate:
    """Minutes per stage. steps: optimizer steps (None: the recipe's wall-clock `minutes`); every_frame: the
    policy keeps a frame history (K > 1), so evaluation renders every step."""
    par = parallel_workers(recipe.workers, rates.cores)
    n_demos = recipe.demos_per_task * len(recipe.tasks)
    collect_s = 0.0
    if not have_data:
        collect_s = n_demos * rates.expert_episode_s * (1 + COLLECT_OVERHEAD) / par + env_builds_s(recipe, rates)
    if steps is None:
        train_s = 60.0 * recipe.minutes + TRAIN_STARTUP_S
    else:
        train_s = steps * rates.train_step_s * (1 + TRAIN_OVERHEAD) + TRAIN_STARTUP_S
    episodes = recipe.eval_episodes * len(recipe.tasks)
    fixed = EVAL_STARTUP_S + env_builds_s(recipe, rates)
    eval_s = episodes * eval_episode_s(recipe, rates, every_frame) / par + fixed
    eval_max_s = episodes * eval_episode_s(recipe, rates, every_frame, success=0.0) / par + fixed
    return TimeEstimate(collect_s / 60, train_s / 60, eval_s / 60, eval_max_s / 60)


def describe(est: TimeEstimate, steps: int | None, have_data: bool) -> str:
    collect = "dataset present" if have_data else f"collect ~{est.collect_min:.0f} min"
    train = f"train {steps} steps ~{est.train_min:.0f} min" if steps is not None else f"train {est.train_min:.0f} min"
    evaluate = f"evaluate ~{est.eval_min:.0f} min"
    if est.eval_max_min > est.eval_min * 1.1:  # failures run to the cap: a weak policy takes longer to evaluate
        evaluate += f" at {EXPECTED_SUCCESS:.0%} success (up to ~{est.eval_max_min:.0f} if every episode fails)"
    return f"expected ~{est.total_min:.0f} min on this machine: {collect}, {train}, {evaluate}"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def measure_rates(recipe: DemoRecipe, model_cfg: Any, train_cfg: Any) -> MachineRates:
    """Time the recipe's work on this machine (~15 s for Meta-World; up to ~60 s for a slow simulator)."""
    train_step_s, infer_s = _model_rates(model_cfg, train_cfg)
    sim = _sim_rates(recipe)
    return MachineRates(train_step_s=train_step_s, infer_s=infer_s, cores=usable_cores(), **sim)


def time_train_steps(model: Any, train_cfg: Any, batch: dict[str, Any], steps: int) -> list[float]:
    """Seconds of each of `steps` full optimizer steps (loss, backward, the trainer's AdamW step) on `batch`."""
    import torch

    from hy_vla.training.parameters import build_adamw

    opt = build_adamw(model, train_cfg)  # the trainer's optimizer, so its cost is timed too
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        loss, _ = model.compute_loss(batch, generator=torch.Generator().manual_seed(i))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def _model_rates(model_cfg: Any, train_cfg: Any, steps: int = 6) -> tuple[float, float]:
    """(seconds per optimizer step at the training batch size, seconds per one-thread policy query)."""
    import torch

    from hy_vla.models.hy_vla import HyVLA
    from hy_vla.training.objectives import attach_objectives
    from hy_vla.training.synthetic_batch import synthetic_batch

    torch.manual_seed(0)
    model = attach_objectives(HyVLA(model_cfg), train_cfg).train()
    times = time_train_steps(model, train_cfg, synthetic_batch(model, train_cfg.batch_size), steps + 3)
    train_step_s = statistics.median(times[3:])  # the first ones pay one-off allocations
    model.eval()
    query = synthetic_batch(model, 1, with_actions=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in an evaluation worker (hy_vla.rollout.workers)
    try:
        with torch.no_grad():
            q = []
            for _ in range(4):
                t0 = time.perf_counter()
                model.sample_actions(query)
                q.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return train_step_s, statistics.median(q[1:])


def _sim_rates(recipe: DemoRecipe, probe_steps: int = 20, max_tasks: int = 3) -> dict[str, Any]:
    """The step / render split on the recipe's first task, and scripted-expert episodes (every frame rendered,
    as collection's recorder asks) of up to `max_tasks` of its tasks spread over the list: lengths differ per
    task (Meta-World's reach ~40 steps, door ~90)."""
    from hy_vla.rollout.episode import as_chunk, run_episode
    from hy_vla.rollout.workers import EnvRecipe
    from hy_vla.sim.registry import make_expert

    env_recipe = EnvRecipe(recipe.suite, recipe.cameras, recipe.render_size, recipe.max_steps, privileged=True)
    n = len(recipe.tasks)
    sampled = sorted({recipe.tasks[round(i * (n - 1) / max(1, max_tasks - 1))] for i in range(min(n, max_tasks))})
    split: dict[bool, float] = {}
    seconds, lengths, builds, resets = [], [], [], []
    t_start = time.perf_counter()
    for task in sampled:
        if seconds and time.perf_counter() - t_start > MEASURE_BUDGET_S:  # slow simulators (LIBERO): one is enough
            break
        t0 = time.perf_counter()
        with env_recipe.make(task, recipe.cameras) as env:
            builds.append(time.perf_counter() - t0)
            expert = make_expert(recipe.suite, task)
            if not split:
                t0 = time.perf_counter()
                obs = env.reset(recipe.collect_seed)
                resets.append(time.perf_counter() - t0)
                expert.reset()
                n = max(1, min(probe_steps, recipe.episode_caps()[task] // 2))  # both passes within one episode's cap
                for render in (False, True):  # the expert acts, so the scene stays valid (ALOHA's IK)
                    t0 = time.perf_counter()
                    for _ in range(n):
                        obs = env.step(as_chunk(expert.infer(obs), env.spec.action_dim)[0], render=render).obs
                    split[render] = (time.perf_counter() - t0) / n
            t0 = time.perf_counter()
            result = run_episode(env, expert, recipe.collect_seed + 1, task=task, hooks=[lambda obs, action: None])
            seconds.append(time.perf_counter() - t0)
            lengths.append(result.length)
    first = builds[0]
    if len(builds) == 1:  # the first build paid the imports: time a second one (LIBERO: ~10 s more) to split them
        t0 = time.perf_counter()
        with env_recipe.make(sampled[0], recipe.cameras):
            builds.append(time.perf_counter() - t0)
    steady = statistics.mean(builds[1:])
    return {
        "expert_episode_s": statistics.mean(seconds),
        "expert_length": round(statistics.mean(lengths)),
        "sim_step_s": split[False],
        "render_s": max(0.0, split[True] - split[False]),
        "env_build_s": steady,
        "first_build_s": max(0.0, first - steady),
        "reset_s": statistics.mean(resets),
    }
