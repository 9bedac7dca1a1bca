"""Closed-form reference values used by the claims (computed from the config, never from the runs)."""
from __future__ import annotations

import numpy as np


def greedy_lockin_probability_lower_bounds(theta, prior_successes, prior_failures) -> np.ndarray:
    """Lower bound on P(greedy plays arm k for ever), per arm, for Beta(1,1) priors on every arm.

    With all posterior means equal to 1/2, greedy's first action is uniform over the K arms. If that arm
    succeeds, its posterior mean (1+s)/(2+s+f) stays above the untouched arms' 1/2 exactly while s > f, so greedy
    keeps playing it for ever if the walk s - f, started at 1 after the first success, never returns to 0.
    For theta_k > 1/2 that gambler's-ruin probability is 1 - (1 - theta_k)/theta_k, so
        P(lock on k) >= (1/K) * theta_k * (1 - (1 - theta_k)/theta_k) = (2 theta_k - 1)^+ / K.
    (Other routes to locking on k exist, hence "lower bound".)
    """
    theta = np.asarray(theta, float)
    if not (np.allclose(prior_successes, 1.0) and np.allclose(prior_failures, 1.0)):
        raise ValueError("the lock-in bound assumes Beta(1,1) priors on every arm")
    return np.clip(2.0 * theta - 1.0, 0.0, None) / len(theta)


def greedy_lockin_regret_lower_bound(cfg) -> float:
    """Lower bound on greedy's long-run expected per-period regret: sum_k P(lock on k) * (max theta - theta_k)."""
    theta = np.asarray(cfg.theta, float)
    p = greedy_lockin_probability_lower_bounds(theta, cfg.agent_prior_successes, cfg.agent_prior_failures)
    return float(np.sum(p * (theta.max() - theta)))


def greedy_best_arm_probability_upper_bound(cfg) -> float:
    """Upper bound on the probability that greedy plays the best arm late: 1 - sum over worse arms of P(lock on k)."""
    theta = np.asarray(cfg.theta, float)
    p = greedy_lockin_probability_lower_bounds(theta, cfg.agent_prior_successes, cfg.agent_prior_failures)
    worse = theta < theta.max()
    return float(1.0 - p[worse].sum())
