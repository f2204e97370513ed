import json

import pytest

from hy_vla.demo.pipeline import dataset_matches, ensure_dataset, format_table, plan
from hy_vla.demo.recipe import DEMO_TASKS, DemoRecipe


def test_recipe_defaults_and_validation():
    r = DemoRecipe()
    assert "pick-place-v3" in r.tasks and ("drawer-open-v3" in r.tasks or "door-open-v3" in r.tasks)
    assert len(r.tasks) >= 5 and r.tasks == DEMO_TASKS and r.eval_episodes == 50
    assert r.collect_seed >= r.eval_episodes  # demonstrations never reuse evaluation layouts
    assert r.model_overrides()["model.camera_names"] == list(r.cameras)
    assert json.loads(json.dumps(r.to_dict()))["tasks"] == list(r.tasks)
    assert r.model_overrides()["model.flow.train_draws"] == r.flow_draws >= 1
    assert "model.keypoint_targets.weight" not in r.model_overrides()  # off unless asked
    assert r.replace(keypoint_target_weight=2.0).model_overrides()["model.keypoint_targets.weight"] == 2.0
    with pytest.raises(ValueError):
        DemoRecipe(flow_draws=0)
    # presets whose decoder has no shared-prefix draws train with one (their configs would refuse more)
    assert "model.flow.train_draws" not in DemoRecipe(preset="qwen-vla-tiny").model_overrides()
    from hy_vla.presets import model_config
    from hy_vla.training.config import TrainConfig
    from hy_vla.training.run_config import apply_overrides

    for preset in ("hy-vla-tiny", "being-h05-tiny", "hybridvla-tiny", "qwen-vla-tiny"):
        apply_overrides(model_config(preset), TrainConfig(), DemoRecipe(preset=preset).run_overrides())  # valid
    with pytest.raises(ValueError):
        DemoRecipe(minutes=0)
    with pytest.raises(ValueError):
        DemoRecipe(n_action_steps=99)


def test_plan_mentions_each_stage():
    text = plan(DemoRecipe(), have_data=False)
    assert "collect" in text and "train 12 min" in text and "evaluate" in text
    # the default recipe must fit the demo's promise: the whole run from scratch within 20 minutes on 2 cores
    assert int(text.split("~")[1].split(" ")[0]) <= 20, text
    assert "dataset present" in plan(DemoRecipe(), have_data=True)
    # --steps replaces the time budget: the plan must not promise the recipe's minutes
    fixed = plan(DemoRecipe(steps=3600), have_data=True)
    assert "train 3600 steps (~20 min" in fixed and "train 12 min" not in fixed, fixed
    # a frame history renders every step during evaluation: the estimate must say so (K=6 took ~12 min, not 4)
    k1 = plan(DemoRecipe(), have_data=True)
    k6 = plan(DemoRecipe(overrides={"model.history_frames": 6}), have_data=True)
    assert "evaluate ~3 min" in k1 and "evaluate ~12 min" in k6


