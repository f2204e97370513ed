"""Every suite's scripted expert runs through the evaluation harness.

Regression: the harness used to build ALOHA/PushT environments without their privileged
object poses and to strip them for experts that did not declare `metadata["privileged"]`,
so `hy-vla eval --env aloha --policy scripted` crashed with a KeyError.
"""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from hy_vla.eval.runner import EvalConfig, Evaluator  # noqa: E402
from hy_vla.rollout.factories import ScriptedExpertFactory  # noqa: E402


@pytest.mark.parametrize("suite, task", [("aloha", "transfer-cube"), ("pusht", "pusht")])
def test_suite_expert_through_harness(tmp_path, suite, task):
    pytest.importorskip("gym_aloha" if suite == "aloha" else "gym_pusht")
    cfg = EvalConfig(suite=suite, tasks=(task,), episodes=1, base_seed=0, cameras=(), out=str(tmp_path))
    report = Evaluator(cfg, progress=False, command=["test"]).run(ScriptedExpertFactory(suite))
    assert report["tasks"][task]["episodes"][0]["seed"] == 0
    assert report["overall"]["success_rate"] == 1.0  # seed 0 is solved by both experts (measured 50/50, 45/50)
    assert json.loads((tmp_path / "report.json").read_text())["overall"]["episodes"] == 1
