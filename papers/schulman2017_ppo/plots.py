"""Figure 3 (learning curves) and Table 1 (normalized scores) drawn from recorded runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from common.analysis import plotting

if TYPE_CHECKING:
    from common.analysis.report import ExperimentData

from .analysis import curve, split_variant


def plot(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    plotting.setup()
    episodes = data.tables["episodes"]
    step_col = "agent_step" if "agent_step" in episodes else "env_step"  # Atari counts agent steps
    total = int(episodes[step_col].max())
    grid = np.linspace(total / 50, total, 50).astype(int)
    curves = split_variant(curve(episodes, grid, step_col))
    envs = list(dict.fromkeys(curves["env"]))
    settings = list(dict.fromkeys(curves["setting"]))
    ncols = min(4, len(envs))
    nrows = int(np.ceil(len(envs) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), squeeze=False)
    kinds = set()
    for ax, env in zip(axes.flat, envs):
        for setting in settings:
            g = curves[(curves["env"] == env) & (curves["setting"] == setting)].astype({"return": float})
            if g["return"].isna().all():
                continue
            x, runs = plotting.run_matrix(g, step_col, "return")
            kinds.add(plotting.runs_with_band(ax, x, runs, label=setting)[1])
        xlabel = {"env_step": "environment steps", "agent_step": "agent steps"}[step_col]
        ax.set(title=env, xlabel=xlabel, ylabel="mean return, last 100 episodes")
        ax.legend(frameon=False, fontsize=6)  # each panel: its own run counts
    for ax in list(axes.flat)[len(envs):]:
        ax.axis("off")
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")
