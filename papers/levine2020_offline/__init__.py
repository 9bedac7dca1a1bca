"""Levine, Kumar, Tucker, Fu (2020): Offline Reinforcement Learning: Tutorial, Review, and Perspectives on Open
Problems (arXiv 2005.01643).

The tutorial has no result tables; its checkable claims are about distributional shift (experiments.yaml,
claims.yaml), run with the offline learners of papers/kumar2020_cql/cql.py (offline SAC, CQL(H), BC) on datasets
built here (common/offline/datasets.py).
"""
from papers.kumar2020_cql import RUNNERS as _CQL_RUNNERS

from .analysis import final_over_best_values, plot, q_over_data_values, run_summary

RUNNERS = {"offline": _CQL_RUNNERS["offline"]}
STATISTICS = {"q_over_data": q_over_data_values, "final_over_best": final_over_best_values}
FIGURES = {"default": plot}
SUMMARIES = {"per_run": run_summary}

__all__ = ["RUNNERS", "STATISTICS", "FIGURES", "SUMMARIES"]
