"""Natural-gradient steps under a KL trust region (Schulman et al. 2015, TRPO, Sec. 6 and Appendix C).

    maximize_theta  g^T (theta - theta_old)   subject to   1/2 (theta - theta_old)^T A (theta - theta_old) <= delta
                                                                                          (Appendix C, eq. 31-32)
  1. search direction s ~ A^{-1} g by k steps of conjugate gradient, using only products A v       (Appendix C)
  2. maximal step beta = sqrt(2 delta / s^T A s), so that the quadratic KL model equals delta      (Appendix C)
  3. backtracking line search from beta s, shrinking exponentially until the surrogate improves and the mean KL is
     at most delta                                                                                  (Appendix C)

A is the Fisher information matrix computed analytically as the Hessian of the mean KL divergence (Sec. 6,
Appendix C.1): for a policy whose distribution parameters are mu(s; theta), D_KL(pi_old || pi) has the Hessian
J^T M J at theta = theta_old, with J = d mu / d theta and M the Fisher matrix of the distribution in terms of mu:
  - diagonal Gaussian, mu = (mean, log std):  M = diag(1/sigma^2, 2)  (no cross terms between mean and log std);
  - categorical, mu = logits:                  M = diag(p) - p p^T.
So A v = mean_n J_n^T M_n J_n v: J v by forward mode through the MLP (`mlp_jvp`), then M, then J^T u by the MLP's
backward pass (`common.rl.npmlp.mlp_backward`). No second derivatives and no autograd are needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from common.rl.npmlp import Params, mlp_backward, tanh_derivatives


def flat_views(p: Params, vec: np.ndarray) -> dict[str, np.ndarray]:
    """Named views into `vec`, a vector with the layout of `p.flat`."""
    out, start = {}, 0
    for name, shape in p.shapes.items():
        size = int(np.prod(shape))
        out[name] = vec[start:start + size].reshape(shape)
        start += size
    return out


def mlp_jvp(p: Params, prefix: str, n_layers: int, inputs: list[np.ndarray], v: np.ndarray,
            tanh_grads: list | None = None) -> np.ndarray:
    """J v: the directional derivative of the MLP's output (tanh hidden layers, linear output; `mlp_forward`) at
    the parameters of `p`, in the direction `v` (a vector with the layout of `p.flat`), for each row of the batch.
    `inputs` are the layer inputs `mlp_forward` returned. Forward mode: pre_i = h_i W_i + b_i gives
    d pre_i = h_i dW_i + dh_i W_i + db_i, and h_{i+1} = tanh(pre_i) gives dh_{i+1} = (1 - h_{i+1}^2) d pre_i.
    `tanh_grads`: `common.rl.npmlp.tanh_derivatives(inputs)`, when the caller keeps them (None: computed here)."""
    if tanh_grads is None:
        tanh_grads = tanh_derivatives(inputs)
    dv = flat_views(p, v)
    dh = None  # the batch's input does not depend on the parameters
    for i in range(n_layers):
        w, b = f"{prefix}.{i}.w", f"{prefix}.{i}.b"
        d_pre = inputs[i] @ dv[w] + dv[b]
        if dh is not None:
            d_pre += dh @ p[w]
        if i < n_layers - 1:
            dh = tanh_grads[i + 1] * d_pre
        else:
            return d_pre
    raise ValueError("an MLP has at least one layer")


def _backward_into(p: Params, prefix: str, n_layers: int, inputs, d_out: np.ndarray, out: np.ndarray,
                   tanh_grads: list | None = None) -> None:
    """J^T d_out for the MLP `prefix`, written into the matching entries of `out` (p.grad is used as scratch)."""
    mlp_backward(p, prefix, n_layers, inputs, d_out, tanh_grads)
    views = flat_views(p, out)
    for i in range(n_layers):
        for part in ("w", "b"):
            name = f"{prefix}.{i}.{part}"
            views[name][...] = p.g(name)


def gaussian_fvp(p: Params, prefix: str, n_layers: int, log_std: str, inputs: list[np.ndarray], v: np.ndarray,
                 damping: float = 0.0, tanh_grads: list | None = None) -> np.ndarray:
    """F v for a diagonal-Gaussian policy with mean = MLP `prefix`(s) and a state-independent log std (parameter
    `log_std`): the Hessian of the mean KL over the batch at theta_old, times v (Appendix C.1), plus damping * v.
    Entries of v outside the policy's parameters are ignored. `tanh_grads`: `tanh_derivatives(inputs)`, kept by a
    caller that makes many products at the same parameters (None: computed here)."""
    n = inputs[0].shape[0]
    var = np.exp(2.0 * p[log_std])
    out = np.zeros_like(p.flat)
    tanh_grads = tanh_derivatives(inputs) if tanh_grads is None else tanh_grads
    jv_mean = mlp_jvp(p, prefix, n_layers, inputs, v, tanh_grads)  # J v, mean part (N x act_dim)
    _backward_into(p, prefix, n_layers, inputs, jv_mean / var / n, out, tanh_grads)  # J^T diag(1/sigma^2) J v
    flat_views(p, out)[log_std][...] = 2.0 * flat_views(p, v)[log_std]  # log-std part: M = 2, J = identity
    if damping:
        out += damping * v
    return out


def gaussian_empirical_fvp(p: Params, prefix: str, n_layers: int, log_std: str, inputs: list[np.ndarray],
                           act: np.ndarray, v: np.ndarray, damping: float = 0.0) -> np.ndarray:
    """The empirical Fisher matrix times v: the covariance of the per-sample score vectors,
    F_emp v = mean_n s_n (s_n . v), s_n = grad log pi(a_n|s_n) (TRPO Sec. 8.1's "empirical FIM" comparison), for the
    diagonal-Gaussian policy of `gaussian_fvp`; s_n . v by forward mode, the sum over n by one backward pass."""
    n = inputs[0].shape[0]
    mean = inputs[-1] @ p[f"{prefix}.{n_layers - 1}.w"] + p[f"{prefix}.{n_layers - 1}.b"]
    var = np.exp(2.0 * p[log_std])
    z = act - mean
    d_mean, d_log_std = z / var, z * z / var - 1.0  # d log pi / d mean, d log pi / d log std
    sv = (d_mean * mlp_jvp(p, prefix, n_layers, inputs, v)).sum(1) + d_log_std @ flat_views(p, v)[log_std]
    out = np.zeros_like(p.flat)
    _backward_into(p, prefix, n_layers, inputs, (sv / n)[:, None] * d_mean, out)
    flat_views(p, out)[log_std][...] = ((sv / n)[:, None] * d_log_std).sum(0)
    if damping:
        out += damping * v
    return out


def regression_gnvp(p: Params, prefix: str, n_layers: int, inputs: list[np.ndarray], v: np.ndarray,
                    damping: float = 0.0, tanh_grads: list | None = None) -> np.ndarray:
    """H v for the Gauss-Newton matrix H = mean_n J_n^T J_n of a regression MLP `prefix` (J_n = d V(s_n) / d phi),
    plus damping * v: the Hessian of the mean squared change of its outputs, 1/2 mean_n ||V_phi(s_n) - V_old(s_n)||^2,
    at phi_old (the Fisher matrix of a unit-variance Gaussian with mean V_phi(s); GAE, Schulman et al. 2016, Sec. 5,
    the value function's trust region). Entries of v outside `prefix` are ignored (their products are 0).
    `tanh_grads`: as `gaussian_fvp`'s."""
    n = inputs[0].shape[0]
    out = np.zeros_like(p.flat)
    tanh_grads = tanh_derivatives(inputs) if tanh_grads is None else tanh_grads
    jv = mlp_jvp(p, prefix, n_layers, inputs, v, tanh_grads)  # J v (N x out_dim)
    _backward_into(p, prefix, n_layers, inputs, jv / n, out, tanh_grads)  # J^T J v, averaged
    if damping:
        out += damping * v
    return out


def categorical_fvp(p: Params, prefix: str, n_layers: int, inputs: list[np.ndarray], probs: np.ndarray,
                    v: np.ndarray, damping: float = 0.0, tanh_grads: list | None = None) -> np.ndarray:
    """F v for a categorical policy with logits = MLP `prefix`(s) and probabilities `probs` at theta_old:
    mean over the batch of J^T (diag(p) - p p^T) J v (Appendix C.1), plus damping * v. `tanh_grads`: as
    `gaussian_fvp`'s."""
    n = inputs[0].shape[0]
    tanh_grads = tanh_derivatives(inputs) if tanh_grads is None else tanh_grads
    jv = mlp_jvp(p, prefix, n_layers, inputs, v, tanh_grads)
    m_jv = probs * jv - probs * (probs * jv).sum(-1, keepdims=True)
    out = np.zeros_like(p.flat)
    _backward_into(p, prefix, n_layers, inputs, m_jv / n, out, tanh_grads)
    if damping:
        out += damping * v
    return out


def conjugate_gradient(avp: Callable[[np.ndarray], np.ndarray], b: np.ndarray, iters: int = 10,
                       residual_tol: float = 1e-10) -> np.ndarray:
    """Approximately solve A x = b with `iters` conjugate-gradient steps, given only products A v (Appendix C:
    "the conjugate gradient algorithm ... k = 10 iterations"); A symmetric positive definite."""
    x = np.zeros_like(b)
    r = b.copy()  # residual b - A x at x = 0
    d = r.copy()
    rr = r @ r
    for _ in range(iters):
        if rr < residual_tol:
            break
        ad = avp(d)
        alpha = rr / (d @ ad)
        x += alpha * d
        r -= alpha * ad
        rr_new = r @ r
        d = r + (rr_new / rr) * d
        rr = rr_new
    return x


def max_step(s: np.ndarray, a_s: np.ndarray, max_kl: float) -> np.ndarray:
    """The maximal step beta s along the search direction s, beta = sqrt(2 delta / s^T A s) (Appendix C), with
    a_s = A s: the step whose quadratic KL model 1/2 (beta s)^T A (beta s) equals delta."""
    shs = float(s @ a_s)
    if not shs > 0:
        return np.zeros_like(s)  # a zero (or non-positive-curvature) direction: no step
    return np.sqrt(2.0 * max_kl / shs) * s


@dataclass
class LineSearchResult:
    theta: np.ndarray  # the accepted parameters (theta_old when no step was accepted)
    accepted: bool
    backtracks: int  # how many times the step was shrunk before acceptance (max_backtracks when rejected)
    improvement: float  # surrogate(theta) - surrogate(theta_old); 0 when rejected
    kl: float  # mean KL at theta; 0 when rejected
    fraction: float  # the accepted fraction of the full step; 0 when rejected
    surrogate_old: float = math.nan  # the surrogate at theta_old (set by `line_search`)


def line_search(theta_old: np.ndarray, full_step: np.ndarray,
                evaluate: Callable[[np.ndarray], tuple[float, float]], max_kl: float, shrink: float = 0.5,
                max_backtracks: int = 10, surrogate_old: float | None = None) -> LineSearchResult:
    """Backtracking line search of Appendix C: try theta_old + shrink^k * full_step for k = 0, 1, ... and accept the
    first step whose surrogate L (to maximize) improves on L(theta_old) and whose mean KL is at most `max_kl`;
    `evaluate(theta) -> (L, mean KL)`. When no step of `max_backtracks` tries is accepted, the policy is kept.
    `surrogate_old`: L(theta_old) as `evaluate(theta_old)` gives it, when the caller has it already (None:
    evaluated here)."""
    if surrogate_old is None:
        surrogate_old, _ = evaluate(theta_old)
    for k in range(max_backtracks):
        fraction = shrink ** k
        theta = theta_old + fraction * full_step
        surrogate, kl = evaluate(theta)
        if kl <= max_kl and surrogate > surrogate_old:
            return LineSearchResult(theta, True, k, surrogate - surrogate_old, kl, fraction, surrogate_old)
    return LineSearchResult(theta_old.copy(), False, max_backtracks, 0.0, 0.0, 0.0, surrogate_old)
