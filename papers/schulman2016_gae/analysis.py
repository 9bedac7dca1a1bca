"""The numbers the claims and figures use, from recorded runs.

Each run records one row per batch (`iterations` table): batch i is sampled by the policy after i updates, its
`mean_return` the mean return of its trajectories (training episodes, the stochastic policy, as the paper's curves;
on cart-pole a trajectory's return is its length in steps, the paper's cost its negative). Per run:
  - final return: the mean_return of the batch after the last update (Figure 2, right: "after 20 iterations"), or
    the mean over the last `last_iterations` batches (3D tasks);
  - learning-curve mean: the mean of mean_return over all batches (the area under Figure 2's left curves, per
    batch), which is larger for the setting that improves faster.
Cart-pole claims compare groups of (gamma, lambda) cells seed by seed: for each seed, the mean over the cells of
one group minus the mean over the cells of the other (each cell's run records its seeds in the `seed` column; the
pairing only orders the differences); the verdict is over the 21 seeds' differences.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# Figure 2 and Sec. 6.3.1 (shared/reported/gae2016.yaml)
BEST_GAMMA = (0.96, 0.99)  # "best results ... gamma in [0.96, 0.99] and lambda in [0.92, 0.99]" (Sec. 6.3.1)
BEST_LAMBDA = (0.92, 0.99)
FAST_LAMBDA = (0.92, 0.98)  # "fastest policy improvement ... lambda in the range [0.92, 0.98]" (Figure 2, caption)
FAST_GAMMA = 0.99  # Figure 2, left: gamma = 0.99
EPS = 1e-9


def _inside(x: float, lo_hi: tuple[float, float]) -> bool:
    return lo_hi[0] - EPS <= x <= lo_hi[1] + EPS


def cell_table(data) -> pd.DataFrame:
    """One row per run: variant, seed, gamma, lambda, baseline, the final return (last batch) and the
    learning-curve mean (all batches)."""
    it = data.tables["iterations"]
    last = it.sort_values("iteration").groupby(["variant", "seed"], as_index=False).agg(
        final_return=("mean_return", "last"), curve_mean=("mean_return", "mean"), iterations=("iteration", "max"))
    cfg = pd.DataFrame([{"variant": v, "gamma": float(c["gamma"]), "lam": float(c["lam"]), "baseline": c["baseline"]}
                        for v, c in data.configs.items()])
    return last.merge(cfg, on="variant")


def _group_difference(cells: pd.DataFrame, value: str, in_a, in_b) -> np.ndarray:
    """Per seed: mean of `value` over the cells where `in_a(row)` minus the mean where `in_b(row)`; seeds that
    lack either group are left out."""
    out = []
    for _, g in cells.groupby("seed"):
        a = g[g.apply(in_a, axis=1)][value]
        b = g[g.apply(in_b, axis=1)][value]
        if len(a) and len(b):
            out.append(a.mean() - b.mean())
    return np.asarray(out, float)


def _gae(row) -> bool:
    return row["baseline"] == "value_function"


def _cells_difference(claim, data_by_exp, value: str, in_a, in_b) -> np.ndarray:
    """`_group_difference` of `value` over the cells of the claim's experiment (empty if it has no complete run)."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    return _group_difference(cell_table(data), value, in_a, in_b)


def best_region_values(claim, data_by_exp) -> np.ndarray:
    """Per seed: the mean return after the last update over the cells with gamma in [0.96, 0.99] and lambda in
    [0.92, 0.99], minus the mean over every other (gamma, lambda) cell of the grid (No VF left out)."""
    def best(r):
        return _gae(r) and _inside(r["gamma"], BEST_GAMMA) and _inside(r["lam"], BEST_LAMBDA)

    return _cells_difference(claim, data_by_exp, "final_return", best, lambda r: _gae(r) and not best(r))


