"""The LeRobot-free parts of bench/vs_lerobot.py: the pipe protocol, the observation mapping, the report maths."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from lerobot_policy import map_observation  # noqa: E402
from peer_features import split_policy_features  # noqa: E402
from stdio_wire import read_message, write_message  # noqa: E402
from vs_lerobot_report import comparison_table, ratio, time_to_success  # noqa: E402


def test_wire_round_trip_keeps_arrays_exact() -> None:
    arrays = {"img": np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3), "x": np.linspace(0, 1, 5).astype(">f8")}
    buf = io.BytesIO()
    write_message(buf, {"op": "infer", "n": 3}, arrays)
    write_message(buf, {"op": "reset"})
    buf.seek(0)
    header, got = read_message(buf)
    assert header == {"op": "infer", "n": 3}
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == v.dtype
    assert read_message(buf) == ({"op": "reset"}, {})
    with pytest.raises(EOFError):
        read_message(buf)


def test_wire_refuses_object_arrays() -> None:
    with pytest.raises(TypeError, match="object"):
        write_message(io.BytesIO(), {}, {"bad": np.array([{"a": 1}], dtype=object)})


def test_map_observation_names_and_single_camera() -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    obs = {"observation.images.top": img, "observation.state": [1, 2, 3], "prompt": "reach"}
    out = map_observation(obs, ["observation.images.top"])
    assert set(out) == {"observation.images.top", "observation.state"}
    assert out["observation.state"].dtype == np.float32
    assert "observation.image" in map_observation(obs, ["observation.image"])  # unnamed single camera
    with pytest.raises(ValueError, match="observation.images.wrist"):
        map_observation(obs, ["observation.images.wrist"])
    with pytest.raises(ValueError, match="uint8"):
        map_observation({**obs, "observation.images.top": img.astype(np.float32)}, ["observation.images.top"])


def _curve(*means: float) -> list[dict]:
    return [
        {"step": 10 * (i + 1), "train_s": 60.0 * (i + 1), "mean": m, "ci95": [0.0, 1.0], "tasks": {}}
        for i, m in enumerate(means)
    ]


def test_time_to_success_is_the_first_checkpoint_reaching_it() -> None:
    curve = _curve(0.1, 0.5, 0.3, 0.85)
    assert time_to_success(curve, 0.5) == 120.0
    assert time_to_success(curve, 0.8) == 240.0
    assert time_to_success(curve[:3], 0.8) is None
    assert ratio(2.0, 4.0) == 0.5
    assert ratio(1.0, 0.0) is None and ratio(None, 1.0) is None


def test_comparison_table_has_ratio_columns() -> None:
    lat = {"chunk_ms": 10.0, "step_ms": 2.0}
    ours = {"name": "hy-vla", "parameters": 2e6, "steps": 100, "samples_per_s": 90.0, "curve": _curve(0.6),
            "latency": lat}  # fmt: skip
    peer = {"name": "act", "parameters": 5e7, "steps": 10, "samples_per_s": 30.0, "curve": _curve(0.3),
            "latency": {"chunk_ms": 40.0, "step_ms": 5.0}}  # fmt: skip
    table = comparison_table([ours, peer], tasks=[])
    assert "| | hy-vla | act | hy-vla / act |" in table
    assert "| training samples/s | 90.0 | 30.0 | 3.00x |" in table
    assert "| **mean success** | 60% [0.00, 1.00] | 30% [0.00, 1.00] | 2.00x |" in table
    assert "| time to 50% mean success | 1.0 min | not reached | - |" in table


def test_time_to_success_is_an_upper_bound_when_checkpoints_were_skipped() -> None:
    # With --evaluate last the intermediate checkpoints are not evaluated: the final one reaching 50%
    # says only that 50% was reached by then, and missing it says nothing about the earlier ones.
    ours = {"name": "hy-vla", "curve": _curve(0.2, 0.6), "latency": {}}
    peer = {"name": "act", "curve": _curve(0.6), "skipped_steps": [10], "latency": {}}
    low = {"name": "diffusion", "curve": _curve(0.1), "skipped_steps": [10], "latency": {}}
    lines = comparison_table([ours, peer, low], tasks=[]).splitlines()
    row = next(line for line in lines if line.startswith("| time to 50%"))
    assert row.endswith("| 2.0 min | <= 1.0 min | not reached at the final checkpoint | - | - |")


def test_peers_never_read_the_simulator_state_column() -> None:
    from types import SimpleNamespace

    def feat(kind: str) -> SimpleNamespace:
        return SimpleNamespace(type=SimpleNamespace(name=kind))

    features = {"observation.images.top": feat("VISUAL"), "observation.state": feat("STATE"),
                "observation.environment_state": feat("ENV"), "action": feat("ACTION"),
                # LeRobot types any other observation.* column as STATE: the recorded image positions too
                "observation.environment_pixels": feat("STATE")}  # fmt: skip
    inputs, outputs = split_policy_features(features)
    assert sorted(inputs) == ["observation.images.top", "observation.state"] and list(outputs) == ["action"]


def test_expected_minutes_matches_the_measured_run() -> None:
    """The measured 12-minute run (3 policies x 12 min, 3 checkpoints x 5 tasks x 10 episodes, data present, 2 workers)
    took 96.9 minutes, ~7 of them lost to a job beside the evaluation; the up-front estimate must be near it."""
    from argparse import Namespace

    from vs_lerobot import POLICIES, expected_minutes

    args = Namespace(policies=list(POLICIES), minutes=12.0, eval_points=3, tasks=["t"] * 5, episodes=10, workers=2,
                     demos=30)  # fmt: skip
    assert 0.85 * 90 <= expected_minutes(args, have_data=True) <= 1.15 * 90


def test_task_sets_expand_on_the_command_line() -> None:
    from vs_lerobot import parse_args

    args = parse_args(["--tasks", "mt10,reach-v3", "--policies", "hy-vla"])
    assert len(args.tasks) == 10 and "reach-v3" in args.tasks
    with pytest.raises(SystemExit):
        parse_args(["--tasks", "mt11", "--policies", "hy-vla"])


def test_ensure_data_names_the_missing_auxiliary_column(tmp_path: Path) -> None:
    """--data without hy-vla's env-state column is refused with the reason (it once crashed on a removed field)."""
    import argparse

    from data.data_fixtures import make_lerobot
    from vs_lerobot import ensure_data

    from hy_vla.demo.recipe import DemoRecipe

    root = make_lerobot(tmp_path / "ds")
    args = argparse.Namespace(data=str(root), out=str(tmp_path / "out"))
    with pytest.raises(SystemExit, match="environment_state column.*re-collect"):
        ensure_data(args, DemoRecipe(tasks=("reach-v3",), cameras=("front", "wrist")))


def test_a_stored_evaluation_of_another_protocol_is_not_reused() -> None:
    """Rerunning with other --episodes or --tasks once silently reused evaluations of the old protocol."""
    from vs_lerobot import report_mismatch

    stored = {"tasks": ["reach-v3", "push-v3"], "episodes": 10, "base_seed": 0}
    assert report_mismatch(stored, ["reach-v3", "push-v3"], 10) == ""
    assert "10 episodes per task" in report_mismatch(stored, ["reach-v3", "push-v3"], 5)
    assert "tasks" in report_mismatch(stored, ["reach-v3"], 10)
