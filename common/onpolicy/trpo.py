"""The TRPO policy step and the value function's trust-region step, written once for the papers that use them.

TRPO's step (Schulman et al. 2015, Sec. 6 and Appendix C), for a policy pi_theta whose distribution parameters are
the output of an MLP (`common.rl.npmlp`, tanh hidden layers, linear output):

    maximize_theta  L(theta) = 1/N sum_n  pi_theta(a_n|s_n) / pi_old(a_n|s_n)  A_n                (eq. 14)
    subject to      KL_bar(theta) = 1/N sum_n  D_KL(pi_old(.|s_n) || pi_theta(.|s_n))  <=  delta

  1. g = grad L at theta_old = 1/N sum_n A_n grad log pi_theta(a_n|s_n)   (the ratio is 1 at theta_old)
  2. s ~ A^{-1} g by k steps of conjugate gradient, A v the Fisher-vector product, A the Hessian of KL_bar at
     theta_old computed analytically as J^T M J (Appendix C.1), optionally on a subset of the rows, plus damping v
  3. the maximal step beta s, beta = sqrt(2 delta / s^T A s): its quadratic KL model equals delta    (Appendix C)
  4. backtracking line search from beta s: shrink exponentially until L improves on L(theta_old) and KL_bar is at
     most the accepted bound (delta, or e.g. 1.5 delta as OpenAI baselines' trpo_mpi accepts)        (Appendix C)

Two policy families (`dist`):
  - "gaussian": a diagonal Gaussian, mean = MLP(s), a state-independent log std (a parameter of the same Params);
    d log pi / d mean = (a - mean) / sigma^2, d log pi / d log sigma = (a - mean)^2 / sigma^2 - 1;
  - "categorical": logits = MLP(s), integer actions; d log pi(a) / d logits = onehot(a) - p.

The value function's trust region (Schulman et al. 2016, GAE, eq. 30): `fit_value_trust_region`.
"""
from __future__ import annotations

import math

import numpy as np

from common.platform.finite import check_finite
from common.rl.npmlp import Params, mlp_backward, mlp_forward, tanh_derivatives

from .distributions import categorical_kl, categorical_log_prob, gaussian_kl, gaussian_log_prob, softmax
from .natural import (LineSearchResult, categorical_fvp, conjugate_gradient, gaussian_fvp, line_search, max_step,
                      regression_gnvp)

DISTRIBUTIONS = ("gaussian", "categorical")


