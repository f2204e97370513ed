"""scripts/eval_robotwin_{test,full}.sh and hy_vla.robotwin.launch against a fake RoboTwin checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from robotwin.helpers import REPO, tiny_checkpoint

from hy_vla.robotwin.tasks import ALL_TASKS, TEST_TASKS

SCRIPTS = ("eval_robotwin_test.sh", "eval_robotwin_full.sh")

# A stand-in for RoboTwin's script/eval_policy.py with the parts launch.py relies on: it puts ./ and ./policy on
# sys.path, imports the policy by name, fixes test_num = 100 inside `main`, and `main` calls the module-level
# `eval_policy` (which here drives tests/robotwin/standin.py in eval_policy.py's call order).
FAKE_EVAL_POLICY = """
import importlib, os, sys
sys.path.append("./")
sys.path.append("./policy")
sys.path.insert(0, {tests!r})
from robotwin.standin import StandInTask, run_eval_policy


def eval_function_decorator(policy_name, model_name):
    return getattr(importlib.import_module(policy_name), model_name)


def main(usr_args):
    test_num = 100
    task = StandInTask(step_lim=4)
    usr_args["left_arm_dim"] = usr_args["right_arm_dim"] = 6
    eval_policy(usr_args["task_name"], task, usr_args, None, 100000 * (1 + usr_args["seed"]), test_num=test_num)


def eval_policy(task_name, TASK_ENV, args, model, st_seed, test_num=100, video_size=None, instruction_type=None):
    name = args["policy_name"]
    get_model, run, reset = (eval_function_decorator(name, f) for f in ("get_model", "eval", "reset_model"))
    _, succ = run_eval_policy(get_model, run, reset, args, TASK_ENV, test_num)
    os.makedirs("eval_result", exist_ok=True)
    with open(f"eval_result/{{task_name}}.txt", "w") as f:
        f.write(f"{{os.environ.get('CUDA_VISIBLE_DEVICES')}} {{test_num}} {{args['checkpoint']}}")
    return st_seed + test_num, sum(succ)


if __name__ == "__main__":  # eval.sh's route: --config YML --overrides --key value ... (values through eval)
    import argparse, yaml
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--overrides", nargs=argparse.REMAINDER)
    cli = parser.parse_args()
    usr_args = yaml.safe_load(open(cli.config))
    pairs = cli.overrides or []
    for key, value in zip(pairs[::2], pairs[1::2]):
        try:
            value = eval(value)
        except Exception:
            pass
        usr_args[key.lstrip("-")] = value
    main(usr_args)
