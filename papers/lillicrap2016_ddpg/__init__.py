"""Lillicrap et al. (2016): Deep Deterministic Policy Gradient (arXiv 1509.02971), and TD3's "Our DDPG" variant.

The algorithm is ddpg.py (its config ddpg_config.py), on the off-policy family's shared parts in common/offpolicy/;
experiments.yaml lists Table 1's low-dimensional tasks (gymnasium's counterparts), Figure 2's ablation, Figure 3 and
TD3's DDPG columns; claims.yaml what can be checked; bench.py the speed benchmark (`repro bench lillicrap2016_ddpg
td3_table1 --variant our_ddpg__Hopper-v5`). Everything but the config is named by reference and imported on first
use (common/platform/registry.py: `lazy`).
"""
from common.platform.registry import Live, Runner, lazy

from .ddpg_config import TABLES, DDPGConfig, validate_ddpg

L = lazy(__name__)

RUNNERS = {"ddpg": Runner(DDPGConfig, L(".ddpg:run_ddpg"), validate_ddpg, tables=TABLES,
                          live=Live({"episodes": ("env_step", "episode_return", "episode_length"),
                                     "evaluations": ("env_step", "eval_return", "eval_discounted_return",
                                                     "q_estimate", "critic_loss", "actor_loss")},
                                    curve=("evaluations", "env_step", "eval_return")))}
BENCH = {"ddpg": (RUNNERS["ddpg"], L(".bench:bench"), L(".bench:peer"))}
PROFILE = {"ddpg": (RUNNERS["ddpg"], L(".bench:profile"))}
STATISTICS = {name: L(f".analysis:{name}_values") for name in ("max_eval", "final_eval", "paired_gain", "q_bias")}
FIGURES = {"default": L(".analysis:plot"), "q_vs_return": L(".analysis:plot_q_vs_return")}
SUMMARIES = {"per_run": L(".analysis:run_summary")}

__all__ = ["RUNNERS", "BENCH", "PROFILE", "STATISTICS", "FIGURES", "SUMMARIES"]
