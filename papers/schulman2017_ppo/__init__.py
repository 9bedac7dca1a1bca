"""Schulman et al. (2017): Proximal Policy Optimization Algorithms (arXiv 1707.06347).

The algorithm is ppo.py (Atari: ppo_atari.py, its config ppo_atari_config.py); Figure 3's comparison methods are
fig3_baselines.py (A2C and A2C + trust region in a2c.py, vanilla PG with adaptive stepsize in vanilla_pg.py, TRPO with
the reference code's settings in trpo_gae.py, on the sampling loop of onpolicy_loop.py; the cross-entropy method in
cem.py); experiments.yaml lists Table 1, Figure 3 with its comparison methods, the annealing ablation and the
random-policy baseline; claims.yaml what the paper reports; bench.py the speed benchmark (`repro bench
schulman2017_ppo`). Everything but the configs is named by reference and imported on first use
(common/platform/registry.py: `lazy`).
"""
from common.platform.finite import TableRules
from common.platform.registry import Live, Runner, lazy

from .baselines import RandomPolicyConfig, validate_random_policy
from .fig3_baselines import Fig3BaselineConfig, validate_fig3_baseline
from .ppo import LEGACY as PPO_LEGACY, PPOConfig, validate_ppo
from .ppo_atari_config import PPOAtariConfig, validate_ppo_atari

L = lazy(__name__)

EPISODE_LOG = TableRules(may_be_empty=True)  # a log of the episodes that ended: none may end in a short run

RUNNERS = {
    "ppo": Runner(PPOConfig, L(".ppo:run_ppo"), validate_ppo, tables={"episodes": EPISODE_LOG}, legacy=PPO_LEGACY,
                  live=Live({"episodes": ("env_step", "episode_return", "episode_length"),
                             "iterations": ("iteration", "env_step", "kl", "policy_loss", "value_loss", "beta", "lr")},
                            curve=("episodes", "env_step", "episode_return"))),
    # Figure 3's comparison methods (A2C, A2C + trust region, vanilla PG adaptive, TRPO, CEM); a CEM run shorter
    # than its first generation has fitted none (no row of its per-generation table)
    "fig3_baseline": Runner(Fig3BaselineConfig, L(".fig3_baselines:run_fig3_baseline"), validate_fig3_baseline,
                            tables={"episodes": EPISODE_LOG,
                                    "iterations": TableRules(may_be_empty=lambda cfg: cfg.method == "cem")},
                            live=Live(L(".fig3_baselines:live_tables"), curve=("episodes", "env_step", "episode_return"))),
    "random_policy": Runner(RandomPolicyConfig, L(".baselines:run_random_policy"), validate_random_policy),
    "ppo_atari": Runner(PPOAtariConfig, L(".ppo_atari:run_ppo_atari"), validate_ppo_atari,
                        tables={"episodes": EPISODE_LOG}, legacy=L(".ppo_atari:LEGACY"),
                        live=Live({"episodes": ("agent_step", "episode_return", "episode_length")},
                                  curve=("episodes", "agent_step", "episode_return"))),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": L(".plots:plot"), "fig3_baselines": L(".plots:plot_fig3_baselines"),
           "anneal_ablation": L(".plots:plot_anneal_ablation")}

#: Per-run tables in the regenerated README (experiments.yaml names one with `summary:`).
SUMMARIES = {"atari": L(".analysis:atari_summary"), "scores": L(".analysis:score_summary")}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_steps, scratch_dir) -> dict).
BENCH = {"ppo": (RUNNERS["ppo"], L(".bench:bench"), L(".bench:peer"))}
#: Profiles (`repro bench --profile`): name -> (runner, function(cfg) -> {"note", "measures"}).
PROFILE = {"ppo": (RUNNERS["ppo"], L(".bench:profile"))}

#: Per-run statistics that need several experiments (claims name them with `statistic: {custom: NAME}`).
STATISTICS = {"normalized_score": L(".analysis:normalized_score_values"),
              "final_return": L(".analysis:final_return_values"),
              "atari_last100": L(".analysis:atari_last100_values"),
              "ppo_margin": L(".analysis:ppo_margin_values"),
              "ppo_near_top_share": L(".analysis:ppo_near_top_share_values"),
              "anneal_normalized": L(".analysis:anneal_normalized_values"),
              "anneal_gain": L(".analysis:anneal_gain_values")}

#: Multi-task results aggregated over tasks (common/analysis/aggregate.py): name -> function(paper, data_by_exp).
AGGREGATES = {"table1": L(".analysis:table1_aggregate"), "anneal_ablation": L(".analysis:anneal_aggregate")}

__all__ = ["RUNNERS", "BENCH", "PROFILE", "STATISTICS", "FIGURES", "SUMMARIES", "AGGREGATES"]
