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
Steps 1-3 are TRPO's step written once in common/onpolicy/trpo.py (`trpo_step`, also GAE's); this module composes it
with the loop Figure 3's baselines share (onpolicy_loop.py).

Known difference from the released script: at da99706 the surrogate used unstandardized advantages (line 210), a bug
fixed three days later (baselines 4862140); here advantages are standardized, as the fix has it.
"""
from __future__ import annotations

import numpy as np

from common.onpolicy import trpo_step
from common.rl.npmlp import Adam

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
        # 1-3. TRPO's step (common/onpolicy/trpo.py): g, conjugate gradient on A s = g with A v on every k-th
        # sample (baselines `fvpargs`), the full step beta s, backtracking accepting KL <= 1.5 delta as baselines
        rows = np.arange(0, len(batch.x), cfg.trpo_fvp_subsample)
        result = trpo_step(pi, "pi", LAYERS, batch.x, batch.act, adv, dist="gaussian", max_kl=cfg.trpo_max_kl,
                           cg_iters=cfg.trpo_cg_iters, cg_damping=cfg.trpo_cg_damping, fvp_rows=rows,
                           backtrack_shrink=0.5, max_backtracks=cfg.trpo_backtracks,
                           kl_accept=cfg.trpo_kl_accept_factor * cfg.trpo_max_kl)
        loss_before = -result.surrogate_old
        # 4. value function on the TD(lambda) returns
        loss_v = fit_value(nets, self.v_opt, batch.x, batch.returns, cfg.trpo_vf_lr, cfg.trpo_vf_iters,
                           cfg.trpo_vf_minibatch, self.rng)
        return {"policy_loss": loss_before, "value_loss": loss_v, "kl": result.kl, "stepsize": result.fraction}

    def state_dict(self) -> dict:
        return {"v_opt": self.v_opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.v_opt.load_state_dict(state["v_opt"])