def best_gamma_values(claim, data_by_exp) -> np.ndarray:
    """Per seed, over the cells with lambda in [0.92, 0.99]: the mean return after the last update with gamma in
    [0.96, 0.99] minus that with the grid's other gamma (No VF left out). Stricter than `best_region_values`, whose
    other cells include the small lambda that do worst: this one holds lambda in its range and varies gamma only."""
    def held(r):
        return _gae(r) and _inside(r["lam"], BEST_LAMBDA)

    return _cells_difference(claim, data_by_exp, "final_return", lambda r: held(r) and _inside(r["gamma"], BEST_GAMMA),
                             lambda r: held(r) and not _inside(r["gamma"], BEST_GAMMA))


def fast_lambda_values(claim, data_by_exp) -> np.ndarray:
    """Per seed, at gamma = 0.99: the learning-curve mean over lambda in [0.92, 0.98], minus that over the other
    lambda values of the grid at gamma = 0.99 (No VF left out)."""
    def held(r):
        return _gae(r) and np.isclose(r["gamma"], FAST_GAMMA)

    return _cells_difference(claim, data_by_exp, "curve_mean", lambda r: held(r) and _inside(r["lam"], FAST_LAMBDA),
                             lambda r: held(r) and not _inside(r["lam"], FAST_LAMBDA))


def _intermediate_over(extreme: float):
    def held(r):
        return _gae(r) and _inside(r["gamma"], BEST_GAMMA)

    def values(claim, data_by_exp) -> np.ndarray:
        return _cells_difference(claim, data_by_exp, "final_return",
                                 lambda r: held(r) and _inside(r["lam"], BEST_LAMBDA),
                                 lambda r: held(r) and abs(r["lam"] - extreme) < EPS)

    values.__doc__ = (f"Per seed, over gamma in [0.96, 0.99]: the mean return after the last update with lambda in "
                      f"[0.92, 0.99] minus that with lambda = {extreme:g}.")
    return values


intermediate_over_lambda1_values = _intermediate_over(1.0)
intermediate_over_lambda0_values = _intermediate_over(0.0)


def final_difference_values(claim, data_by_exp) -> np.ndarray:
    """3D tasks, per seed: the mean return over the last `last_iterations` batches of the first of `variants` minus
    that of the second."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    a_name, b_name = claim.statistic["variants"]
    last = int(claim.statistic.get("last_iterations", 10))
    it = data.tables["iterations"].sort_values("iteration")
    scores = it.groupby(["variant", "seed"]).tail(last).groupby(["variant", "seed"])["mean_return"].mean()
    a, b = scores.get(a_name), scores.get(b_name)
    if a is None or b is None:
        return np.array([])
    a, b = a.droplevel(0) if a.index.nlevels > 1 else a, b.droplevel(0) if b.index.nlevels > 1 else b
    common = sorted(set(a.index) & set(b.index))
    return np.asarray([a[s] - b[s] for s in common], float)


def run_summary(experiment, data) -> pd.DataFrame:
    """Per run (a packed cart-pole run holds `seeds_per_run` seeds, its `seed` the run's index): gamma, lambda
    (none for No VF, whose advantage is the return minus the time baseline), baseline, the seeds it holds, the
    first and the last batch's mean return (mean over its seeds), its env steps (all seeds) and how often the line
    search kept the old policy (all seeds)."""
    it = data.tables["iterations"].sort_values("iteration", kind="stable")
    rows = []
    for variant, g in it.groupby("variant"):
        c = data.configs[variant]
        per_run = int(c.get("seeds_per_run", 1))
        for run_seed, r in g.groupby(g["seed"] // per_run):
            by_seed = r.groupby("seed")
            seeds = sorted(r["seed"].unique())
            rows.append({"variant": variant, "seed": int(run_seed),
                         "seeds": f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]} ({len(seeds)})",
                         "gamma": c["gamma"], "lambda": c["lam"] if c["baseline"] == "value_function" else None,
                         "baseline": c["baseline"],
                         "updates": int(r["iteration"].max()), "env_steps": int(by_seed["env_step"].max().sum()),
                         "first_batch_return": round(float(by_seed["mean_return"].first().mean()), 1),
                         "last_batch_return": round(float(by_seed["mean_return"].last().mean()), 1),
                         "line_search_rejections": int(sum((s["accepted"].iloc[:-1] == 0).sum() for _, s in by_seed))})
    return pd.DataFrame(rows)
