"""Table 1 statistics and Figure 2 from recorded DQN runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from common.analysis import plotting

if TYPE_CHECKING:
    from common.analysis.report import ExperimentData


def _summary_values(claim, data_by_exp, summary, column: str) -> np.ndarray:
    """Per run of the claim's variant (a game), by seed: one column of a per-run summary (`table1_summary`,
    `heldout_q_summary`), so claims and the results tables read one reduction; runs without a value are left out."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    runs = summary(None, data)
    if runs.empty:
        return np.array([])
    return runs[runs["variant"] == claim.statistic["variant"]].sort_values("seed")[column].dropna().to_numpy()


def final_eval_mean_values(claim, data_by_exp) -> np.ndarray:
    """Per run: the mean total reward of its final epsilon = 0.05 evaluation episodes (Table 1, "DQN")."""
    return _summary_values(claim, data_by_exp, table1_summary, "final evaluation: mean return")


def best_episode_values(claim, data_by_exp) -> np.ndarray:
    """Per run: its best single evaluation episode over all evaluations (Table 1, "DQN Best")."""
    return _summary_values(claim, data_by_exp, table1_summary, "best episode")


def max_heldout_q_values(claim, data_by_exp) -> np.ndarray:
    """Per run: the largest average max Q on the held-out states over its evaluations (Figure 2, bottom row)."""
    return _summary_values(claim, data_by_exp, heldout_q_summary, "max held-out Q")


def table1_summary(experiment, data) -> pd.DataFrame:
    """Table 1's numbers of each run: its final epsilon = 0.05 evaluation (episodes, mean total reward) and its best
    single evaluation episode, with its budget in agent steps and emulator frames."""
    empty = pd.DataFrame(columns=["variant", "seed", "eval_return", "eval_best_return"])
    final_eval, epochs = data.tables.get("final_eval", empty), data.tables.get("epochs", empty)
    runs = pd.concat([final_eval[["variant", "seed"]], epochs[["variant", "seed"]]]).drop_duplicates()
    rows = []
    for variant, seed in runs.sort_values(["variant", "seed"]).itertuples(index=False):
        cfg = data.configs[variant]
        final = final_eval[(final_eval["variant"] == variant) & (final_eval["seed"] == seed)]["eval_return"]
        epoch_best = epochs[(epochs["variant"] == variant) & (epochs["seed"] == seed)]["eval_best_return"]
        rows.append({"variant": variant, "seed": seed, "agent steps": cfg["total_agent_steps"],
                     "emulator frames": cfg["total_agent_steps"] * cfg["frame_skip"],
                     "final evaluation: episodes": len(final), "final evaluation: mean return": final.mean(),
                     "best episode": pd.concat([final, epoch_best]).max()})  # no episode at all: NaN, never 0
    return pd.DataFrame(rows, columns=["variant", "seed", "agent steps", "emulator frames",
                                       "final evaluation: episodes", "final evaluation: mean return", "best episode"])


def heldout_q_summary(experiment, data) -> pd.DataFrame:
    """The held-out-state Q of each run (the Q ablation's table; Figure 2's claims): the largest average max Q on the
    held-out states over its evaluations against the bound 1 / (1 - gamma) that rewards clipped to [-1, 1] allow, its
    last evaluation's Q, and its largest epoch loss (the mean over an epoch's updates)."""
    rows = []
    epochs = data.tables.get("epochs", pd.DataFrame(columns=["variant", "seed", "agent_step"]))
    for (variant, seed), g in epochs.sort_values("agent_step").groupby(["variant", "seed"], sort=False):
        gamma = data.configs[variant]["gamma"]
        rows.append({"variant": variant, "seed": seed, "gamma": gamma, "bound 1/(1-gamma)": 1 / (1 - gamma),
                     "updates": len(g) * data.configs[variant]["epoch_updates"],
                     "max held-out Q": g["avg_max_q_heldout"].max(),
                     "last held-out Q": g["avg_max_q_heldout"].iloc[-1], "largest epoch loss": g["loss"].max()})
    return pd.DataFrame(rows, columns=["variant", "seed", "gamma", "bound 1/(1-gamma)", "updates", "max held-out Q",
                                       "last held-out Q", "largest epoch loss"])


