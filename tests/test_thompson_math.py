"""Posterior updates against closed forms, the bridge's shortest paths against brute force, closed-form bounds."""
import itertools
import math

import numpy as np
import pytest

from papers.russo2017_thompson import analytic, bridge
from papers.russo2017_thompson.bandits import beta_update
from papers.russo2017_thompson.common_sim import random_argmax


def test_beta_update_conjugate_counts():
    alpha = np.ones((2, 3))
    beta = np.ones((2, 3))
    prior = np.ones(3)
    # replication 0 pulls arm 2 (success), then arm 2 (failure), then arm 0 (success); replication 1 pulls arm 1 x3
    for a, r in [([2, 1], [1, 0]), ([2, 1], [0, 0]), ([0, 1], [1, 1])]:
        beta_update(alpha, beta, np.array(a), np.array(r, float), 0.0, prior, prior)
    np.testing.assert_array_equal(alpha, [[2, 1, 2], [1, 2, 1]])
    np.testing.assert_array_equal(beta, [[1, 1, 2], [1, 3, 1]])
    # posterior mean of Beta(2, 2) is 1/2, of Beta(2, 1) is 2/3
    assert alpha[0, 2] / (alpha[0, 2] + beta[0, 2]) == 0.5


def test_beta_update_with_forgetting_matches_hand_computation():
    g = 0.1
    alpha = np.array([[3.0, 1.0]])
    beta = np.array([[2.0, 5.0]])
    beta_update(alpha, beta, np.array([0]), np.array([1.0]), g, np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    # decay: 3*0.9 + 0.1 = 2.8, then +1 success; 1*0.9+0.1 = 1; beta: 2*0.9+0.1 = 1.9; 5*0.9+0.1 = 4.6
    np.testing.assert_allclose(alpha, [[3.8, 1.0]])
    np.testing.assert_allclose(beta, [[1.9, 4.6]])


def test_independent_gaussian_update_equals_batch_posterior():
    rng = np.random.default_rng(0)
    E, n_obs, mu0, s0, s = 4, 7, -0.5, 1.0, 1.3
    mean = np.full((1, E), mu0)
    prec = np.full((1, E), 1 / s0**2)
    zs = rng.normal(size=(n_obs, 2))
    for z in zs:  # edges 1 and 3 observed every time
        bridge.independent_update(mean, prec, np.array([[1, 3]]), z[None, :], s**2)
    post_prec = 1 / s0**2 + n_obs / s**2  # closed form: precisions add
    post_mean = (mu0 / s0**2 + zs.sum(axis=0) / s**2) / post_prec
    np.testing.assert_allclose(prec[0, [1, 3]], post_prec)
    np.testing.assert_allclose(mean[0, [1, 3]], post_mean)
    np.testing.assert_allclose(mean[0, [0, 2]], mu0)  # untouched edges keep the prior


def test_kalman_update_equals_information_form():
    """Sequential correlated updates equal the batch posterior: precision = P0 + sum A' Sigma^-1 A."""
    b = bridge.make_bridge(4)
    cfg = bridge.BridgeConfig(n_stages=4, correlated=True, sigma_tilde=0.8)
    E = b.n_edges
    noise = bridge.noise_covariance(b, cfg)
    rng = np.random.default_rng(1)
    mean = np.full((1, E), -0.5)
    cov = np.eye(E)[None] * 1.0
    info = np.eye(E)
    eta = info @ np.full(E, -0.5)
    for _ in range(5):
        edges, _ = bridge.shortest_paths(b, rng.random((1, E)))
        z = rng.normal(size=(1, edges.shape[1]))
        bridge.kalman_update(mean, cov, edges, z, noise)
        A = np.zeros((edges.shape[1], E))
        A[np.arange(edges.shape[1]), edges[0]] = 1
        Sinv = np.linalg.inv(noise[np.ix_(edges[0], edges[0])])
        info += A.T @ Sinv @ A
        eta += A.T @ Sinv @ z[0]
    np.testing.assert_allclose(cov[0], np.linalg.inv(info), atol=1e-10)
    np.testing.assert_allclose(mean[0], np.linalg.solve(info, eta), atol=1e-10)


def _all_paths(b):
    H = b.H
    for ups in itertools.combinations(range(2 * H), H):
        u = d = 0
        edges = []
        for step in range(2 * H):
            if step in ups:
                edges.append(b.up[u, d]); u += 1
            else:
                edges.append(b.down[u, d]); d += 1
        yield edges


def test_bridge_shape_matches_the_paper():
    b = bridge.make_bridge(20)
    assert b.n_edges == 220
    assert math.comb(20, 10) == 184_756
    assert b.upper_half.sum() == 110  # the midline splits the edges in two equal halves
    b6 = bridge.make_bridge(6)
    assert len(list(_all_paths(b6))) == math.comb(6, 3)


def test_shortest_path_dp_matches_brute_force():
    b = bridge.make_bridge(6)
    rng = np.random.default_rng(3)
    w = rng.lognormal(size=(50, b.n_edges))
    edges, lengths = bridge.shortest_paths(b, w)
    paths = np.array(list(_all_paths(b)))
    brute = w[:, paths].sum(axis=2)  # (R, n_paths)
    np.testing.assert_allclose(lengths, brute.min(axis=1))
    np.testing.assert_allclose(bridge.path_lengths(w, edges), brute.min(axis=1))
    assert all(len(set(e)) == 6 for e in edges)


def test_random_paths_are_valid_and_cover_the_bridge():
    b = bridge.make_bridge(6)
    edges = bridge.random_paths(b, 4000, np.random.default_rng(0))
    valid = {tuple(p) for p in _all_paths(b)}
    assert {tuple(p) for p in edges} <= valid
    assert len({tuple(p) for p in edges}) == len(valid)


def test_noise_factors_are_mean_one():
    b = bridge.make_bridge(20)
    for correlated in (False, True):
        cfg = bridge.BridgeConfig(correlated=correlated)
        f = np.exp(bridge.noise_log_factors(b, cfg, 20000, np.random.default_rng(0)))
        assert abs(f.mean() - 1.0) < 0.02  # E[y_e | theta_e] = theta_e
        logf = bridge.noise_log_factors(b, cfg, 20000, np.random.default_rng(1))
        np.testing.assert_allclose(np.cov(logf[:, :5].T), bridge.noise_covariance(b, cfg)[:5, :5], atol=0.05)


def test_random_argmax_breaks_ties_uniformly_and_respects_a_unique_max():
    rng = np.random.default_rng(0)
    ties = random_argmax(np.full((30000, 3), 0.5), rng)
    np.testing.assert_allclose(np.bincount(ties) / 30000, [1 / 3] * 3, atol=0.015)
    assert (random_argmax(np.array([[0.1, 0.9, 0.9], [0.3, 0.2, 0.1]]), rng)[1] == 0)


def test_greedy_lockin_bounds_hand_values():
    from types import SimpleNamespace

    cfg = SimpleNamespace(theta=[0.9, 0.8, 0.7], agent_prior_successes=[1, 1, 1], agent_prior_failures=[1, 1, 1])
    # P(lock on 0.8) >= (2*0.8-1)/3 = 0.2, P(lock on 0.7) >= 0.4/3; regret >= 0.2*0.1 + 0.4/3*0.2
    assert analytic.greedy_lockin_regret_lower_bound(cfg) == pytest.approx(0.02 + 0.08 / 3)
    assert analytic.greedy_best_arm_probability_upper_bound(cfg) == pytest.approx(1 - 0.2 - 0.4 / 3)
    bad = SimpleNamespace(**{**vars(cfg), "agent_prior_successes": [2, 1, 1]})
    with pytest.raises(ValueError):
        analytic.greedy_lockin_regret_lower_bound(bad)
