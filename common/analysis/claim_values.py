"""Per-run values of a claim's statistic (a paper's `STATISTICS[...]`, a claim's `custom:`) that several papers
compute the same way: one value per run, by seed, from the claim's experiment's recorded runs.

  - `evaluated_runs`: each run's evaluations and training episode returns up to a step (the per-run tables of the
    off-policy papers, SAC and DDPG, are built from them);
  - `variant_run_values`: one column of a paper's per-run table (`per_run(data, max_step, train_episodes)`) for the
    claim's `variant`, within its `max_step` and over its last `episodes` training episodes (SAC, DDPG);
  - `paired_run_difference`: one variant's column minus another's, seed by seed (SAC v2 - v1, DDPG Figure 2);
  - `last_episodes_mean_values`: the mean return of each run's last n episodes (TRPO and PPO's Atari tables).

Each returns an empty array when the experiment has no complete run (the claim is then "not run").
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import pandas as pd

PerRun = Callable[..., pd.DataFrame]  # per_run(data, max_step=None, train_episodes=10): one row per (variant, seed)


def evaluated_runs(data, max_step: int | None) -> Iterator[tuple[str, int, pd.DataFrame, pd.Series]]:
    """Per run, in the order the `evaluations` table first names it: (variant, seed, its evaluations sorted by env
    step, the returns of its training episodes in the order they ended), both up to `max_step` env steps (all if
    None)."""
    ev = data.tables["evaluations"].sort_values("env_step")
    ep = data.tables["episodes"].sort_values("env_step")
    if max_step is not None:
        ev, ep = ev[ev["env_step"] <= max_step], ep[ep["env_step"] <= max_step]
    for (variant, seed), g in ev.groupby(["variant", "seed"], sort=False):
        yield variant, seed, g, ep[(ep["variant"] == variant) & (ep["seed"] == seed)]["episode_return"]


def variant_run_values(claim, data_by_exp, per_run: PerRun, column: str) -> np.ndarray:
    """The claim's variant's runs, by seed: `column` of `per_run` within the claim's `max_step` (all steps if it
    names none) and over its last `episodes` training episodes (10 if it names none); NaN values left out."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    runs = per_run(data, claim.statistic.get("max_step"), claim.statistic.get("episodes", 10))
    runs = runs[runs["variant"] == claim.statistic["variant"]].sort_values("seed")
    return runs[column].dropna().to_numpy()


def paired_run_difference(claim, data_by_exp, per_run: PerRun, column: str, first: str, second: str) -> np.ndarray:
    """Per seed (ascending), over whole runs: `column` of variant `first` minus that of variant `second` on the same
    seed; seeds missing either are left out, and an empty array if either variant has no run."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    by_seed = per_run(data).pivot(index="seed", columns="variant", values=column)  # rows sorted by seed
    if first not in by_seed or second not in by_seed:
        return np.array([])
    return (by_seed[first] - by_seed[second]).dropna().to_numpy()


def last_episodes_mean_values(claim, data_by_exp, n_episodes: int, step_column: str) -> np.ndarray:
    """Per run of the claim's variant, by seed: the mean `episode_return` of its last `n_episodes` episodes, in the
    order of `step_column`."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    ep = data.tables["episodes"]
    ep = ep[ep["variant"] == claim.statistic["variant"]].sort_values(step_column)
    return ep.groupby("seed")["episode_return"].apply(lambda x: x.tail(n_episodes).mean()).to_numpy()


def run_column_statistic(per_run: PerRun, column: str) -> Callable[..., np.ndarray]:
    """The claim statistic `(claim, data_by_exp) -> values` that reads `column` of `per_run` for the claim's variant
    (`variant_run_values`)."""
    def values(claim, data_by_exp) -> np.ndarray:
        return variant_run_values(claim, data_by_exp, per_run, column)

    values.__doc__ = (f"Per run of the claim's variant, by seed: its '{column}' within the claim's `max_step` (if it "
                      f"names one), over its last `episodes` training episodes (10 if it names none).")
    return values
