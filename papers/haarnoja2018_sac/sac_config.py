"""SAC's config and its check (sac.py runs it): no torch, so that `repro list`, `status` and `show` stay fast."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from common.platform import validate as check
from common.rl.envs import CLASSIC, MUJOCO_V5


@dataclass
class SACConfig:
    seed: int = 0
    env_id: str = "Hopper-v5"
    version: str = "v2"  # v1 (1801.01290) | v2 (1812.05905)
    total_env_steps: int = 1_000_000  # environment steps (agent steps; MuJoCo has no frame skip)
    lr: float = 3e-4  # Adam, all networks (Table 1 of both papers)
    gamma: float = 0.99  # discount (Table 1)
    replay_size: int = 1_000_000  # replay buffer, transitions (Table 1)
    hidden_units: int = 256  # two hidden layers, ReLU (Table 1)
    batch_size: int = 256  # minibatch (Table 1)
    tau: float = 0.005  # target smoothing coefficient (Table 1)
    updates_per_step: int = 1  # gradient steps per environment step (Table 1)
    learning_starts: int = 5000  # env steps of uniform random actions before learning (not in the papers)
    reward_scale: float = 5.0  # v1 only: fixed temperature as reward scale (1801.01290 Table 2; Humanoid 20)
    init_alpha: float = 1.0  # v2: initial temperature
    target_entropy_per_dim: float = -1.0  # v2: entropy target = this x dim(A) (Table 1: -dim(A))
    # units of log pi (and so of v2's entropy target -dim(A) and v1's entropy bonus): "normalized", the action
    # rescaled to [-1, 1] as the authors' code acts (softlearning's normalized action wrapper; rllab's `normalize` in
    # the first SAC code), or "env", the task's own units (differs only where the bounds are not +-1: Humanoid-v5)
    log_prob_units: str = "normalized"
    eval_every_steps: int = 1000  # one evaluation rollout every 1000 environment steps (both papers)
    eval_episodes: int = 1
    matmul_dtype: str = "float32"  # float32 | bfloat16 (autocast for the networks' matmuls)
    torch_threads: int = 1
    # env steps after which the policy is also kept (agent_step<N>.npz: the actor after that step's updates), for
    # experiments that need intermediate ("medium") policies (not in the papers)
    save_agent_at_steps: List[int] = field(default_factory=list)
    # keep the final replay buffer too (replay.* in agent.large.npz, git-ignored: about 4 x (2 dim(S) + dim(A) + 2)
    # bytes a transition, 170 MB for 1M steps of Walker2d), for experiments that learn from it (not in the papers)
    save_replay: bool = False


#: What a key absent from a recorded config.yaml meant (runs recorded before the key existed; common/platform/registry.py).
#: Before `log_prob_units`, log pi was in the task's units, which are the normalized units on tasks bounded by +-1,
#: the bounds of every run recorded before it (tests/test_sac.py compares the two on such a task).
LEGACY = {"log_prob_units": "normalized", "save_agent_at_steps": [], "save_replay": False}

VERSIONS = ("v1", "v2")
MATMUL_DTYPES = ("float32", "bfloat16")


def validate_sac(cfg: SACConfig) -> None:
    """Values the algorithm can use (checked before any run starts): a known task, version and matmul dtype;
    positive sizes, steps, rates and scales; discount in [0, 1] and target smoothing in (0, 1]."""
    check.seed(cfg)
    check.one_of(cfg, "env_id", MUJOCO_V5 + CLASSIC)
    check.one_of(cfg, "version", VERSIONS)
    check.one_of(cfg, "matmul_dtype", MATMUL_DTYPES)
    check.one_of(cfg, "log_prob_units", ("normalized", "env"))
    check.at_least(cfg, 1, "total_env_steps", "replay_size", "hidden_units", "batch_size", "updates_per_step",
                   "eval_every_steps", "eval_episodes", "torch_threads")
    check.at_least(cfg, 0, "learning_starts")
    check.positive(cfg, "lr", "reward_scale", "init_alpha")
    check.between(cfg, 0, 1, "gamma")
    check.between(cfg, 0, 1, "tau", lo_open=True)
    check.finite(cfg, "target_entropy_per_dim")
    check.snapshot_steps(cfg)
