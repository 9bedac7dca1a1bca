"""Per-run statistics of CQL's Table 1 claims, the per-run summary and the learning-curve figure."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from common.analysis import plotting
from common.offline import course
from common.offline.d4rl import normalized_score
from common.offline.datasets import own_reference_returns

FINAL = "D4RL-normalized return, last 10 evaluations, mean"
FINAL_RAW = "return, last 10 evaluations, mean"
FINAL_OWN = "own-normalized return, last 10 evaluations, mean"
DATASET_LABEL = "locally generated dataset"


def per_run(data, last: int = 10, root=None) -> pd.DataFrame:
    """One row per run: its last `last` deterministic evaluations' mean return, raw, on D4RL's normalized scale
    and on this repository's own (`root`: the results folder whose dataset records set it), the final
    Q on the dataset's actions and on the policy's, its best evaluation and when, CQL's smallest α′ and when
    (common/offline/course.py), and the dataset it learned from."""
    ev = data.tables["evaluations"].sort_values("grad_step")
    refs = {}  # env_id -> its (random, expert) returns, read once from the dataset records
    rows = []
    for (variant, seed), g in ev.groupby(["variant", "seed"], sort=False):
        tail = g.tail(last)
        final_raw = tail["eval_return"].mean()
        env_id = (data.configs.get(variant) or {}).get("env_id", "")
        if env_id not in refs:
            refs[env_id] = own_reference_returns(env_id, root) if env_id else None
        own = refs[env_id]
        rows.append({"variant": variant, "seed": seed, "gradient steps": int(g["grad_step"].iloc[-1]),
                     "evaluations": len(g), FINAL_RAW: final_raw, FINAL: tail["eval_d4rl_normalized"].mean(),
                     FINAL_OWN: normalized_score(final_raw, *own) if own else np.nan,
                     "Q(s, a_D), last": g["q_data_mean"].iloc[-1], "Q(s, pi(s)), last": g["q_pi_mean"].iloc[-1],
                     **course.course(g), "dataset": DATASET_LABEL})
    return pd.DataFrame(rows, columns=["variant", "seed", "gradient steps", "evaluations", FINAL_RAW, FINAL, FINAL_OWN,
                                       "Q(s, a_D), last", "Q(s, pi(s)), last", *course.COLUMNS, "dataset"])


def final_normalized_values(claim, data_by_exp) -> np.ndarray:
    """Per run of the claim's variant: the mean D4RL-normalized return of its last 10 evaluations (Table 1's
    metric, there after 1M gradient steps and averaged over 4 seeds)."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    runs = per_run(data)
    return runs.loc[runs["variant"] == claim.statistic["variant"], FINAL].dropna().to_numpy(dtype=float)


def run_summary(experiment, data) -> pd.DataFrame:
    """Each run's numbers behind the claims (every cell from a locally generated dataset): its final return raw, on
    D4RL's normalized scale (the claims' metric) and own-normalized (0 = this repository's random dataset's mean
    episode return, 100 = its expert dataset's: `own_normalized` of common/offline/datasets.py; empty where the
    task lacks either record)."""
    return per_run(data)


def plot(experiment, data, out_dir: Path, caption: str) -> list[Path]:
    """Per task and dataset: D4RL-normalized evaluation return against gradient steps, one line per method."""
    plotting.setup()
    ev = data.tables["evaluations"].copy()
    split = ev["variant"].str.contains("__")
    ev["cell"] = np.where(split, ev["variant"].str.rsplit("__", n=1).str[0], experiment.config.get("env_id", ""))
    ev["method"] = ev["variant"].str.rsplit("__", n=1).str[-1]
    cells = list(dict.fromkeys(ev["cell"]))
    cols = min(5, len(cells))
    rows = (len(cells) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    kinds = set()
    for ax, cell in zip(axes.flat, cells):
        for method, g in ev[ev["cell"] == cell].groupby("method"):
            x, runs = plotting.run_matrix(g, "grad_step", "eval_d4rl_normalized")
            _, kind = plotting.runs_with_band(ax, x, runs, label=method)
            kinds.add(kind)
        ax.set(title=f"{cell} ({DATASET_LABEL})", xlabel="gradient steps", ylabel="D4RL-normalized return")
        ax.legend(frameon=False, fontsize=7)
    for ax in list(axes.flat)[len(cells):]:
        ax.set_visible(False)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")
