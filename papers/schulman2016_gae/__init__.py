"""Schulman et al. (2016): High-Dimensional Continuous Control Using Generalized Advantage Estimation (ICLR 2016,
arXiv 1506.02438).

The algorithm is gae.py (Algorithm 1: GAE, eq. 16; the TRPO policy step, eq. 31; the value function's trust region,
eq. 30; the "No VF" baseline), built on the shared on-policy pieces in common/onpolicy/ and the numpy cart-pole of
Barto et al. 1983 (common/rl/barto_cartpole.py). experiments.yaml lists Figure 2 (cart-pole) and Figures 3-4 (3D
tasks); claims.yaml what the paper states; analysis.py the claims' statistics; plots.py the figures. Everything but
the config is named by reference and imported on first use (common/platform/registry.py: `lazy`).
"""
from common.platform.finite import TableRules
from common.platform.registry import Live, Runner, lazy

from .gae import GAEConfig, validate_gae

L = lazy(__name__)

RUNNERS = {
    # every batch holds whole trajectories, so every iteration records at least one episode
    "gae": Runner(GAEConfig, L(".gae:run_gae"), validate_gae,
                  tables={"episodes": TableRules(), "iterations": TableRules()},
                  # a packed cart-pole run's rows carry their seed (gae.py: live_tables)
                  live=Live(L(".gae:live_tables"), curve=("iterations", "env_step", "mean_return"))),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": L(".plots:plot_curves"), "figure2": L(".plots:plot_figure2"), "heatmap": L(".plots:plot_heatmap")}

#: Per-run tables in the regenerated README (experiments.yaml `summary:`).
SUMMARIES = {"per_run": L(".analysis:run_summary")}

#: Per-run statistics for the claims (`statistic: {custom: NAME}`).
STATISTICS = {name: L(f".analysis:{name}_values") for name in (
    "best_region", "best_gamma", "fast_lambda", "intermediate_over_lambda1", "intermediate_over_lambda0",
    "final_difference")}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_steps, scratch_dir) -> dict).
BENCH = {"gae": (RUNNERS["gae"], L(".bench:bench"))}

__all__ = ["RUNNERS", "FIGURES", "SUMMARIES", "STATISTICS", "BENCH"]
