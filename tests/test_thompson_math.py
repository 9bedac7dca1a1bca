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


# ---- the authors' graph, their Dijkstra's tie-breaking and their coherent update ("as run") -------------------

def _authors_dijkstra_path(g, w):
    """The authors' shortest path (src/graph/dijkstra.py, Eppstein's Dijkstra over a binary heap of (distance, node)
    pairs, with env_graph_bandit.get_shortest_path's backtracking), ported line for line onto heapq; returns edge ids."""
    import heapq
    from collections import defaultdict

    G = defaultdict(dict)
    index = {}
    for e, (s, d) in enumerate(zip(map(tuple, g.src.tolist()), map(tuple, g.dst.tolist()))):
        G[s][d] = float(w[e])
        index[s, d] = e
    start, end = (0, 0), (g.n_stages, 0)
    D, P, Q, heap = {}, {}, {start: 0}, [(0, start)]
    while Q:
        while heap[0][1] not in Q or Q[heap[0][1]] != heap[0][0]:
            heapq.heappop(heap)
        v = heap[0][1]
        D[v] = Q[v]
        if v == end:
            break
        for x in G[v]:
            length = D[v] + G[v][x]
            if x in D:
                assert not length < D[x]
            elif x not in Q or length < Q[x]:
                Q[x] = length
                heapq.heappush(heap, (length, x))
                P[x] = v
        del Q[v]
    path = [end]
    while path[-1] != start:
        path.append(P[path[-1]])
    path.reverse()
    return [index[a, b] for a, b in zip(path, path[1:])], D[end]


def _authors_all_paths(g, node=(0, 0)):
    if node == (g.n_stages, 0):
        yield []
        return
    for e in np.flatnonzero((g.src == node).all(axis=1)):
        for rest in _authors_all_paths(g, tuple(g.dst[e])):
            yield [e] + rest


def test_authors_bridge_small_instance_by_hand():
    g = bridge.make_authors_bridge(4)
    edges = list(zip(map(tuple, g.src.tolist()), map(tuple, g.dst.tolist())))
    # widths 1, 2, 3, 2, 1; the widening half is a binomial tree, the narrowing half only stays or steps y up,
    # except the top node, which steps down; numbered by node, then (x+1, y+1), (x+1, y), (x+1, y-1)
    assert g.widths == (1, 2, 3, 2, 1)
    assert edges == [((0, 0), (1, 1)), ((0, 0), (1, 0)),
                     ((1, 0), (2, 1)), ((1, 0), (2, 0)), ((1, 1), (2, 2)), ((1, 1), (2, 1)),
                     ((2, 0), (3, 1)), ((2, 0), (3, 0)), ((2, 1), (3, 1)), ((2, 2), (3, 1)),
                     ((3, 0), (4, 0)), ((3, 1), (4, 0))]
    # 5 paths (the binomial bridge has C(4, 2) = 6): 1 way to (2,0) x 2 onward, 2 ways to (2,1), 1 way to (2,2)
    assert len(list(_authors_all_paths(g))) == 5
    # the authors' "lower half": (1,1)->(2,2) (middle node, widening, y+1) and (2,2)->(3,1) (y > depth/2)
    assert [edges[e] for e in np.flatnonzero(~g.upper_half)] == [((1, 1), (2, 2)), ((2, 2), (3, 1))]


def test_authors_bridge_shape_as_reported():
    g = bridge.make_authors_bridge(20)
    assert g.n_edges == 220 and sum(g.widths) == 121  # the bridge's nodes and edges ...
    counts = {(0, 0): 1}  # ... but 10,946 paths (Fibonacci F(21)), counted forward over the DAG
    for e in sorted(range(g.n_edges), key=lambda e: tuple(g.src[e])):
        counts[tuple(g.dst[e])] = counts.get(tuple(g.dst[e]), 0) + counts[tuple(g.src[e])]
    assert counts[(20, 0)] == 10_946 and math.comb(20, 10) == 184_756
    assert (~g.upper_half).sum() == 83 and g.upper_half.sum() == 137  # the code's halves: 83 lower, 137 upper
    assert [len(list(_authors_all_paths(bridge.make_authors_bridge(n)))) for n in (2, 4, 6, 8)] == [2, 5, 13, 34]


