"""Rollouts store exactly the chains the update scores (hy_vla.posttrain.rollouts / records / updates)."""

import numpy as np
import pytest
import torch
from model_fixtures import micro_config

from hy_vla import HyVLA, keys
from hy_vla.policy.protocol import PROMPT_KEY
from hy_vla.posttrain.config import PostTrainConfig
from hy_vla.posttrain.records import EpisodeRollout, collate_chains
from hy_vla.posttrain.rollouts import RecordingPolicy
from hy_vla.posttrain.updates import Updater


def _obs(cfg, rng):
    obs = {k: rng.integers(0, 255, (cfg.image_size, cfg.image_size, 3), dtype=np.uint8) for k in cfg.image_keys}
    obs[keys.STATE] = rng.standard_normal(cfg.state_dim).astype(np.float32)
    obs[PROMPT_KEY] = "pick up the cube"
    return obs


def _policy(sigma=0.2):
    torch.manual_seed(0)
    cfg = micro_config(
        camera_names=("corner2",), embodiment="metaworld_sawyer", state_dim=4, action_dim=4, history_frames=1
    )
    model = HyVLA(cfg).eval()
    policy = RecordingPolicy(model, sigma=sigma, control_steps=3)
    return model, policy


def test_records_hold_the_sampled_chain_and_its_density():
    model, policy = _policy()
    rng = np.random.default_rng(0)
    policy.start(noise_seed=5)
    outs = [policy.infer(_obs(model.config, rng)) for _ in range(3)]
    assert [r.step for r in policy.records] == [0, 3, 6]
    cfg = model.config
    for out, rec in zip(outs, policy.records, strict=True):
        assert rec.states.shape == (cfg.num_inference_steps + 1, 1, cfg.horizon, cfg.max_action_dim)
        assert rec.executed_steps(cfg) == 3 and rec.mask[0, 3:].sum() == 0
        assert out["actions"].shape == (cfg.horizon, cfg.action_dim)
    # the update's recomputation reproduces the rollout's log-probabilities: PPO's ratio is exactly 1 at first
    pcfg = PostTrainConfig(checkpoint="x", tasks=("reach-v3",), out="x", sigma=0.2)
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=0.0), pcfg)
    batch, states, mask, old = collate_chains(policy.records)
    with torch.no_grad():
        logp, _ = updater.chain_log_probs(model, batch, states, mask)
    assert torch.allclose(logp, old, atol=1e-3)
    assert torch.exp(logp - old).sub(1).abs().max() < 1e-3


def test_the_same_noise_seed_repeats_an_episode_and_another_changes_it():
    model, policy = _policy()
    obs = _obs(model.config, np.random.default_rng(1))
    policy.start(noise_seed=7)
    a = policy.infer(obs)["actions"]
    policy.start(noise_seed=7)
    assert np.array_equal(policy.infer(obs)["actions"], a)
    policy.start(noise_seed=8)
    assert not np.allclose(policy.infer(obs)["actions"], a)


def test_grpo_update_moves_the_policy_toward_the_successful_rollout():
    """Two rollouts of one layout, one success: after updates its chunk is likelier, the failed one's less."""
    model, policy = _policy(sigma=0.3)
    obs = _obs(model.config, np.random.default_rng(2))
    episodes = []
    for r, success in enumerate((True, False)):
        policy.start(noise_seed=100 + r)
        policy.infer(obs)
        episodes.append(EpisodeRollout("reach-v3", 0, r, success, 3, float(success), np.zeros((3, 4), np.float32),
                                       list(policy.records)))  # fmt: skip
    pcfg = PostTrainConfig(checkpoint="x", tasks=("reach-v3",), out="x", sigma=0.3, epochs=10, clip=0.5)
    updater = Updater(model, torch.optim.Adam(model.parameters(), lr=1e-3), pcfg)

    def logps() -> torch.Tensor:
        batch, states, mask, _ = collate_chains([e.records[0] for e in episodes])
        with torch.no_grad():
            return updater.chain_log_probs(model, batch, states, mask)[0].sum(dim=1)

    before = logps()
    metrics = updater.grpo(episodes, torch.Generator().manual_seed(0))
    after = logps()
    assert metrics["chunks"] == 2 and updater.steps == 10
    assert after[0] > before[0] and after[1] < before[1]


def test_a_group_without_contrast_gives_no_update():
    model, policy = _policy()
    policy.start(noise_seed=1)
    policy.infer(_obs(model.config, np.random.default_rng(3)))
    eps = [EpisodeRollout("reach-v3", 0, r, False, 3, 0.0, np.zeros((3, 4), np.float32), list(policy.records))
           for r in range(2)]  # fmt: skip
    pcfg = PostTrainConfig(checkpoint="x", tasks=("reach-v3",), out="x")
    updater = Updater(model, torch.optim.SGD(model.parameters(), lr=1.0), pcfg)
    assert updater.grpo(eps, torch.Generator())["chunks"] == 0 and updater.steps == 0


@pytest.mark.parametrize(
    ("change", "match"),
    [({"method": "ppo2"}, "unknown method"), ({"tasks": ("reach-v9",)}, "reach"), ({"group": 1}, "group >= 2"),
     ({"train_seed": 10}, "overlaps the evaluation seeds"), ({"sigma": 0.0}, "sigma")],
)  # fmt: skip
def test_bad_settings_are_refused_with_one_line(change, match):
    base = {"checkpoint": "x", "tasks": ("reach-v3",), "out": "x", "method": "grpo"}
    with pytest.raises(ValueError, match=match):
        PostTrainConfig(**{**base, **change})


def test_unset_settings_take_their_methods_values_and_explicit_ones_win(tmp_path):
    from hy_vla.posttrain.config import METHOD_DEFAULTS

    base = {"checkpoint": "x", "tasks": ("reach-v3",), "out": str(tmp_path)}
    assert PostTrainConfig(**base).method == "dagger"
    for method, values in METHOD_DEFAULTS.items():
        cfg = PostTrainConfig(**base, method=method)
        assert {k: getattr(cfg, k) for k in values} == values
    cfg = PostTrainConfig(**base, method="grpo", sigma=0.2, layouts=5)
    assert (cfg.sigma, cfg.layouts, cfg.lr) == (0.2, 5, METHOD_DEFAULTS["grpo"]["lr"])
    cfg.save(tmp_path)
    assert PostTrainConfig.load(tmp_path) == cfg  # saved resolved: a resume compares like with like