"""


def fake_robotwin(root: Path) -> Path:
    (root / "script").mkdir(parents=True)
    (root / "envs").mkdir()
    (root / "task_config").mkdir()
    (root / "script" / "eval_policy.py").write_text(FAKE_EVAL_POLICY.format(tests=str(REPO / "tests")))
    (root / "script" / "test_render.py").write_text("def Sapien_TEST():\n    open('render_checked', 'w').close()\n")
    (root / "envs" / "_base_task.py").write_text("")
    (root / "task_config" / "_eval_step_limit.yml").write_text("".join(f"{t}: 400\n" for t in ALL_TASKS))
    (root / "task_config" / "demo_clean.yml").write_text("embodiment: [aloha-agilex]\n")
    return root


def run_script(name: str, args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("ROBOTWIN_DIR", "GPUS", "CUDA_VISIBLE_DEVICES")}
    return subprocess.run(
        ["bash", str(REPO / "scripts" / name), *args], capture_output=True, text=True, env={**base, **env}, timeout=600
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_refuse_a_missing_or_fake_robotwin_dir(script: str, tmp_path: Path) -> None:
    r = run_script(script, [str(tmp_path)])
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "ROBOTWIN_DIR is not set" in r.stderr
    fake = tmp_path / "not_robotwin"
    (fake / "script").mkdir(parents=True)
    r = run_script(script, [str(tmp_path)], ROBOTWIN_DIR=str(fake))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"ROBOTWIN_DIR={fake} is not a RoboTwin 2.0 checkout (missing script/eval_policy.py)" in r.stderr
    assert not (fake / "policy").exists() and r.stdout == ""  # nothing linked, nothing run


def test_task_lists() -> None:
    assert len(ALL_TASKS) == len(set(ALL_TASKS)) == 50 and len(TEST_TASKS) == 6 and set(TEST_TASKS) <= set(ALL_TASKS)


@pytest.mark.slow
def test_test_script_links_the_folder_and_spreads_tasks_over_gpus(tmp_path: Path) -> None:
    root = fake_robotwin(tmp_path / "RoboTwin")
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "results"
    r = run_script("eval_robotwin_test.sh", [str(ckpt)], ROBOTWIN_DIR=str(root), GPUS="3,5", EPISODES="2",
                   OUT_DIR=str(out), PYTHON=sys.executable, LAUNCH_ARGS="--skip-render-test")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    link = root / "policy" / "Hy_VLA"
    assert link.is_symlink() and link.resolve() == REPO / "robotwin_policy" / "Hy_VLA"
    for i, task in enumerate(TEST_TASKS):
        gpu, episodes, checkpoint = (root / "eval_result" / f"{task}.txt").read_text().split()
        assert gpu == "35"[i % 2] and episodes == "2" and Path(checkpoint) == ckpt.resolve()
        result = json.loads((out / f"{task}.json").read_text())
        assert result["episodes"] == 2 and result["successes"] == 0 and result["task_config"] == "demo_clean"
    assert "mean success over 6 tasks: 0.0%" in r.stdout


def test_policy_eval_sh_runs_robotwins_command_line(tmp_path: Path) -> None:
    """policy/Hy_VLA/eval.sh as RoboTwin's README runs a policy's: from the folder, RoboTwin's python on PATH,
    Hy-VLA found through the link (no PYTHONPATH)."""
    root = fake_robotwin(tmp_path / "RoboTwin")
    (root / "policy").mkdir()
    (root / "policy" / "Hy_VLA").symlink_to(REPO / "robotwin_policy" / "Hy_VLA")
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["PWD"] = str(root / "policy" / "Hy_VLA")  # what a shell that did `cd policy/Hy_VLA` passes on
    cmd = ["bash", "eval.sh", "click_bell", "demo_clean", str(ckpt), "0", "7"]
    r = subprocess.run(cmd, cwd=root / "policy" / "Hy_VLA", env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (REPO / "eval_result").exists()  # it ran in the RoboTwin root, not through the link's target
    gpu, episodes, checkpoint = (root / "eval_result" / "click_bell.txt").read_text().split()
    assert (gpu, episodes, Path(checkpoint)) == ("7", "100", ckpt.resolve())  # RoboTwin's own 100 episodes


def test_launch_runs_the_render_check_and_reports(tmp_path: Path) -> None:
    root = fake_robotwin(tmp_path / "RoboTwin")
    (root / "policy").mkdir()
    (root / "policy" / "Hy_VLA").symlink_to(REPO / "robotwin_policy" / "Hy_VLA")
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    cmd = [sys.executable, "-m", "hy_vla.robotwin.launch", "--task", "click_bell", "--checkpoint", str(ckpt),
           "--episodes", "1", "--set", "execute_steps=2", "--result", str(tmp_path / "r.json")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "ROBOTWIN_DIR": str(root)}
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (root / "render_checked").exists() and r.stdout.strip().endswith("click_bell: 0/1 successful")
    assert json.loads((tmp_path / "r.json").read_text())["success_rate"] == 0.0
    bad = subprocess.run([*cmd[:-2]], cwd=tmp_path, env={**env, "ROBOTWIN_DIR": str(tmp_path)}, capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert bad.returncode == 2 and "is not a RoboTwin 2.0 checkout" in bad.stderr
