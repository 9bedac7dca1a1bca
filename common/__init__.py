"""Shared parts of the reproductions, in rooms that follow the architecture:

  - `platform/`: what any experiment needs, RL or not: configs and their schemas, run records, runs, sweeps, the
    Slurm launcher, status, verification, the paper registry, benchmarks and the `repro` CLI;
  - `analysis/`: from recorded runs to verdicts: statistics, aggregates, claims and their rule, reference
    implementations' curves, plots, reports, comparisons and exports;
  - `rl/`: what every RL paper shares: environments (MuJoCo, Atari), networks, the numpy MLP, saved agents;
  - `onpolicy/`: the policy-gradient family's shared parts (PPO, TRPO, GAE, GAIL);
  - `offpolicy/`: the off-policy family's shared parts (SAC, DDPG, CQL), where there are any.

A paper's folder keeps only what is that paper's.
"""
from pathlib import Path

from common.platform.kernels import pin

pin()  # before numpy or torch loads: every run computes with AVX2's kernels (common/platform/kernels.py)

#: Repository root (the folder holding papers/, common/, results/).
REPO_ROOT = Path(__file__).resolve().parent.parent
