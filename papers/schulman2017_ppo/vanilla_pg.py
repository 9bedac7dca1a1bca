"""Vanilla policy gradient with an adaptive Adam stepsize: PPO Figure 3's "Vanilla PG, Adaptive" (PPO Sec. 6.2 and
footnote 3, p. 6).

Footnote 3: "After each batch of data, the Adam stepsize is adjusted based on the KL divergence of the original and
updated policy, using a rule similar to the one shown in Section 4", with its implementation in the Berkeley deep RL
course's homework 4 (berkeleydeeprlcourse/homework, hw4/main.py at 730ea46, lines 237-244), which this follows:
    one Adam step on  L^PG(theta) = - E_t[ log pi_theta(a_t|s_t) A_t ]                      (PPO eq. 1-2)
    d = E_t[ KL[pi_old(.|s_t), pi_theta(.|s_t)] ]  on the same batch, after the step
    d > 2 d_targ  ->  stepsize / 1.5;   d < d_targ / 2  ->  stepsize * 1.5                 (hw4; PPO Sec. 4's rule
                                                                                           adapts beta with 1.5 and 2)
Advantages are standardized per batch and the value baseline is fitted after they are computed (hw4). The batch
size, advantage estimator and networks of the Figure 3 runs are not stated: here PPO's (T = 2048, GAE lambda 0.95,
64-64 tanh networks), so that only the update differs from the PPO runs it is drawn beside; d_targ 0.002 and the
initial stepsize 1e-3 are hw4's (baselines' acktr_cont uses the same rule with d_targ 0.002); the value network is
fitted by Adam, 10 epochs of minibatches of 64 at 1e-3 (hw4's neural-network baseline settings).
"""
from __future__ import annotations

import math

import numpy as np

from common.onpolicy import gaussian_kl
from common.rl.npmlp import Adam, mlp_backward, mlp_forward

from .onpolicy_loop import LAYERS, Batch, PolicyValueNets

LOG_2PI = math.log(2 * math.pi)


def adapt_stepsize(stepsize: float, kl: float, kl_target: float) -> float:
    """Footnote 3's rule as hw4 implements it: divide by 1.5 when the KL exceeds twice the target, multiply by 1.5
    when it is below half the target, else keep."""
    if kl > 2.0 * kl_target:
        return stepsize / 1.5
    if kl < kl_target / 2.0:
        return stepsize * 1.5
    return stepsize


def policy_gradient(nets: PolicyValueNets, x, act, adv) -> tuple[float, np.ndarray]:
    """Gradient of L^PG = -mean(log pi(a|s) A) into nets.pi.grad (z = a - mu, sigma^2 = exp(2 log_std)):
        d log pi / d mu = z / sigma^2,   d log pi / d log_std = z^2 / sigma^2 - 1.
    Returns the loss and the policy means before the step."""
    pi, n = nets.pi, len(adv)
    mean, inputs = mlp_forward(pi, "pi", LAYERS, x)
    log_std = pi["log_std"]
    var = np.exp(2 * log_std)
    z = act - mean
    logp = (-0.5 * z * z / var - log_std - 0.5 * LOG_2PI).sum(-1)
    d_logp = (-adv / n)[:, None]
    mlp_backward(pi, "pi", LAYERS, inputs, d_logp * z / var)
    pi.g("log_std")[...] = (d_logp * (z * z / var - 1.0)).sum(0)
    return -float((logp * adv).mean()), mean


def fit_value(nets: PolicyValueNets, optimizer: Adam, x, returns, lr: float, epochs: int, minibatch: int,
              rng: np.random.Generator) -> float:
    """Regress V on the value targets: `epochs` passes of Adam over shuffled minibatches of mean (V - R)^2; returns
    the loss before fitting."""
    v = nets.v
    loss_before = float(((nets.value(x) - returns) ** 2).mean())
    for _ in range(epochs):
        perm = rng.permutation(len(x))
        for start in range(0, len(x), minibatch):
            i = perm[start:start + minibatch]
            value, inputs = mlp_forward(v, "v", LAYERS, x[i])
            mlp_backward(v, "v", LAYERS, inputs, (2.0 * (value[:, 0] - returns[i]) / len(i))[:, None])
            optimizer.step(v.flat, v.grad, lr)
    return loss_before


class VanillaPGLearner:
    """One Adam step on L^PG per batch of cfg.vpg_horizon steps, the stepsize adapted by the KL (footnote 3)."""

    def __init__(self, cfg, nets: PolicyValueNets, rng: np.random.Generator):
        self.cfg, self.nets, self.rng = cfg, nets, rng
        self.horizon = cfg.vpg_horizon
        self.stepsize = cfg.vpg_initial_lr
        self.pi_opt, self.v_opt = Adam(len(nets.pi.flat)), Adam(len(nets.v.flat))

    def update(self, batch: Batch, frac: float) -> dict:
        cfg, nets = self.cfg, self.nets
        adv = (batch.adv - batch.adv.mean()) / (batch.adv.std() + 1e-8)  # hw4 standardizes advantages
        old_log_std = nets.pi["log_std"].copy()
        loss_pi, old_mean = policy_gradient(nets, batch.x, batch.act, adv)
        stepsize = self.stepsize
        self.pi_opt.step(nets.pi.flat, nets.pi.grad, stepsize)
        kl = float(gaussian_kl(old_mean, old_log_std, nets.mean(batch.x), nets.pi["log_std"]).mean())
        self.stepsize = adapt_stepsize(self.stepsize, kl, cfg.vpg_kl_target)
        loss_v = fit_value(nets, self.v_opt, batch.x, batch.returns, cfg.vpg_vf_lr, cfg.vpg_vf_epochs,
                           cfg.vpg_vf_minibatch, self.rng)
        return {"policy_loss": loss_pi, "value_loss": loss_v, "kl": kl, "stepsize": stepsize}

    def state_dict(self) -> dict:
        return {"stepsize": self.stepsize, "pi_opt": self.pi_opt.state_dict(), "v_opt": self.v_opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.stepsize = state["stepsize"]
        self.pi_opt.load_state_dict(state["pi_opt"])
        self.v_opt.load_state_dict(state["v_opt"])
