"""Schulman et al. (2017): Proximal Policy Optimization Algorithms (arXiv 1707.06347).

The algorithm is ppo.py; experiments.yaml lists Table 1, Figure 3 and the random-policy baseline; claims.yaml what
the paper reports; bench.py the speed benchmark (`repro bench schulman2017_ppo`).
"""
from common.platform.finite import TableRules
from common.platform.registry import Runner

from .analysis import atari_last100_values, atari_summary, final_return_values, normalized_score_values, table1_aggregate
from .bench import bench, peer
from .baselines import RandomPolicyConfig, run_random_policy, validate_random_policy
from .plots import plot
from .ppo import PPOConfig, run_ppo, validate_ppo
from .ppo_atari import LEGACY as ATARI_LEGACY, PPOAtariConfig, run_ppo_atari, validate_ppo_atari

EPISODE_LOG = TableRules(may_be_empty=True)  # a log of the episodes that ended: none may end in a short run

RUNNERS = {
    "ppo": Runner(PPOConfig, run_ppo, validate_ppo, tables={"episodes": EPISODE_LOG}),
    "random_policy": Runner(RandomPolicyConfig, run_random_policy, validate_random_policy),
    "ppo_atari": Runner(PPOAtariConfig, run_ppo_atari, validate_ppo_atari, tables={"episodes": EPISODE_LOG},
                        legacy=ATARI_LEGACY),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": plot}

#: Per-run tables in the regenerated README (experiments.yaml names one with `summary:`).
SUMMARIES = {"atari": atari_summary}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_steps, scratch_dir) -> dict).
BENCH = {"ppo": (RUNNERS["ppo"], bench, peer)}

#: Per-run statistics that need several experiments (claims name them with `statistic: {custom: NAME}`).
STATISTICS = {"normalized_score": normalized_score_values, "final_return": final_return_values,
              "atari_last100": atari_last100_values}

#: Multi-task results aggregated over tasks (common/analysis/aggregate.py): name -> function(paper, data_by_exp).
AGGREGATES = {"table1": table1_aggregate}

__all__ = ["RUNNERS", "BENCH", "STATISTICS", "FIGURES", "SUMMARIES", "AGGREGATES"]
