"""Figure 4's numbers from recorded runs: per run, the mean return of the episodes of its last iterations."""
from __future__ import annotations

import numpy as np
import pandas as pd

from common.analysis.claim_values import last_episodes_mean_values


def final_returns(iterations: pd.DataFrame, last: int) -> pd.DataFrame:
    """One row per run (variant, seed): the mean over its last `last` policy iterations of each iteration's mean
    episode return (the quantity Figure 4 plots per iteration)."""
    tail = iterations.sort_values("iteration").groupby(["variant", "seed"]).tail(last)
    return tail.groupby(["variant", "seed"], as_index=False)["mean_return"].mean()


def final_return_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic: per run of one variant, the mean episode return over its last `last_iterations`. With
    `variants: [...]` instead of `variant`, the runs of the variant among them whose mean over runs is highest: the
    paper's choice for natural gradient ("we swept through the possible values of the stepsize in factors of three,
    and took the best value according to the final performance", Sec. 8.1); the choice and the verdict then read the
    same runs, as the paper's did. A variant with no run yet is not a candidate, nor is one with a diverged run
    (non-finite training, no final performance) while another has none."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    scores = final_returns(data.tables["iterations"], int(claim.statistic.get("last_iterations", 10)))
    if "variant" in claim.statistic:
        variant = claim.statistic["variant"]
    else:
        means = scores[scores["variant"].isin(claim.statistic["variants"])].groupby("variant")["mean_return"].mean()
        steady = means[[v not in {w for (w, _) in data.diverged} for v in means.index]]
        means = steady if not steady.empty else means
        if means.empty:
            return np.array([])
        variant = means.idxmax()
    return scores.loc[scores["variant"] == variant, "mean_return"].to_numpy()


def run_summary(experiment, data) -> pd.DataFrame:
    """Per run: the final return (last 10 iterations), the first iteration's, steps, and how often the line search
    kept the old policy (TRPO's methods; "-" for CEM, CMA and RWR, which have no line search)."""
    it = data.tables["iterations"].sort_values("iteration")
    rows = []
    for (variant, seed), g in it.groupby(["variant", "seed"]):
        searched = "accepted" in g and g["accepted"].notna().all()
        rows.append({"variant": variant, "seed": seed, "iterations": len(g), "env_steps": int(g["env_step"].max()),
                     "first_iteration_return": round(float(g["mean_return"].iloc[0]), 1),
                     "final_return_last10": round(float(g["mean_return"].tail(10).mean()), 1),
                     "line_search_rejections": int((g["accepted"] == 0).sum()) if searched else "-"})
    return pd.DataFrame(rows)


def final_return_difference_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic for Figure 4's orderings, `variants: [A, B]`: per seed that both ran, A's final return
    (mean over its last `last_iterations` iterations) minus B's. Seeds pair runs only by their index: the two
    methods' runs are independent, and the interval over seeds is that of the mean difference."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    first, second = claim.statistic["variants"]
    scores = final_returns(data.tables["iterations"], int(claim.statistic.get("last_iterations", 10)))
    a = scores[scores["variant"] == first].set_index("seed")["mean_return"]
    b = scores[scores["variant"] == second].set_index("seed")["mean_return"]
    both = a.index.intersection(b.index)
    return (a[both] - b[both]).to_numpy()


LAST_GAMES = 100


def atari_score_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic for Table 1: per run of one game, the mean (unclipped) score of its last 100 games (the
    paper does not say how its scores were computed: README)."""
    return last_episodes_mean_values(claim, data_by_exp, LAST_GAMES, "agent_step")