def plot(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """Figure 2: per game, the average reward per episode and the average max Q on the held-out states."""
    plotting.setup()
    epochs = data.tables.get("epochs", pd.DataFrame())
    if epochs.empty:
        return []
    games = list(dict.fromkeys(epochs["variant"]))
    fig, axes = plt.subplots(2, len(games), figsize=(4.2 * len(games), 6.4), squeeze=False)
    kinds = set()
    for j, game in enumerate(games):
        g = epochs[epochs["variant"] == game]
        for i, (col, label) in enumerate((("eval_mean_return", "average reward per episode"),
                                          ("avg_max_q_heldout", "average max Q (held-out states)"))):
            # x: agent steps at each evaluation (the paper's epoch of 50,000 updates = 200,000 agent steps; the
            # reduced budget evaluates every 12,500 updates)
            x, runs = plotting.run_matrix(g, "agent_step", col)
            kinds.add(plotting.runs_with_band(axes[i, j], x / 1e6, runs, label="DQN")[1])
            axes[i, j].set(title=game if i == 0 else "", ylabel=label,
                           xlabel="agent steps (millions; the paper's epoch = 0.2M)")
            axes[i, j].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_per_epoch")


def plot_q_divergence(experiment, data: ExperimentData, out_dir: Path, caption: str) -> list[Path]:
    """The ablation's variants side by side on log scales: the average max Q on the held-out states, against the bound
    1 / (1 - gamma) that rewards clipped to [-1, 1] allow (dashed), and the training loss. Its short evaluations end
    few Seaquest episodes, so it draws no reward panel."""
    plotting.setup()
    epochs = data.tables.get("epochs", pd.DataFrame())
    if epochs.empty:
        return []
    fig, (ax_q, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    kinds = set()
    for variant, g in epochs.groupby("variant", sort=False):
        gamma = data.configs[variant]["gamma"]  # the variant's resolved config, as its runs recorded it
        for ax, col in ((ax_q, "avg_max_q_heldout"), (ax_loss, "loss")):
            x, runs = plotting.run_matrix(g, "agent_step", col)
            line, kind = plotting.runs_with_band(ax, x / 1e3, runs, label=variant)
            kinds.add(kind)
            if ax is ax_q:
                ax.axhline(1 / (1 - gamma), color=line.get_color(), ls="--", lw=0.8)
    ax_q.set(yscale="log", ylabel="average max Q (held-out states)",
             title="held-out Q; dashed: the bound 1 / (1 - gamma)")
    ax_loss.set(yscale="log", ylabel="training loss (mean over the epoch's updates)", title="loss")
    for ax in (ax_q, ax_loss):
        ax.set(xlabel="agent steps (thousands)")
    ax_q.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    plotting.budget_caption(fig, caption, plotting.band_text(kinds))
    return plotting.save(fig, out_dir, f"{experiment.name}_per_epoch")


def _random_human(paper) -> tuple[dict[str, str], dict[str, float], dict[str, float], dict[str, float]]:
    """From claims.yaml: Table 1's games as (variant -> printed name), and the paper's Random, Human and DQN rows by
    variant."""
    import yaml

    from common.analysis.claims import load_claims

    raw = yaml.safe_load(paper.claims_path.read_text())
    table = next(t for t in raw["tables"] if t["id"] == "table1")
    rows = {r["label"]: r["values"] for r in table["rows"] if "values" in r}
    claims = {c.id: c for c in load_claims(paper)}
    variant = {col: claims[f"table1_{col}_dqn"].statistic["variant"] for col in table["columns"]}
    names = {variant[col]: header for col, header in table["columns"].items()}
    random = {variant[col]: float(v) for col, v in zip(table["columns"], rows["Random (paper)"])}
    human = {variant[col]: float(v) for col, v in zip(table["columns"], rows["Human (paper)"])}
    dqn = {variant[col]: float(claims[f"table1_{col}_dqn"].rule["paper_value"]) for col in table["columns"]}
    return names, random, human, dqn


def table1_aggregate(paper, data_by_exp):
    """Table 1 over its 7 games, human-normalized with the paper's Random and Human rows: each run's final
    evaluation, the 2015 variant's runs beside it, and the paper's own DQN row for reference."""
    from common.analysis.aggregate import Aggregate, Group, budget_text

    names, random, human, dqn = _random_human(paper)
    games = list(names)

    def normalized(variant: str, x):
        return (np.asarray(x, float) - random[variant]) / (human[variant] - random[variant])

    groups, budgets = [], []
    for exp_name, label in (("table1", "DQN (2013), regenerated"), ("table1_nature", "2015 variant, regenerated")):
        data = data_by_exp.get(exp_name)
        runs = table1_summary(None, data) if data is not None else pd.DataFrame(columns=["variant"])
        scores = {}
        for game in games:
            values = runs.loc[runs["variant"] == game, "final evaluation: mean return"].dropna() if len(runs) else []
            scores[game] = normalized(game, values)
        budget = budget_text(data) if data is not None else "not run"
        groups.append(Group(label, scores, budget=budget))
        budgets.append(f"{label}: {budget}")
    groups.append(Group("DQN, the paper's Table 1", {g: normalized(g, [dqn[g]]) for g in games}, reference=True))
    tasks = games
    agg = Aggregate(
        name="table1", title="DQN Table 1: human-normalized score over 7 games", tasks=tasks, groups=groups,
        budget="; ".join(budgets) + " (the paper's own row: 10M agent steps, its numbers as printed)",
        score="mean total reward of its final evaluation episodes (epsilon = 0.05), Table 1's DQN row",
        normalization=("human-normalized with the paper's Random and Human rows of Table 1: (score - random) / "
                       "(human - random); 0 = random play, 1 = the paper's human tester"))
    for g in agg.groups:  # the printed game names as task headers
        g.scores = {names[t]: v for t, v in g.scores.items()}
    agg.tasks = [names[t] for t in tasks]
    return agg
