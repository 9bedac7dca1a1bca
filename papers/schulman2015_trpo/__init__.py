"""Schulman et al. (2015): Trust Region Policy Optimization (ICML 2015, arXiv 1502.05477).

The algorithm is trpo.py (single path and vine, Sec. 5.1-5.2, Sec. 6, Appendix C), built on the shared on-policy pieces in
common/onpolicy/ (conjugate gradient, Fisher-vector products, the KL-constrained line search); experiments.yaml lists
Figure 4's four tasks; claims.yaml what the paper states about them.
"""
from common.finite import TableRules
from common.registry import Runner

from .analysis import final_return_values, run_summary
from .plots import plot
from .trpo import TRPOConfig, run_trpo

RUNNERS = {
    # every iteration collects whole paths, so every iteration records at least one episode
    "trpo": Runner(TRPOConfig, run_trpo, tables={"episodes": TableRules(), "iterations": TableRules()}),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": plot}

#: Per-run tables in the regenerated README (experiments.yaml `summary:`).
SUMMARIES = {"per_run": run_summary}

#: Per-run statistics for the claims (`statistic: {custom: NAME}`).
STATISTICS = {"final_return": final_return_values}

__all__ = ["RUNNERS", "FIGURES", "SUMMARIES", "STATISTICS"]
