"""TRPO as the PPO paper's reference code ran it on MuJoCo: PPO Figure 3's "TRPO" baseline (PPO Sec. 6.2).

The algorithm is TRPO's (Schulman et al. 2015; papers/schulman2015_trpo/trpo.py), with the settings and additions of
OpenAI baselines' `trpo_mpi` MuJoCo script released with PPO (da99706, 2017-07-20): GAE advantages and a learned
value function (Schulman et al. 2016) instead of Monte Carlo Q estimates, 2x32 tanh networks. Per batch of
T = 1024 steps:
    maximize_theta  L(theta) = E_t[ pi_theta(a_t|s_t) / pi_old(a_t|s_t) A_t ]              (TRPO eq. 14; A_t by
    subject to      E_t[ KL[pi_old(.|s_t), pi_theta(.|s_t)] ] <= delta                       GAE, standardized)
  1. g = grad L at theta_old; search direction s ~ A^{-1} g by 10 conjugate-gradient steps, A v the Fisher-vector
     product (Hessian of the mean KL, TRPO App. C.1) on every 5th sample, plus damping 0.1 v
  2. full step beta s, beta = sqrt(2 delta / s^T A s)                                        (TRPO App. C)
  3. backtracking: halve the step up to 10 times until L improves and the mean KL <= 1.5 delta (baselines' test)
  4. value function: 5 epochs of Adam (1e-3) over minibatches of 64 on (V(s_t) - R_t)^2, R_t = A_t + V(s_t)
Steps 1-3 are the shared pieces of common/onpolicy (conjugate gradient, Fisher-vector products, line search) that
trpo.py uses; this module composes them with the loop Figure 3's baselines share (onpolicy_loop.py).

Known difference from the released script: at da99706 the surrogate used unstandardized advantages (line 210), a bug
fixed three days later (baselines 4862140); here advantages are standardized, as the fix has it.
"""
from __future__ import annotations

import numpy as np

from common.onpolicy import conjugate_gradient, gaussian_fvp, gaussian_kl, gaussian_log_prob, line_search, max_step
from common.rl.npmlp import Adam, mlp_backward, mlp_forward

from .onpolicy_loop import LAYERS, Batch, PolicyValueNets
from .vanilla_pg import fit_value


class TRPOLearner:
    """One natural-gradient step under the KL trust region per batch of cfg.trpo_batch_steps steps, then the value
    regression (module docstring)."""

    def __init__(self, cfg, nets: PolicyValueNets, rng: np.random.Generator):
        self.cfg, self.nets, self.rng = cfg, nets, rng
        self.horizon = cfg.trpo_batch_steps
        self.v_opt = Adam(len(nets.v.flat))  # baselines MpiAdam: beta1 0.9, beta2 0.999, eps 1e-8

    def update(self, batch: Batch, frac: float) -> dict:
        cfg, nets = self.cfg, self.nets
        pi = nets.pi
        adv = (batch.adv - batch.adv.mean()) / (batch.adv.std() + 1e-8)  # standardized advantages
        x, act = batch.x, batch.act
        theta_old = pi.flat.copy()
        old_log_std = pi["log_std"].copy()
        old_mean, inputs = mlp_forward(pi, "pi", LAYERS, x)
        old_logp = gaussian_log_prob(old_mean, old_log_std, act)

        def evaluate(theta: np.ndarray) -> tuple[float, float]:
            """(L(theta), mean KL(pi_old || pi_theta)) on the batch (TRPO eq. 14)."""
            pi.flat[...] = theta
            mean = nets.mean(x)
            ratio = np.exp(gaussian_log_prob(mean, pi["log_std"], act) - old_logp)
            return float((ratio * adv).mean()), float(gaussian_kl(old_mean, old_log_std, mean, pi["log_std"]).mean())

        # g = grad L at theta_old = mean_t A_t grad log pi(a_t|s_t); z = a - mu, sigma^2 = exp(2 log_std):
        #   d log pi / d mu = z / sigma^2,   d log pi / d log_std = z^2 / sigma^2 - 1
        var = np.exp(2 * old_log_std)
        z = act - old_mean
        d_logp = (adv / len(adv))[:, None]
        mlp_backward(pi, "pi", LAYERS, inputs, d_logp * z / var)
        pi.g("log_std")[...] = (d_logp * (z * z / var - 1.0)).sum(0)
        g = pi.grad.copy()
        # 1. search direction: conjugate gradient on A s = g, A v on every k-th sample (baselines `fvpargs`)
        sub_inputs = mlp_forward(pi, "pi", LAYERS, np.ascontiguousarray(x[::cfg.trpo_fvp_subsample]))[1]

        def fvp(v: np.ndarray) -> np.ndarray:
            return gaussian_fvp(pi, "pi", LAYERS, "log_std", sub_inputs, v, cfg.trpo_cg_damping)

        s = conjugate_gradient(fvp, g, cfg.trpo_cg_iters)
        full_step = max_step(s, fvp(s), cfg.trpo_max_kl)  # 2. beta s
        loss_before = -evaluate(theta_old)[0]
        # 3. backtracking line search, accepting KL <= 1.5 delta as baselines does
        result = line_search(theta_old, full_step, evaluate, cfg.trpo_kl_accept_factor * cfg.trpo_max_kl, 0.5,
                             cfg.trpo_backtracks)
        pi.flat[...] = result.theta
        # 4. value function on the TD(lambda) returns
        loss_v = fit_value(nets, self.v_opt, x, batch.returns, cfg.trpo_vf_lr, cfg.trpo_vf_iters,
                           cfg.trpo_vf_minibatch, self.rng)
        return {"policy_loss": loss_before, "value_loss": loss_v, "kl": result.kl, "stepsize": result.fraction}

    def state_dict(self) -> dict:
        return {"v_opt": self.v_opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.v_opt.load_state_dict(state["v_opt"])
