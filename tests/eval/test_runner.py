"""The evaluation harness: scripted experts end to end, receding horizon, privileged stripping, compat errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("metaworld")

from hy_vla.eval.runner import EvalConfig, Evaluator  # noqa: E402
from hy_vla.keys import STATE, image_key  # noqa: E402
from hy_vla.rollout.episode import PolicyMismatchError  # noqa: E402
from hy_vla.rollout.factories import ScriptedExpertFactory  # noqa: E402
from hy_vla.sim.privileged import PRIVILEGED_PREFIX  # noqa: E402


def test_scripted_expert_two_tasks(tmp_path):
    cfg = EvalConfig(
        suite="metaworld",
        tasks=("reach-v3", "button-press-topdown-v3"),
        episodes=2,
        base_seed=3,
        cameras=(),  # the expert is blind; only video episodes render
        image_size=32,
        videos=1,
        out=str(tmp_path),
    )
    report = Evaluator(cfg, progress=False, command=["test"]).run(ScriptedExpertFactory("metaworld"))
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["overall"] == report["overall"]
    assert saved["overall"]["success_rate"] == 1.0 and saved["overall"]["episodes"] == 4
    for task in cfg.tasks:
        t = saved["tasks"][task]
        assert t["success_rate"] == 1.0
        assert t["ci95"] == pytest.approx([0.342380, 1.0], abs=1e-5)  # Wilson 2/2
        assert [e["seed"] for e in t["episodes"]] == [3, 4]  # base_seed + i
        assert all(e["success"] and 0 < e["length"] < 500 for e in t["episodes"])
        assert t["mean_length"] == np.mean([e["length"] for e in t["episodes"]])
        assert (tmp_path / f"videos/{task}_ep0.mp4").stat().st_size > 1000
        assert not (tmp_path / f"videos/{task}_ep1.mp4").exists()
    assert saved["seeds"] == [3, 4] and saved["command"] == ["test"]
    assert saved["versions"]["metaworld"] and saved["wall_s"] > 0
    assert saved["env"]["video_camera"] == "corner2"
    assert (tmp_path / "success.png").read_bytes()[:4] == b"\x89PNG"


class ZeroChunk:
    """A learned-policy stand-in: constant (H, 4) chunks; records what it was shown."""

    def __init__(self, horizon: int = 5, metadata: dict | None = None) -> None:
        self.horizon, self.seen, self.resets = horizon, [], 0
        if metadata is not None:
            self.metadata = metadata

    def infer(self, obs):
        self.seen.append(sorted(obs))
        return {"actions": np.zeros((self.horizon, 4), np.float32)}

    def reset(self):
        self.resets += 1


def test_receding_horizon_and_stripping(tmp_path):
    policy = ZeroChunk(horizon=5)
    cfg = EvalConfig(
        suite="metaworld",
        tasks=("reach-v3",),
        episodes=2,
        cameras=("corner2",),
        image_size=16,
        max_steps=12,
        n_action_steps=2,
        out=str(tmp_path),
    )
    report = Evaluator(cfg, progress=False).run(policy)  # an instance: runs here, one episode at a time
    eps = report["tasks"]["reach-v3"]["episodes"]
    assert [e["length"] for e in eps] == [12, 12] and not any(e["success"] for e in eps)
    assert [e["policy_calls"] for e in eps] == [math.ceil(12 / 2)] * 2  # 2 of every 5 actions executed
    assert policy.resets == 2
    assert policy.seen[0] == sorted([image_key("corner2"), STATE, "prompt"])  # no privileged keys
    assert not any(k.startswith(PRIVILEGED_PREFIX) for keys in policy.seen for k in keys)
    assert report["tasks"]["reach-v3"]["ci95"][0] == 0.0


def test_policy_mismatch_is_reported(tmp_path):
    cfg = EvalConfig(
        suite="metaworld", tasks=("reach-v3",), episodes=1, cameras=("corner2",), image_size=16, out=str(tmp_path)
    )
    wrong_cam = ZeroChunk(metadata={"name": "toy", "cameras": ["wrist"], "state_dim": 4, "action_dim": 4})
    with pytest.raises(PolicyMismatchError, match=r"camera\(s\) \['wrist'\].*--cameras wrist"):
        Evaluator(cfg, progress=False).run(wrong_cam)
    wrong_state = ZeroChunk(metadata={"cameras": ["corner2"], "state_dim": 14, "action_dim": 4})
    with pytest.raises(PolicyMismatchError, match="state_dim is 14.*metaworld_sawyer.*has 4"):
        Evaluator(cfg, progress=False).run(wrong_state)


def test_bad_config_errors():
    with pytest.raises(ValueError, match="Did you mean: reach-v3"):
        EvalConfig(suite="metaworld", tasks=("reach-v2",))
    with pytest.raises(ValueError, match="placement"):
        EvalConfig(suite="metaworld", tasks=("reach-v3",), placement="gpu")


@pytest.mark.slow
@pytest.mark.parametrize("placement", ["worker", "parent"])
def test_workers_match_in_process(tmp_path, placement):
    """Two worker processes reproduce the in-process episodes exactly (seeds decide everything)."""
    kw = dict(suite="metaworld", tasks=("reach-v3", "push-v3"), episodes=2, cameras=())
    a = Evaluator(EvalConfig(**kw, out=str(tmp_path / "a")), progress=False).run(ScriptedExpertFactory("metaworld"))
    b = Evaluator(EvalConfig(**kw, workers=2, placement=placement, out=str(tmp_path / "b")), progress=False).run(
        ScriptedExpertFactory("metaworld")
    )
    for task in kw["tasks"]:
        strip = [(e["seed"], e["success"], e["length"]) for e in a["tasks"][task]["episodes"]]
        assert strip == [(e["seed"], e["success"], e["length"]) for e in b["tasks"][task]["episodes"]]
