"""The TRPO step and the value function's trust-region step written once (common/onpolicy/trpo.py): the categorical
step against the natural-gradient step computed from the explicit Fisher matrix of a linear softmax policy, its KL
and surrogate at the accepted step, a line search that must reject, the Gaussian step giving exactly the values
GAE's own step gave before it moved here, and GAE's eq. (30) on a small regression (on the boundary of the trust
region, or the least-squares fit when the region is loose), and the same steps bit for bit in a process that keeps
freed memory for reuse (common/platform/memory.py) and with the tanh derivatives kept across products."""
import math

import numpy as np
import pytest

from common.onpolicy import (categorical_kl, categorical_log_prob, fit_value_trust_region, random_rows, softmax,
                             trpo_step)
from common.rl.npmlp import Params, mlp_forward, mlp_shapes, normc_init


# ---- the categorical step ------------------------------------------------------------------------------------
def _categorical_case(seed: int = 0):
    """A linear softmax policy over 3 actions in 2-d states (logits = x W + b) beside another parameter of the same
    Params, and a batch of 30 states, actions drawn from the policy and advantages."""
    rng = np.random.default_rng(seed)
    p = Params({**mlp_shapes("pi", [2, 3]), "other": (4,)})
    p.flat[...] = 0.3 * rng.standard_normal(len(p.flat))
    x = rng.standard_normal((30, 2))
    probs = softmax(mlp_forward(p, "pi", 1, x)[0])
    act = np.array([rng.choice(3, p=row) for row in probs])
    adv = rng.standard_normal(30)
    return p, x, act, adv


def _surrogate_and_kl(p, theta_old, theta, x, act, adv):
    """L(theta) = mean ratio A and the mean KL(pi_old || pi_theta), computed here from the definitions."""
    q = Params(p.shapes)
    q.flat[...] = theta_old
    logits_old = mlp_forward(q, "pi", 1, x)[0]
    q.flat[...] = theta
    logits = mlp_forward(q, "pi", 1, x)[0]
    ratio = np.exp(categorical_log_prob(logits, act) - categorical_log_prob(logits_old, act))
    return float((ratio * adv).mean()), float(categorical_kl(softmax(logits_old), logits).mean())


def test_categorical_step_is_the_natural_gradient_step_within_the_kl_bound():
    p, x, act, adv = _categorical_case()
    theta_old = p.flat.copy()
    n, damping, delta = len(x), 1e-3, 0.01
    # explicit Jacobian of the logits in the layout of p.flat: W (2 x 3, row-major), b (3), other (4, no effect)
    probs = softmax(mlp_forward(p, "pi", 1, x)[0])
    jac = np.zeros((n, 3, len(theta_old)))
    for k in range(3):
        jac[:, k, [k, 3 + k]] = x  # d logit_k / d W_ik = x_i
        jac[:, k, 6 + k] = 1.0  # d logit_k / d b_k = 1
    onehot = np.eye(3)[act]
    g = np.einsum("n,nk,nkp->p", adv / n, onehot - probs, jac)  # mean A grad log pi(a|s)
    m = np.stack([np.diag(pr) - np.outer(pr, pr) for pr in probs])  # the softmax's Fisher matrix in the logits
    fisher = np.einsum("nkp,nkl,nlq->pq", jac, m, jac) / n + damping * np.eye(len(theta_old))
    s = np.linalg.solve(fisher, g)
    full_step = math.sqrt(2 * delta / (s @ fisher @ s)) * s

    result = trpo_step(p, "pi", 1, x, act, adv, dist="categorical", max_kl=delta, cg_iters=20, cg_damping=damping)
    assert result.accepted
    np.testing.assert_allclose(result.theta - theta_old, result.fraction * full_step, rtol=1e-6, atol=1e-10)
    np.testing.assert_array_equal(p.flat, result.theta)  # p holds the accepted theta
    np.testing.assert_array_equal(p["other"], theta_old[-4:])  # parameters outside the policy are left alone
    surrogate_old, _ = _surrogate_and_kl(p, theta_old, theta_old, x, act, adv)
    surrogate, kl = _surrogate_and_kl(p, theta_old, result.theta, x, act, adv)
    assert 0 < kl <= delta and kl == pytest.approx(result.kl, rel=1e-12)
    assert surrogate > surrogate_old
    assert result.improvement == pytest.approx(surrogate - surrogate_old, rel=1e-9)
    assert result.surrogate_old == pytest.approx(float(adv.mean()), rel=1e-12)  # the ratio is 1 at theta_old


