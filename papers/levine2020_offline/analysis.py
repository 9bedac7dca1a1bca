"""Per-run statistics of the tutorial's distributional-shift claims, and its figure (return and log Q against
gradient steps)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from common.analysis import plotting
from common.offline.course import BEST, course

Q_OVER_DATA = "final Q(s, pi(s)) / dataset's discounted return"
FINAL_OVER_BEST = "last 10 evaluations / best evaluation"


def per_run(data, last: int = 10) -> pd.DataFrame:
    """One row per run: its final Q-estimate of its own policy's actions, Q(s, pi(s)) averaged over the last
    evaluation period's minibatches, divided by the mean discounted return the dataset's own actions earned from its
    states (NaN for BC, which has no Q-function); its best evaluation and when, and CQL's smallest α′ and when
    (common/offline/course.py); and its last `last` evaluations' mean return over its best."""
    ev = data.tables["evaluations"].sort_values("grad_step")
    ds = data.tables["dataset"]
    rows = []
    for (variant, seed), g in ev.groupby(["variant", "seed"], sort=False):
        d = ds[(ds["variant"] == variant) & (ds["seed"] == seed)]
        data_return = float(d["discounted_return_mean"].iloc[0]) if len(d) else np.nan
        q_final = g["q_pi_mean"].iloc[-1]
        how = course(g)
        best = how[BEST]
        rows.append({"variant": variant, "seed": seed, "gradient steps": int(g["grad_step"].iloc[-1]),
                     "final Q(s, pi(s))": q_final, "dataset's discounted return": data_return,
                     Q_OVER_DATA: q_final / data_return if data_return > 0 else np.nan,
                     **how, "last 10 evaluations": g["eval_return"].tail(last).mean(),
                     FINAL_OVER_BEST: g["eval_return"].tail(last).mean() / best if best > 0 else np.nan})
    return pd.DataFrame(rows)


def _values(claim, data_by_exp, column: str) -> np.ndarray:
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    runs = per_run(data)
    return runs.loc[runs["variant"] == claim.statistic["variant"], column].dropna().to_numpy(dtype=float)


def q_over_data_values(claim, data_by_exp) -> np.ndarray:
    """Per run: final Q(s, pi(s)) / the dataset's mean discounted return (1: the policy valued as the data earned)."""
    return _values(claim, data_by_exp, Q_OVER_DATA)


def final_over_best_values(claim, data_by_exp) -> np.ndarray:
    """Per run: the mean of its last 10 evaluation returns over its best evaluation (1: no fall from the best)."""
    return _values(claim, data_by_exp, FINAL_OVER_BEST)


def run_summary(experiment, data) -> pd.DataFrame:
    """Each run's numbers behind the claims (every run on a locally generated dataset)."""
    return per_run(data)


def plot(experiment, data, out_dir: Path, caption: str) -> list[Path]:
    """Per dataset (columns): evaluation return (top) and log10 of the Q-estimate of the policy's actions (bottom)
    against gradient steps, one line per method (the tutorial's figure of log Q against gradient steps), with the
    dataset's mean episode return (top), its mean discounted return and twice it (the claims' rule; bottom) as
    horizontal lines."""
    plotting.setup()
    ev = data.tables["evaluations"].copy()
    parts = ev["variant"].str.rsplit("__", n=1)
    ev["cell"], ev["method"] = parts.str[0], parts.str[-1]
    cells = list(dict.fromkeys(ev["cell"]))
    colors = plotting.fixed_colors(v.rsplit("__", 1)[-1] for v in experiment.variants)
    fig, axes = plt.subplots(2, len(cells), figsize=(4.5 * len(cells), 6.4), squeeze=False, sharex="col")
    kinds = set()
    for col, cell in enumerate(cells):
        for method, g in ev[ev["cell"] == cell].groupby("method"):
            x, runs = plotting.run_matrix(g, "grad_step", "eval_return")
            _, kind = plotting.runs_with_band(axes[0, col], x, runs, label=method, color=colors[method])
            kinds.add(kind)
            if g["q_pi_mean"].notna().any():
                q = g.groupby("grad_step")["q_pi_mean"].mean()
                axes[1, col].plot(q.index, np.log10(np.clip(q.to_numpy(), 1e-3, None)), label=method,
                                  color=colors[method])
        stats = data.tables["dataset"].loc[lambda d: d["variant"].str.rsplit("__", n=1).str[0] == cell]
        if len(stats):  # the behaviour's level: the dataset's mean episode return
            behaviour = float(stats["return_mean"].iloc[0])
            axes[0, col].axhline(behaviour, color="0.3", ls="--", lw=1,
                                 label=f"dataset's mean return ({behaviour:,.0f})")
        if len(stats) and float(stats["discounted_return_mean"].iloc[0]) > 0:  # the claims' yardstick, and 2x it
            level = float(stats["discounted_return_mean"].iloc[0])
            axes[1, col].axhline(np.log10(level), color="0.3", ls="--", lw=1,
                                 label=f"dataset's discounted return ({level:,.0f})")
            axes[1, col].axhline(np.log10(2 * level), color="0.6", ls=":", lw=1, label="2x: far above (claims)")
        axes[0, col].set(title=f"{cell} (locally generated dataset)", ylabel="evaluation return (mean action)")
        axes[0, col].legend(frameon=False, fontsize=7)
        axes[1, col].set(xlabel="gradient steps", ylabel="log10 Q(s, pi(s)) (mean over runs)")
        if axes[1, col].has_data():
            axes[1, col].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds) + "; log Q: mean over runs, clipped at 1e-3")
    return plotting.save(fig, out_dir, f"{experiment.name}_return_and_log_q")
