"""Figure 2 (cart-pole: learning curves at gamma = 0.99; the (gamma, lambda) heat map after the last update) and
Figures 3-4 (3D tasks: learning curves per setting), drawn from recorded runs. The paper plots the cost, the
negative of the return; these figures plot the return (cart-pole: steps balanced, at most 1,000)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from common.analysis import plotting

from .analysis import FAST_GAMMA, cell_table

if TYPE_CHECKING:
    from common.analysis.report import ExperimentData


def _label(config: dict) -> str:
    if config["baseline"] == "time":
        return f"No VF (gamma={config['gamma']:g})"
    return f"gamma={config['gamma']:g}, lambda={config['lam']:g}"


def plot_curves(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """One line per variant: the mean return of each batch against policy iterations, mean over runs with the
    claims' band (Figure 2 left, at gamma = 0.99 only when the experiment is the cart-pole grid; Figures 3-4)."""
    plotting.setup()
    it = data.tables["iterations"]
    variants = list(dict.fromkeys(it["variant"]))
    gammas = {float(data.configs[v]["gamma"]) for v in variants}
    if data.configs and next(iter(data.configs.values()))["env_id"] == "BartoCartPole" and len(gammas) > 1:
        # the cart-pole grid: Figure 2's left panel is its gamma = 0.99 row
        variants = [v for v in variants if np.isclose(float(data.configs[v]["gamma"]), FAST_GAMMA)]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(1, len(variants))))
    kinds = set()
    for color, variant in zip(colors, variants):
        g = it[it["variant"] == variant]
        x, runs = plotting.run_matrix(g, "iteration", "mean_return")
        cfg = data.configs[variant]
        kinds.add(plotting.runs_with_band(ax, x, runs, label=_label(cfg), color=color,
                                          ls="--" if cfg["baseline"] == "time" else "-")[1])
    env = str(next(iter(data.configs.values()))["env_id"]) if data.configs else experiment.name
    ax.set(title=env, xlabel="policy iteration (batch after that many updates)",
           ylabel="mean return of the batch's trajectories")
    ax.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")


def plot_heatmap(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Figure 2, right: the mean over runs of the mean return of the batch after the last update, for each
    (gamma, lambda) cell (lighter: higher return, as the paper's "white means higher reward"); No VF as a last
    column. Each cell is annotated with its mean and its number of seeds (a packed run holds several)."""
    plotting.setup()
    cells = cell_table(data)
    cells["column"] = [("No VF" if b == "time" else f"{lam:g}") for b, lam in zip(cells["baseline"], cells["lam"])]
    gammas = sorted(cells["gamma"].unique())
    lambdas = sorted(cells.loc[cells["baseline"] == "value_function", "lam"].unique())
    columns = [f"{lam:g}" for lam in lambdas] + (["No VF"] if (cells["baseline"] == "time").any() else [])
    mean = np.full((len(gammas), len(columns)), np.nan)
    count = np.zeros_like(mean, dtype=int)
    for (gamma, column), g in cells.groupby(["gamma", "column"]):
        i, j = gammas.index(gamma), columns.index(column)
        mean[i, j], count[i, j] = g["final_return"].mean(), len(g)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * len(columns), 1.2 + 0.42 * len(gammas)))
    image = ax.imshow(mean, cmap="gray", aspect="auto", origin="lower")
    ax.grid(False)
    for i in range(len(gammas)):
        for j in range(len(columns)):
            if count[i, j]:
                shade = image.norm(mean[i, j]) if np.isfinite(mean[i, j]) else 0.0
                ax.text(j, i, f"{mean[i, j]:.0f}\nn={count[i, j]}", ha="center", va="center", fontsize=5.5,
                        color="black" if shade > 0.5 else "white")
    ax.set_xticks(range(len(columns)), columns, fontsize=7)
    ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas], fontsize=7)
    updates = int(cells["iterations"].max()) if len(cells) else 0
    ax.set(xlabel="lambda", ylabel="gamma", title=f"mean return after {updates} policy iterations")
    fig.colorbar(image, ax=ax, label="steps balanced (max 1,000)")
    fig.tight_layout()
    plotting.budget_caption(fig, caption, "cell: mean over seeds of the batch's mean return (n: seeds)")
    return plotting.save(fig, out_dir, f"{experiment.name}_heatmap")


def plot_figure2(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Both panels of Figure 2."""
    return plot_curves(experiment, data, out_dir, caption) + plot_heatmap(experiment, data, out_dir, caption)
