"""Russo, Van Roy, Kazerouni, Osband, Wen (2017): A Tutorial on Thompson Sampling (arXiv 1707.02038).

Experiments are listed in experiments.yaml, claims in claims.yaml; the simulators are bandits.py (Sections 3
and 6) and bridge.py (Section 4); figures are drawn by plots.py.
"""
from common.platform.registry import Runner

from .analytic import greedy_best_arm_probability_upper_bound, greedy_lockin_regret_lower_bound
from .bandits import FiniteArmConfig, run_finite_arm, validate_finite_arm
from .bench import bench
from .bridge import BridgeConfig, run_bridge, validate_bridge
from .plots import plot_action_probability, plot_bridge, plot_prior, plot_regret

RUNNERS = {
    "finite_arm": Runner(FiniteArmConfig, run_finite_arm, validate_finite_arm),
    "bridge": Runner(BridgeConfig, run_bridge, validate_bridge),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"action_probability": plot_action_probability, "regret": plot_regret, "bridge": plot_bridge,
           "prior": plot_prior}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_periods, scratch_dir) -> dict).
BENCH = {"finite_arm": (RUNNERS["finite_arm"], bench)}

#: Reference values computed from a run's resolved config (claims name them as thresholds).
COMPUTED = {
    "greedy_lockin_regret_lower_bound": greedy_lockin_regret_lower_bound,
    "greedy_best_arm_probability_upper_bound": greedy_best_arm_probability_upper_bound,
}

__all__ = ["RUNNERS", "BENCH", "COMPUTED", "FIGURES"]
