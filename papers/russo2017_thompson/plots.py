"""The tutorial's figures, redrawn from recorded runs: the mean over runs; regret panels add the 95% Student-t
interval of that mean (each run record holds the mean and sd of its many simulated runs, so the pooled interval is
a t interval over all of them; the claims use the percentile bootstrap, equal to it at these run counts)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import pandas as pd

from common.analysis import plotting

if TYPE_CHECKING:
    from common.analysis.report import ExperimentData

REGRET_BAND = ("line: mean over all simulated runs; band: 95% Student-t interval of that mean (N - 1 degrees of "
               "freedom over the N pooled runs)")
MEAN_ONLY = "lines: mean over all simulated runs (no band)"

LABELS = {
    "greedy": "greedy", "ts": "TS", "eps_0.01": "0.01-greedy", "eps_0.05": "0.05-greedy", "eps_0.1": "0.1-greedy",
    "coherent_ts": "coherent TS", "misspecified_ts": "misspecified TS", "informed_prior": "informed prior TS",
    "uniform_prior": "uninformed (uniform) prior TS", "stationary_ts": "stationary TS",
    "nonstationary_ts": "nonstationary TS (forgetting)",
}


def _regret_panel(ax, curves: pd.DataFrame, title: str, colors: dict | None = None) -> None:
    pooled = plotting.pool_curves(curves, ["variant", "t"], "regret_mean", "regret_sd")
    for variant, g in pooled.groupby("variant", sort=False):
        plotting.line_with_band(ax, g["t"], g["mean"], g["lo"], g["hi"], label=LABELS.get(variant, variant),
                                color=(colors or {}).get(variant))
    ax.set(xlabel="time period (t)", ylabel="per-period regret", title=title)
    ax.legend(frameon=False)


def _mean_panel(ax, curves: pd.DataFrame, column: str, ylabel: str, title: str, colors: dict | None = None) -> None:
    pooled = plotting.pool_curves(curves, ["variant", "t"], column)
    for variant, g in pooled.groupby("variant", sort=False):
        plotting.line_with_band(ax, g["t"], g["mean"], label=LABELS.get(variant, variant),
                                color=(colors or {}).get(variant))
    ax.set(xlabel="time period (t)", ylabel=ylabel, title=title)
    ax.legend(frameon=False)


# the tutorial's number of each experiment's figure, for panel titles
def figure_number(experiment) -> str:
    """The paper's figure number an experiment is named after: fig3_2b -> 'Fig. 3.2b'."""
    return "Fig. " + experiment.name.removeprefix("fig").replace("_", ".")


def plot_action_probability(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Figures 3.1 and 3.2a: each agent's probability of playing each action over time, and the per-period regret."""
    plotting.setup()
    curves = data.tables["curves"]
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
    plotting.budget_caption(fig, caption, MEAN_ONLY)
    paths = plotting.save(fig, out_dir, f"{experiment.name}_action_probability")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    _regret_panel(ax, curves, f"Fig. 3.2a: θ = ({', '.join(str(th) for th in theta)})")
    plotting.budget_caption(fig, caption, REGRET_BAND)
    return paths + plotting.save(fig, out_dir, "fig3_2a_regret")


def plot_regret(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Per-period regret of each agent (Figures 3.2b and 6.3)."""
    plotting.setup()
    environment = {"fig3_2b": "θ ~ U(0,1)³", "fig6_3": "drifting θ"}[experiment.name]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    _regret_panel(ax, data.tables["curves"], f"{figure_number(experiment)}: {environment}")
    plotting.budget_caption(fig, caption, REGRET_BAND)
    return plotting.save(fig, out_dir, f"{experiment.name}_regret")


def _regret_and_mean(experiment, data: ExperimentData, out_dir: Path, caption: str, column: str, ylabel: str,
                     suffix: str) -> list[Path]:
    """Two panels: per-period regret (a), and the mean of `column` over runs (b)."""
    plotting.setup()
    curves, number = data.tables["curves"], figure_number(experiment)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    _regret_panel(axes[0], curves, f"{number}a: per-period regret")
    _mean_panel(axes[1], curves, column, ylabel, f"{number}b")
    plotting.budget_caption(fig, caption, f"(a) {REGRET_BAND}; (b) {MEAN_ONLY}")
    return plotting.save(fig, out_dir, f"{experiment.name}_{suffix}")


AS_RUN = "_as_run"  # variants as the authors' code ran them (README, deviations 1-3)


def _label(variant: str) -> str:
    if variant == "coherent_ts_as_run":
        return "coherent TS (the authors' update, on ln y)"
    base = variant.removesuffix(AS_RUN)
    return LABELS.get(base, base)


def plot_bridge(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Online shortest path (Figures 4.1 and 4.3): per-period regret, and the travel time over the optimal one.
    With "as run" variants, a second row draws them: the top row is the tutorial's text, the bottom the code's."""
    curves = data.tables["curves"]
    as_run = curves["variant"].str.endswith(AS_RUN)
    if not as_run.any():
        return _regret_and_mean(experiment, data, out_dir, caption, "distance_ratio_mean", "total distance / optimal",
                                "bridge")
    plotting.setup()
    number = figure_number(experiment)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.4), sharey="col")
    rows = [(curves[~as_run], "as described: binomial bridge (184,756 paths)"),
            (curves[as_run], "as run: the authors' code's graph (10,946 paths)")]
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    order = list(dict.fromkeys(v.removesuffix(AS_RUN) for v in curves["variant"]))
    colors = {v: cycle[order.index(v.removesuffix(AS_RUN)) % len(cycle)] for v in curves["variant"].unique()}
    for (sub, where), (ax_regret, ax_ratio) in zip(rows, axes):
        colors_here = {_label(v): c for v, c in colors.items() if v in set(sub["variant"])}  # same agent, same colour
        sub = sub.assign(variant=sub["variant"].map(_label))
        _regret_panel(ax_regret, sub, f"{number}a, {where}", colors_here)
        _mean_panel(ax_ratio, sub, "distance_ratio_mean", "total distance / optimal", f"{number}b, {where}",
                    colors_here)
    for ax in axes.flat:
        ax.title.set_fontsize(9)
    for ax in axes[0]:
        ax.set_xlabel("")  # the rows share their x axis; keeps the top row's label off the bottom row's titles
    plotting.budget_caption(fig, caption, f"(a) {REGRET_BAND}; (b) {MEAN_ONLY}")
    return plotting.save(fig, out_dir, f"{experiment.name}_bridge")


def plot_prior(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Prior distribution (Figure 6.2): per-period regret, and the expected mean reward."""
    return _regret_and_mean(experiment, data, out_dir, caption, "expected_reward_mean", "expected mean reward", "prior")
