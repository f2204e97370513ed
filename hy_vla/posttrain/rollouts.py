"""Post-training rollouts in simulator workers: the policy samples through the stochastic chain and records it.

Workers (the evaluator's `hy_vla.rollout.workers` processes, kept alive across iterations) load the current
policy from the weights the parent saved for this iteration (`policy_dir`, `version`), run whole episodes and send
back an `EpisodeRollout` with one `ChunkRecord` per policy call. Every random draw is seeded by the job, so a
resumed run repeats the same rollouts whatever the worker timing. `takeover_job` replays a failed rollout up to a
policy call and lets the scripted expert act from there (preference pairs).
"""

from __future__ import annotations

import math
import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hy_vla.flow import stochastic
from hy_vla.policy.checkpoint_policy import CheckpointPolicy
from hy_vla.posttrain.records import ChunkRecord, EpisodeRollout
from hy_vla.rollout.episode import ActionRecorder, check_policy_compat, run_episode
from hy_vla.rollout.workers import WorkerSetup, close_worker, init_pool_worker, init_worker, worker_state
from hy_vla.sim.base import EnvAdapter, StepResult


class RecordingPolicy(CheckpointPolicy):
    """A `CheckpointPolicy` that samples through the stochastic chain and keeps a `ChunkRecord` per call."""

    def __init__(self, model: Any, sigma: float, control_steps: int, num_steps: int | None = None) -> None:
        super().__init__(model, num_steps=num_steps)
        self.sigma = sigma
        self.control_steps = control_steps  # env steps executed per call
        self.executed = math.ceil(control_steps / self.config.action_stride)  # model steps they cover
        self.records: list[ChunkRecord] = []
        self.steps = 0

    def start(self, noise_seed: int) -> None:
        """A new episode: fresh records and this episode's noise stream."""
        self.reset()
        self.records, self.steps = [], 0
        self.generator.manual_seed(noise_seed)

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        p = self.prepare(obs)
        model = self.model
        mask = model.chain_mask(p.batch, self.executed)
        states, means, actions = model.sample_chain(
            p.batch, self.sigma, mask, p.noise, self.num_steps, generator=self.generator
        )
        if self.sigma > 0:
            log_prob = stochastic.chain_log_prob(states, means, self.sigma, mask)[0]  # (K,)
        else:  # the deterministic chain has no density (rejection sampling does not need one)
            log_prob = torch.zeros(means.shape[0])
        self.records.append(ChunkRecord(p.batch, states.cpu(), mask.cpu(), log_prob.cpu(), p.state, self.steps))
        self.steps += self.control_steps
        return self.finish(p, actions[0])


@dataclass(frozen=True)
class RolloutJob:
    task: str
    seed: int  # env layout
    rollout: int  # index within the layout's group
    noise_seed: int
    policy_dir: str  # weights of this iteration's policy
    version: int  # changes whenever the weights do (workers reload)
    sigma: float
    control_steps: int
    num_steps: int | None = None
    shaped_reward: bool = False


@dataclass(frozen=True)
class TakeoverJob:
    """Replay `prefix` (executed actions) from `seed`, then let the scripted expert finish the episode."""

    task: str
    seed: int
    prefix: np.ndarray  # (t, A)
    record_steps: int  # expert actions to return (a chunk's control steps)


class _RewardMeter:
    """Forwards to an env and sums its step rewards (the shaped return)."""

    def __init__(self, env: EnvAdapter) -> None:
        self.env, self.total = env, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        result = self.env.step(action, render=render)
        self.total += float(result.reward)
        return result


_POLICIES: dict[str, tuple[int, RecordingPolicy]] = {}  # per worker process: policy_dir -> (version, policy)


def _policy(job: RolloutJob) -> RecordingPolicy:
    cached = _POLICIES.get(job.policy_dir)
    if cached is None or cached[0] != job.version:
        from hy_vla.models.hy_vla import HyVLA

        model = HyVLA.from_pretrained(job.policy_dir)
        _POLICIES[job.policy_dir] = (job.version, RecordingPolicy(model, job.sigma, job.control_steps, job.num_steps))
    policy = _POLICIES[job.policy_dir][1]
    policy.sigma, policy.control_steps = job.sigma, job.control_steps
    return policy


def rollout_job(job: RolloutJob) -> EpisodeRollout:
    """One recorded rollout episode (worker side)."""
    state = worker_state()
    env = state.env(job.task, video=False)
    policy = _policy(job)
    check_policy_compat(policy, env.spec)
    policy.start(job.noise_seed)
    actions = ActionRecorder()
    meter = _RewardMeter(env)
    result = run_episode(
        meter,  # type: ignore[arg-type]
        policy,
        job.seed,
        task=job.task,
        n_action_steps=job.control_steps,
        policy_cameras=state.setup.recipe.cameras,
        hooks=[actions],
    )
    reward = float(result.success)
    if job.shaped_reward:  # Meta-World's shaped reward is at most 10 per step
        reward += meter.total / (10.0 * max(env.spec.max_steps, 1))
    acts = np.stack(actions.actions) if actions.actions else np.zeros((0, env.spec.action_dim), np.float32)
    return EpisodeRollout(job.task, job.seed, job.rollout, result.success, result.length, reward, acts,
                          list(policy.records))  # fmt: skip


def takeover_job(job: TakeoverJob) -> tuple[np.ndarray, bool]:
    """(the expert's first `record_steps` actions (n, A), whether the expert then solved the task) (worker side)."""
    from hy_vla.sim.registry import make_expert

    state = worker_state()
    env = state.env(job.task, video=False)
    obs = env.reset(job.seed)
    for action in job.prefix:  # the rollout's own steps: the simulator is deterministic given seed and actions
        result = env.step(action, render=False)
        obs = result.obs
        if result.done:
            return np.zeros((0, env.spec.action_dim), np.float32), False
    expert = make_expert(state.setup.recipe.suite, job.task)
    expert.reset()
    taken: list[np.ndarray] = []
    low, high = np.asarray(env.spec.action_low), np.asarray(env.spec.action_high)
    done = success = False
    while not done:
        chunk = np.asarray(expert.infer(obs)["actions"], dtype=np.float32).reshape(-1, env.spec.action_dim)
        for action in chunk:
            action = np.clip(action, low, high) if len(low) else action
            if len(taken) < job.record_steps:
                taken.append(action)
            result = env.step(action, render=False)
            obs, success, done = result.obs, success or result.success, result.done
            if done:
                break
    return np.stack(taken) if taken else np.zeros((0, env.spec.action_dim), np.float32), bool(success)


class RolloutPool:
    """Simulator workers kept for the whole run (or this process when workers is 0)."""

    def __init__(self, setup: WorkerSetup, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        if workers == 0:
            init_worker(setup)
        else:  # "spawn": clean workers (no inherited GL contexts or torch thread pools)
            self.pool = ProcessPoolExecutor(workers, mp.get_context("spawn"), init_pool_worker, (setup,))

    def map(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        """fn(job) for every job, yielded in job order."""
        if self.pool is None:
            for job in jobs:
                yield fn(job)
            return
        futures = [self.pool.submit(fn, job) for job in jobs]
        try:
            for fut in futures:
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        else:
            close_worker()
            _POLICIES.clear()
