"""Reward-weighted regression (RWR) of a diagonal-Gaussian MLP policy: each iteration refits the policy by weighted
maximum likelihood to the actions it took, each weighted by a non-negative transform of its return,

    theta_new = argmax_theta  (1/N) sum_i w_i log pi_theta(a_i | s_i)                 (the M-step of RWR)

the episodic form of Peters and Schaal (2007) by Kober and Peters (2009), with Q_i the discounted return from step
i on (TRPO Sec. 5.1's single-path estimate). TRPO 2015 names RWR only in Figure 4's legends and states no setting;
these follow rllab's `ERWR` (rllab/algos/erwr.py, Duan, Chen, Houthooft, Schulman, Abbeel 2016): the returns
standardized and shifted to be positive (w = z - min z + 1e-8, z = (Q - mean Q) / (std Q + 1e-8): rllab's
`center_adv` and `positive_adv`), and the weighted log-likelihood maximized by L-BFGS (scipy's, rllab's
`LbfgsOptimizer`, 20 iterations) from the current parameters, the mean network and the log standard deviations
together.
"""
from __future__ import annotations

import numpy as np

from common.rl.npmlp import Params, mlp_backward, mlp_forward
from .distributions import gaussian_log_prob


def rwr_weights(q: np.ndarray) -> np.ndarray:
    """w = z - min z + 1e-8 with z = (Q - mean Q) / (std Q + 1e-8) (rllab: center_adv, then positive_adv)."""
    q = np.asarray(q, float)
    z = (q - q.mean()) / (q.std() + 1e-8)
    return z - z.min() + 1e-8


def weighted_log_likelihood(p: Params, prefix: str, layers: int, log_std: str, x: np.ndarray, act: np.ndarray,
                            weights: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """(1/N) sum_i w_i log pi_theta(a_i|s_i) and its gradient in theta (p's layout; p.flat is set to theta).
    With z = a - mean(s), sigma = exp(r): d log pi / d mean = z / sigma^2; d log pi / d r = z^2 / sigma^2 - 1."""
    p.flat[...] = theta
    mean, inputs = mlp_forward(p, prefix, layers, x)
    var = np.exp(2 * p[log_std])
    z = act - mean
    w = (weights / len(weights))[:, None]
    value = float((weights * gaussian_log_prob(mean, p[log_std], act)).mean())
    p.grad[...] = 0.0
    mlp_backward(p, prefix, layers, inputs, w * z / var)
    p.g(log_std)[...] = (w * (z * z / var - 1.0)).sum(0)
    return value, p.grad.copy()


def weighted_gaussian_mle(p: Params, prefix: str, layers: int, log_std: str, x: np.ndarray, act: np.ndarray,
                          weights: np.ndarray, max_iters: int = 20) -> tuple[np.ndarray, float, float]:
    """Maximize the weighted log-likelihood by L-BFGS (scipy L-BFGS-B, at most `max_iters` iterations) from the
    parameters in p.flat; leaves the result in p.flat. Returns (theta, objective before, objective after)."""
    from scipy.optimize import minimize

    theta0 = p.flat.copy()

    def loss(theta):
        value, grad = weighted_log_likelihood(p, prefix, layers, log_std, x, act, weights, theta)
        return -value, -grad

    before = -loss(theta0)[0]
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": int(max_iters)})
    theta = result.x if -result.fun >= before else theta0  # never worse than where it started
    after = -loss(theta)[0]  # also leaves p.flat at theta
    return theta.copy(), before, after
