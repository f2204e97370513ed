"""`hy-vla eval` argument handling, through the `hy-vla` entry point."""

from __future__ import annotations

import argparse
import json

import pytest

pytest.importorskip("metaworld")

from hy_vla.cli import eval as eval_cli  # noqa: E402
from hy_vla.cli.main import main  # noqa: E402


def run(argv: list[str]) -> int:
    return main(["eval", *argv])  # through the entry point, which turns bad input into exit code 2


def run_module(argv: list[str]) -> int:
    """The subcommand itself, without the entry point's error handling (errors propagate)."""
    parser = argparse.ArgumentParser()
    eval_cli.add_arguments(parser)
    return eval_cli.run(parser.parse_args(argv))


def test_list_tasks(capsys):
    assert run(["--env", "metaworld", "--list-tasks"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 50 and lines[0].startswith("assembly-v3")
    assert any("pull the drawer open" in line for line in lines)


def test_unknown_task_suggests(capsys):
    rc = run(["--tasks", "drawer-opn-v3", "--policy", "scripted", "--out", "unused"])
    assert rc == 2
    assert "Did you mean: drawer-open-v3" in capsys.readouterr().err


def test_needs_one_policy(capsys):
    assert run(["--tasks", "reach-v3", "--out", "x"]) == 2
    assert "exactly one" in capsys.readouterr().err


def test_missing_checkpoint_module_is_clear(tmp_path):
    # Until hy_vla.policy.checkpoint_policy exists, the error names it; afterwards the missing folder fails.
    with pytest.raises((ImportError, FileNotFoundError, OSError, ValueError)) as e:
        run_module(
            ["--tasks", "reach-v3", "--episodes", "1", "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path)]
        )
    assert "checkpoint" in str(e.value).lower() or "none" in str(e.value)


def test_scripted_eval(tmp_path, capsys):
    out = tmp_path / "eval"
    assert run(["--tasks", "reach-v3", "--episodes", "1", "--policy", "scripted", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["overall"]["success_rate"] == 1.0
    assert report["config"]["cameras"] == []  # blind expert: nothing rendered
    assert "reach-v3" in capsys.readouterr().out
