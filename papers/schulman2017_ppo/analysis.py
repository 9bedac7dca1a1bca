"""Table 1's normalized score and the learning curves of Figure 3, from recorded episodes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from common.analysis.claim_values import last_episodes_mean_values

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
    return last_episodes_mean_values(claim, data_by_exp, LAST_EPISODES, "agent_step")


def score_summary(experiment, data) -> pd.DataFrame:
    """Each MuJoCo run's score as Table 1 and Figure 3's claims take it (`final_scores`: the mean total reward of its
    last 100 training episodes), with its episode count and budget in env steps."""
    ep = data.tables["episodes"]
    scores = final_scores(ep)
    counts = ep.groupby(["variant", "seed"], as_index=False).agg(episodes=("episode_return", "size"),
                                                                 env_steps=("env_step", "max"))
    out = counts.merge(scores, on=["variant", "seed"])
    return out.rename(columns={"env_steps": "env steps (last episode's end)",
                               "score": f"mean of the last {LAST_EPISODES} episodes"})


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


# ---- Figure 3's comparison methods, and the annealing ablation of "no clipping" ----------------------------------
FIG3_PPO_SETTING = "clip0.2"  # the PPO curve of Figure 3: Table 1's clip 0.2 runs
ANNEAL_SUFFIX = "_constant_lr"  # an ablation setting's name: its Table 1 (annealed) setting plus this suffix
NEAR_TOP = -0.1  # "at or near the top": within 0.1 of the best method, on Table 1's scale (random 0, best 1)


def _random_means(data_by_exp) -> pd.Series | None:
    rnd = data_by_exp.get("random_policy")
    return None if rnd is None else rnd.tables["episodes"].groupby("variant")["episode_return"].mean()


def fig3_scores(data_by_exp) -> pd.DataFrame | None:
    """Final scores (mean of the last 100 training episodes) of Figure 3's methods: the comparison methods of
    experiment fig3_baselines and PPO's clip 0.2 runs of table1, one row per run: setting (method), env, seed, score."""
    base, t1 = data_by_exp.get("fig3_baselines"), data_by_exp.get("table1")
    if base is None or t1 is None:
        return None
    ppo = split_variant(final_scores(t1.tables["episodes"]))
    ppo = ppo[ppo["setting"] == FIG3_PPO_SETTING]
    return pd.concat([split_variant(final_scores(base.tables["episodes"])), ppo], ignore_index=True)


def ppo_margins(data_by_exp) -> pd.DataFrame:
    """Per task and seed: PPO (clip 0.2)'s score minus the best comparison method's score with the same seed, on
    Table 1's scale for that task: (ppo_s - max_m score_m,s) / (best - random), best the highest mean score of any
    method there (PPO included), random the random policy's mean return. Seeds are paired by index (independent runs);
    a seed counts where PPO and every comparison method recorded on the task have a run."""
    scores, random = fig3_scores(data_by_exp), _random_means(data_by_exp)
    if scores is None or random is None or scores["setting"].nunique() < 2:
        return pd.DataFrame(columns=["env", "seed", "margin"])
    rows = []
    for env, g in scores.groupby("env"):
        if env not in random.index or FIG3_PPO_SETTING not in set(g["setting"]):
            continue
        best = g.groupby("setting")["score"].mean().max()
        wide = g.pivot_table(index="seed", columns="setting", values="score").dropna()
        others = wide.drop(columns=FIG3_PPO_SETTING)
        if others.empty:
            continue
        margin = (wide[FIG3_PPO_SETTING] - others.max(axis=1)) / (best - random[env])
        rows += [(env, int(s), float(m)) for s, m in margin.items()]
    return pd.DataFrame(rows, columns=["env", "seed", "margin"])


def ppo_margin_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic (one task, `env:`): PPO's margin over the best comparison method per seed (ppo_margins)."""
    m = ppo_margins(data_by_exp)
    return m.loc[m["env"] == claim.statistic["env"], "margin"].to_numpy()


