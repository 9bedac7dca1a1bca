"""The "Datasets" section of an offline paper's report (papers/kumar2020_cql, papers/levine2020_offline), from the
committed records of the D4RL-style datasets (`<root>/datasets/<env>/<kind>-v0/dataset.json`, common/offline/
datasets.py), never from their data files (git-ignored: a fresh clone has the records only).

Per dataset: its episodes, transitions and transitions per episode, its returns (mean, sd, median, min, max, and the
mean on D4RL's normalized scale) beside D4RL's published episode counts and the transitions per episode they imply
(v0, v1, v2: `d4rl_published`, recorded in the record's statistics); for medium and medium-replay, the snapshot the
builder chose (its step, its evaluation return, the target: a third of the expert's final evaluation return) and the
dataset's mean return as a fraction of that expert return. Also written as summaries/datasets.csv.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from common.analysis.report import _commit_text, _summary_markdown
from common.offline.d4rl import D4RL_VERSIONS, NOT_PUBLISHED
from common.offline.datasets import KINDS, dataset_records, minari_id

#: how each kind's actions were chosen (common/offline/datasets.py)
BEHAVIOUR = {"random": "uniform actions", "medium": "this repository's SAC policy, a snapshot",
             "expert": "this repository's SAC policy, final", "medium-replay": "this repository's SAC run's replay",
             "medium-expert": "medium then expert"}
LABEL = "locally generated dataset"
CSV_NAME = "datasets.csv"


def dataset_table(root) -> pd.DataFrame:
    """One row per recorded D4RL-style dataset under `root` (GAIL's gail-expert datasets left out), in task then
    KINDS order; columns as in summaries/datasets.csv."""
    rows = []
    for _, doc in dataset_records(root):
        kind = doc.get("kind")
        if kind not in KINDS:
            continue
        stats, cfg = doc["statistics"], doc["config"]
        row = {"dataset": minari_id(doc["env_id"], kind), "kind": kind,
               "data": f"{LABEL} (gymnasium v5; {BEHAVIOUR[kind]})", "env_version": doc["env_version"],
               "seed": cfg.get("seed"), "episodes": stats["episodes"], "transitions": stats["transitions"],
               "transitions per episode": stats["transitions_per_episode"]}
        for name in ("mean", "sd", "median", "min", "max"):
            row[f"return {name}"] = stats.get(f"return_{name}")
        row["D4RL-normalized return mean"] = stats.get("d4rl_normalized_mean")
        for version in D4RL_VERSIONS:
            published = stats["d4rl_published"][version]
            row[f"D4RL {version} episodes"] = published["episodes"]
            row[f"D4RL {version} transitions per episode"] = published["transitions_per_episode"]
        chosen = cfg.get("medium_choice") or {}
        if kind in ("medium", "medium-replay"):
            expert = chosen.get("expert_return")
            row.update({
                "snapshot step (env steps)": cfg.get("step"),
                "snapshot evaluation return": (chosen.get("snapshot_eval_returns") or {}).get(str(cfg.get("step"))),
                "target return (1/3 of the expert's)": chosen.get("target_return"),
                "expert final evaluation return": expert,
                "return mean / expert's": (stats["return_mean"] / expert
                                           if expert and stats.get("return_mean") is not None else None)})
        row["commit"] = _commit_text(doc.get("provenance", {}))  # the commit that built it
        rows.append(row)
    return pd.DataFrame(sorted(rows, key=lambda r: _order(r["dataset"])))


def _order(dataset_id: str) -> tuple:
    env, _, kind = dataset_id.rpartition("/")
    return env, KINDS.index(kind.rpartition("-v")[0])


def _published(count, per_episode) -> str:
    """'3,064 (326.4)': D4RL's episodes and the transitions per episode they imply, or why there is no number."""
    if not isinstance(count, (int, float)):
        return str(count)
    return f"{count:,} ({per_episode:,.1f})" if isinstance(per_episode, (int, float)) else f"{count:,} ({NOT_PUBLISHED})"


def section(paper, out: Path, root: Path) -> str:
    """The report's "Datasets" section (markdown), and summaries/datasets.csv beside it (removed when no dataset is
    recorded, so that it never outlives the records)."""
    from common.platform.records import atomic_write_text

    table = dataset_table(root)
    csv = out / "summaries" / CSV_NAME
    head = "## Datasets\n\n"
    if not len(table):
        csv.unlink(missing_ok=True)
        return (head + "No dataset recorded (no `datasets/<env>/<kind>-v0/dataset.json` in the results folder): "
                "build them with `python -m common.offline.build` (`papers/kumar2020_cql/README.md`).\n")
    csv.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(csv, table.to_csv(index=False, lineterminator="\n", float_format="%.10g"))
    shape = table[["dataset", "data", "seed", "episodes", "transitions", "transitions per episode", "return mean",
                   "return sd", "return median", "return min", "return max", "D4RL-normalized return mean"]].copy()
    for version in D4RL_VERSIONS:
        shape[f"D4RL {version}: episodes (transitions per episode)"] = [
            _published(n, t) for n, t in zip(table[f"D4RL {version} episodes"],
                                              table[f"D4RL {version} transitions per episode"])]
    parts = [head, f"Every row is a {LABEL} (gymnasium v5 tasks; random: uniform actions; the others: this "
             "repository's SAC policy and its replay), built by `common/offline/build.py`, never D4RL's files; read "
             f"from each dataset's committed record (`datasets/<env>/<kind>-v0/dataset.json`; also in "
             f"`summaries/{CSV_NAME}`, with each record's environment version and commit). Returns: undiscounted, "
             "of the dataset's complete episodes (the actions as collected: uniform for random, sampled from SAC's "
             "policy for the others), a last episode cut by the dataset's size left out; transitions per episode "
             "counts it. D4RL-normalized: "
             "on D4RL's scale (its random and expert reference returns, measured on Gym's v2/v3 tasks). D4RL's "
             "columns: its published episode counts (TensorFlow Datasets' catalog) and its nominal transitions over "
             "them; v0 is what CQL's Table 1 used. Environment: "
             + "; ".join(sorted(set(table["env_version"]))) + ".\n\n", _summary_markdown(shape)]
    medium = table[table["kind"].isin(["medium", "medium-replay"])]
    if len(medium):
        parts += ["\nThe medium snapshot (medium: its policy's actions; medium-replay: the SAC run's replay up to "
                  "its step), chosen as the snapshot whose evaluation return (the SAC run's evaluation with the "
                  "policy's mean action) lies nearest a third of the expert's final evaluation return (the mean of "
                  "the run's last 10 evaluations); empty where the step was given by hand. The last column: the "
                  "dataset's mean return over that expert return.\n\n",
                  _summary_markdown(medium[["dataset", "snapshot step (env steps)", "snapshot evaluation return",
                                            "target return (1/3 of the expert's)", "expert final evaluation return",
                                            "return mean / expert's"]])]
    return "".join(parts) + "\n"
