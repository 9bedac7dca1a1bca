"""Haarnoja et al. (2018): Soft Actor-Critic, v1 (arXiv 1801.01290) and v2 (arXiv 1812.05905).

The algorithm is sac.py; experiments.yaml lists Figure 1's tasks; claims.yaml what can be checked; bench.py the
speed benchmark (`repro bench haarnoja2018_sac fig1_hopper --variant v2`).
"""
from common.platform.registry import Runner

from .analysis import (alpha_drift_values, final_eval_values, final_train_values, max_eval_values, plot,
                       run_summary, tasks_aggregate, v2_minus_v1_values)
from .bench import bench, peer, profile
from .sac import TABLES, SACConfig, run_sac, validate_sac

RUNNERS = {"sac": Runner(SACConfig, run_sac, validate_sac, tables=TABLES)}
BENCH = {"sac": (RUNNERS["sac"], bench, peer)}
PROFILE = {"sac": (RUNNERS["sac"], profile)}
STATISTICS = {"max_eval": max_eval_values, "final_eval": final_eval_values, "final_train": final_train_values,
              "v2_minus_v1": v2_minus_v1_values, "alpha_drift": alpha_drift_values}
FIGURES = {"default": plot}
SUMMARIES = {"per_run": run_summary}

AGGREGATES = {"tasks": tasks_aggregate}  # multi-task results aggregated over tasks (common/analysis/aggregate.py)

__all__ = ["RUNNERS", "BENCH", "PROFILE", "STATISTICS", "FIGURES", "SUMMARIES", "AGGREGATES"]
