"""Table 1's normalized score and the learning curves of Figure 3, from recorded episodes."""
from __future__ import annotations

import numpy as np
import pandas as pd

LAST_EPISODES = 100  # "average total reward of the last 100 episodes" (Table 1 caption)


def final_scores(episodes: pd.DataFrame) -> pd.DataFrame:
    """One score per run (variant, seed): mean total reward of its last 100 training episodes."""
    last = episodes.sort_values("env_step").groupby(["variant", "seed"]).tail(LAST_EPISODES)
    return last.groupby(["variant", "seed"], as_index=False)["episode_return"].mean().rename(
        columns={"episode_return": "score"})


def split_variant(df: pd.DataFrame, default_setting: str = "ppo") -> pd.DataFrame:
    """`<setting>__<task>` variant names into two columns; a plain name is a task of `default_setting`."""
    has_setting = df["variant"].str.contains("__", regex=False)
    parts = df["variant"].str.split("__", n=1, expand=True).reindex(columns=[0, 1])
    return df.assign(setting=parts[0].where(has_setting, default_setting),
                     env=parts[1].where(has_setting, df["variant"]))


def normalized_scores(table1_episodes: pd.DataFrame, random_episodes: pd.DataFrame) -> pd.DataFrame:
    """Per run: (score - random) / (best - random), where best is the best setting's mean score on that task among
    the settings recorded (Table 1: "random policy 0, best result 1")."""
    scores = split_variant(final_scores(table1_episodes))
    random = random_episodes.groupby("variant")["episode_return"].mean()  # variant = env id
    best = scores.groupby(["setting", "env"])["score"].mean().groupby("env").max()
    lo, hi = scores["env"].map(random), scores["env"].map(best)
    return scores.assign(normalized=(scores["score"] - lo) / (hi - lo))


def normalized_score_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic: the 21 normalized run scores (7 tasks x 3 seeds) of one setting."""
    t1, rnd = data_by_exp.get("table1"), data_by_exp.get("random_policy")
    if t1 is None or rnd is None:
        return np.array([])
    scores = normalized_scores(t1.tables["episodes"], rnd.tables["episodes"])
    if scores["setting"].nunique() < 2:  # with one setting every score is 1 by construction: nothing to compare
        return np.array([])
    return scores.loc[scores["setting"] == claim.statistic["setting"], "normalized"].to_numpy()


def final_return_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic: per run of one variant, the mean total reward of its last 100 training episodes."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    scores = final_scores(data.tables["episodes"])
    return scores.loc[scores["variant"] == claim.statistic["variant"], "score"].to_numpy()


def atari_last100_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic: per run of one game, the mean unclipped return of its last 100 episodes (Table 6)."""
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return np.array([])
    ep = data.tables["episodes"]
    ep = ep[ep["variant"] == claim.statistic["variant"]].sort_values("agent_step")
    return ep.groupby("seed")["episode_return"].apply(lambda x: x.tail(LAST_EPISODES).mean()).to_numpy()


def atari_summary(experiment, data) -> pd.DataFrame:
    """Table 6's number of each Atari run: the mean unclipped return of its last 100 episodes, with its episode count
    and its budget in agent steps and emulator frames."""
    ep = data.tables.get("episodes", pd.DataFrame(columns=["variant", "seed", "agent_step", "episode_return"]))
    rows = []
    for (variant, seed), g in ep.sort_values("agent_step").groupby(["variant", "seed"]):
        cfg = data.configs[variant]
        rows.append({"variant": variant, "seed": seed, "agent steps": cfg["total_agent_steps"],
                     "emulator frames": cfg["total_agent_steps"] * cfg["frame_skip"], "episodes": len(g),
                     f"mean of the last {LAST_EPISODES} episodes": g["episode_return"].tail(LAST_EPISODES).mean()})
    return pd.DataFrame(rows, columns=["variant", "seed", "agent steps", "emulator frames", "episodes",
                                       f"mean of the last {LAST_EPISODES} episodes"])


def curve(episodes: pd.DataFrame, step_grid: np.ndarray, step_col: str = "env_step", window: int = 100) -> pd.DataFrame:
    """Per run, the mean return of the last `window` episodes finished by each step of `step_grid`."""
    rows = []
    for (variant, seed), g in episodes.sort_values(step_col).groupby(["variant", "seed"]):
        ends, rets = g[step_col].to_numpy(), g["episode_return"].to_numpy()
        csum = np.concatenate([[0.0], np.cumsum(rets)])
        k = np.searchsorted(ends, step_grid, side="right")
        lo = np.maximum(k - window, 0)
        mean = np.where(k > 0, (csum[k] - csum[lo]) / np.maximum(k - lo, 1), np.nan)
        rows.append(pd.DataFrame({"variant": variant, "seed": seed, step_col: step_grid, "return": mean}))
    return pd.concat(rows, ignore_index=True)


def table1_aggregate(paper, data_by_exp):
    """Table 1 per setting over its 7 tasks: each run's normalized score as Table 1 defines it, for the aggregates of
    Agarwal et al. 2021; settings without runs are listed as not run."""
    from common.analysis.aggregate import Aggregate, Group, budget_text
    from common.analysis.claims import load_claims

    t1, rnd = data_by_exp.get("table1"), data_by_exp.get("random_policy")
    if t1 is None or rnd is None:
        return None
    exp = paper.experiment("table1")
    names = pd.DataFrame({"variant": list(exp.variants)}).pipe(split_variant)
    settings, tasks = list(dict.fromkeys(names["setting"])), list(dict.fromkeys(names["env"]))
    scores = normalized_scores(t1.tables["episodes"], rnd.tables["episodes"])
    recorded = scores["setting"].nunique()
    if recorded < 2:  # one setting is its own best: every score 1 by construction
        scores = scores.iloc[0:0]
    groups = [Group(s, {t: scores.loc[(scores["setting"] == s) & (scores["env"] == t), "normalized"].to_numpy()
                        for t in tasks}) for s in settings]
    paper_values = {c.statistic["setting"]: float(c.rule["paper_value"]) for c in load_claims(paper)
                    if c.statistic.get("custom") == "normalized_score"}
    return Aggregate(
        name="table1", title="PPO Table 1: normalized score per setting over 7 MuJoCo tasks", tasks=tasks,
        groups=groups, budget=budget_text(t1) + f", the paper's {exp.seeds('paper')} seeds per task",
        score=f"mean total reward of its last {LAST_EPISODES} training episodes",
        normalization=("Table 1's: (score - random) / (best - random) per task, random = the mean return of the "
                       "random policy (experiment random_policy), best = the best setting's mean score on that task "
                       f"among the settings recorded ({recorded} of {len(settings)}: the scores change as settings "
                       "arrive, and match the paper's normalization only once all are run)"),
        paper_values=paper_values, paper_value_text="paper's Table 1 (mean)")
