"""Post-training objectives (hy_vla.posttrain.losses) on hand-made values."""

import pytest
import torch

from hy_vla.posttrain.losses import gae, group_advantages, ppo_clip_loss, preference_loss


def test_group_relative_advantages_on_a_hand_made_trajectory_set():
    # layout 0: one success of three rollouts; layout 1: all fail (no signal); layout 2: two of two succeed
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    groups = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    adv = group_advantages(rewards, groups)
    std = (2 / 9) ** 0.5  # population std of (1, 0, 0)
    want = [(1 - 1 / 3) / std, -1 / 3 / std, -1 / 3 / std, 0, 0, 0, 0]
    assert adv.tolist() == pytest.approx(want, rel=1e-4, abs=1e-6)
    assert adv[:3].sum().item() == pytest.approx(0.0, abs=1e-5)  # zero-mean within a group


def test_ppo_ratio_one_gives_the_plain_policy_gradient_objective():
    logp = torch.tensor([[-1.0, -2.0], [-0.5, -0.1]], requires_grad=True)
    adv = torch.tensor([2.0, -1.0])
    loss, clip_frac = ppo_clip_loss(logp, logp.detach().clone(), adv, clip=0.2)
    assert loss.item() == pytest.approx(-(2 + 2 - 1 - 1) / 4) and clip_frac.item() == 0.0
    loss.backward()  # d/dlogp of -ratio*A/4 at ratio 1 = -A/4
    assert logp.grad.flatten().tolist() == pytest.approx([-0.5, -0.5, 0.25, 0.25])


def test_ppo_clips_ratios_that_moved_too_far_in_the_advantage_direction():
    old = torch.zeros(1, 1)
    up = torch.log(torch.tensor([[1.5]])).requires_grad_(True)  # ratio 1.5 with a positive advantage: clipped
    loss, clip_frac = ppo_clip_loss(up, old, torch.tensor([1.0]), clip=0.2)
    assert loss.item() == pytest.approx(-1.2) and clip_frac.item() == 1.0
    loss.backward()
    assert up.grad.item() == 0.0  # no push beyond the trust region
    down = torch.log(torch.tensor([[1.5]])).requires_grad_(True)  # same ratio, negative advantage: not clipped
    loss, _ = ppo_clip_loss(down, old, torch.tensor([-1.0]), clip=0.2)
    assert loss.item() == pytest.approx(1.5)
    loss.backward()
    assert down.grad.item() > 0  # descending lowers the bad chunk's probability


def test_preference_loss_prefers_lowering_the_winners_flow_loss():
    lw, ll = torch.tensor([0.5], requires_grad=True), torch.tensor([0.5], requires_grad=True)
    ref = torch.tensor([0.5])
    loss, acc = preference_loss(lw, ref, ll, ref, beta=2.0, prox=0.0)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(2.0)).item())  # -log sigmoid(0)
    assert acc.item() == 0.0  # a tie is not a win
    loss.backward()
    assert lw.grad.item() > 0 and ll.grad.item() < 0  # descend: winner's loss down, loser's loss up
    assert lw.grad.item() == pytest.approx(-ll.grad.item())
    # once the winner is more likely than under the reference, the loss is lower and the pair counts as won
    better, acc = preference_loss(torch.tensor([0.3]), ref, torch.tensor([0.7]), ref, beta=2.0, prox=0.0)
    assert better.item() < loss.item() and acc.item() == 1.0


def test_the_proximal_term_pulls_both_losses_back_to_the_reference():
    lw, ll = torch.tensor([0.1], requires_grad=True), torch.tensor([2.0], requires_grad=True)
    ref = torch.tensor([0.5])
    loss, _ = preference_loss(lw, ref, ll, ref, beta=0.0, prox=1.0)  # beta 0: only the proximal term acts
    loss.backward()
    assert lw.grad.item() < 0 and ll.grad.item() > 0  # both towards 0.5


def test_gae_on_a_hand_made_episode():
    rewards, values = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.5, 0.6, 0.7])
    adv, ret = gae(rewards, values, gamma=0.9, lam=0.8)
    # delta = (0.9*0.6-0.5, 0.9*0.7-0.6, 1-0.7); A_t = delta_t + 0.72 * A_{t+1}
    assert torch.allclose(adv, torch.tensor([0.04 + 0.72 * 0.246, 0.03 + 0.72 * 0.3, 0.3]))
    assert torch.allclose(ret, adv + values)
    _, mc = gae(rewards, values, gamma=0.9, lam=1.0)  # lambda 1: the discounted Monte Carlo return
    assert torch.allclose(mc, torch.tensor([0.81, 0.9, 1.0]))