def test_categorical_step_on_a_subset_of_rows_and_a_looser_kl_bound():
    p, x, act, adv = _categorical_case(1)
    result = trpo_step(p, "pi", 1, x, act, adv, dist="categorical", max_kl=0.01, fvp_rows=np.arange(0, 30, 3),
                       kl_accept=0.015)
    assert result.accepted and 0 < result.kl <= 0.015 and result.improvement > 0


def test_line_search_rejects_when_no_try_meets_the_kl_bound_and_keeps_the_policy():
    p, x, act, adv = _categorical_case(2)
    theta_old = p.flat.copy()
    # the full step's KL is about delta = 0.01, so halving it 3 times (KL ~ delta / 4^k) stays above 1e-5
    result = trpo_step(p, "pi", 1, x, act, adv, dist="categorical", max_kl=0.01, kl_accept=1e-5, max_backtracks=3)
    assert not result.accepted and result.backtracks == 3 and result.fraction == 0.0
    np.testing.assert_array_equal(p.flat, theta_old)


def test_zero_advantages_give_no_step():
    p, x, act, _ = _categorical_case(3)
    theta_old = p.flat.copy()
    result = trpo_step(p, "pi", 1, x, act, np.zeros(len(x)), dist="categorical", max_kl=0.01)
    assert not result.accepted  # g = 0: no direction, the surrogate cannot improve
    np.testing.assert_array_equal(p.flat, theta_old)


def test_unknown_distribution_is_an_error_naming_the_valid_ones():
    p, x, act, adv = _categorical_case()
    with pytest.raises(ValueError, match="gaussian.*categorical.*'beta'"):
        trpo_step(p, "pi", 1, x, act, adv, dist="beta", max_kl=0.01)


# ---- the Gaussian step: exactly the values of GAE's step before it moved to common/onpolicy ------------------------
# theta after one step of papers/schulman2016_gae/gae.py's own TRPO step (fvp_fraction 0.5) on the batch below
GAE_THETA = [
    -0.01926124724386622, 0.696448488030901, 0.3635453084402014, 0.9429853650124929, 0.7528658042006792,
    -0.9683934337844495, -0.4734407879451785, -0.4735626034924733, -0.15393894851246956, 0.5230014600257085,
    0.244124749222597, 0.4560662752253323, -0.8235364937727607, 0.2404552167090116, -0.367706954401837,
    -0.14125940567456402, -0.041491377906372515, -0.15712224250542875, 0.08759990263899822, 0.061088640369733584,
    0.13019655480651823, 0.12438806956504092, 0.0712849079268779, -0.06941495209045295, 0.014414038772438131,
    0.009825643110492749, -0.10163267484763186, -0.020259895737547887, 0.027449131192278448, -0.012190810944839377,
    0.02431449303697044, 0.022734035806944167, -0.500354464161326, -0.4970207920447597]


def test_gaussian_step_gives_exactly_gaes_former_step():
    from papers.schulman2016_gae.gae import GaussianPolicy

    rng = np.random.default_rng(11)
    policy = GaussianPolicy(3, 2, [5], -0.5, np.random.default_rng(12))
    x = rng.standard_normal((40, 3))
    act = policy.mean(x) + 0.6 * rng.standard_normal((40, 2))
    adv = rng.standard_normal(40)
    rows = np.sort(np.random.default_rng(13).choice(40, size=20, replace=False))  # gae.py's draw at fraction 0.5
    result = trpo_step(policy.p, "pi", policy.layers, x, act, adv, dist="gaussian", max_kl=0.01, cg_iters=10,
                       cg_damping=1e-3, fvp_rows=rows, backtrack_shrink=0.5, max_backtracks=10)
    np.testing.assert_array_equal(policy.p.flat, np.array(GAE_THETA))
    assert (result.accepted, result.backtracks) == (True, 2)
    assert result.improvement == 0.02910337587604104 and result.kl == 0.0025145565983721446


