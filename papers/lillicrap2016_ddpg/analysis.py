"""Per-run statistics of the DDPG claims, the learning-curve figure (Figure 2) and Q against returns (Figure 3)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from common.analysis import plotting
from common.analysis.claim_values import evaluated_runs, paired_run_difference, run_column_statistic

if TYPE_CHECKING:
    from common.analysis.report import ExperimentData

BEST, LAST_EVAL, LAST_TRAIN = "best evaluation return", "last 10 evaluations, mean", "last 10 training episodes, mean"
Q_BIAS = "Q bias, last 10 evaluations, relative"


def split_variant(variant: str, default_env: str = "") -> tuple[str, str]:
    """'target_bn__Pendulum-v1' -> ('target_bn', 'Pendulum-v1'); a variant without a task: (variant, default_env);
    a variant that is only a task (table1_lowdim's): ('ddpg', task)."""
    if "__" in variant:
        head, env = variant.split("__", 1)
        return head, env
    if "-v" in variant:
        return "ddpg", variant
    return variant, default_env


def relative_q_bias(q: np.ndarray, returns: np.ndarray) -> float:
    """|mean(Q - G)| / mean(|G|): the critic's systematic error relative to the size of the returns (0 = unbiased);
    NaN where the returns are all zero."""
    scale = np.abs(returns).mean()
    return abs((q - returns).mean()) / scale if scale > 0 else np.nan


def per_run(data: ExperimentData, max_step: int | None = None, train_episodes: int = 10) -> pd.DataFrame:
    """One row per run (variant, seed) from its records up to `max_step` env steps (all if None): its best and last-10
    evaluations (no exploration noise), the mean of its last `train_episodes` training episodes (with noise), and the
    relative bias of its critic's Q(s0, mu(s0)) against the discounted return observed from s0 over its last 10
    evaluations. The claims and the per-run summary read their numbers here."""
    rows = []
    for variant, seed, g, train in evaluated_runs(data, max_step):
        tail = g.tail(10)
        rows.append({"variant": variant, "seed": seed, "env steps": g["env_step"].iloc[-1], "evaluations": len(g),
                     BEST: g["eval_return"].max(), LAST_EVAL: tail["eval_return"].mean(),
                     LAST_TRAIN: train.tail(train_episodes).mean(),
                     Q_BIAS: relative_q_bias(tail["q_estimate"].to_numpy(), tail["eval_discounted_return"].to_numpy())})
    return pd.DataFrame(rows, columns=["variant", "seed", "env steps", "evaluations", BEST, LAST_EVAL, LAST_TRAIN,
                                       Q_BIAS])


# Claim statistics (`custom:` in claims.yaml): per run of the claim's variant, by seed, within the claim's `max_step`
max_eval_values = run_column_statistic(per_run, BEST)  # TD3 Table 1's "max average return"
final_eval_values = run_column_statistic(per_run, LAST_EVAL)
q_bias_values = run_column_statistic(per_run, Q_BIAS)  # Figure 3's accuracy, as one number


def paired_gain_values(claim, data_by_exp) -> np.ndarray:
    """Per seed: the last-10-evaluation mean of the first of `variants` minus that of the second on the same seed
    (Figure 2: with the target network minus without); seeds missing either are left out."""
    first, second = claim.statistic["variants"]
    return paired_run_difference(claim, data_by_exp, per_run, LAST_EVAL, first, second)


def run_summary(experiment, data: ExperimentData) -> pd.DataFrame:
    """Each run's numbers behind the claims: best and last-10 evaluations (no noise), last 10 training episodes
    (with exploration noise), and the relative bias of the critic's estimates."""
    return per_run(data)


def plot(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Evaluation return (no exploration noise) per task, one line per setting (Figure 2's panels, raw returns: the
    paper's normalization by an iLQG planner is not available)."""
    plotting.setup()
    ev = data.tables["evaluations"].copy()
    default_env = experiment.config.get("env_id", "")
    pairs = ev["variant"].map(lambda v: split_variant(v, default_env))
    ev["setting"], ev["env"] = pairs.str[0], pairs.str[1]
    envs = list(dict.fromkeys(ev["env"]))
    settings = sorted(set(ev["setting"]))
    colors = {s: f"C{i}" for i, s in enumerate(settings)}  # one color per setting, on every task
    fig, axes = plt.subplots(1, len(envs), figsize=(5 * len(envs), 3.8), squeeze=False)
    kinds = set()
    for ax, env in zip(axes[0], envs):
        for setting, g in ev[ev["env"] == env].groupby("setting"):
            x, runs = plotting.run_matrix(g, "env_step", "eval_return")
            _, kind = plotting.runs_with_band(ax, x, runs, label=setting, color=colors[setting])
            kinds.add(kind)
        ax.set(title=env, xlabel="environment steps", ylabel="evaluation return (no noise)")
        ax.legend(frameon=False)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")


def plot_q_vs_return(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Figure 3: at every evaluation of every run, the critic's Q(s0, mu(s0)) against the discounted return observed
    from s0 (both means over the evaluation's episodes), one panel per task; the diagonal is an exact estimate."""
    plotting.setup()
    ev = data.tables["evaluations"]
    ev = ev[ev["variant"].isin(experiment.variants)]
    variants = [v for v in experiment.variants if v in set(ev["variant"])] or list(experiment.variants)
    fig, axes = plt.subplots(1, len(variants), figsize=(4.2 * len(variants), 4), squeeze=False)
    for ax, variant in zip(axes[0], variants):
        g = ev[ev["variant"] == variant]
        sc = ax.scatter(g["eval_discounted_return"], g["q_estimate"], c=g["env_step"], s=8, cmap="viridis")
        both = np.concatenate([g["eval_discounted_return"].to_numpy(), g["q_estimate"].to_numpy()])
        if len(both):
            lo, hi = float(np.min(both)), float(np.max(both))
            ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--", label="estimate = return")
            ax.legend(frameon=False, loc="upper left")
        ax.set(title=f"{split_variant(variant)[1]} ({g['seed'].nunique()} runs)",
               xlabel="observed discounted return from s0", ylabel="estimated Q(s0, mu(s0))")
        fig.colorbar(sc, ax=ax, label="environment steps")
    fig.tight_layout()
    plotting.budget_caption(fig, caption, "points: evaluations (means over their episodes), every run")
    return plotting.save(fig, out_dir, f"{experiment.name}_q_vs_return")
