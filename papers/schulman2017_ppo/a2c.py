"""A2C and A2C with ACER's efficient trust region: two of PPO Figure 3's baselines (PPO Sec. 6.2, p. 6-7).

A2C [Mni+16] is A3C run synchronously ("same or better" than asynchronous, PPO Sec. 6.2): every n = 5 environment
steps, one gradient step on
    L(theta) = - E_t[ log pi_theta(a_t|s_t) A_t ] - c_ent H[pi_theta] + c_v E_t[ (V(s_t) - R_t)^2 ]   (A3C Sec. 4;
                                                                                     baselines a2c.py's loss)
    R_t = r_t + gamma r_{t+1} + ... + gamma^{n-1-t} r_{n-1} + gamma^{n-t} V(s_n)   (the n-step return; GAE with
                                                                                     lambda = 1 over the n steps)
    A_t = R_t - V(s_t)
with RMSProp, the stepsize annealed linearly to 0 and gradients clipped to a global norm of 0.5 (baselines `a2c`).

"A2C + Trust Region" [Wan+16] is A2C with the efficient trust-region update of ACER (Wang et al. 2017, Sec. 3.3),
on-policy (no replay, importance weights 1: the ACER paper's "Trust-A3C"). The policy is a distribution f(.|phi_theta(s))
with statistics phi = (mean, log std). An average policy network theta_a follows the policy:
    theta_a <- alpha theta_a + (1 - alpha) theta                                               (ACER Sec. 3.3)
and, per sample, the gradient g of the objective with respect to phi is projected onto the linearized KL constraint
k^T z <= delta, k = d/d phi KL[f(.|phi_a(s)) || f(.|phi(s))]:
    z* = argmin_z 1/2 ||g - z||^2  s.t.  k^T z <= delta                                        (ACER eq. 11)
    z* = g - max(0, (k^T g - delta) / ||k||^2) k                                               (ACER eq. 12)
then z* is backpropagated through the policy network in place of g. The value loss is unchanged.

Settings: the PPO paper states none for either ("tuned implementations"); its authors' A2C MuJoCo settings are
unpublished (shared/reported/ppo2017_fig3_baselines.yaml). Here OpenAI baselines' `a2c.learn` defaults (n = 5,
RMSProp 7e-4 with alpha 0.99 and eps 1e-5, c_ent 0.01, c_v 0.5, gradient norm 0.5, linear decay) and `acer.learn`'s
trust-region defaults (delta 1, alpha 0.99); each is a config key (fig3_baselines.py), listed in README.md.
"""
from __future__ import annotations

import math

import numpy as np

from common.onpolicy import gaussian_entropy, gaussian_kl
from common.rl.npmlp import Params, RMSProp, clip_by_global_norm, mlp_backward, mlp_forward

from .onpolicy_loop import LAYERS, Batch, PolicyValueNets

LOG_2PI = math.log(2 * math.pi)


def trust_region_projection(g: np.ndarray, k: np.ndarray, delta: float) -> np.ndarray:
    """ACER eq. 12, one row per sample: z* = g - max(0, (k^T g - delta) / ||k||^2) k, the closest vector to g (in
    L2) with k^T z <= delta. Where k = 0 (the policy equals the average policy) the constraint cannot bind: z* = g."""
    kk = (k * k).sum(-1)
    excess = (k * g).sum(-1) - delta
    scale = np.where(kk > 0, np.maximum(0.0, excess) / np.where(kk > 0, kk, 1.0), 0.0)
    return g - scale[:, None] * k


