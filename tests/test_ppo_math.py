"""PPO's estimators and losses against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from papers.schulman2017_ppo.ppo import PPOConfig, gae, gaussian_kl, policy_loss


def test_gae_hand_computed_without_episode_end():
    r = np.array([1.0, 0.0, 2.0])
    v = np.array([0.5, 1.0, 1.5])
    g, lam = 0.9, 0.5
    d2 = 2.0 + g * 3.0 - 1.5  # bootstraps from last_value = 3
    d1 = 0.0 + g * 1.5 - 1.0
    d0 = 1.0 + g * 1.0 - 0.5
    expected = [d0 + g * lam * (d1 + g * lam * d2), d1 + g * lam * d2, d2]
    np.testing.assert_allclose(gae(r, v, np.zeros(3, bool), 3.0, g, lam), expected)


def test_gae_stops_at_an_episode_end():
    r = np.array([1.0, 1.0, 1.0, 1.0])
    v = np.array([0.0, 2.0, 4.0, 8.0])
    ends = np.array([False, True, False, False])
    g, lam = 0.99, 0.95
    a = gae(r, v, ends, 10.0, g, lam)
    # step 1 ended its episode: delta_1 = r - V(s_1), nothing flows back from step 2
    assert a[1] == pytest.approx(1.0 - 2.0)
    assert a[0] == pytest.approx((1.0 + g * 2.0 - 0.0) + g * lam * a[1])
    assert a[3] == pytest.approx(1.0 + g * 10.0 - 8.0)
    assert a[2] == pytest.approx((1.0 + g * 8.0 - 4.0) + g * lam * a[3])


def test_truncation_bootstrap_differs_from_termination():
    """A time-limit end with bootstrapping folds gamma V(s_final) into the reward; a termination does not."""
    g, lam, v_final = 0.99, 0.95, 5.0
    r = np.array([1.0, 1.0])
    v = np.array([2.0, 3.0])
    ends = np.array([False, True])
    terminated = gae(r, v, ends, 0.0, g, lam)
    truncated = gae(r + np.array([0.0, g * v_final]), v, ends, 0.0, g, lam)
    assert terminated[1] == pytest.approx(1.0 - 3.0)
    assert truncated[1] == pytest.approx(1.0 + g * v_final - 3.0)
    assert truncated[0] - terminated[0] == pytest.approx(g * lam * g * v_final)


def test_clipped_surrogate_hand_values():
    cfg = PPOConfig(objective="clip")
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.7])
    adv = torch.tensor([2.0, 2.0, -1.0, -1.0])
    # min(r A, clip(r, 0.8, 1.2) A): 1.5*2 vs 1.2*2 -> 2.4; 0.5*2 vs 0.8*2 -> 1.0; -1.1 vs -1.1 -> -1.1; -0.7 vs -0.8 -> -0.8
    expected = -(2.4 + 1.0 - 1.1 - 0.8) / 4
    assert policy_loss(cfg, ratio, adv, None, 0.2, 1.0).item() == pytest.approx(expected)
    assert policy_loss(PPOConfig(objective="none"), ratio, adv, None, 0.2, 1.0).item() == pytest.approx(
        -(3.0 + 1.0 - 1.1 - 0.7) / 4)


def test_kl_penalty_and_gaussian_kl_hand_values():
    m0, s0 = torch.tensor([[0.0, 1.0]]), torch.log(torch.tensor([1.0, 2.0]))
    m1, s1 = torch.tensor([[1.0, 1.0]]), torch.log(torch.tensor([1.0, 1.0]))
    # dim 1: 0 + (1 + 1)/2 - 1/2 = 0.5; dim 2: log(1/2) + 4/2 - 1/2 = 1.5 - log 2
    kl = gaussian_kl(m0, s0, m1, s1)
    assert kl.item() == pytest.approx(0.5 + 1.5 - math.log(2))
    assert gaussian_kl(m0, s0, m0, s0).item() == pytest.approx(0.0, abs=1e-7)
    cfg = PPOConfig(objective="fixed_kl")
    ratio, adv = torch.tensor([1.2]), torch.tensor([3.0])
    assert policy_loss(cfg, ratio, adv, kl, 0.2, 0.5).item() == pytest.approx(-(3.6 - 0.5 * kl.item()))
