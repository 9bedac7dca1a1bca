"""Lillicrap et al. (2016): Deep Deterministic Policy Gradient (arXiv 1509.02971), and TD3's "Our DDPG" variant.

The algorithm is ddpg.py; experiments.yaml lists Table 1's low-dimensional tasks (gymnasium's counterparts), Figure
2's ablation, Figure 3 and TD3's DDPG columns; claims.yaml what can be checked; bench.py the speed benchmark
(`repro bench lillicrap2016_ddpg td3_table1 --variant our_ddpg__Hopper-v5`).
"""
from common.platform.registry import Runner

from .analysis import (final_eval_values, max_eval_values, paired_gain_values, plot, plot_q_vs_return,
                       q_bias_values, run_summary)
from .bench import bench, peer, profile
from .ddpg import TABLES, DDPGConfig, run_ddpg, validate_ddpg

RUNNERS = {"ddpg": Runner(DDPGConfig, run_ddpg, validate_ddpg, tables=TABLES)}
BENCH = {"ddpg": (RUNNERS["ddpg"], bench, peer)}
PROFILE = {"ddpg": (RUNNERS["ddpg"], profile)}
STATISTICS = {"max_eval": max_eval_values, "final_eval": final_eval_values, "paired_gain": paired_gain_values,
              "q_bias": q_bias_values}
FIGURES = {"default": plot, "q_vs_return": plot_q_vs_return}
SUMMARIES = {"per_run": run_summary}

__all__ = ["RUNNERS", "BENCH", "PROFILE", "STATISTICS", "FIGURES", "SUMMARIES"]
