"""The numbers the claims, Table 3's layout and Figure 1 use, from recorded runs.

Every run ends with `eval_episodes` (50) episodes of its final policy on the true reward: its `evaluation` table,
with each episode's return on Figure 1's scale, (R - R_random) / (R_expert - R_random), by the expert's and the
random policy's mean returns that its dataset recorded (papers/ho2016_gail/datasets.py). Per run (one seed, one
learned policy), the statistic is the mean over its evaluation episodes; the claims' intervals are over runs
(Table 3: 7 policies on the classic tasks and Reacher, one on the other MuJoCo tasks).

The paper's scaled values are computed the same way from its own Table 1 (expert and random) and Table 3
(`paper_scaled`): the scale is what makes a return measured on gymnasium's v5 tasks with this repository's experts
comparable with one on Gym's v1 tasks with the paper's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _per_run(data, variant: str, column: str) -> pd.Series:
    ev = data.tables.get("evaluation")
    if ev is None:
        return pd.Series(dtype=float)
    g = ev[ev["variant"] == variant]
    if column not in g:
        return pd.Series(dtype=float)
    return g.groupby("seed")[column].mean()


def scaled_return_values(claim, data_by_exp) -> np.ndarray:
    """Per run of the claim's one variant: the mean scaled return of its evaluation episodes."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    return _per_run(data, claim.statistic["variants"][0], "scaled_return").to_numpy(float)


def eval_return_values(claim, data_by_exp) -> np.ndarray:
    """Per run of the claim's one variant: the mean return of its evaluation episodes (true reward)."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    return _per_run(data, claim.statistic["variants"][0], "episode_return").to_numpy(float)


def gail_minus_baseline_values(claim, data_by_exp) -> np.ndarray:
    """Per seed present in both: the mean scaled return of the first variant (GAIL) minus that of the second (a
    baseline at the same dataset size)."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    a_name, b_name = claim.statistic["variants"]
    a, b = _per_run(data, a_name, "scaled_return"), _per_run(data, b_name, "scaled_return")
    common = sorted(set(a.index) & set(b.index))
    return np.asarray([a[s] - b[s] for s in common], float)


gail_minus_bc_values = gail_minus_baseline_values


def batch_return_rise(batch_returns, last: int = 10) -> float:
    """The mean training-batch return of the last `last` iterations minus that of the `last` before them (true
    return, not the imitation reward): above 0, the run was still improving when it stopped. NaN under 2 x `last`
    iterations."""
    x = np.asarray(batch_returns, dtype=float)
    if len(x) < 2 * last:
        return float("nan")
    return round(float(x[-last:].mean() - x[-2 * last:-last].mean()), 2)


def run_summary(experiment, data) -> pd.DataFrame:
    """Per run: task, method, dataset size, causal entropy, the mean and sd of its 50 evaluation returns and of their
    scaled values, and (an iterative method) its iterations, the mean return of its last training batch and how
    much its batches' return rose over the last 10 iterations (`batch_return_rise`)."""
    ev = data.tables["evaluation"]
    it = data.tables.get("iterations")
    rows = []
    for (variant, seed), g in ev.groupby(["variant", "seed"]):
        c = data.configs[variant]
        row = {"variant": variant, "seed": int(seed), "env": c["env_id"], "method": c["method"],
               "trajectories": int(c["trajectories"]) if c["method"] != "expert" else None,
               "causal_entropy": c["causal_entropy"], "eval_episodes": len(g),
               "eval_return_mean": round(float(g["episode_return"].mean()), 2),
               "eval_return_sd": round(float(g["episode_return"].std(ddof=0)), 2)}
        if "scaled_return" in g:
            row["scaled_mean"] = round(float(g["scaled_return"].mean()), 3)
        if it is not None and c["method"] != "bc":
            r = it[(it["variant"] == variant) & (it["seed"] == seed)].sort_values("iteration")
            if len(r):
                row.update(iterations=int(r["iteration"].max()) + 1, env_steps=int(r["env_step"].max()),
                           last_batch_return=round(float(r["mean_return"].iloc[-1]), 2),
                           batch_return_rise_last10=batch_return_rise(r["mean_return"].to_numpy()))
        rows.append(row)
    return pd.DataFrame(rows)


# ---- the paper's numbers on the same scale --------------------------------------------------------------------------
#: Table 1 (Appendix B): (random, expert) mean returns per task, keyed by this repository's task ids
PAPER_SCALE = {"CartPole-v1": (18.64, 200.0), "Acrobot-v1": (-200.0, -75.25), "MountainCar-v0": (-200.0, -98.75),
               "Reacher-v5": (-43.21, -4.09), "HalfCheetah-v5": (-282.43, 4463.46), "Hopper-v5": (14.47, 3571.38),
               "Walker2d-v5": (0.57, 6717.08), "Ant-v5": (-69.68, 4228.37), "Humanoid-v5": (122.87, 9575.4)}


def paper_scaled(env_id: str, value: float) -> float:
    """A return of Table 3 on Figure 1's scale, by the paper's Table 1."""
    random, expert = PAPER_SCALE[env_id]
    return (value - random) / (expert - random)
