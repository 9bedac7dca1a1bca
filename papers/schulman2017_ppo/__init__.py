"""Schulman et al. (2017): Proximal Policy Optimization Algorithms (arXiv 1707.06347).

The algorithm is ppo.py; experiments.yaml lists Table 1, Figure 3 and the random-policy baseline; claims.yaml what
the paper reports; bench.py the speed benchmark (`repro bench schulman2017_ppo`).
"""
from common.registry import Runner

from .analysis import atari_last100_values, final_return_values, normalized_score_values
from .bench import bench
from .baselines import RandomPolicyConfig, run_random_policy, validate_random_policy
from .plots import plot
from .ppo import PPOConfig, run_ppo, validate_ppo
from .ppo_atari import PPOAtariConfig, run_ppo_atari, validate_ppo_atari

RUNNERS = {
    "ppo": Runner(PPOConfig, run_ppo, validate_ppo),
    "random_policy": Runner(RandomPolicyConfig, run_random_policy, validate_random_policy),
    "ppo_atari": Runner(PPOAtariConfig, run_ppo_atari, validate_ppo_atari),
}

#: Figures (experiments.yaml names one with `figure:`, "default" unless given).
FIGURES = {"default": plot}

#: Benchmarks (`repro bench`): name -> (runner, function(cfg, n_steps, scratch_dir) -> dict).
BENCH = {"ppo": (RUNNERS["ppo"], bench)}

#: Per-run statistics that need several experiments (claims name them with `statistic: {custom: NAME}`).
STATISTICS = {"normalized_score": normalized_score_values, "final_return": final_return_values,
              "atari_last100": atari_last100_values}

__all__ = ["RUNNERS", "BENCH", "STATISTICS", "FIGURES"]
