"""Schulman et al. (2015): Trust Region Policy Optimization (ICML 2015, arXiv 1502.05477).

The algorithm is trpo.py (single path and vine, Sec. 5.1-5.2, Sec. 6, Appendix C), built on the shared on-policy
pieces in common/onpolicy/ (conjugate gradient, Fisher-vector products, the KL-constrained line search); Atari is
trpo_atari.py (its config trpo_atari_config.py); figure4.py runs Figure 4's methods on one config, TRPO and its
comparisons CEM, CMA and RWR (their searches shared in common/rl/derivative_free.py and common/onpolicy/rwr.py).
experiments.yaml lists Figure 4's four tasks and Table 1; claims.yaml what the paper states. Everything but the
configs is named by reference and imported on first use (common/platform/registry.py: `lazy`).
"""
from common.platform.finite import TableRules
from common.platform.registry import Live, Runner, lazy

from .figure4 import Figure4Config, validate_figure4
from .trpo import TRPOConfig, validate_trpo
from .trpo_atari_config import TRPOAtariConfig, validate_trpo_atari

L = lazy(__name__)

RUNNERS = {
    # every iteration collects whole paths, so every iteration records at least one episode
    "trpo": Runner(TRPOConfig, L(".trpo:run_trpo"), validate_trpo,
                   tables={"episodes": TableRules(), "iterations": TableRules()},
                   live=Live({"episodes": ("iteration", "env_step", "episode_return", "episode_length"),
                              "iterations": ("iteration", "env_step", "mean_return", "episodes",
                                             "surrogate_improvement", "kl", "accepted", "backtracks", "entropy")},
                             curve=("iterations", "env_step", "mean_return"))),
    # Figure 4's panels: TRPO's methods (the same runs as "trpo": its keys at their defaults) and CEM, CMA, RWR
    "figure4": Runner(Figure4Config, L(".figure4:run_figure4"), validate_figure4,
                      tables={"episodes": TableRules(), "iterations": TableRules()},
                      live=Live(L(".figure4:live_tables"), curve=("iterations", "env_step", "mean_return"))),
    # a short Atari run may end no game
    "trpo_atari": Runner(TRPOAtariConfig, L(".trpo_atari:run_trpo_atari"), validate_trpo_atari,
                         tables={"episodes": TableRules(may_be_empty=True)},
                         live=Live({"episodes": ("iteration", "agent_step", "episode_return", "episode_length"),
                                    "iterations": ("iteration", "agent_step", "surrogate_improvement", "kl",
                                                   "accepted", "backtracks")},
                                   curve=("episodes", "agent_step", "episode_return"))),
}

#: Benchmarks (`repro bench`): name -> (runner, bench, peer); the peer is sb3-contrib's TRPO.
BENCH = {"trpo": (RUNNERS["trpo"], L(".bench:bench"), L(".bench:peer")),
         "figure4": (RUNNERS["figure4"], L(".bench:bench"), L(".bench:peer"))}  # Figure 4's experiments: the TRPO variants are timed

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": L(".plots:plot"), "atari": L(".plots:plot_atari")}

#: Per-run tables in the regenerated README (experiments.yaml `summary:`).
SUMMARIES = {"per_run": L(".analysis:run_summary")}

#: Per-run statistics for the claims (`statistic: {custom: NAME}`).
STATISTICS = {"final_return": L(".analysis:final_return_values"),
              "final_return_difference": L(".analysis:final_return_difference_values"),
              "atari_score": L(".analysis:atari_score_values")}

__all__ = ["RUNNERS", "BENCH", "FIGURES", "SUMMARIES", "STATISTICS"]
