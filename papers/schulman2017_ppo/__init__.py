"""Schulman et al. (2017): Proximal Policy Optimization Algorithms (arXiv 1707.06347).

The algorithm is ppo.py; Figure 3's comparison methods are fig3_baselines.py (A2C and A2C + trust region in a2c.py,
vanilla PG with adaptive stepsize in vanilla_pg.py, TRPO with the reference code's settings in trpo_gae.py, on the
sampling loop of onpolicy_loop.py; the cross-entropy method in cem.py); experiments.yaml lists Table 1, Figure 3 with its comparison methods, the
annealing ablation and the random-policy baseline; claims.yaml what the paper reports; bench.py the speed benchmark
(`repro bench schulman2017_ppo`).
"""
from common.platform.finite import TableRules
from common.platform.registry import Runner

from .analysis import (anneal_gain_values, anneal_normalized_values, atari_last100_values, atari_summary,
                       final_return_values, normalized_score_values, ppo_margin_values, ppo_near_top_share_values,
                       table1_aggregate)
from .bench import bench, peer
from .baselines import RandomPolicyConfig, run_random_policy, validate_random_policy
from .fig3_baselines import Fig3BaselineConfig, run_fig3_baseline, validate_fig3_baseline
from .plots import plot, plot_anneal_ablation, plot_fig3_baselines
from .ppo import PPOConfig, run_ppo, validate_ppo
from .ppo_atari import LEGACY as ATARI_LEGACY, PPOAtariConfig, run_ppo_atari, validate_ppo_atari

EPISODE_LOG = TableRules(may_be_empty=True)  # a log of the episodes that ended: none may end in a short run

RUNNERS = {
    "ppo": Runner(PPOConfig, run_ppo, validate_ppo, tables={"episodes": EPISODE_LOG}),
    # Figure 3's comparison methods (A2C, A2C + trust region, vanilla PG adaptive, TRPO, CEM); a CEM run shorter
    # than its first generation has fitted none (no row of its per-generation table)
    "fig3_baseline": Runner(Fig3BaselineConfig, run_fig3_baseline, validate_fig3_baseline,
                            tables={"episodes": EPISODE_LOG,
                                    "iterations": TableRules(may_be_empty=lambda cfg: cfg.method == "cem")}),
    "random_policy": Runner(RandomPolicyConfig, run_random_policy, validate_random_policy),
    "ppo_atari": Runner(PPOAtariConfig, run_ppo_atari, validate_ppo_atari, tables={"episodes": EPISODE_LOG},
                        legacy=ATARI_LEGACY),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": plot, "fig3_baselines": plot_fig3_baselines, "anneal_ablation": plot_anneal_ablation}

#: Per-run tables in the regenerated README (experiments.yaml names one with `summary:`).
SUMMARIES = {"atari": atari_summary}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_steps, scratch_dir) -> dict).
BENCH = {"ppo": (RUNNERS["ppo"], bench, peer)}

#: Per-run statistics that need several experiments (claims name them with `statistic: {custom: NAME}`).
STATISTICS = {"normalized_score": normalized_score_values, "final_return": final_return_values,
              "atari_last100": atari_last100_values, "ppo_margin": ppo_margin_values,
              "ppo_near_top_share": ppo_near_top_share_values, "anneal_normalized": anneal_normalized_values,
              "anneal_gain": anneal_gain_values}

#: Multi-task results aggregated over tasks (common/analysis/aggregate.py): name -> function(paper, data_by_exp).
AGGREGATES = {"table1": table1_aggregate}

__all__ = ["RUNNERS", "BENCH", "STATISTICS", "FIGURES", "SUMMARIES", "AGGREGATES"]