# ---- the value function's trust region, GAE eq. (30) ---------------------------------------------------------------
def _linear_value_function(seed):
    """A linear V (the quadratic models are exact) beside another parameter of the same Params, and a regression."""
    rng = np.random.default_rng(seed)
    p = Params({"other": (2,), **mlp_shapes("v", [3, 1])})
    normc_init(p, "v", 1, 1.0, rng)
    p["other"][...] = [5.0, -5.0]
    x = rng.standard_normal((200, 3))
    targets = x @ np.array([2.0, -1.0, 0.5]) + 3.0 + 0.1 * rng.standard_normal(200)
    return p, x, targets


def _v(p, x):
    return mlp_forward(p, "v", 1, x)[0][:, 0]


def test_value_step_stays_on_the_trust_region_boundary_and_lowers_the_error():
    p, x, targets = _linear_value_function(0)
    before = _v(p, x)
    sigma2 = np.mean((before - targets) ** 2)
    fit = fit_value_trust_region(p, "v", 1, x, targets, max_kl=0.01, cg_iters=10, damping=0.0)
    after = _v(p, x)
    assert fit["vf_mse_before"] == pytest.approx(sigma2)
    assert 0 < fit["vf_step_fraction"] < 1  # the constraint binds
    # 1/N sum (V_new - V_old)^2 / (2 sigma^2) = epsilon exactly for a linear V (eq. 30's constraint)
    assert np.mean((after - before) ** 2) / (2 * sigma2) == pytest.approx(0.01, rel=1e-6)
    assert np.mean((after - targets) ** 2) < sigma2
    np.testing.assert_array_equal(p["other"], [5.0, -5.0])


def test_value_step_with_a_loose_trust_region_reaches_the_least_squares_fit():
    p, x, targets = _linear_value_function(4)
    fit = fit_value_trust_region(p, "v", 1, x, targets, max_kl=1e6, cg_iters=10, damping=0.0)
    assert fit["vf_step_fraction"] == 1.0  # the Gauss-Newton minimizer lies inside the region
    design = np.hstack([x, np.ones((200, 1))])
    coef = np.linalg.lstsq(design, targets, rcond=None)[0]
    np.testing.assert_allclose(_v(p, x), design @ coef, rtol=1e-8, atol=1e-8)


def test_value_step_with_its_products_on_some_rows_is_the_gauss_newton_step_of_those_rows():
    """With H on the rows `hvp_rows` (the authors' code: 10% of the batch), the step inside the region is
    -H_rows^-1 g, g the gradient of the whole batch's mean squared error / 2: by hand for a linear V."""
    p, x, targets = _linear_value_function(5)
    design = np.hstack([x, np.ones((200, 1))])
    w_old = np.linalg.lstsq(design, _v(p, x), rcond=None)[0]  # the linear V's weights, bias last
    rows = np.arange(0, 200, 4)
    h_rows = design[rows].T @ design[rows] / len(rows)
    half_grad = design.T @ (design @ w_old - targets) / 200
    expected = design @ (w_old - np.linalg.solve(h_rows, half_grad))
    fit = fit_value_trust_region(p, "v", 1, x, targets, max_kl=1e6, cg_iters=10, damping=0.0, hvp_rows=rows)
    assert fit["vf_step_fraction"] == 1.0
    np.testing.assert_allclose(_v(p, x), expected, rtol=1e-8, atol=1e-8)
    q, _, _ = _linear_value_function(5)  # every row named: the same step as no rows named
    r, _, _ = _linear_value_function(5)
    fit_value_trust_region(q, "v", 1, x, targets, max_kl=0.01, hvp_rows=np.arange(200))
    fit_value_trust_region(r, "v", 1, x, targets, max_kl=0.01)
    np.testing.assert_allclose(q.flat, r.flat, rtol=1e-12, atol=1e-14)


