"""Russo, Van Roy, Kazerouni, Osband, Wen (2017): A Tutorial on Thompson Sampling (arXiv 1707.02038).

Experiments are listed in experiments.yaml, claims in claims.yaml; the simulators are bandits.py (Sections 3
and 6) and bridge.py (Section 4); figures are drawn by plots.py.
Everything but the configs is named by reference and imported on first use (common/platform/registry.py: `lazy`).
"""
from common.platform.registry import Live, Runner, lazy

from .bandits import FiniteArmConfig, validate_finite_arm
from .bridge import LEGACY as BRIDGE_LEGACY, BridgeConfig, validate_bridge

L = lazy(__name__)


def _curves_so_far(state, cfg) -> dict:
    """The per-period curves of the periods simulated so far (the state's PeriodStats, common_sim.py)."""
    return {"curves": state["stats"].curve_frame(cfg.seed).iloc[: state["t"]]}


#: Live metrics: the regret curve so far (the per-replication summary comes at the end).
LIVE = Live(_curves_so_far, curve=("curves", "t", "regret_mean"))
RUNNERS = {
    "finite_arm": Runner(FiniteArmConfig, L(".bandits:run_finite_arm"), validate_finite_arm, live=LIVE),
    "bridge": Runner(BridgeConfig, L(".bridge:run_bridge"), validate_bridge, legacy=BRIDGE_LEGACY, live=LIVE),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"action_probability": L(".plots:plot_action_probability"), "regret": L(".plots:plot_regret"),
           "bridge": L(".plots:plot_bridge"), "prior": L(".plots:plot_prior")}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_periods, scratch_dir) -> dict).
BENCH = {"finite_arm": (RUNNERS["finite_arm"], L(".bench:bench"))}

#: Reference values computed from a run's resolved config (claims name them as thresholds).
COMPUTED = {
    "greedy_lockin_regret_lower_bound": L(".analytic:greedy_lockin_regret_lower_bound"),
    "greedy_best_arm_probability_upper_bound": L(".analytic:greedy_best_arm_probability_upper_bound"),
}

__all__ = ["RUNNERS", "BENCH", "COMPUTED", "FIGURES"]
