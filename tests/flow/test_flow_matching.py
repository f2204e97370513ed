import pytest
import torch

from hy_vla.flow import flow_matching as fm


def test_interpolation_endpoints_and_midpoint():
    noise = torch.tensor([[[1.0, -2.0]]])
    actions = torch.tensor([[[3.0, 4.0]]])
    assert torch.equal(fm.interpolate(noise, actions, torch.tensor([0.0])), noise)  # t=0 is noise
    assert torch.equal(fm.interpolate(noise, actions, torch.tensor([1.0])), actions)  # t=1 is data
    mid = fm.interpolate(noise, actions, torch.tensor([0.25]))
    assert torch.allclose(mid, torch.tensor([[[1.5, -0.5]]]))  # 0.75*noise + 0.25*actions


def test_per_step_time_broadcast():
    noise = torch.zeros(1, 2, 1)
    actions = torch.ones(1, 2, 1)
    x = fm.interpolate(noise, actions, torch.tensor([[1.0, 0.5]]))
    assert x.flatten().tolist() == [1.0, 0.5]


def test_target_velocity_and_euler_reach_data_exactly():
    noise = torch.randn(2, 3, 4)
    actions = torch.randn(2, 3, 4)
    u = fm.target_velocity(noise, actions)
    assert torch.allclose(u, actions - noise)
    # with the exact (constant) velocity, Euler integration is exact for any step count
    for n in (1, 3, 10):
        out = fm.integrate(lambda x, t: u, noise, n)
        assert torch.allclose(out, actions, atol=1e-5)
    assert torch.allclose(fm.euler_step(torch.tensor([1.0]), torch.tensor([2.0]), 0.1), torch.tensor([1.2]))


def test_integrate_visits_documented_times():
    seen = []
    fm.integrate(lambda x, t: seen.append(t) or torch.zeros_like(x), torch.zeros(1), 4)
    assert seen == [0.0, 0.25, 0.5, 0.75]
    with pytest.raises(ValueError):
        fm.euler_times(0)


def test_beta_time_sampler_statistics():
    g = torch.Generator().manual_seed(0)
    t = fm.sample_time_beta((200_000,), alpha=1.5, beta=1.0, s=0.999, generator=g)
    assert 0 <= float(t.min()) and float(t.max()) <= 0.999
    # u ~ Beta(1.5, 1) has mean 0.6, so t = 0.999 * (1 - u) has mean 0.3996
    assert abs(float(t.mean()) - 0.3996) < 0.005
    # reproducible with a generator
    a = fm.sample_time_beta((5,), generator=torch.Generator().manual_seed(1))
    b = fm.sample_time_beta((5,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_logit_normal_sampler_median():
    g = torch.Generator().manual_seed(0)
    t = fm.sample_time_logit_normal((100_000,), mean=1.0, std=0.5, generator=g)
    assert abs(float(t.median()) - float(torch.sigmoid(torch.tensor(1.0)))) < 0.01
    with pytest.raises(ValueError):
        fm.sample_time("gaussian", (3,))


def test_masked_loss_hand_computed():
    pred = torch.zeros(1, 3, 2)
    target = torch.tensor([[[1.0, 2.0], [3.0, 0.0], [5.0, 0.0]]])
    mask = torch.tensor([[[1, 1], [1, 0], [0, 0]]], dtype=torch.bool)
    # channel 0: steps 0,1 -> (1 + 9) / 2 = 5; channel 1: step 0 -> 4; mean over channels = 4.5
    assert torch.allclose(fm.masked_flow_loss(pred, target, mask), torch.tensor(4.5))
    # a sample with no active channel does not count
    pred2 = torch.zeros(2, 3, 2)
    target2 = torch.cat([target, torch.full((1, 3, 2), 100.0)])
    mask2 = torch.cat([mask, torch.zeros(1, 3, 2, dtype=torch.bool)])
    assert torch.allclose(fm.masked_flow_loss(pred2, target2, mask2), torch.tensor(4.5))
    assert torch.allclose(fm.masked_flow_loss(pred, target), (target**2).mean())
    with pytest.raises(ValueError):
        fm.masked_flow_loss(pred, target, mask[:, :2])


def test_flow_config_validation():
    with pytest.raises(ValueError):
        fm.FlowConfig(time_sampler="nope")
    with pytest.raises(ValueError):
        fm.FlowConfig(beta_s=0.0)
    t = fm.FlowConfig(time_sampler="logit_normal").sample((10,))
    assert t.shape == (10,) and float(t.min()) > 0 and float(t.max()) < 1
