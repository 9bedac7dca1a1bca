"""Mnih et al. (2013): Playing Atari with Deep Reinforcement Learning (arXiv 1312.5602).

The algorithm is dqn.py, its replay memory replay.py; experiments.yaml lists Table 1, Figure 2, the 2015 variant
and a toy check; claims.yaml holds Table 1; bench.py the speed benchmark.
"""
from common.platform.registry import Runner

from .analysis import (best_episode_values, final_eval_mean_values, max_heldout_q_values, plot, plot_q_divergence,
                       heldout_q_summary, table1_aggregate, table1_summary)
from .bench import bench, peer, profile
from .dqn import LEGACY, TABLES, DQNConfig, run_dqn, validate_dqn

RUNNERS = {"dqn": Runner(DQNConfig, run_dqn, validate_dqn, tables=TABLES, legacy=LEGACY)}
BENCH = {"dqn": (RUNNERS["dqn"], bench, peer)}
PROFILE = {"dqn": (RUNNERS["dqn"], profile)}
STATISTICS = {"final_eval_mean": final_eval_mean_values, "best_episode": best_episode_values,
              "max_heldout_q": max_heldout_q_values}
FIGURES = {"default": plot, "q_divergence": plot_q_divergence}
SUMMARIES = {"table1": table1_summary, "q_divergence": heldout_q_summary}

AGGREGATES = {"table1": table1_aggregate}  # multi-task results aggregated over tasks (common/analysis/aggregate.py)

__all__ = ["RUNNERS", "BENCH", "PROFILE", "STATISTICS", "FIGURES", "SUMMARIES", "AGGREGATES"]
