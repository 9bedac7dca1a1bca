"""Figure 3 (learning curves) and Table 1 (normalized scores) drawn from recorded runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from common.analysis import plotting

if TYPE_CHECKING:
    from common.analysis.report import ExperimentData

from .analysis import curve, split_variant


def plot(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    return plot_episodes(data.tables["episodes"], f"{experiment.name}_learning_curves", out_dir, caption)


def plot_with_table1(experiment, data: ExperimentData, out_dir: Path, caption: str, settings: dict[str, str]) -> list[Path]:
    """The experiment's curves with Table 1's runs of `settings` (setting -> its label here) in the same panels, when
    Table 1 has complete runs at the same budget (the caption says which it drew)."""
    from common.analysis.report import load_experiment

    episodes = data.tables["episodes"]
    t1 = load_experiment(experiment.paper.experiment("table1"))
    same = t1 is not None and t1.budget_name == data.budget_name
    if same:
        ep = t1.tables["episodes"]
        setting = ep["variant"].str.split("__", n=1).str[0]
        rows = ep[setting.isin(list(settings))]
        renamed = rows["variant"].str.split("__", n=1).str[0].map(settings) + "__" + \
            rows["variant"].str.split("__", n=1).str[1]
        episodes = pd.concat([episodes, rows.assign(variant=renamed)], ignore_index=True)
    names = ", ".join(settings.values())
    caption += (f"; {names}: experiment table1's runs at the same budget" if same else
                f"; {names} not drawn: experiment table1 has no complete runs at the {data.budget_name} budget")
    return plot_episodes(episodes, f"{experiment.name}_learning_curves", out_dir, caption)


def plot_fig3_baselines(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Figure 3 as printed: one panel per task, the comparison methods beside PPO (clip 0.2, Table 1's runs)."""
    return plot_with_table1(experiment, data, out_dir, caption, {"clip0.2": "PPO (clip 0.2)"})


def plot_anneal_ablation(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Constant-stepsize runs beside Table 1's annealed runs of the same settings."""
    return plot_with_table1(experiment, data, out_dir, caption,
                            {"no_clip": "no_clip (annealed)", "clip0.2": "clip0.2 (annealed)"})


def plot_episodes(episodes: pd.DataFrame, name: str, out_dir: Path, caption: str) -> list[Path]:
    plotting.setup()
    step_col = "agent_step" if "agent_step" in episodes else "env_step"  # Atari counts agent steps
    total = int(episodes[step_col].max())
    grid = np.linspace(total / 50, total, 50).astype(int)
    curves = split_variant(curve(episodes, grid, step_col))
    envs = list(dict.fromkeys(curves["env"]))
    settings = list(dict.fromkeys(curves["setting"]))
    colors = plotting.fixed_colors(settings)
    ncols = min(4, len(envs))
    nrows = int(np.ceil(len(envs) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), squeeze=False)
    kinds = set()
    for ax, env in zip(axes.flat, envs):
        means = {}
        for setting in settings:
            g = curves[(curves["env"] == env) & (curves["setting"] == setting)].astype({"return": float})
            if g["return"].isna().all():
                continue
            x, runs = plotting.run_matrix(g, step_col, "return")
            line, kind = plotting.runs_with_band(ax, x, runs, label=setting, color=colors[setting])
            kinds.add(kind)
            means[setting] = line.get_ydata()
        plotting.keep_in_view(ax, means)  # one method far off the others' scale (CEM) is named, not drawn over them
        xlabel = {"env_step": "environment steps", "agent_step": "agent steps"}[step_col]
        ax.set(title=env, xlabel=xlabel, ylabel="mean return, last 100 episodes")
        ax.legend(frameon=False, fontsize=6)  # each panel: its own run counts
    for ax in list(axes.flat)[len(envs):]:
        ax.axis("off")
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, name)
