"""D4RL's normalized score and its reference returns (Fu et al. 2020, arXiv 2004.07219).

    normalized score = 100 (R - R_random) / (R_expert - R_random)

with D4RL's REF_MIN_SCORE (a uniformly random policy) and REF_MAX_SCORE (the expert policy) of `d4rl/infos.py`
(Farama-Foundation/D4RL at commit 0ace16de1795f9e99b0e413f3617f797a997b57e, the same constants for the -v0, -v1 and
-v2 datasets of a task; copied in ../shared/reported/cql2020.yaml). `d4rl.get_normalized_score` returns the
fraction; papers, CQL's Table 1 among them, print it x 100, as here.

D4RL's constants were measured on Gym's -v2/-v3 MuJoCo tasks (mujoco-py); the tasks here are gymnasium's v5, so a
normalized score here is "on D4RL's scale", not the same quantity: every table labels which scale it uses. The
second scale, `common.offline.datasets.own_normalized`, uses this repository's own random and expert returns (the
mean episode returns its random and expert datasets record).
"""
from __future__ import annotations

import math

#: task -> (REF_MIN_SCORE, REF_MAX_SCORE), undiscounted returns of 1000-step episodes (d4rl/infos.py)
REFERENCE_RETURNS = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}

#: gymnasium task -> D4RL task name
D4RL_TASK = {"HalfCheetah-v5": "halfcheetah", "Hopper-v5": "hopper", "Walker2d-v5": "walker2d", "Ant-v5": "ant"}


def d4rl_task(env_id: str) -> str | None:
    """D4RL's name of a gymnasium task (None: D4RL has no such task)."""
    return D4RL_TASK.get(env_id)


def normalized_score(returns, low: float, high: float):
    """100 (R - low) / (high - low), elementwise."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        raise ValueError(f"normalization needs finite reference returns with high > low; got low={low}, high={high}")
    return 100.0 * (returns - low) / (high - low)


def d4rl_normalized(env_id: str, returns):
    """The return(s) on D4RL's normalized scale (0 = D4RL's random policy, 100 = D4RL's expert); a task D4RL does
    not have is an error."""
    task = d4rl_task(env_id)
    if task is None:
        raise ValueError(f"D4RL has no reference returns for {env_id}; it has {', '.join(D4RL_TASK)}")
    return normalized_score(returns, *REFERENCE_RETURNS[task])


# ---- D4RL's published dataset statistics -------------------------------------------------------------------------
#: Episodes of D4RL's gym MuJoCo datasets, task -> version -> kind, as TensorFlow Datasets' catalog lists them (the
#: "train" split's Examples, one example an episode, RLDS format) in tensorflow/datasets: docs/catalog/
#: d4rl_mujoco_hopper.md (stored at commit 57fd9380cb90c93131a82a98b056ee726ff734b4), d4rl_mujoco_halfcheetah.md
#: (d298f4b409c3a58df1a818d0af39651ffa534f4d) and d4rl_mujoco_walker2d.md (037b95dc178a085a6139c5d718ad5ea94a802013).
#: Every count below was read in two stored versions of each page (an older one with "Features", a newer one with
#: "Feature structure" and TFDS version 1.2.0) and is the same in both. Confidence: high for the counts as TFDS
#: converted D4RL's files (TFDS splits D4RL's rows into episodes at its terminals and time-outs, so a final
#: unfinished episode counts as one). v0's medium-replay is D4RL's "mixed" (hopper-mixed-v0: its name before v1).
#: Hopper v0's medium-expert (2,277) is not medium + expert (3,064 + 1,029), unlike every other task and version:
#: as published.
D4RL_EPISODES = {
    "hopper": {
        "v0": {"random": 8_793, "medium": 3_064, "expert": 1_029, "medium-replay": 1_250, "medium-expert": 2_277},
        "v1": {"random": 45_265, "medium": 6_328, "expert": 1_836, "medium-replay": 1_151, "medium-expert": 8_163},
        "v2": {"random": 45_240, "medium": 2_187, "expert": 1_028, "medium-replay": 2_041, "medium-expert": 3_214},
    },
    "halfcheetah": {
        "v0": {"random": 1_002, "medium": 1_002, "expert": 1_002, "medium-replay": 101, "medium-expert": 2_004},
        "v1": {"random": 1_000, "medium": 1_000, "expert": 1_000, "medium-replay": 202, "medium-expert": 2_000},
        "v2": {"random": 1_000, "medium": 1_000, "expert": 1_000, "medium-replay": 202, "medium-expert": 2_000},
    },
    "walker2d": {
        "v0": {"random": 50_988, "medium": 5_315, "expert": 1_628, "medium-replay": 501, "medium-expert": 6_943},
        "v1": {"random": 48_790, "medium": 1_207, "expert": 1_003, "medium-replay": 1_093, "medium-expert": 2_209},
        "v2": {"random": 48_908, "medium": 1_191, "expert": 1_001, "medium-replay": 1_093, "medium-expert": 2_191},
    },
}
D4RL_EPISODES_SOURCE = ("TensorFlow Datasets catalog, tensorflow/datasets docs/catalog/d4rl_mujoco_<task>.md, "
                        "split 'train', Examples = episodes")
D4RL_VERSIONS = ("v0", "v1", "v2")  # v0: the version CQL's Table 1 used; v2: the current one

#: D4RL's nominal size (transitions) of a kind: 1M for random, medium and expert, 2M for medium-expert (medium +
#: expert) from v1 on (Fu et al. 2020, Sec. 5; common/offline/datasets.py: D4RL_SIZES). Not published: medium-replay
#: (whatever the replay held), and v0's medium-expert (TFDS's sizes, 77.25 MiB for Hopper's against 64.68 MiB for its
#: 1M-row medium, show it is not 2M). TFDS's pages give sizes in MiB, not transitions.
D4RL_NOMINAL_TRANSITIONS = {"random": 1_000_000, "medium": 1_000_000, "expert": 1_000_000, "medium-expert": 2_000_000}
NOT_PUBLISHED = "not published"
NOT_RECORDED = "not recorded here"  # Ant: D4RL has its datasets; their counts are not copied here


def d4rl_published(env_id: str, kind: str) -> dict:
    """D4RL's published numbers for the dataset of `kind` on `env_id`'s task, per version: its episodes, its nominal
    transitions and the mean episode length they imply (transitions / episodes), each NOT_PUBLISHED where there is no
    number; a task D4RL's gym datasets do not have: NOT_PUBLISHED for all (Ant: NOT_RECORDED)."""
    task = d4rl_task(env_id)
    out = {"source": D4RL_EPISODES_SOURCE}
    for version in D4RL_VERSIONS:
        episodes = D4RL_EPISODES.get(task, {}).get(version, {}).get(kind)
        transitions = D4RL_NOMINAL_TRANSITIONS.get(kind) if not (version == "v0" and kind == "medium-expert") else None
        name = "mixed" if (version, kind) == ("v0", "medium-replay") else kind  # D4RL's v0 name
        out[version] = {
            "dataset": f"{task}-{name}-{version}" if task in D4RL_EPISODES else NOT_PUBLISHED,
            "episodes": episodes if episodes is not None else (NOT_RECORDED if task else NOT_PUBLISHED),
            "transitions": transitions if transitions is not None and episodes is not None else NOT_PUBLISHED,
            "transitions_per_episode": (transitions / episodes if transitions is not None and episodes is not None
                                        else NOT_PUBLISHED)}
    return out
