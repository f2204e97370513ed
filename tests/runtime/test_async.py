"""Asynchronous execution: simulated latency (eval wrapper), the real-time runner, guided checkpoint policies."""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serving"))
from serving_fixtures import good_obs, save_tiny_checkpoint  # noqa: E402

from hy_vla.policy.checkpoint_policy import CheckpointPolicy  # noqa: E402
from hy_vla.rollout.episode import run_episode  # noqa: E402
from hy_vla.rollout.factories import CheckpointFactory  # noqa: E402
from hy_vla.runtime.runner import AsyncRunner  # noqa: E402
from hy_vla.runtime.scheduler import AsyncConfig  # noqa: E402
from hy_vla.runtime.sim_async import SimAsyncFactory, SimAsyncPolicy, add_async_arguments, async_factory  # noqa: E402
from hy_vla.sim.base import EnvAdapter, EnvSpec, StepResult  # noqa: E402


class Ramp:
    """Plans the line a_j = (t + j + offset): every chunk agrees with the previous one unless offset changes."""

    def __init__(self, horizon: int = 10, sleep_s: float = 0.0, prefix: bool = False) -> None:
        self.horizon, self.sleep_s, self.calls, self.offset, self.seen = horizon, sleep_s, 0, 0.0, []
        self.metadata = {"fps": 100.0, "action_prefix": prefix}

    def infer(self, obs: dict) -> dict:
        self.calls += 1
        self.seen.append(obs)
        time.sleep(self.sleep_s)
        t = float(obs["t"])
        return {"actions": (t + self.offset + np.arange(self.horizon, dtype=np.float32))[:, None].repeat(2, 1)}

    def reset(self) -> None:
        self.calls = 0


def _run_sim(policy: SimAsyncPolicy, steps: int) -> np.ndarray:
    executed: list[np.ndarray] = []
    while len(executed) < steps:
        executed.extend(policy.infer({"t": len(executed)})["actions"])
    return np.array(executed)[:steps]


@pytest.mark.parametrize("stitch", ["none", "linear", "bezier"])
def test_sim_async_agreeing_chunks_execute_a_seamless_line(stitch):
    policy = SimAsyncPolicy(Ramp(), AsyncConfig(stitch=stitch, latency_ms=30, overlap=2, margin=1))
    assert policy.d == 3  # 30 ms at 100 Hz
    executed = _run_sim(policy, 40)
    np.testing.assert_allclose(executed[:, 0], np.arange(40))  # the request obs is exactly the step it is made at
    assert policy.scheduler.underruns == 0 and policy.inner_calls >= 40 // (10 - 3 - 2 - 1)


def test_sim_async_requests_on_the_arrival_step_when_the_chunk_is_short():
    # d = 5 of a 10-action chunk: a chunk arrives with exactly d actions left, enough only if the next
    # request goes out from the arrival step itself (as AsyncRunner.act does), not one step later.
    policy = SimAsyncPolicy(Ramp(), AsyncConfig(stitch="none", latency_ms=50, overlap=2, margin=1))
    assert policy.d == 5
    executed = _run_sim(policy, 60)
    np.testing.assert_allclose(executed[:, 0], np.arange(60))
    assert policy.scheduler.underruns == 0
    assert np.diff(policy.scheduler.boundaries[1:]).tolist() == [5] * (len(policy.scheduler.boundaries) - 2)


def test_sim_async_uses_the_old_chunk_for_the_committed_prefix():
    inner = Ramp()
    policy = SimAsyncPolicy(inner, AsyncConfig(stitch="none", latency_ms=30, overlap=2, margin=1))
    first = policy.infer({"t": 0})["actions"]
    assert len(first) == 10 - 6  # run until remaining <= d + overlap + margin = 6
    inner.offset = 100.0  # the next chunk disagrees: it must not show before the latency has elapsed
    second = policy.infer({"t": len(first)})["actions"]
    np.testing.assert_allclose(second[:3, 0], [4, 5, 6])  # d = 3 committed steps from the old chunk
    np.testing.assert_allclose(second[3:, 0], np.arange(7, 7 + len(second) - 3) + 100)


def test_sim_async_rtc_sends_the_prefix_and_requires_support():
    inner = Ramp(prefix=True)
    policy = SimAsyncPolicy(inner, AsyncConfig(stitch="rtc", latency_ms=30, overlap=2, margin=1))
    _run_sim(policy, 12)
    obs = inner.seen[1]
    assert obs["action_prefix"].shape == (6, 2) and obs["action_prefix_weights"][:3].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="action_prefix"):
        SimAsyncPolicy(Ramp(), AsyncConfig(stitch="rtc", latency_ms=30))
    with pytest.raises(ValueError, match="not shorter than the policy's chunk"):
        SimAsyncPolicy(Ramp(horizon=3), AsyncConfig(stitch="none", latency_ms=50)).infer({"t": 0})


def test_async_runner_real_time_no_underruns():
    inner = Ramp(horizon=12, sleep_s=0.03)
    config = AsyncConfig(stitch="bezier", control_period_ms=10, overlap=2, margin=2)
    with AsyncRunner(inner, config) as runner:
        step = {"t": 0}
        executed: list[float] = []

        def get_obs() -> dict:
            return {"t": step["t"]}

        def apply(action: np.ndarray) -> None:
            executed.append(float(action[0]))
            step["t"] += 1

        stats = runner.run(get_obs, apply, 60)
    assert stats["underruns"] == 0 and stats["chunks"] >= 5, stats
    assert 25 <= stats["latency_ms"] <= 200 and stats["d"] >= 3
    # agreeing chunks: what was executed is the line, up to the blend of late-arriving chunks (same line)
    np.testing.assert_allclose(executed, np.arange(60), atol=1e-5)


