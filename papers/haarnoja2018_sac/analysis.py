"""Per-run statistics of the SAC claims and the learning-curve figure."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from common import plotting

if TYPE_CHECKING:
    from common.report import ExperimentData


def _evals(claim, data_by_exp, max_step: int | None) -> pd.DataFrame:
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return pd.DataFrame()
    ev = data.tables["evaluations"]
    ev = ev[ev["variant"] == claim.statistic["variant"]]
    return ev if max_step is None else ev[ev["env_step"] <= max_step]


def _last(values: pd.Series, n: int = 10) -> float:
    """The mean of the last n values (of a series sorted by env step)."""
    return values.tail(n).mean()


def _alpha_drift(alpha: np.ndarray) -> float:
    """|ln(mean alpha over the last 10% / mean alpha over the 10% before)|, NaN for fewer than 10 values; 0 means the
    learned temperature no longer moves, ln 2 a change by a factor of 2."""
    k = len(alpha) // 10
    return abs(np.log(alpha[-k:].mean() / alpha[-2 * k:-k].mean())) if k >= 1 else np.nan


def max_eval_values(claim, data_by_exp) -> np.ndarray:
    """Per run: the best evaluation return within the first `max_step` steps (TD3 Table 1's "max average return")."""
    ev = _evals(claim, data_by_exp, claim.statistic.get("max_step"))
    return ev.groupby("seed")["eval_return"].max().to_numpy() if len(ev) else np.array([])


def final_eval_values(claim, data_by_exp) -> np.ndarray:
    """Per run: the mean of its last 10 evaluation returns (within the first `max_step` steps, if given)."""
    ev = _evals(claim, data_by_exp, claim.statistic.get("max_step"))
    return ev.sort_values("env_step").groupby("seed")["eval_return"].apply(_last).to_numpy() if len(ev) \
        else np.array([])


def final_train_values(claim, data_by_exp) -> np.ndarray:
    """Per run: the mean return of its last `episodes` training episodes (stochastic policy) that ended within the
    first `max_step` steps: the measure of CleanRL's published table, which reports training returns."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    ep = data.tables["episodes"]
    ep = ep[(ep["variant"] == claim.statistic["variant"]) & (ep["env_step"] <= claim.statistic["max_step"])]
    n = claim.statistic["episodes"]
    return ep.sort_values("env_step").groupby("seed")["episode_return"].apply(_last, n=n).to_numpy() \
        if len(ep) else np.array([])


def alpha_drift_values(claim, data_by_exp) -> np.ndarray:
    """Per run: |ln(mean alpha over the last 10% of evaluations / mean alpha over the 10% before)|; 0 means the
    learned temperature no longer moves, ln 2 a change by a factor of 2."""
    ev = _evals(claim, data_by_exp, None)
    drift = [_alpha_drift(g["alpha"].dropna().to_numpy()) for _, g in ev.sort_values("env_step").groupby("seed")]
    return np.array([d for d in drift if not np.isnan(d)])


def v2_minus_v1_values(claim, data_by_exp) -> np.ndarray:
    """Per seed: v2's final evaluation return minus v1's on the same task and seed (paired)."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    ev = data.tables["evaluations"]
    env = claim.statistic["env"]
    final = ev.sort_values("env_step").groupby(["variant", "seed"])["eval_return"].apply(_last).reset_index()
    v1 = final[final["variant"] == ("v1" if env is None else f"v1__{env}")].set_index("seed")["eval_return"]
    v2 = final[final["variant"] == ("v2" if env is None else f"v2__{env}")].set_index("seed")["eval_return"]
    both = v1.index.intersection(v2.index)
    return (v2[both] - v1[both]).to_numpy()


def run_summary(experiment, data) -> pd.DataFrame:
    """Each run's numbers behind the claims: its best and last-10 deterministic evaluations, its last 10 training
    episodes (stochastic policy), and for v2 its learned temperature at the end and how much it still moved (|ln| of
    the last 10% of evaluations' mean alpha over the 10% before's)."""
    ev = data.tables["evaluations"].sort_values("env_step")
    ep = data.tables["episodes"].sort_values("env_step")
    rows = []
    for (variant, seed), g in ev.groupby(["variant", "seed"], sort=False):
        train = ep[(ep["variant"] == variant) & (ep["seed"] == seed)]["episode_return"]
        alpha = g["alpha"].dropna().to_numpy() if data.configs[variant]["version"] == "v2" else np.array([])
        rows.append({"variant": variant, "seed": seed, "env steps": g["env_step"].iloc[-1], "evaluations": len(g),
                     "best evaluation return": g["eval_return"].max(),
                     "last 10 evaluations, mean": _last(g["eval_return"]),
                     "last 10 training episodes, mean": _last(train),
                     "alpha at the end (v2)": alpha[-1] if len(alpha) else np.nan,
                     "alpha drift, abs ln (v2)": _alpha_drift(alpha)})
    return pd.DataFrame(rows)


def plot(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Top row: evaluation return per task, v1 and v2 (1812.05905 Figure 1). Bottom row: v2's learned temperature
    alpha (log scale), the quantity of the "temperature settles" claims; v1's temperature is fixed (1 / reward
    scale on the unscaled reward) and is not drawn."""
    plotting.setup()
    ev = data.tables["evaluations"].copy()
    parts = ev["variant"].str.split("__", n=1, expand=True)
    ev["version"] = parts[0]
    default_env = experiment.config.get("env_id", "")
    ev["env"] = (parts[1] if parts.shape[1] > 1 else pd.Series(default_env, index=ev.index)).fillna(default_env)
    envs = list(dict.fromkeys(ev["env"]))
    colors = {"v1": "C0", "v2": "C1"}  # one color per version, on every task and in every figure
    fig, axes = plt.subplots(2, len(envs), figsize=(5 * len(envs), 6.4), squeeze=False, sharex="col")
    for col, env in enumerate(envs):
        ax_return, ax_alpha = axes[0, col], axes[1, col]
        for version, g in ev[ev["env"] == env].groupby("version"):
            stats = g.groupby("env_step")["eval_return"].agg(["mean", "std", "count"]).reset_index()
            half = plotting.Z95 * stats["std"].fillna(0) / np.sqrt(stats["count"])
            line = plotting.line_with_band(ax_return, stats["env_step"], stats["mean"], stats["mean"] - half,
                                           stats["mean"] + half, label=f"SAC {version}", color=colors[version])
            if version == "v2":
                alpha = g.groupby("env_step")["alpha"].agg(["mean", "min", "max"]).reset_index()
                plotting.line_with_band(ax_alpha, alpha["env_step"], alpha["mean"], alpha["min"], alpha["max"],
                                        label="SAC v2 (band: min-max over seeds)", color=line.get_color())
        ax_return.set(title=env, ylabel="evaluation return (mean action)")
        ax_return.legend(frameon=False)
        ax_alpha.set(xlabel="environment steps", ylabel="temperature alpha (v2, learned)", yscale="log")
        if ax_alpha.has_data():
            ax_alpha.legend(frameon=False)
    fig.tight_layout()
    plotting.budget_caption(fig, caption)
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")
