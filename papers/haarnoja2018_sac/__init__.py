"""Haarnoja et al. (2018): Soft Actor-Critic, v1 (arXiv 1801.01290) and v2 (arXiv 1812.05905).

The algorithm is sac.py (its config sac_config.py); experiments.yaml lists Figure 1's tasks; claims.yaml what can be
checked; bench.py the speed benchmark (`repro bench haarnoja2018_sac fig1_hopper --variant v2`).
Everything but the config is named by reference and imported on first use (common/platform/registry.py: `lazy`).
"""
from common.platform.registry import Live, Runner, lazy

from .sac_config import LEGACY, SACConfig, validate_sac

L = lazy(__name__)

#: The checkpoint state's rows (sac.py: state["episodes"], state["evaluations"]), as the run's final tables.
LIVE = Live({"episodes": ("env_step", "episode_return", "episode_length"),
             "evaluations": ("env_step", "eval_return", "q_loss", "pi_loss", "alpha_or_v_loss", "alpha")},
            curve=("evaluations", "env_step", "eval_return"))
RUNNERS = {"sac": Runner(SACConfig, L(".sac:run_sac"), validate_sac, tables=L(".sac:TABLES"), legacy=LEGACY, live=LIVE)}
BENCH = {"sac": (RUNNERS["sac"], L(".bench:bench"), L(".bench:peer"))}
PROFILE = {"sac": (RUNNERS["sac"], L(".bench:profile"))}
STATISTICS = {"max_eval": L(".analysis:max_eval_values"), "final_eval": L(".analysis:final_eval_values"),
              "final_train": L(".analysis:final_train_values"), "v2_minus_v1": L(".analysis:v2_minus_v1_values"),
              "alpha_drift": L(".analysis:alpha_drift_values")}
FIGURES = {"default": L(".analysis:plot")}
SUMMARIES = {"per_run": L(".analysis:run_summary")}

#: Multi-task results aggregated over tasks (common/analysis/aggregate.py).
AGGREGATES = {"tasks": L(".analysis:tasks_aggregate")}

__all__ = ["RUNNERS", "BENCH", "PROFILE", "STATISTICS", "FIGURES", "SUMMARIES", "AGGREGATES"]