def test_async_runner_surfaces_inference_errors():
    class Broken(Ramp):
        def infer(self, obs: dict) -> dict:
            if self.calls >= 1:
                raise RuntimeError("boom")
            return super().infer(obs)

    with AsyncRunner(Broken(), AsyncConfig(stitch="none", control_period_ms=1, overlap=8)) as runner:
        runner.act({"t": 0})  # first chunk; triggers the next at once (remaining <= d + overlap + margin)
        with pytest.raises(RuntimeError, match="boom"):
            for i in range(1, 200):
                runner.act({"t": i})
                time.sleep(0.002)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("runtime") / "ckpt", horizon=8)


def test_guided_checkpoint_policy_reproduces_the_committed_prefix(ckpt):
    policy = CheckpointFactory(str(ckpt))("any task")
    assert isinstance(policy, CheckpointPolicy) and policy.metadata["action_prefix"] is True
    free = policy.infer(good_obs())["actions"]
    prefix = np.linspace(-0.5, 0.5, 5 * 4, dtype=np.float32).reshape(5, 4)
    obs = {**good_obs(), "action_prefix": prefix, "action_prefix_weights": np.array([1, 1, 0.5, 0.2, 0.1], np.float32)}
    guided = policy.infer(obs)["actions"]
    assert guided.shape == free.shape == (8, 4)
    np.testing.assert_allclose(guided[:2], prefix[:2], atol=1e-4)  # committed: exact, in robot units
    assert np.abs(guided[2] - prefix[2]).max() < np.abs(free[2] - prefix[2]).max()  # pulled toward it
    with pytest.raises(ValueError, match="both"):
        policy.infer({**good_obs(), "action_prefix": prefix})
    with pytest.raises(ValueError, match=r"\(P >= 1, 4\)"):
        policy.infer({**good_obs(), "action_prefix": prefix[:, :2], "action_prefix_weights": np.ones(5, np.float32)})


def test_guided_prefix_with_action_stride(tmp_path):
    """Control step j maps to model step j // stride: the held actions of committed model steps match."""
    policy = CheckpointFactory(str(save_tiny_checkpoint(tmp_path / "c", horizon=4, action_stride=2)))("t")
    prefix = np.linspace(-0.5, 0.5, 20, dtype=np.float32).reshape(5, 4)
    weights = np.array([1, 1, 1, 0.5, 0.2], np.float32)  # model steps 0, 1, 2 <- control steps 0, 2, 4
    guided = policy.infer({**good_obs(), "action_prefix": prefix, "action_prefix_weights": weights})["actions"]
    assert guided.shape == (8, 4)
    np.testing.assert_allclose(guided[[0, 1, 2, 3]], prefix[[0, 0, 2, 2]], atol=1e-4)


class ToyReach(EnvAdapter):
    """A 4-d point that moves to each commanded position; one 16 px camera; no success."""

    def __init__(self, steps: int = 30) -> None:
        self.spec = EnvSpec("toy", "reach", "reach the goal", "metaworld_sawyer", ("corner2",), (16, 16), 4, 4,
                            80.0, steps)  # fmt: skip
        self.pos = np.zeros(4, np.float32)
        self.t = 0

    def _obs(self, render: bool = True) -> dict:
        obs = good_obs(self.t)
        obs["observation.state"] = self.pos.copy()
        return obs if render else {k: v for k, v in obs.items() if not k.startswith("observation.images.")}

    def reset(self, seed: int) -> dict:
        self.pos, self.t = np.zeros(4, np.float32), 0
        return self._obs()

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        self.pos, self.t = np.asarray(action, np.float32), self.t + 1
        return StepResult(self._obs(render), 0.0, False, self.t >= self.spec.max_steps)


def test_eval_rollout_with_simulated_latency_and_rtc(ckpt):
    args = argparse.ArgumentParser()
    add_async_arguments(args)
    ns = args.parse_args(["--async", "--latency-ms", "25", "--overlap", "2"])
    factory = async_factory(CheckpointFactory(str(ckpt)), ns)
    assert isinstance(factory, SimAsyncFactory) and isinstance(factory.inner, CheckpointFactory)
    assert pickle.loads(pickle.dumps(factory)) == factory  # worker processes receive it pickled
    policy = factory("reach")
    assert policy.d == 2 and policy.metadata["async"]["stitch"] == "rtc"
    result = run_episode(ToyReach(12), policy, seed=0)
    assert result.length == 12 and policy.scheduler.underruns == 0
    assert policy.inner_calls == result.policy_calls >= 12 // (8 - 2 - 2 - 1)
    assert async_factory("unchanged", args.parse_args([])) == "unchanged"


def test_eval_rollout_of_a_remote_policy(ckpt):
    """The harness evaluates a RemotePolicy like any PolicyLike (metadata checked against the env spec)."""
    from serving_fixtures import start_server

    from hy_vla.serving.client import RemotePolicy

    server = start_server(ckpt)
    try:
        with RemotePolicy("127.0.0.1", server.port) as policy:
            result = run_episode(ToyReach(10), policy, seed=0)
        assert result.length == 10 and result.policy_calls == 2  # chunks of 8
    finally:
        server.stop_thread()
