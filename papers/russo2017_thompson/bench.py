"""Speed benchmark: a Thompson-sampling (or greedy) simulation against simulating the environment alone, in one run."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common.platform.records import RunContext, RunRecord

from .bandits import FiniteArmConfig, run_finite_arm


def env_only_periods_per_s(cfg: FiniteArmConfig, n_periods: int) -> float:
    """The same vectorized Bernoulli bandit, uniformly random actions, no beliefs: rewards and regret only."""
    rng = np.random.default_rng(cfg.seed)
    R, K = cfg.n_replications, cfg.n_arms
    theta = rng.random((R, K))
    rows = np.arange(R)
    best = theta.max(axis=1)
    total_reward = np.zeros(R)
    total_regret = np.zeros(R)
    start = time.perf_counter()
    for _ in range(n_periods):
        action = rng.integers(K, size=R)
        p = theta[rows, action]
        total_reward += rng.random(R) < p  # reward r_t ~ Bernoulli(theta_{x_t})
        total_regret += best - p  # expected regret, as the agents' runs book-keep it
    return n_periods * R / (time.perf_counter() - start)


def bench(cfg: FiniteArmConfig, n_periods: int, scratch: Path) -> dict:
    run_cfg = replace(cfg, n_periods=n_periods)
    env_rate = env_only_periods_per_s(run_cfg, n_periods)
    start = time.perf_counter()
    run_finite_arm(run_cfg, RunContext(RunRecord(scratch), checkpoint_every_s=1e9, show_progress=False))
    rate = n_periods * cfg.n_replications / (time.perf_counter() - start)
    return {"unit": "agent-periods/s", "environment_only": env_rate, "training": rate, "references": {},
            "note": f"{cfg.agent}, {cfg.n_replications:,} replications vectorized, {n_periods:,} periods"}
