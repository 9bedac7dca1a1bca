"""The tutorial's figures, redrawn from recorded runs: mean over runs with 95% confidence bands."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import pandas as pd

from common import plotting

if TYPE_CHECKING:
    from common.report import ExperimentData

LABELS = {
    "greedy": "greedy", "ts": "TS", "eps_0.01": "0.01-greedy", "eps_0.05": "0.05-greedy", "eps_0.1": "0.1-greedy",
    "coherent_ts": "coherent TS", "misspecified_ts": "misspecified TS", "informed_prior": "informed prior TS",
    "uniform_prior": "uninformed (uniform) prior TS", "stationary_ts": "stationary TS",
    "nonstationary_ts": "nonstationary TS (forgetting)",
}


def _regret_panel(ax, curves: pd.DataFrame, title: str) -> None:
    pooled = plotting.pool_curves(curves, ["variant", "t"], "regret_mean", "regret_sd")
    for variant, g in pooled.groupby("variant", sort=False):
        plotting.line_with_band(ax, g["t"], g["mean"], g["lo"], g["hi"], label=LABELS.get(variant, variant))
    ax.set(xlabel="time period (t)", ylabel="per-period regret", title=title)
    ax.legend(frameon=False)


def _mean_panel(ax, curves: pd.DataFrame, column: str, ylabel: str, title: str) -> None:
    pooled = plotting.pool_curves(curves, ["variant", "t"], column)
    for variant, g in pooled.groupby("variant", sort=False):
        plotting.line_with_band(ax, g["t"], g["mean"], label=LABELS.get(variant, variant))
    ax.set(xlabel="time period (t)", ylabel=ylabel, title=title)
    ax.legend(frameon=False)


def plot(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    plotting.setup()
    curves = data.tables["curves"]
    name = experiment.name
    paths: list[Path] = []
    if name == "fig3_1":
        variants = list(dict.fromkeys(curves["variant"]))
        fig, axes = plt.subplots(1, len(variants), figsize=(5 * len(variants), 3.6), sharey=True)
        theta = experiment.config["theta"]
        for ax, variant in zip(axes, variants):
            sub = curves[curves["variant"] == variant]
            for k, th in enumerate(theta):
                pooled = plotting.pool_curves(sub, ["t"], f"action_prob_arm{k}_mean")
                ax.plot(pooled["t"], pooled["mean"], label=f"action {k + 1} (θ = {th})")
            ax.set(xlabel="time period (t)", ylabel="action probability", title=f"Fig. 3.1: {LABELS[variant]}")
            ax.legend(frameon=False)
        plotting.budget_caption(fig, caption)
        paths += plotting.save(fig, out_dir, "fig3_1_action_probability")
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        _regret_panel(ax, curves, "Fig. 3.2a: θ = (0.9, 0.8, 0.7)")
        plotting.budget_caption(fig, caption)
        paths += plotting.save(fig, out_dir, "fig3_2a_regret")
    elif name in ("fig3_2b", "fig6_3"):
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        _regret_panel(ax, curves, {"fig3_2b": "Fig. 3.2b: θ ~ U(0,1)³", "fig6_3": "Fig. 6.3: drifting θ"}[name])
        plotting.budget_caption(fig, caption)
        paths += plotting.save(fig, out_dir, f"{name}_regret")
    elif name in ("fig4_1", "fig4_3"):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        label = {"fig4_1": "Fig. 4.1", "fig4_3": "Fig. 4.3"}[name]
        _regret_panel(axes[0], curves, f"{label}a: per-period regret")
        _mean_panel(axes[1], curves, "distance_ratio_mean", "total distance / optimal", f"{label}b")
        plotting.budget_caption(fig, caption)
        paths += plotting.save(fig, out_dir, f"{name}_bridge")
    elif name == "fig6_2":
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        _regret_panel(axes[0], curves, "Fig. 6.2a: per-period regret")
        _mean_panel(axes[1], curves, "expected_reward_mean", "expected mean reward", "Fig. 6.2b")
        plotting.budget_caption(fig, caption)
        paths += plotting.save(fig, out_dir, f"{name}_prior")
    else:
        raise ValueError(f"no figure defined for experiment {name}")
    return paths