def random_rows(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray | None:
    """The rows of a batch of n on which the Fisher- (or Gauss-Newton-) vector products are computed: a random
    `fraction` of them, ceil(fraction n) drawn without replacement from `rng`, sorted (TRPO used 10%, Appendix C.1);
    None (every row, nothing drawn from `rng`) at fraction 1."""
    if fraction >= 1.0:
        return None
    return np.sort(rng.choice(n, size=max(1, int(math.ceil(fraction * n))), replace=False))


def trpo_step(p: Params, prefix: str, layers: int, x: np.ndarray, act: np.ndarray, adv: np.ndarray, *,
              dist: str, max_kl: float, cg_iters: int = 10, cg_damping: float = 1e-3,
              fvp_rows: np.ndarray | None = None, backtrack_shrink: float = 0.5, max_backtracks: int = 10,
              kl_accept: float | None = None, log_std: str = "log_std",
              where: str = "the TRPO step") -> LineSearchResult:
    """One TRPO update of the policy held in `p` (module docstring, steps 1-4).

    p, prefix, layers: the policy's MLP is `mlp_forward(p, prefix, layers, x)` (Gaussian: its mean; categorical:
        its logits); `p` may hold other parameters (e.g. a value network), which the step leaves unchanged.
    x, act, adv: the batch's (normalized) observations (N x obs_dim), actions (Gaussian: N x act_dim floats;
        categorical: N integers) and advantages (N); L and KL_bar average over all N rows.
    dist: "gaussian" (log std the parameter `log_std` of `p`) or "categorical".
    max_kl: delta, the trust region of the maximal step (step 3).
    cg_iters, cg_damping: conjugate-gradient steps and the damping of A + damping I (step 2).
    fvp_rows: the rows of the batch on which A v is computed (None: all; TRPO used 10% of the batch, OpenAI
        baselines every 5th row).
    backtrack_shrink, max_backtracks: the line search's shrink factor and number of tries (step 4).
    kl_accept: the line search's KL bound (None: max_kl).
    where: where the step runs, named in the error when the gradient is not finite.

    Returns the line search's result; `p.flat` holds the accepted theta (theta_old when no step was accepted).
    """
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"dist must be one of {DISTRIBUTIONS}, got {dist!r}")
    theta_old = p.flat.copy()
    out_old, inputs_old = mlp_forward(p, prefix, layers, x)  # mean or logits at theta_old
    coef = adv / len(adv)  # dL / d log pi(a_n|s_n) at theta_old (ratio 1)
    p.grad[...] = 0.0  # parameters outside the policy get no gradient
    if dist == "gaussian":
        log_std_old = p[log_std].copy()
        logp_old = gaussian_log_prob(out_old, log_std_old, act)

        def evaluate(theta: np.ndarray) -> tuple[float, float]:
            """(L(theta), KL_bar(theta)) on the batch (eq. 14)."""
            p.flat[...] = theta
            mean = mlp_forward(p, prefix, layers, x)[0]
            ratio = np.exp(gaussian_log_prob(mean, p[log_std], act) - logp_old)
            return float((ratio * adv).mean()), float(gaussian_kl(out_old, log_std_old, mean, p[log_std]).mean())

        # 1. g: z = a - mean, sigma^2 = exp(2 log std); d log pi / d mean = z / sigma^2, d log pi / d log std =
        #    z^2 / sigma^2 - 1
        var = np.exp(2 * log_std_old)
        z = act - out_old
        mlp_backward(p, prefix, layers, inputs_old, coef[:, None] * z / var)
        p.g(log_std)[...] = (coef[:, None] * (z * z / var - 1.0)).sum(0)
    else:
        probs_old = softmax(out_old)
        logp_old = categorical_log_prob(out_old, act)

        def evaluate(theta: np.ndarray) -> tuple[float, float]:
            """(L(theta), KL_bar(theta)) on the batch (eq. 14)."""
            p.flat[...] = theta
            logits = mlp_forward(p, prefix, layers, x)[0]
            ratio = np.exp(categorical_log_prob(logits, act) - logp_old)
            return float((ratio * adv).mean()), float(categorical_kl(probs_old, logits).mean())

        # 1. g: d log pi(a) / d logits = onehot(a) - p
        d_logits = -probs_old
        d_logits[np.arange(len(act)), np.asarray(act, int)] += 1.0
        mlp_backward(p, prefix, layers, inputs_old, coef[:, None] * d_logits)
    g = p.grad.copy()
    check_finite("policy gradient", g, where)

    # 2. A v = J^T M J v (Appendix C.1) on the rows `fvp_rows`
    if fvp_rows is None:
        fvp_inputs, fvp_out = inputs_old, out_old
    else:
        fvp_out, fvp_inputs = mlp_forward(p, prefix, layers, x[fvp_rows])
    fvp_tanh_grads = tanh_derivatives(fvp_inputs)  # the same for every product at theta_old
    if dist == "gaussian":
        def fvp(v: np.ndarray) -> np.ndarray:
            return gaussian_fvp(p, prefix, layers, log_std, fvp_inputs, v, cg_damping, fvp_tanh_grads)
    else:
        fvp_probs = softmax(fvp_out)

        def fvp(v: np.ndarray) -> np.ndarray:
            return categorical_fvp(p, prefix, layers, fvp_inputs, fvp_probs, v, cg_damping, fvp_tanh_grads)

    s = conjugate_gradient(fvp, g, cg_iters)
    full_step = max_step(s, fvp(s), max_kl)  # 3. beta s
    # L(theta_old) as `evaluate(theta_old)` computes it, from the forward pass at theta_old already made: the ratio
    # there is exp(log pi_old - log pi_old) = 1
    surrogate_old = float((np.exp(logp_old - logp_old) * adv).mean())
    result = line_search(theta_old, full_step, evaluate, max_kl if kl_accept is None else kl_accept,
                         backtrack_shrink, max_backtracks, surrogate_old=surrogate_old)  # 4.
    p.flat[...] = result.theta
    return result


