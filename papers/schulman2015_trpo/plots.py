"""Figure 4 (learning curves per policy iteration), one panel per experiment, drawn from recorded runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt

from common.analysis import plotting

from .figure4 import LABELS

if TYPE_CHECKING:
    from common.analysis.report import ExperimentData


def plot(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Mean episode return of each policy iteration's batch (the paper plots the cost, its negative, for Swimmer),
    mean over runs with the claims' band."""
    plotting.setup()
    it = data.tables["iterations"]
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    kinds = set()
    for variant in dict.fromkeys(it["variant"]):
        g = it[it["variant"] == variant]
        x, runs = plotting.run_matrix(g, "iteration", "mean_return")
        kinds.add(plotting.runs_with_band(ax, x, runs, label=LABELS.get(variant, variant.replace("_", " ")))[1])
    env = str(next(iter(data.configs.values()))["env_id"]) if data.configs else experiment.name
    ax.set(title=env, xlabel="policy iteration", ylabel="mean episode return of the batch")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")


def plot_atari(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Figure 5 (Appendix F) in the paper's layout, one panel per game: the mean score of the games that ended in
    each policy iteration (the paper plots the cost, its negative)."""
    import numpy as np

    plotting.setup()
    ep = data.tables["episodes"]
    method = experiment.config.get("method", "single_path").replace("_", " ")  # Table 1's row: single path or vine
    per_iter = ep.groupby(["variant", "seed", "iteration"], as_index=False)["episode_return"].mean()
    games = list(dict.fromkeys(per_iter["variant"]))
    if not games:  # no game ended yet (a short run): nothing to draw
        return []
    ncols = min(4, len(games))
    nrows = int(np.ceil(len(games) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), squeeze=False)
    kinds = set()
    for ax, game in zip(axes.flat, games):
        x, runs = plotting.run_matrix(per_iter[per_iter["variant"] == game], "iteration", "episode_return")
        kinds.add(plotting.runs_with_band(ax, x, runs, label=method)[1])
        ax.set(title=game, xlabel="policy iteration", ylabel="mean score of the games ended")
        ax.legend(frameon=False, fontsize=7)
    for ax in list(axes.flat)[len(games):]:
        ax.axis("off")
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")