def a2c_gradient(nets: PolicyValueNets, x, act, adv, returns, ent_coef: float, vf_coef: float,
                 average: Params | None = None, delta: float = 0.0) -> tuple[float, float, np.ndarray]:
    """The gradient of L (module docstring) written into nets.pi.grad and nets.v.grad; with `average` (the average
    policy network's parameters), each sample's policy gradient is first projected by the trust region (eq. 12).
    Returns (policy loss -mean(log pi A) - c_ent H, value loss mean (V - R)^2, the policy means before the step).

    Per sample i, with z = a - mu(s), sigma^2 = exp(2 log_std) and phi_i = (mu(s_i), log_std), the gradient of the
    objective f_i = A_i log pi(a_i|s_i) + c_ent H with respect to phi_i is
        g_mu = A_i z / sigma^2,   g_log_std = A_i (z^2 / sigma^2 - 1) + c_ent           (dH/d log_std = 1)
    and of KL[f(phi_a) || f(phi)] (the trust region's k):
        k_mu = (mu - mu_a) / sigma^2,   k_log_std = 1 - (sigma_a^2 + (mu_a - mu)^2) / sigma^2.
    The loss averages -f_i over the N samples, so -g_i / N is backpropagated."""
    pi = nets.pi
    n, act_dim = act.shape
    mean, inputs = mlp_forward(pi, "pi", LAYERS, x)
    log_std = pi["log_std"]
    var = np.exp(2 * log_std)
    z = act - mean
    logp = (-0.5 * z * z / var - log_std - 0.5 * LOG_2PI).sum(-1)
    entropy = gaussian_entropy(log_std)
    g = np.concatenate([adv[:, None] * z / var, adv[:, None] * (z * z / var - 1.0) + ent_coef], axis=1)
    if average is not None:
        mean_a, log_std_a = mlp_forward(average, "pi", LAYERS, x)[0], average["log_std"]
        var_a = np.exp(2 * log_std_a)
        k = np.concatenate([(mean - mean_a) / var,
                            np.broadcast_to(1.0 - (var_a + (mean_a - mean) ** 2) / var, mean.shape)], axis=1)
        g = trust_region_projection(g, k, delta)
    mlp_backward(pi, "pi", LAYERS, inputs, -g[:, :act_dim] / n)
    pi.g("log_std")[...] = -g[:, act_dim:].sum(0) / n
    value, v_inputs = mlp_forward(nets.v, "v", LAYERS, x)
    err = value[:, 0] - returns
    mlp_backward(nets.v, "v", LAYERS, v_inputs, (vf_coef * 2.0 * err / n)[:, None])
    return -float((logp * adv).mean()) - ent_coef * entropy, float((err * err).mean()), mean


class A2CLearner:
    """One A2C update per n steps (cfg.a2c_*); with `trust_region`, ACER's projection against the average policy."""

    def __init__(self, cfg, nets: PolicyValueNets, rng: np.random.Generator, trust_region: bool = False):
        self.cfg, self.nets, self.trust_region = cfg, nets, trust_region
        self.horizon = cfg.a2c_n_steps
        self.pi_opt = RMSProp(len(nets.pi.flat), cfg.a2c_rmsprop_rho, cfg.a2c_rmsprop_eps)
        self.v_opt = RMSProp(len(nets.v.flat), cfg.a2c_rmsprop_rho, cfg.a2c_rmsprop_eps)
        self.average = None
        if trust_region:  # theta_a starts at theta
            self.average = Params(nets.pi.shapes)
            self.average.flat[...] = nets.pi.flat

    def update(self, batch: Batch, frac: float) -> dict:
        cfg, nets = self.cfg, self.nets
        lr = cfg.a2c_lr * (frac if cfg.a2c_anneal_lr else 1.0)  # baselines lrschedule='linear'
        old_log_std = nets.pi["log_std"].copy()
        loss_pi, loss_v, old_mean = a2c_gradient(nets, batch.x, batch.act, batch.adv, batch.returns,
                                                 cfg.a2c_ent_coef, cfg.a2c_vf_coef, self.average, cfg.tr_delta)
        clip_by_global_norm([nets.pi.grad, nets.v.grad], cfg.a2c_max_grad_norm)  # one norm over both networks
        self.pi_opt.step(nets.pi.flat, nets.pi.grad, lr)
        self.v_opt.step(nets.v.flat, nets.v.grad, lr)
        if self.average is not None:  # theta_a <- alpha theta_a + (1 - alpha) theta  (ACER Sec. 3.3)
            self.average.flat *= cfg.tr_avg_decay
            self.average.flat += (1 - cfg.tr_avg_decay) * nets.pi.flat
        kl = float(gaussian_kl(old_mean, old_log_std, nets.mean(batch.x), nets.pi["log_std"]).mean())
        return {"policy_loss": loss_pi, "value_loss": loss_v, "kl": kl, "stepsize": lr}

    def state_dict(self) -> dict:
        return {"pi_opt": self.pi_opt.state_dict(), "v_opt": self.v_opt.state_dict(),
                "average": None if self.average is None else self.average.flat.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.pi_opt.load_state_dict(state["pi_opt"])
        self.v_opt.load_state_dict(state["v_opt"])
        if self.average is not None:
            self.average.flat[...] = state["average"]
