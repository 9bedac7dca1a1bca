"""Mnih et al. (2013): Playing Atari with Deep Reinforcement Learning (arXiv 1312.5602).

The algorithm is dqn.py (its config dqn_config.py), its replay memory replay.py; experiments.yaml lists Table 1,
Figure 2, the 2015 variant and a toy check; claims.yaml holds Table 1; bench.py the speed benchmark.
Everything but the config is named by reference and imported on first use (common/platform/registry.py: `lazy`).
"""
from common.platform.registry import Live, Runner, lazy

from .dqn_config import DQNConfig, validate_dqn

L = lazy(__name__)

#: The checkpoint state's rows (dqn.py: state["episodes"], state["epochs"]; the final evaluation comes at the end).
LIVE = Live({"episodes": ("agent_step", "episode_return", "episode_length"),
             "epochs": ("epoch", "agent_step", "eval_mean_return", "eval_best_return", "eval_episodes",
                        "avg_max_q_heldout", "loss")},
            curve=("epochs", "agent_step", "eval_mean_return"))
RUNNERS = {"dqn": Runner(DQNConfig, L(".dqn:run_dqn"), validate_dqn, tables=L(".dqn:TABLES"), legacy=L(".dqn:LEGACY"),
                         live=LIVE)}
BENCH = {"dqn": (RUNNERS["dqn"], L(".bench:bench"), L(".bench:peer"))}
PROFILE = {"dqn": (RUNNERS["dqn"], L(".bench:profile"))}
STATISTICS = {"final_eval_mean": L(".analysis:final_eval_mean_values"),
              "best_episode": L(".analysis:best_episode_values"),
              "max_heldout_q": L(".analysis:max_heldout_q_values")}
FIGURES = {"default": L(".analysis:plot"), "q_divergence": L(".analysis:plot_q_divergence")}
SUMMARIES = {"table1": L(".analysis:table1_summary"), "q_divergence": L(".analysis:heldout_q_summary")}

#: Multi-task results aggregated over tasks (common/analysis/aggregate.py).
AGGREGATES = {"table1": L(".analysis:table1_aggregate")}

__all__ = ["RUNNERS", "BENCH", "PROFILE", "STATISTICS", "FIGURES", "SUMMARIES", "AGGREGATES"]
