"""Per-run statistics of the SAC claims and the learning-curve figure."""
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


def _last(values: pd.Series, n: int = 10) -> float:
    """The mean of the last n values (of a series sorted by env step)."""
    return values.tail(n).mean()


def _alpha_drift(alpha: np.ndarray) -> float:
    """|ln(mean alpha over the last 10% / mean alpha over the 10% before)|, NaN for fewer than 10 values; 0 means the
    learned temperature no longer moves, ln 2 a change by a factor of 2."""
    k = len(alpha) // 10
    return abs(np.log(alpha[-k:].mean() / alpha[-2 * k:-k].mean())) if k >= 1 else np.nan


BEST, LAST_EVAL, LAST_TRAIN = "best evaluation return", "last 10 evaluations, mean", "last 10 training episodes, mean"
ALPHA_END, ALPHA_DRIFT = "alpha at the end (v2)", "alpha drift, abs ln (v2)"


def per_run(data: ExperimentData, max_step: int | None = None, train_episodes: int = 10) -> pd.DataFrame:
    """One row per run (variant, seed) from its records up to `max_step` env steps (all of them if None): its best and
    last-10 deterministic evaluations, the mean of its last `train_episodes` training episodes (stochastic policy),
    and for v2 its learned temperature at the end and how much it still moved (|ln| of the last 10% of evaluations'
    mean alpha over the 10% before's). The claims and the per-run summary both read their numbers here."""
    rows = []
    for variant, seed, g, train in evaluated_runs(data, max_step):
        alpha = g["alpha"].dropna().to_numpy() if data.configs[variant]["version"] == "v2" else np.array([])
        rows.append({"variant": variant, "seed": seed, "env steps": g["env_step"].iloc[-1], "evaluations": len(g),
                     BEST: g["eval_return"].max(), LAST_EVAL: _last(g["eval_return"]),
                     LAST_TRAIN: _last(train, train_episodes),
                     ALPHA_END: alpha[-1] if len(alpha) else np.nan, ALPHA_DRIFT: _alpha_drift(alpha)})
    return pd.DataFrame(rows, columns=["variant", "seed", "env steps", "evaluations", BEST, LAST_EVAL, LAST_TRAIN,
                                       ALPHA_END, ALPHA_DRIFT])


# Claim statistics (`custom:` in claims.yaml): per run of the claim's variant, by seed, within the claim's `max_step`
max_eval_values = run_column_statistic(per_run, BEST)  # TD3 Table 1's "max average return"
final_eval_values = run_column_statistic(per_run, LAST_EVAL)
final_train_values = run_column_statistic(per_run, LAST_TRAIN)  # CleanRL's published table reports training returns
alpha_drift_values = run_column_statistic(per_run, ALPHA_DRIFT)  # runs with too few evaluations are left out (NaN)


def v2_minus_v1_values(claim, data_by_exp) -> np.ndarray:
    """Per seed: v2's final evaluation return minus v1's on the same task and seed (paired), over whole runs."""
    env = claim.statistic["env"]
    v1, v2 = ("v1", "v2") if env is None else (f"v1__{env}", f"v2__{env}")
    return paired_run_difference(claim, data_by_exp, per_run, LAST_EVAL, v2, v1)  # seeds with both versions


def run_summary(experiment, data: ExperimentData) -> pd.DataFrame:
    """Each run's numbers behind the claims: its best and last-10 deterministic evaluations, its last 10 training
    episodes (stochastic policy), and for v2 its learned temperature at the end and how much it still moved (|ln| of
    the last 10% of evaluations' mean alpha over the 10% before's)."""
    return per_run(data)


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
    kinds = set()
    for col, env in enumerate(envs):
        ax_return, ax_alpha = axes[0, col], axes[1, col]
        for version, g in ev[ev["env"] == env].groupby("version"):
            x, runs = plotting.run_matrix(g, "env_step", "eval_return")
            line, kind = plotting.runs_with_band(ax_return, x, runs, label=f"SAC {version}", color=colors[version])
            kinds.add(kind)
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
    plotting.budget_caption(fig, caption, plotting.band_text(kinds) + "; alpha panels: mean over runs, band: min-max")
    return plotting.save(fig, out_dir, f"{experiment.name}_learning_curves")


def tasks_aggregate(paper, data_by_exp):
    """v1 and v2 over the MuJoCo tasks that have a reference score (stable-baselines3 zoo's SAC, claims.yaml): each
    run's last 10 evaluations, divided by that reference, for the aggregates of Agarwal et al. 2021."""
    from common.analysis.aggregate import Aggregate, Group, budget_text
    from common.analysis.claims import load_claims

    refs = [c for c in load_claims(paper) if c.id.startswith("sb3_zoo_sac_")]
    tasks, scores, budgets = [], {"v1": {}, "v2": {}}, {}
    for c in refs:
        exp, v2_variant = paper.experiment(c.experiment), c.statistic["variant"]
        task = v2_variant.split("__", 1)[1] if "__" in v2_variant else exp.config["env_id"]
        tasks.append(task)
        data = data_by_exp.get(c.experiment)
        runs = per_run(data) if data is not None else pd.DataFrame(columns=["variant", LAST_EVAL])
        budgets.setdefault(budget_text(data) if data is not None else "not run", []).append(task)
        for version in ("v1", "v2"):
            variant = version + v2_variant[2:]
            values = runs.loc[runs["variant"] == variant, LAST_EVAL].dropna().to_numpy(dtype=float)
            scores[version][task] = values / float(c.rule["paper_value"])
    budget = "; ".join(f"{', '.join(ts)}: {text}" for text, ts in budgets.items())
    return Aggregate(
        name="tasks", title=f"SAC v1 and v2: reference-normalized score over {len(tasks)} MuJoCo tasks", tasks=tasks,
        groups=[Group(f"SAC {v}", scores[v]) for v in ("v1", "v2")], budget=budget,
        score="mean of its last 10 deterministic evaluation returns (over the whole run)",
        normalization=("the run's score divided by the reference implementation's: stable-baselines3 zoo's SAC after "
                       "1M steps on the -v3 task (one agent; claims sb3_zoo_sac_*); 0 = zero return, 1 = that "
                       "reference"),
        note="The reference is at 1M steps: at a reduced budget a normalized score below 1 is expected.")