def test_authors_shortest_paths_match_brute_force_and_the_authors_dijkstra_with_ties():
    g = bridge.make_authors_bridge(8)
    rng = np.random.default_rng(5)
    paths = np.array(list(_authors_all_paths(g)))
    w = rng.lognormal(size=(40, g.n_edges))
    _, lengths = bridge.shortest_paths(g, w)
    np.testing.assert_allclose(lengths, w[:, paths].sum(axis=2).min(axis=1))
    # many exact ties (weights from {0.5, 1, 2}): the path chosen is the authors' Dijkstra's, edge for edge
    for n_stages in (8, 20):
        g = bridge.make_authors_bridge(n_stages)
        w = rng.choice([0.5, 1.0, 2.0], size=(200, g.n_edges))
        edges, lengths = bridge.shortest_paths(g, w)
        for r in range(len(w)):
            ref, ref_len = _authors_dijkstra_path(g, w[r])
            assert edges[r].tolist() == ref and lengths[r] == ref_len


def test_greedy_tie_breaking_between_unexplored_edges_is_pinned():
    """Untouched prior: every posterior mean is exp(mu0 + sigma0^2/2) = 1 exactly, so every path ties."""
    mean = np.exp(-0.5 + 0.5 / 1.0)
    assert mean == 1.0
    b = bridge.make_bridge(20)
    edges, _ = bridge.shortest_paths(b, np.full((1, b.n_edges), mean))
    up = [e in set(b.up[b.up >= 0].tolist()) for e in edges[0]]
    assert up == [True] * 10 + [False] * 10  # binomial bridge: up whenever no longer, so H ups then H downs
    g = bridge.make_authors_bridge(20)
    edges, _ = bridge.shortest_paths(g, np.full((1, g.n_edges), mean))
    assert [tuple(g.dst[e]) for e in edges[0]] == [(x, 0) for x in range(1, 21)]  # authors: along y = 0
    # one explored edge off the tied path, shorter than 1: both take it, then break the remaining ties their way
    w = np.full((1, b.n_edges), 1.0)
    w[0, b.down[0, 0]] = 0.5
    edges, _ = bridge.shortest_paths(b, w)
    assert edges[0, 0] == b.down[0, 0] and [e in set(b.up[b.up >= 0].tolist()) for e in edges[0, 1:]] == \
        [True] * 10 + [False] * 9
    w = np.full((1, g.n_edges), 1.0)
    first_down = int(np.flatnonzero((g.src == (0, 0)).all(axis=1) & (g.dst == (1, 1)).all(axis=1))[0])
    w[0, first_down] = 0.5
    edges, _ = bridge.shortest_paths(g, w)
    assert edges[0].tolist() == _authors_dijkstra_path(g, w[0])[0]
    assert [tuple(g.dst[e]) for e in edges[0]][:3] == [(1, 1), (2, 1), (3, 1)]


def test_authors_random_paths_are_valid_and_cover_the_graph():
    g = bridge.make_authors_bridge(6)
    edges = bridge.random_paths(g, 4000, np.random.default_rng(0))
    valid = {tuple(p) for p in _authors_all_paths(g)}
    assert {tuple(p) for p in edges} <= valid and len({tuple(p) for p in edges}) == len(valid)


def test_coherent_update_exact_and_authors_by_hand():
    """Two edges in the same half, both observed, sigma_tilde = 1: noise covariance [[1, 2/3], [2/3, 1]], prior
    N(-0.5, I). Observed y = (1, e), ln y = (0, 1). Posterior precision I + N^-1 = [[2.8, -1.2], [-1.2, 2.8]],
    covariance [[0.4375, 0.1875], [0.1875, 0.4375]] for both. The authors condition on ln y: mean (-0.5, 0.25);
    the exact update on ln y + 1/2: mean (-0.3125, 0.4375)."""
    noise = np.array([[1.0, 2 / 3], [2 / 3, 1.0]])
    log_y = np.array([[0.0, 1.0]])
    for update, expected in (("authors", [-0.5, 0.25]), ("exact", [-0.3125, 0.4375])):
        mean, cov = np.full((1, 2), -0.5), np.eye(2)[None].copy()
        z = bridge.observation_of_log_theta(log_y, 1.0, update)
        bridge.kalman_update(mean, cov, np.array([[0, 1]]), z, noise)
        np.testing.assert_allclose(mean[0], expected, atol=1e-12)
        np.testing.assert_allclose(cov[0], [[0.4375, 0.1875], [0.1875, 0.4375]], atol=1e-12)


def test_as_run_keys_default_to_the_text_and_reject_unknown_values():
    cfg = bridge.BridgeConfig()
    assert (cfg.graph, cfg.coherent_update) == ("binomial_bridge", "exact")
    with pytest.raises(ValueError, match="graph must be one of"):
        bridge.make_graph(bridge.BridgeConfig(graph="bridge"))
