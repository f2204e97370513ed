"""PPO's critic (hy_vla.posttrain.value): it learns returns, and a saved critic resumes exactly."""

import torch

from hy_vla.posttrain.value import Critic


def test_the_critic_regresses_returns():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(64, 8, generator=gen)
    returns = (feats[:, 0] > 0).float()  # a value the features determine
    critic = Critic(lr=1e-2, seed=0)
    first = critic.step(feats, returns)
    for _ in range(200):
        last = critic.step(feats, returns)
    assert last < 0.1 * first


def test_a_saved_critic_continues_exactly_like_the_original(tmp_path):
    feats, returns = torch.randn(16, 6), torch.rand(16)
    a = Critic(lr=1e-2, seed=3)
    for _ in range(3):
        a.step(feats, returns)
    a.save(tmp_path, 7)
    b = Critic(lr=1e-2, seed=99)  # another seed: everything must come from the file
    b.load(tmp_path, 7)
    assert a.step(feats, returns) == b.step(feats, returns)
    assert torch.equal(a.head(feats), b.head(feats))
    assert not list(tmp_path.glob("*.pkl"))
