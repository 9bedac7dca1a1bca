"""Levine, Kumar, Tucker, Fu (2020): Offline Reinforcement Learning: Tutorial, Review, and Perspectives on Open
Problems (arXiv 2005.01643).

The tutorial has no result tables; its checkable claims are about distributional shift (experiments.yaml,
claims.yaml), run with the offline learners of papers/kumar2020_cql/cql.py (offline SAC, CQL(H), BC) on datasets
built here (common/offline/datasets.py).
"""
from common.platform.registry import lazy
from papers.kumar2020_cql import RUNNERS as _CQL_RUNNERS

L = lazy(__name__)

RUNNERS = {"offline": _CQL_RUNNERS["offline"]}
STATISTICS = {"q_over_data": L(".analysis:q_over_data_values"), "final_over_best": L(".analysis:final_over_best_values")}
FIGURES = {"default": L(".analysis:plot")}
SUMMARIES = {"per_run": L(".analysis:run_summary")}
# the report's "Datasets" section: the committed records of the datasets the runs learn from
SECTIONS = {"datasets": L("common.offline.report:section")}

__all__ = ["RUNNERS", "STATISTICS", "FIGURES", "SUMMARIES", "SECTIONS"]