def ppo_near_top_share_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic: per seed, the share of the tasks on which PPO's margin is above NEAR_TOP (at or near the
    top), over the tasks that seed has on all of Figure 3's methods; seeds with fewer than all 7 tasks are left out."""
    m = ppo_margins(data_by_exp)
    n_tasks = len(data_by_exp["fig3_baselines"].tables["episodes"].pipe(split_variant)["env"].unique()) \
        if data_by_exp.get("fig3_baselines") is not None else 0
    shares = [float((g["margin"] > NEAR_TOP).mean()) for _, g in m.groupby("seed") if len(g) == n_tasks]
    return np.array(shares)


def anneal_ablation_scores(data_by_exp) -> pd.DataFrame | None:
    """Runs of the annealing ablation and Table 1's runs, normalized as Table 1 (random 0, best 1) with best = the
    best Table 1 setting's mean score per task among those recorded, so that a constant-stepsize run's score reads on
    the scale of Table 1's annealed ones. Columns: setting, env, seed, score, normalized."""
    abl, t1, random = data_by_exp.get("anneal_ablation"), data_by_exp.get("table1"), _random_means(data_by_exp)
    if abl is None or t1 is None or random is None:
        return None
    t1_scores = split_variant(final_scores(t1.tables["episodes"]))
    best = t1_scores.groupby(["setting", "env"])["score"].mean().groupby("env").max()
    scores = pd.concat([split_variant(final_scores(abl.tables["episodes"])), t1_scores], ignore_index=True)
    lo, hi = scores["env"].map(random), scores["env"].map(best)
    return scores.assign(normalized=(scores["score"] - lo) / (hi - lo))


def anneal_aggregate(paper, data_by_exp):
    """The annealing ablation on Table 1's scale: each constant-stepsize setting beside its annealed Table 1 setting,
    per task and over the 7 tasks (the numbers the README quotes)."""
    from common.analysis.aggregate import Aggregate, Group, budget_text

    s = anneal_ablation_scores(data_by_exp)
    if s is None:
        return None
    exp = paper.experiment("anneal_ablation")
    names = pd.DataFrame({"variant": list(exp.variants)}).pipe(split_variant)
    tasks = list(dict.fromkeys(names["env"]))
    settings = [x for c in dict.fromkeys(names["setting"]) for x in (c.removesuffix(ANNEAL_SUFFIX), c)]
    groups = [Group(f"{x} (annealed: Table 1's runs)" if not x.endswith(ANNEAL_SUFFIX) else x,
                    {t: s.loc[(s["setting"] == x) & (s["env"] == t), "normalized"].to_numpy() for t in tasks})
              for x in settings]
    return Aggregate(
        name="anneal_ablation", title="Annealing ablation: constant stepsize beside Table 1's annealed runs",
        tasks=tasks, groups=groups, budget=budget_text(data_by_exp["anneal_ablation"]),
        score=f"mean total reward of its last {LAST_EPISODES} training episodes",
        normalization=("Table 1's: (score - random) / (best - random) per task, best = the best Table 1 setting's "
                       "mean score on that task, so that a constant-stepsize run reads on Table 1's scale"))


def anneal_normalized_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic: the normalized scores of one setting (`setting:`) of the annealing ablation."""
    s = anneal_ablation_scores(data_by_exp)
    if s is None:
        return np.array([])
    return s.loc[s["setting"] == claim.statistic["setting"], "normalized"].to_numpy()


def anneal_gain_values(claim, data_by_exp) -> np.ndarray:
    """Claims statistic: per task and seed, the normalized score of Table 1's annealed run minus that of the
    constant-stepsize run (`setting:`, e.g. no_clip_constant_lr; its Table 1 counterpart is the name without
    "_constant_lr") with the same seed and task (paired: same initial network and environment seed)."""
    s = anneal_ablation_scores(data_by_exp)
    if s is None:
        return np.array([])
    wide = s.pivot_table(index=["env", "seed"], columns="setting", values="normalized")
    c = claim.statistic["setting"]
    a = c.removesuffix(ANNEAL_SUFFIX)
    if a not in wide or c not in wide:
        return np.array([])
    return (wide[a] - wide[c]).dropna().to_numpy()
