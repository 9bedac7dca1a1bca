"""Schulman et al. (2015): Trust Region Policy Optimization (ICML 2015, arXiv 1502.05477).

The algorithm is trpo.py (single path and vine, Sec. 5.1-5.2, Sec. 6, Appendix C), built on the shared on-policy
pieces in common/onpolicy/ (conjugate gradient, Fisher-vector products, the KL-constrained line search); Atari is
trpo_atari.py; figure4.py runs Figure 4's methods on one config, TRPO and its comparisons CEM, CMA and RWR (their
searches shared in common/rl/derivative_free.py and common/onpolicy/rwr.py). experiments.yaml lists Figure 4's four tasks and Table 1; claims.yaml what the paper states.
"""
from common.platform.finite import TableRules
from common.platform.registry import Runner

from .analysis import atari_score_values, final_return_difference_values, final_return_values, run_summary
from .bench import bench, peer
from .figure4 import Figure4Config, run_figure4, validate_figure4
from .plots import plot, plot_atari
from .trpo import TRPOConfig, run_trpo, validate_trpo
from .trpo_atari import TRPOAtariConfig, run_trpo_atari, validate_trpo_atari

RUNNERS = {
    # every iteration collects whole paths, so every iteration records at least one episode
    "trpo": Runner(TRPOConfig, run_trpo, validate_trpo, tables={"episodes": TableRules(), "iterations": TableRules()}),
    # Figure 4's panels: TRPO's methods (the same runs as "trpo": its keys at their defaults) and CEM, CMA, RWR
    "figure4": Runner(Figure4Config, run_figure4, validate_figure4,
                      tables={"episodes": TableRules(), "iterations": TableRules()}),
    # a short Atari run may end no game
    "trpo_atari": Runner(TRPOAtariConfig, run_trpo_atari, validate_trpo_atari,
                         tables={"episodes": TableRules(may_be_empty=True)}),
}

#: Benchmarks (`repro bench`): name -> (runner, bench, peer); the peer is sb3-contrib's TRPO.
BENCH = {"trpo": (RUNNERS["trpo"], bench, peer),
         "figure4": (RUNNERS["figure4"], bench, peer)}  # Figure 4's experiments: the TRPO variants are timed

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": plot, "atari": plot_atari}

#: Per-run tables in the regenerated README (experiments.yaml `summary:`).
SUMMARIES = {"per_run": run_summary}

#: Per-run statistics for the claims (`statistic: {custom: NAME}`).
STATISTICS = {"final_return": final_return_values, "final_return_difference": final_return_difference_values,
              "atari_score": atari_score_values}

__all__ = ["RUNNERS", "BENCH", "FIGURES", "SUMMARIES", "STATISTICS"]
