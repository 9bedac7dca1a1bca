"""Shared parts of offline (batch) reinforcement learning: learning from a fixed dataset, without acting.

  - `datasets`: D4RL-style datasets (random, medium, expert, medium-replay, medium-expert) built here from this
    repository's SAC runs' saved agents and replay buffers, terminals and time-outs kept apart, recorded like runs
    (config, provenance, checksums) as Minari datasets under results/datasets/ (the data git-ignored and
    regenerable, each dataset's record, dataset.json, committed); `build` is its command, `python -m
    common.offline.build ENV_ID KIND ...`; `report` the "Datasets" section of the offline papers' reports, made from
    the committed records;
  - `d4rl`: D4RL's normalized score and its reference returns (random and expert, per task), and D4RL's published
    episode counts of its gym datasets (v0, v1, v2) that the datasets' statistics are shown beside;
  - `conservative` (imported on its own, as it needs torch): CQL's regularizers (CQL(H) with the importance-sampled
    log-sum-exp, CQL(rho)) and the Lagrange variant of its weight (Kumar et al. 2020).

Each paper keeps its algorithm readable in its folder (papers/kumar2020_cql/cql.py) and imports these pieces.
"""
from .d4rl import REFERENCE_RETURNS, d4rl_normalized, d4rl_task, normalized_score
from .datasets import (FIELDS, KINDS, Dataset, collect, concatenate, episode_returns, from_replay, load_dataset,
                       return_statistics, save_dataset)

__all__ = ["REFERENCE_RETURNS", "d4rl_normalized", "d4rl_task", "normalized_score", "FIELDS", "KINDS", "Dataset",
           "collect", "concatenate", "episode_returns", "from_replay", "load_dataset", "return_statistics",
           "save_dataset"]
