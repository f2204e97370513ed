import numpy as np
import pytest
import torch
from model_fixtures import micro_config

from hy_vla import HyVLA
from hy_vla.data.norm_stats import FeatureStats, NormStats
from hy_vla.policy.checkpoint_policy import CheckpointPolicy
from hy_vla.policy.protocol import PolicyLike


def _checkpoint(tmp_path, action_stride: int = 1):
    cfg = micro_config(
        camera_names=("corner2",), embodiment="metaworld_sawyer", state_dim=4, action_dim=4, action_stride=action_stride
    )
    model = HyVLA(cfg)
    emb = "metaworld_sawyer"
    model.norm_stats = NormStats(
        {
            emb: {
                "observation.state": FeatureStats(mode="mean_std", count=10, mean=[0.0, 0.6, 0.2, 0.5], std=[0.1] * 4),
                "action": FeatureStats(
                    mode="min_max", count=10, min=[-1.0, -1.0, -1.0, -1.0], max=[1.0, 1.0, 1.0, 3.0]
                ),
            }
        }
    )
    return model.save_pretrained(tmp_path / "ckpt")


def _obs(size=16, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "observation.images.corner2": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
        "observation.state": np.array([0.0, 0.6, 0.2, 0.5], dtype=np.float32),
        "prompt": "reach the goal",
    }


def test_infer_matches_the_manual_pipeline(tmp_path):
    ckpt = _checkpoint(tmp_path)
    policy = CheckpointPolicy.from_checkpoint(ckpt, seed=3)
    assert isinstance(policy, PolicyLike)
    out = policy.infer(_obs())
    actions = out["actions"]
    assert actions.shape == (policy.config.horizon, 4) and actions.dtype == np.float32
    # same thing by hand: normalize state, sample with the same seed, unnormalize
    model = HyVLA.from_pretrained(ckpt).eval()
    img = torch.from_numpy(_obs()["observation.images.corner2"]).permute(2, 0, 1)
    k = model.config.history_frames
    batch = {
        "observation.images.corner2": img.expand(k, -1, -1, -1).unsqueeze(0),
        "observation.history_is_pad": torch.tensor([[True] * (k - 1) + [False]]),
        "observation.state": torch.zeros(1, 4),  # the state equals the mean: normalizes to 0
        "task": ["reach the goal"],
    }
    pred = model.sample_actions(batch, generator=torch.Generator().manual_seed(3))[0, :, :4]
    expected = model.norm_stats.unnormalize("action", pred, "metaworld_sawyer")
    np.testing.assert_allclose(actions, expected.numpy(), atol=1e-5)
    assert policy.metadata["cameras"] == ["corner2"] and policy.metadata["fps"] == 80


def test_history_and_reset(tmp_path):
    policy = CheckpointPolicy.from_checkpoint(_checkpoint(tmp_path))
    for i in range(4):
        policy.infer(_obs(seed=i))
    assert policy.history.seen == 4
    policy.reset()
    assert policy.history.seen == 0


def test_action_stride_holds_actions(tmp_path):
    policy = CheckpointPolicy.from_checkpoint(_checkpoint(tmp_path, action_stride=3))
    a = policy.infer(_obs())["actions"]
    assert a.shape == (3 * policy.config.horizon, 4)
    np.testing.assert_array_equal(a[0], a[2])


@pytest.mark.parametrize(
    "change, match",
    [
        ({"prompt": ""}, "prompt"),
        ({"observation.state": np.zeros(3, np.float32)}, r"expected \(4,\)"),
        ({"observation.state": np.array([np.nan, 0, 0, 0], np.float32)}, "NaN"),
        ({"observation.images.corner2": np.zeros((16, 16, 3), np.float32)}, "uint8"),
        ({"observation.images.corner2": None}, "corner2"),
    ],
)
def test_bad_observation(tmp_path, change, match):
    policy = CheckpointPolicy.from_checkpoint(_checkpoint(tmp_path))
    obs = _obs()
    obs.update(change)
    if obs["observation.images.corner2"] is None:
        del obs["observation.images.corner2"]
    with pytest.raises(ValueError, match=match):
        policy.infer(obs)


def test_checkpoint_through_eval_harness(tmp_path):
    pytest.importorskip("metaworld")
    from hy_vla.eval.runner import EvalConfig, Evaluator
    from hy_vla.rollout.factories import CheckpointFactory

    ckpt = _checkpoint(tmp_path)
    cfg = EvalConfig(suite="metaworld", tasks=("reach-v3",), episodes=1, cameras=("corner2",), image_size=16,
                     max_steps=6, out=str(tmp_path / "eval"))  # fmt: skip
    report = Evaluator(cfg, progress=False, command=["test"]).run(CheckpointFactory(str(ckpt)))
    assert report["tasks"]["reach-v3"]["episodes"][0]["length"] == 6


def test_history_follows_control_steps_not_queries(tmp_path):
    """Regression: with chunks executed open-loop, the frame history only saw every n-th frame, so a
    K-frame memory encoder got frames n control steps apart instead of `history_stride` apart."""
    pytest.importorskip("metaworld")
    from hy_vla.rollout.episode import run_episode
    from hy_vla.sim.registry import make_env

    policy = CheckpointPolicy.from_checkpoint(_checkpoint(tmp_path))
    env = make_env("metaworld", "reach-v3", cameras=("corner2",), image_size=16, max_steps=9)
    with env:
        result = run_episode(env, policy, seed=0, n_action_steps=3)
    assert result.length == 9 and result.policy_calls == 3
    assert policy.history.seen == 9  # every control step's frame, not just the 3 queried ones