def test_random_rows_draw_a_sorted_share_without_replacement_and_nothing_at_one():
    rng = np.random.default_rng(0)
    rows = random_rows(rng, 95, 0.1)
    assert len(rows) == 10 and len(set(rows.tolist())) == 10 and np.all(np.diff(rows) > 0) and rows.max() < 95
    state = rng.bit_generator.state
    assert random_rows(rng, 95, 1.0) is None and rng.bit_generator.state == state  # the stream is left as it was


# ---- keeping freed memory (common/platform/memory.py) changes no number ------------------------------------------
_STEP_DIGEST = """
import hashlib, sys
import numpy as np
if sys.argv[1] == "1":
    from common.platform.memory import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()  # set, and still set on a second call
from common.onpolicy import fit_value_trust_region, trpo_step
from common.rl.npmlp import Params, mlp_shapes, normc_init
rng = np.random.default_rng(0)
p = Params({**mlp_shapes("pi", [7, 64, 64, 3]), "log_std": (3,), **mlp_shapes("v", [7, 64, 64, 1])})
normc_init(p, "pi", 3, 0.1, rng)
normc_init(p, "v", 3, 1.0, rng)
x, act, adv = rng.standard_normal((3000, 7)), rng.standard_normal((3000, 3)), rng.standard_normal(3000)
digest = hashlib.md5()
for _ in range(3):  # a few steps, each on the parameters the one before left
    r = trpo_step(p, "pi", 3, x, act, adv, dist="gaussian", max_kl=0.01)
    fit_value_trust_region(p, "v", 3, x, adv, max_kl=0.01)
    digest.update(p.flat.tobytes() + np.float64(r.improvement).tobytes())
print(digest.hexdigest())
"""


def test_keeping_freed_memory_leaves_the_trpo_and_value_steps_bit_identical():
    """The allocator setting only changes where the batch's temporaries live: three TRPO and value steps on a batch
    of 3,000 rows (temporaries of 1.5 MB) give the same parameters, bit for bit, in a process with and without it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    digests = [subprocess.run([sys.executable, "-c", _STEP_DIGEST, keep], env=env, capture_output=True, text=True,
                              check=True).stdout.strip() for keep in ("0", "1")]
    assert len(digests[0]) == 32 and digests[0] == digests[1]


def test_products_with_kept_tanh_derivatives_are_bit_identical():
    """The conjugate gradients keep tanh'(pre) = 1 - h^2 of their batch for all their products: every product (and
    the backward pass) gives the same bits as computing the derivatives per call."""
    from common.onpolicy import categorical_fvp, gaussian_fvp, regression_gnvp
    from common.rl.npmlp import mlp_backward, tanh_derivatives

    rng = np.random.default_rng(3)
    p = Params({**mlp_shapes("pi", [5, 16, 8, 3]), "log_std": (3,)})
    normc_init(p, "pi", 3, 0.5, rng)
    x = rng.standard_normal((200, 5))
    out, inputs = mlp_forward(p, "pi", 3, x)
    kept = tanh_derivatives(inputs)
    assert kept[0] is None and len(kept) == 3
    np.testing.assert_array_equal(kept[2], 1.0 - inputs[2] ** 2)
    v = rng.standard_normal(len(p.flat))
    probs = softmax(out)
    for product in (lambda g: gaussian_fvp(p, "pi", 3, "log_std", inputs, v, 0.1, g),
                    lambda g: categorical_fvp(p, "pi", 3, inputs, probs, v, 0.1, g),
                    lambda g: regression_gnvp(p, "pi", 3, inputs, v, 0.1, g)):
        assert product(None).tobytes() == product(kept).tobytes()
    d_out = rng.standard_normal((200, 3))
    mlp_backward(p, "pi", 3, inputs, d_out)
    per_call = p.grad.copy()
    mlp_backward(p, "pi", 3, inputs, d_out, kept)
    assert per_call.tobytes() == p.grad.tobytes()
