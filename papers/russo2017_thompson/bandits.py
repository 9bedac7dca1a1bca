"""Finite-armed Bernoulli bandits (tutorial Sections 3 and 6): greedy and Thompson sampling with Beta posteriors.

All `n_replications` independent runs of one seed are simulated together as arrays of shape (R, K):
R replications, K arms. Regret is the *expected* per-period regret, as the authors' code defines it:
    regret_t = max_k theta_k - theta_{x_t}                       (tutorial eq. for per-period regret, Sec. 3)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import pandas as pd

from common.platform import validate as check
from common.rl.agents import save_agent

from .common_sim import PeriodStats, random_argmax, rng_pair, summary_frame


@dataclass
class FiniteArmConfig:
    seed: int = 0
    agent: str = "ts"  # greedy | ts   (Sec. 3: Algorithms 1 and 2; greedy = posterior-mean argmax, random ties)
    n_arms: int = 3
    # Fixed arm success probabilities; None draws theta ~ Beta(env_prior) once per replication (Fig. 3.2b, 6.2).
    theta: Optional[List[float]] = None
    env_prior_successes: List[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    env_prior_failures: List[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    # > 0: the drifting environment of Sec. 6.3: per period, the Beta parameters that generate theta decay
    # toward the prior at this rate, the pulled arm's are updated with its reward, and theta is redrawn.
    env_drift_gamma: float = 0.0
    agent_prior_successes: List[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    agent_prior_failures: List[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    # > 0: TS with forgetting (Sec. 6.3): the agent's Beta parameters decay toward its prior at this rate.
    agent_forgetting_gamma: float = 0.0
    n_periods: int = 1000  # T, time periods (one action per period)
    n_replications: int = 1000  # independent runs simulated together under this seed


AGENTS = ("greedy", "ts")


def validate_finite_arm(cfg: FiniteArmConfig) -> None:
    """Values the simulator can use (checked before any run starts): known agent, one Beta parameter (> 0) and
    success probability (in [0, 1]) per arm, rates in [0, 1], at least one period and replication."""
    check.seed(cfg)
    check.one_of(cfg, "agent", AGENTS)
    check.at_least(cfg, 1, "n_arms", "n_periods", "n_replications")
    for name in ("env_prior_successes", "env_prior_failures", "agent_prior_successes", "agent_prior_failures"):
        check.each(cfg, name, cfg.n_arms, "arm (n_arms)", 0, lo_open=True)
    if cfg.theta is not None:
        check.each(cfg, "theta", cfg.n_arms, "arm (n_arms)", 0, 1)
    check.between(cfg, 0, 1, "env_drift_gamma", "agent_forgetting_gamma")


def beta_update(alpha: np.ndarray, beta: np.ndarray, action: np.ndarray, reward: np.ndarray, gamma: float,
                prior_alpha: np.ndarray, prior_beta: np.ndarray) -> None:
    """In place, per replication r: decay every arm toward the prior at rate gamma (Sec. 6.3; gamma = 0 is the
    stationary case), then the Beta-Bernoulli conjugate update (alpha, beta)_{x_t} += (r_t, 1 - r_t)."""
    if gamma > 0:
        alpha *= 1 - gamma
        alpha += gamma * prior_alpha
        beta *= 1 - gamma
        beta += gamma * prior_beta
    rows = np.arange(alpha.shape[0])
    alpha[rows, action] += reward
    beta[rows, action] += 1.0 - reward


def run_finite_arm(cfg: FiniteArmConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_finite_arm(cfg)
    R, K, T = cfg.n_replications, cfg.n_arms, cfg.n_periods
    theta_rng, rng = rng_pair(cfg.seed)
    a0_env = np.asarray(cfg.env_prior_successes, float)
    b0_env = np.asarray(cfg.env_prior_failures, float)
    a0 = np.asarray(cfg.agent_prior_successes, float)
    b0 = np.asarray(cfg.agent_prior_failures, float)

    state = ctx.restore()
    if state is None:
        if cfg.theta is not None:
            theta = np.broadcast_to(np.asarray(cfg.theta, float), (R, K)).copy()
        else:
            theta = theta_rng.beta(a0_env, b0_env, size=(R, K))  # theta_k ~ Beta(alpha_k, beta_k), Sec. 3
        state = {
            "t": 0,
            "theta": theta,
            "env_alpha": np.broadcast_to(a0_env, (R, K)).copy(),
            "env_beta": np.broadcast_to(b0_env, (R, K)).copy(),
            "alpha": np.broadcast_to(a0, (R, K)).copy(),  # agent's Beta posterior parameters
            "beta": np.broadcast_to(b0, (R, K)).copy(),
            "stats": PeriodStats(T, R, extra=[f"action_prob_arm{k}" for k in range(K)] + ["expected_reward"]),
            "rng": rng.bit_generator.state,
        }
    rng.bit_generator.state = state["rng"]
    theta, alpha, beta = state["theta"], state["alpha"], state["beta"]
    env_alpha, env_beta, stats = state["env_alpha"], state["env_beta"], state["stats"]
    rows = np.arange(R)

    bar = ctx.progress(T, f"{cfg.agent} T={T}", initial=state["t"], unit="periods")
    for t in range(state["t"], T):
        # Choose x_t.
        if cfg.agent == "ts":
            scores = rng.beta(alpha, beta)  # sample theta_hat ~ p(theta | history)      (Algorithm 2, line 3)
        else:
            scores = alpha / (alpha + beta)  # posterior mean theta_hat = alpha/(alpha+beta) (Algorithm 1, line 3)
        action = random_argmax(scores, rng)
        # Observe r_t ~ Bernoulli(theta_{x_t}); book-keep the expected regret.
        p = theta[rows, action]
        reward = (rng.random(R) < p).astype(float)
        regret = theta.max(axis=1) - p
        onehot = np.zeros((R, K))
        onehot[rows, action] = 1.0
        stats.add(t, regret, {**{f"action_prob_arm{k}": onehot[:, k] for k in range(K)}, "expected_reward": p})
        # Posterior update (Algorithms 1-2, lines 6-7), with forgetting toward the prior for Sec. 6.3.
        beta_update(alpha, beta, action, reward, cfg.agent_forgetting_gamma, a0, b0)
        if cfg.env_drift_gamma > 0:  # drifting environment (Sec. 6.3), as simulated in the authors' code
            beta_update(env_alpha, env_beta, action, reward, cfg.env_drift_gamma, a0_env, b0_env)
            theta[:] = rng.beta(env_alpha, env_beta)
        ctx.count(R, "agent-periods")
        state["t"] = t + 1
        bar.update(1)
        ctx.maybe_checkpoint(lambda: {**state, "rng": rng.bit_generator.state})
    bar.close()
    # the agent: each replication's Beta posterior at the end (committed with the run; common/rl/agents.py)
    save_agent(ctx, "beta_bernoulli_posterior", {"alpha": alpha, "beta": beta},
               {"agent": cfg.agent, "n_arms": K, "n_replications": R, "periods": T,
                "forgetting_gamma": cfg.agent_forgetting_gamma})
    return {"curves": stats.curve_frame(cfg.seed), "replications": summary_frame(stats, cfg.seed)}
