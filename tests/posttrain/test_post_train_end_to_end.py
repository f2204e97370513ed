"""`hy-vla post-train` end to end at toy scale: a tiny Meta-World run, two iterations, resume, bad input."""

import json

import pytest
import torch
from safetensors.torch import load_file

from hy_vla.cli.main import main
from hy_vla.posttrain.config import PostTrainConfig
from hy_vla.posttrain.loop import post_train

pytest.importorskip("metaworld")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> str:
    """The debug preset trained for a few steps on two scripted reach-v3 demonstrations (a real training run)."""
    from hy_vla.demo.pipeline import run_demo
    from hy_vla.demo.recipe import DemoRecipe
    from hy_vla.training.checkpointing import latest_checkpoint

    root = tmp_path_factory.mktemp("tiny")
    recipe = DemoRecipe(tasks=("reach-v3",), demos_per_task=2, steps=3, eval_episodes=1, max_steps=12, videos=0,
                        workers=0, preset="debug", render_size=32, overrides={"batch_size": 4})  # fmt: skip
    run_demo(recipe, root / "demo")
    return str(latest_checkpoint(root / "demo" / "train"))


def _cfg(checkpoint: str, out, **changes) -> PostTrainConfig:
    base = dict(checkpoint=checkpoint, tasks=("reach-v3",), out=str(out), method="grpo", iterations=2, layouts=1,
                group=2, eval_episodes=1, workers=0, max_steps=12, image_size=32, n_action_steps=4, save_every=1,
                lr=1e-3, sigma=0.3, shaped_reward=True, minibatch=4)  # fmt: skip
    return PostTrainConfig(**{**base, **changes})


