"""Schulman et al. (2016): High-Dimensional Continuous Control Using Generalized Advantage Estimation (ICLR 2016,
arXiv 1506.02438).

The algorithm is gae.py (Algorithm 1: GAE, eq. 16; the TRPO policy step, eq. 31; the value function's trust region,
eq. 30; the "No VF" baseline), built on the shared on-policy pieces in common/onpolicy/ and the numpy cart-pole of
Barto et al. 1983 (common/rl/barto_cartpole.py). experiments.yaml lists Figure 2 (cart-pole) and Figures 3-4 (3D
tasks); claims.yaml what the paper states; analysis.py the claims' statistics; plots.py the figures.
"""
from common.platform.finite import TableRules
from common.platform.registry import Runner

from .analysis import (best_gamma_values, best_region_values, fast_lambda_values, final_difference_values,
                       intermediate_over_lambda0_values, intermediate_over_lambda1_values, run_summary)
from .bench import bench
from .gae import GAEConfig, run_gae, validate_gae
from .plots import plot_curves, plot_figure2, plot_heatmap

RUNNERS = {
    # every batch holds whole trajectories, so every iteration records at least one episode
    "gae": Runner(GAEConfig, run_gae, validate_gae, tables={"episodes": TableRules(), "iterations": TableRules()}),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": plot_curves, "figure2": plot_figure2, "heatmap": plot_heatmap}

#: Per-run tables in the regenerated README (experiments.yaml `summary:`).
SUMMARIES = {"per_run": run_summary}

#: Per-run statistics for the claims (`statistic: {custom: NAME}`).
STATISTICS = {"best_region": best_region_values, "best_gamma": best_gamma_values, "fast_lambda": fast_lambda_values,
              "intermediate_over_lambda1": intermediate_over_lambda1_values,
              "intermediate_over_lambda0": intermediate_over_lambda0_values,
              "final_difference": final_difference_values}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_steps, scratch_dir) -> dict).
BENCH = {"gae": (RUNNERS["gae"], bench)}

__all__ = ["RUNNERS", "FIGURES", "SUMMARIES", "STATISTICS", "BENCH"]
