"""Figure 1 (scaled performance against the number of expert trajectories, one panel per task, the paper's values
beside the regenerated ones) and the learning curves of the iterative methods, drawn from recorded runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from common.analysis import plotting

from .analysis import paper_scaled

if TYPE_CHECKING:
    from common.analysis.report import ExperimentData

COLORS = {"bc": "tab:orange", "fem": "tab:green", "gtal": "tab:purple", "gail": "tab:blue", "expert": "black"}


def _paper_points() -> dict:
    """(env_id, method label) -> [(trajectories, scaled value)] from shared/reported/gail2016.yaml, if present."""
    import yaml

    from common import REPO_ROOT

    path = REPO_ROOT.parent / "shared" / "reported" / "gail2016.yaml"
    if not path.exists():
        return {}
    names = {"Cartpole": "CartPole-v1", "Acrobot": "Acrobot-v1", "Mountain Car": "MountainCar-v0",
             "HalfCheetah": "HalfCheetah-v5", "Hopper": "Hopper-v5", "Walker": "Walker2d-v5", "Ant": "Ant-v5",
             "Humanoid": "Humanoid-v5", "Reacher": "Reacher-v5"}
    out: dict = {}
    for r in yaml.safe_load(path.read_text())["results"]:
        if str(r["table_or_figure"]).startswith("Table 3") and r["env"] in names:
            env = names[r["env"]]
            out.setdefault((env, r["method"]), []).append((r["dataset_size"], paper_scaled(env, r["value"])))
    return out


def _label(cfg: dict) -> str:
    m = cfg["method"]
    if m == "gail" and float(cfg.get("causal_entropy", 0)) > 0:
        return f"GAIL lambda={float(cfg['causal_entropy']):g}"
    return {"bc": "BC", "fem": "FEM", "gtal": "GTAL", "gail": "GAIL", "expert": "expert"}[m]


def plot_figure1(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Figure 1(a): per task, each method's mean scaled evaluation return (random 0, expert 1) against the dataset
    size, with the spread over runs (min-max), solid; the paper's Table 3 on its own Table 1 scale, dashed."""
    plotting.setup()
    ev = data.tables["evaluation"]
    ev = ev[ev["variant"].map(lambda v: data.configs[v]["method"] != "expert")]
    envs = sorted({data.configs[v]["env_id"] for v in ev["variant"].unique()})
    paper = _paper_points()
    fig, axes = plt.subplots(1, max(1, len(envs)), figsize=(3.0 * max(1, len(envs)), 3.0), squeeze=False)
    for ax, env in zip(axes[0], envs):
        rows = []
        for variant, g in ev.groupby("variant"):
            cfg = data.configs[variant]
            if cfg["env_id"] == env:
                per_run = g.groupby("seed")["scaled_return"].mean()
                rows.append((_label(cfg), cfg["method"], int(cfg["trajectories"]), per_run.mean(), per_run.min(),
                             per_run.max()))
        for label in sorted({r[0] for r in rows}):
            pts = sorted((r for r in rows if r[0] == label), key=lambda r: r[2])
            x = np.array([p[2] for p in pts])
            color = COLORS.get(pts[0][1])
            ax.errorbar(x, [p[3] for p in pts], yerr=[[p[3] - p[4] for p in pts], [p[5] - p[3] for p in pts]],
                        marker="o", ms=3, color=color, label=f"{label} (here)")
        for (penv, method), pts in paper.items():
            if penv == env:
                pts = sorted(pts)
                key = "bc" if "cloning" in method else method.split(" ")[0].lower()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], ls="--", lw=0.8, color=COLORS.get(key, "grey"),
                        label=f"{method} (paper)")
        ax.axhline(1.0, color="black", lw=0.5)
        ax.axhline(0.0, color="grey", lw=0.5)
        ax.set(title=env, xlabel="expert trajectories", ylabel="scaled return (random 0, expert 1)")
        ax.legend(frameon=False, fontsize=5)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, "point: mean over runs of each run's 50 evaluation episodes; bar: min-max over runs")
    return plotting.save(fig, out_dir, f"{experiment.name}_figure1")


def plot_curves(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """One line per variant of an iterative method: the mean true return of each iteration's trajectories."""
    plotting.setup()
    it = data.tables["iterations"]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    kinds = set()
    for variant in dict.fromkeys(it["variant"]):
        x, runs = plotting.run_matrix(it[it["variant"] == variant], "iteration", "mean_return")
        kinds.add(plotting.runs_with_band(ax, x, runs, label=variant)[1])
    ax.set(title=experiment.name, xlabel="iteration", ylabel="mean return of the iteration's trajectories")
    ax.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")
