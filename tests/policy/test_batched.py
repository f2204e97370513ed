"""Several sessions answered by one forward pass: the same replies as alone, one model call per group."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serving"))  # bench/serving.py may own the name "serving"
from serving_fixtures import good_obs, save_tiny_checkpoint  # noqa: E402

from hy_vla import HyVLA
from hy_vla.policy.batched import infer_batch
from hy_vla.policy.checkpoint_policy import CheckpointPolicy


class _Counting:
    """Wraps a model and records the batch size of every sample_actions call."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def eval(self):
        self.model.eval()
        return self

    def sample_actions(self, batch, **kw):
        self.calls.append(batch["observation.state"].shape[0])
        return self.model.sample_actions(batch, **kw)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return HyVLA.from_pretrained(save_tiny_checkpoint(tmp_path_factory.mktemp("b") / "ckpt")).eval()


def test_batched_replies_equal_each_sessions_own(model) -> None:
    counting = _Counting(model)
    alone = [CheckpointPolicy(model, seed=s) for s in range(3)]
    together = [CheckpointPolicy(counting, seed=s) for s in range(3)]
    for step in range(3):  # histories advance per session
        observations = [good_obs(10 * step + s) for s in range(3)]
        want = [p.infer(o)["actions"] for p, o in zip(alone, observations, strict=True)]
        got = infer_batch(list(zip(together, observations, strict=True)))
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g["actions"], w, atol=1e-5)
    assert counting.calls == [3, 3, 3]  # one forward pass per step for the three sessions


def test_a_bad_request_fails_alone_and_prefixed_requests_run_on_their_own(model) -> None:
    counting = _Counting(model)
    policies = [CheckpointPolicy(counting, seed=s) for s in range(3)]
    prefix = {"action_prefix": np.zeros((2, 4), np.float32), "action_prefix_weights": np.ones(2, np.float32)}
    requests = [(policies[0], good_obs(0)), (policies[1], {**good_obs(1), "prompt": ""}),
                (policies[2], {**good_obs(2), **prefix})]  # fmt: skip
    out = infer_batch(requests)
    assert out[0]["actions"].shape == (4, 4) and isinstance(out[1], ValueError) and out[2]["actions"].shape == (4, 4)
    np.testing.assert_allclose(out[2]["actions"][:2], 0.0, atol=1e-4)  # the committed prefix is reproduced
    assert sorted(counting.calls) == [1, 1]  # the good plain request, and the prefixed one on its own


def test_the_server_answers_waiting_sessions_together(model) -> None:
    """Requests that wait while the inference thread is busy are answered by one forward pass."""
    import threading
    import time

    from hy_vla.serving.client import RemotePolicy
    from hy_vla.serving.server import PolicyServer, ServerConfig

    class Slow(_Counting):
        def sample_actions(self, batch, **kw):
            time.sleep(0.2)  # keeps the thread busy while the other clients' requests arrive
            return super().sample_actions(batch, **kw)

    slow = Slow(model)
    server = PolicyServer(lambda: CheckpointPolicy(slow), ServerConfig(port=0, max_batch=8))
    server.start_in_thread()
    replies: dict[int, np.ndarray] = {}

    def client(i: int) -> None:
        with RemotePolicy("127.0.0.1", server.port) as policy:
            replies[i] = policy.infer(good_obs(i))["actions"]

    try:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.stop_thread()
    assert len(replies) == 4 and max(slow.calls) > 1 and sum(slow.calls) == 4, slow.calls
    for i, got in replies.items():  # each equals what a lone session gets
        np.testing.assert_allclose(got, CheckpointPolicy(model).infer(good_obs(i))["actions"], atol=1e-5)