def test_grpo_runs_saves_loadable_checkpoints_and_resumes_identically(tiny_checkpoint, tmp_path):
    from hy_vla.policy.checkpoint_policy import CheckpointPolicy

    report = post_train(_cfg(tiny_checkpoint, tmp_path / "a"), progress=False)
    assert report["compute"]["iterations"] == 2 and report["compute"]["rollout_episodes"] == 4
    assert report["compute"]["optimizer_steps"] > 0  # the shaped reward always separates a group's rollouts
    assert {"before", "after", "lift"} <= set(report) and len(report["before"]["overall"]["ci95"]) == 2
    rows = [json.loads(x) for x in (tmp_path / "a" / "history.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2] and all("kl_ref" in r and "clip_frac" in r for r in rows)
    assert list((tmp_path / "a" / "tb").iterdir())
    final = tmp_path / "a" / "checkpoints" / "2"
    CheckpointPolicy.from_checkpoint(final)  # what eval and serve load
    start = load_file(str(tmp_path / "a" / ".rollout-policy" / "model.safetensors"))
    moved = load_file(str(final / "model.safetensors"))
    assert any(not torch.equal(start[k], moved[k]) for k in start)
    # a run stopped after iteration 1, then the same command again: the same weights as the uninterrupted run
    post_train(_cfg(tiny_checkpoint, tmp_path / "b", iterations=1), progress=False)
    again = post_train(_cfg(tiny_checkpoint, tmp_path / "b"), progress=False)
    assert again["compute"]["iterations"] == 2
    resumed = load_file(str(tmp_path / "b" / "checkpoints" / "2" / "model.safetensors"))
    assert all(torch.equal(moved[k], resumed[k]) for k in moved)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ppo", "rft", "pref", "dagger", "sft"])
def test_every_method_completes_an_iteration(tiny_checkpoint, tmp_path, method):
    report = post_train(_cfg(tiny_checkpoint, tmp_path, method=method, iterations=1, steps_per_iteration=2),
                        progress=False)  # fmt: skip
    assert report["compute"]["iterations"] == 1
    row = json.loads((tmp_path / "history.jsonl").read_text().splitlines()[0])
    if method == "ppo":
        assert "value_loss" in row and "explained_variance" in row
    else:
        assert ("pairs" in row) if method == "pref" else ("demo_loss" in row or "rollout_loss" in row)
    if method == "sft":
        assert row["optimizer_steps"] == 2 and "rollout_episodes" not in row


def test_command_line_bad_input_is_one_line(tiny_checkpoint, tmp_path, capsys):
    args = ["post-train", "--checkpoint", tiny_checkpoint, "--out", str(tmp_path / "x")]
    assert main([*args, "--tasks", "reach-v9"]) == 2
    assert "reach-v3" in capsys.readouterr().err  # a suggestion
    assert main([*args, "--tasks", "insertion", "--env", "aloha"]) == 2  # a Meta-World checkpoint in ALOHA
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "camera" in err
    assert not (tmp_path / "x").exists()  # a refused command leaves no run folder
    with pytest.raises(SystemExit) as e:
        main([*args, "--tasks", "reach-v3", "--method", "ppo9"])
    assert e.value.code == 2


def test_a_run_folder_with_other_settings_is_refused(tiny_checkpoint, tmp_path):
    post_train(_cfg(tiny_checkpoint, tmp_path, iterations=1, method="sft", steps_per_iteration=1), progress=False)
    with pytest.raises(ValueError, match="other settings"):
        post_train(_cfg(tiny_checkpoint, tmp_path, iterations=1, method="rft"), progress=False)


@pytest.mark.slow
def test_offline_preference_collects_once_then_trains_without_rollouts(tiny_checkpoint, tmp_path):
    from hy_vla.posttrain.pairs import load_pairs

    cfg = _cfg(tiny_checkpoint, tmp_path, method="pref", pref_offline=True, iterations=2, steps_per_iteration=2,
               layouts=2, max_steps=150, eval_episodes=1)  # fmt: skip
    post_train(cfg, progress=False)  # the barely trained policy fails reach-v3; the expert recovers from early calls
    rows = [json.loads(x) for x in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert "rollout_episodes" in rows[0] and "rollout_episodes" not in rows[1]
    assert rows[1]["pairs"] == rows[0]["pairs"] > 0
    pairs = load_pairs(tmp_path / "pairs")
    win, lose = pairs[0]
    assert set(win) == set(lose) and win["task"] == lose["task"]
    assert torch.equal(win["observation.state"], lose["observation.state"])  # one observation, two chunks


@pytest.mark.slow
def test_dagger_aggregates_corrections_and_resumes_identically(tiny_checkpoint, tmp_path):
    import shutil

    from hy_vla.posttrain.sample_store import load_batches

    def cfg(out, iterations):
        return _cfg(tiny_checkpoint, out, method="dagger", iterations=iterations, steps_per_iteration=2, layouts=2,
                    group=1, sigma=0.0, max_steps=150, takeovers=2)  # fmt: skip

    post_train(cfg(tmp_path / "a", 2), progress=False)  # the barely trained policy fails; the expert recovers
    rows = [json.loads(x) for x in (tmp_path / "a" / "history.jsonl").read_text().splitlines()]
    assert rows[0]["corrections"] > 0 and rows[1]["rollout_samples"] == rows[0]["corrections"] + rows[1]["corrections"]
    first = load_batches(tmp_path / "a" / "corrections" / "00000")
    assert len(first) == rows[0]["corrections"]
    assert all(b["observation.state"].shape == (1, 4) and b["action"].shape[0] == 1 for b in first)
    assert all(not b["action_is_pad"][0, 0] for b in first)  # the expert's first action is a real target
    # stopped after iteration 1, with a stale file of an iteration past the checkpoint: the resume drops it and
    # reaches the uninterrupted run's weights
    post_train(cfg(tmp_path / "b", 1), progress=False)
    for ext in ("json", "safetensors"):
        shutil.copy(tmp_path / "b" / "corrections" / f"00000.{ext}", tmp_path / "b" / "corrections" / f"00001.{ext}")
    post_train(cfg(tmp_path / "b", 2), progress=False)
    a = load_file(str(tmp_path / "a" / "checkpoints" / "2" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoints" / "2" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ppo_resumes_with_its_critic_identically(tiny_checkpoint, tmp_path):
    def cfg(out, iterations):
        return _cfg(tiny_checkpoint, out, method="ppo", iterations=iterations, layouts=2, group=1)

    post_train(cfg(tmp_path / "a", 2), progress=False)
    assert sorted(p.name for p in (tmp_path / "a" / "value").iterdir()) == [
        "00001.json", "00001.safetensors", "00002.json", "00002.safetensors"]  # fmt: skip
    post_train(cfg(tmp_path / "b", 1), progress=False)
    post_train(cfg(tmp_path / "b", 2), progress=False)
    for f in ("checkpoints/2/model.safetensors", "value/00002.safetensors"):
        a, b = load_file(str(tmp_path / "a" / f)), load_file(str(tmp_path / "b" / f))
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a), f
