"""bench/demo_runs.py end to end on a micro checkpoint and hand-written reports (one rendered observation)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from model_fixtures import micro_config

pytest.importorskip("metaworld")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from demo_runs import main  # noqa: E402

from hy_vla import HyVLA  # noqa: E402


def _report(ckpt: Path, successes: dict[str, int], extra: dict) -> dict:
    tasks = {t: {"successes": s, "n": 4, "ci95": [0.1, 0.9]} for t, s in successes.items()}
    total = sum(successes.values())
    return {
        "tasks": tasks,
        "overall": {"successes": total, "episodes": 4 * len(tasks), "ci95": [0.2, 0.8]},
        "config": {"episodes": 4, "n_action_steps": 2, "image_size": 16, "extra": {"checkpoint": str(ckpt), **extra}},
    }


def test_table_from_a_demo_run_and_an_extra_eval(tmp_path, capsys):
    cfg = micro_config(camera_names=("corner2",), embodiment="metaworld_sawyer", state_dim=4, action_dim=4)
    ckpt = HyVLA(cfg).save_pretrained(tmp_path / "run" / "train" / "checkpoints" / "120")
    run = tmp_path / "run"
    demo = {"preset": "hy-vla-tiny", "overrides": {"model.backbone.dense": True}}
    (run / "report.json").write_text(json.dumps(_report(ckpt, {"reach-v3": 1, "door-open-v3": 3}, {"demo": demo})))
    ev = tmp_path / "eval_diff"
    ev.mkdir()
    (ev / "report.json").write_text(json.dumps(_report(ckpt, {"reach-v3": 0, "door-open-v3": 2}, {})))
    out = tmp_path / "table.md"
    main([str(run), "--extra-eval", f"other={ev}", "--repeats", "1", "--out", str(out)])
    text = out.read_text()
    assert "| run | hy-vla-tiny, model.backbone.dense=True |" in text
    assert "| 120 | 1/4 | 3/4 | **50%** [0.20, 0.80] |" in text
    assert "| other | hy-vla-tiny, model.backbone.dense=True |" in text and "| 0/4 | 2/4 | **25%**" in text
    rows = json.loads(out.with_suffix(".json").read_text())
    assert rows[0]["latency_ms"] > 0 and rows[0]["step"] == 120
    with pytest.raises(SystemExit, match="not found"):
        main([str(tmp_path / "missing")])
