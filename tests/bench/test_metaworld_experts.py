"""bench/metaworld_experts.py: one episode per task of a tier, reported per task and per tier, nothing rendered."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("metaworld")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from metaworld_experts import main  # noqa: E402


def test_tier_run_writes_task_and_tier_rows(tmp_path, capsys):
    out = tmp_path / "experts"
    assert main(["--tasks", "very_hard", "--episodes", "1", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert len(report["tasks"]) == 5 and list(report["groups"]) == ["very_hard"]
    assert report["config"]["cameras"] == [] and report["seeds"] == [100_000]  # the collection's seeds
    table = (out / "experts.md").read_text()
    assert table == capsys.readouterr().out
    assert table.count("| very_hard | ") == 5 and "| **very_hard** | 5/5 tasks | " in table
    assert "Experts below 90%:" in table