def test_dataset_matches_only_the_recipe(tmp_path):
    r = DemoRecipe(tasks=("reach-v3",), demos_per_task=3)
    assert not dataset_matches(tmp_path / "none", r)
    root = tmp_path / "d"
    (root / "meta").mkdir(parents=True)
    features = {"observation.environment_state": {}, "observation.environment_pixels": {}}
    (root / "meta" / "info.json").write_text(json.dumps({"features": features}))
    cfg = {"tasks": ["reach-v3"], "cameras": list(r.cameras) + ["corner4"], "image_size": r.render_size, "episodes": 3}
    cfg["task_seed_offset"] = 1000
    (root / "collection.json").write_text(json.dumps({"config": cfg}))
    assert dataset_matches(root, r.replace(task_seed_offset=1000))
    r = r.replace(task_seed_offset=1000)
    # a collection whose tasks share their layouts (older datasets have no task_seed_offset at all) is refused
    with pytest.raises(FileExistsError, match="its task seed offset is 1000, the recipe's 0"):
        ensure_dataset(r.replace(task_seed_offset=0), root)
    assert not dataset_matches(root, r.replace(demos_per_task=4))
    assert not dataset_matches(root, r.replace(tasks=("push-v3",)))
    # more demos than asked: training would read all of them, so the recipe would silently change
    with pytest.raises(FileExistsError, match="it has 3 demos per task, the recipe asks for 2"):
        ensure_dataset(r.replace(demos_per_task=2), root)
    with pytest.raises(FileExistsError, match="its images are"):
        ensure_dataset(r.replace(render_size=64), root)
    # a dataset from before the reset fix (no environment_pixels column) has stale first frames: refused when the
    # recipe trains on first frames or on keypoint targets
    (root / "meta" / "info.json").write_text(json.dumps({"features": {"observation.environment_state": {}}}))
    with pytest.raises(FileExistsError, match="before the 2026-11-29 reset fix"):
        ensure_dataset(r, root)
    assert dataset_matches(root, r.replace(env_state_frame="current"))
    assert dataset_matches(root, r.replace(overrides={"model.env_state.frame": "current"}))
    with pytest.raises(FileExistsError, match="no observation.environment_pixels column"):
        ensure_dataset(r.replace(env_state_frame="current", keypoint_target_weight=1.0), root)
    # the recipe trains on the recorded object/goal vector: a dataset collected without it is refused
    (root / "meta" / "info.json").write_text(json.dumps({"features": {}}))
    with pytest.raises(FileExistsError, match="no observation.environment_state column"):
        ensure_dataset(r, root)
    assert dataset_matches(root, r.replace(env_state_weight=0.0))


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

    r = DemoRecipe(tasks=("reach-v3",), demos_per_task=2, minutes=0.2, eval_episodes=2, max_steps=20, videos=1,
                   workers=0, batch_size=8)  # fmt: skip
    report = run_demo(r, tmp_path / "demo")
    assert report["tasks"]["reach-v3"]["n"] == 2
    saved = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert saved["config"]["extra"]["demo"]["tasks"] == ["reach-v3"] and (tmp_path / "demo" / "success.png").is_file()
    assert list((tmp_path / "demo" / "videos").glob("*.mp4"))
    again = run_demo(r, tmp_path / "demo")  # reuses the dataset and the finished training run
    assert again["tasks"]["reach-v3"]["n"] == 2


def _demo_args(*argv: str):
    import argparse

    from hy_vla.cli.demo import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_command_line_preset_steps_and_overrides_reach_the_recipe():
    from hy_vla.cli.demo import recipe_from_args

    r = recipe_from_args(_demo_args("--preset", "qwen-vla-tiny", "--steps", "300", "--set", "model.backbone.dense=true",
                                    "--set", "lr=5e-4", "--tasks", "reach-v3,push-v3"))  # fmt: skip
    assert (r.preset, r.steps, r.tasks) == ("qwen-vla-tiny", 300, ("reach-v3", "push-v3"))
    merged = r.run_overrides()
    assert merged["model.backbone.dense"] is True and merged["lr"] == 5e-4  # --set wins over the recipe's lr
    assert merged["model.camera_names"] == list(r.cameras)
    assert recipe_from_args(_demo_args()) == DemoRecipe()
    with pytest.raises(ValueError, match="hy-vla-tiny"):
        recipe_from_args(_demo_args("--preset", "hy-vla-tinny"))
    with pytest.raises(ValueError):
        DemoRecipe(steps=0)
    r = recipe_from_args(_demo_args("--env-state-weight", "0.5"))
    assert r.run_overrides()["model.env_state.weight"] == 0.5 and r.run_overrides()["model.env_state.dim"] == 6
    assert "model.env_state.weight" not in DemoRecipe(env_state_weight=0.0).run_overrides()
    with pytest.raises(ValueError, match="env_state_weight"):
        DemoRecipe(env_state_weight=-1.0)


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