def fit_value_trust_region(p: Params, prefix: str, layers: int, x: np.ndarray, targets: np.ndarray, *,
                           max_kl: float, cg_iters: int = 10, damping: float = 1e-3,
                           hvp_rows: np.ndarray | None = None) -> dict:
    """One step of GAE's eq. (30) for the regression MLP V_phi = `mlp_forward(p, prefix, layers, .)` (scalar output):

        minimize_phi  sum_n ||V_phi(s_n) - V_hat_n||^2
        subject to    1/N sum_n ||V_phi(s_n) - V_phi_old(s_n)||^2 / (2 sigma^2) <= epsilon,
                      sigma^2 = 1/N sum_n ||V_phi_old(s_n) - V_hat_n||^2

    The squared error's gradient g at phi_old, the Gauss-Newton direction s = -(2H)^{-1} g by conjugate gradient
    (the objective's Hessian is 2H, H = 1/N sum_n j_n j_n^T, j_n = grad_phi V_phi(s_n)), then the step alpha s with
    alpha = min(1, sqrt(2 epsilon / (s^T H s / sigma^2))): the quadratic model's minimizer when it lies inside the
    trust region, else the step along s to its boundary, 1/2 (alpha s)^T (H / sigma^2) (alpha s) = epsilon (the
    constraint's quadratic model; objective and constraint share H, so the constrained minimizer of the models
    lies along s). `hvp_rows`: the rows on which H v is computed (None: all), H then the mean over them. `p` may
    hold other parameters, which are left unchanged. Returns the diagnostics {"vf_mse_before": sigma^2,
    "vf_step_fraction": alpha}; `p.flat` holds phi_{i+1}."""
    v_old, inputs = mlp_forward(p, prefix, layers, x)
    err = v_old[:, 0] - targets
    n = len(targets)
    sigma2 = float(np.mean(err * err))  # sigma^2 of eq. (30)
    if not sigma2 > 0:
        return {"vf_mse_before": sigma2, "vf_step_fraction": 0.0}
    p.grad[...] = 0.0  # parameters outside the value network get no gradient
    tanh_grads = tanh_derivatives(inputs)  # the same for the gradient and every product at phi_old
    mlp_backward(p, prefix, layers, inputs, (2.0 * err / n)[:, None], tanh_grads)  # g = grad 1/N sum (V - V_hat)^2
    g = p.grad.copy()
    if hvp_rows is not None:  # H on the rows `hvp_rows` only
        inputs = mlp_forward(p, prefix, layers, x[hvp_rows])[1]
        tanh_grads = tanh_derivatives(inputs)

    def hvp(v: np.ndarray) -> np.ndarray:
        return regression_gnvp(p, prefix, layers, inputs, v, damping, tanh_grads)  # H v = 1/N sum_n j_n j_n^T v

    s = -0.5 * conjugate_gradient(hvp, g, cg_iters)  # Gauss-Newton step of the objective: -(2H)^{-1} g
    quad = float(s @ hvp(s)) / sigma2  # s^T (H / sigma^2) s: twice the constraint's model at s
    alpha = 1.0 if quad <= 2 * max_kl else math.sqrt(2 * max_kl / quad)
    p.flat[...] += alpha * s
    return {"vf_mse_before": sigma2, "vf_step_fraction": alpha}
