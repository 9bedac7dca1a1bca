"""Kumar, Zhou, Tucker, Levine (2020): Conservative Q-Learning for Offline Reinforcement Learning (arXiv
2006.04779, NeurIPS 2020).

The algorithm and its baselines are cql.py (on SAC's networks, papers/haarnoja2018_sac/sac.py, and CQL's
regularizers, common/offline/conservative.py); experiments.yaml lists Table 1's gym rows on datasets built here
(common/offline/datasets.py); claims.yaml the paper's numbers (../shared/reported/cql2020.yaml).
"""
from common.platform.registry import Runner

from .analysis import final_normalized_values, plot, run_summary
from .cql import TABLES, CQLConfig, run_cql, validate_cql

RUNNERS = {"offline": Runner(CQLConfig, run_cql, validate_cql, tables=TABLES)}
STATISTICS = {"final_normalized": final_normalized_values}
FIGURES = {"default": plot}
SUMMARIES = {"per_run": run_summary}

__all__ = ["RUNNERS", "STATISTICS", "FIGURES", "SUMMARIES"]
