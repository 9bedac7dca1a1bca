"""The configuration of papers/lillicrap2016_ddpg/ddpg.py: its keys with their sources, the checks of their values
and what the run's tables may hold (kept apart from the algorithm, which needs torch, so that listing and showing
experiments loads neither)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from common.platform import validate as check
from common.platform.finite import MayBeNaN, TableRules
from common.rl.dmc import ENV_IDS as DMC_TASKS
from common.rl.envs import CLASSIC, MUJOCO_V5


@dataclass
class DDPGConfig:
    seed: int = 0
    env_id: str = "Hopper-v5"
    total_env_steps: int = 1_000_000  # environment steps (agent steps; MuJoCo has no frame skip)
    actor_lr: float = 1e-4  # Adam (Section 7)
    critic_lr: float = 1e-3  # Adam (Section 7)
    critic_l2: float = 1e-2  # L2 weight decay on the critic's weights, lambda in lambda/2 |W|^2 (Section 7)
    gamma: float = 0.99  # discount (Section 7)
    tau: float = 0.001  # soft target update (Section 7)
    batch_size: int = 64  # minibatch, transitions (Section 7, low-dimensional)
    replay_size: int = 1_000_000  # replay buffer, transitions (Section 7)
    hidden_units: List[int] = field(default_factory=lambda: [400, 300])  # ReLU layers (Section 7)
    action_layer: int = 2  # critic layer the action enters: 2 = "not included until the 2nd hidden layer" (Sec. 7)
    final_layer_init: float = 3e-3  # final layers uniform in +-this (Section 7); 0: +-1/sqrt(fan-in) as the others
    batch_norm: bool = True  # Section 7 (low-dimensional runs); Figure 2 ablates it
    bn_momentum: float = 0.1  # running-statistics update of batch normalization (torch's default; not in the paper)
    target_network: bool = True  # false: the targets y use the online networks (Figure 2's ablation)
    exploration: str = "ou"  # ou: Ornstein-Uhlenbeck (Section 7) | gaussian: N(0, sigma) per step (TD3's Our DDPG)
    ou_theta: float = 0.15  # Section 7
    ou_sigma: float = 0.2  # Section 7
    ou_dt: float = 1.0  # time step of the process (not in the paper; 1 as rllab's OUStrategy)
    gaussian_sigma: float = 0.1  # TD3 Sec. 6.1: N(0, 0.1), in units of the action bound
    random_steps: int = 0  # uniform random actions first (not in DDPG; TD3's Our DDPG: 1000, 10000 on HalfCheetah, Ant)
    learning_starts: int = 64  # env steps before the first update (DDPG: once the replay holds one minibatch)
    eval_every_steps: int = 5000  # one evaluation every this many env steps (TD3 Sec. 6.1; the paper does not say)
    eval_episodes: int = 10  # episodes per evaluation, without exploration noise (TD3 Sec. 6.1; the paper: "test")
    torch_threads: int = 1


EXPLORATION = ("ou", "gaussian")


def validate_ddpg(cfg: DDPGConfig) -> None:
    """Values the algorithm can use (checked before any run starts)."""
    check.seed(cfg)
    check.one_of(cfg, "env_id", MUJOCO_V5 + CLASSIC + DMC_TASKS)
    check.one_of(cfg, "exploration", EXPLORATION)
    check.at_least(cfg, 1, "total_env_steps", "replay_size", "batch_size", "eval_every_steps", "eval_episodes",
                   "torch_threads")
    check.at_least(cfg, 0, "random_steps", "learning_starts")
    check.positive(cfg, "actor_lr", "critic_lr", "ou_dt")
    check.at_least(cfg, 0, "critic_l2", "ou_theta", "ou_sigma", "gaussian_sigma", "final_layer_init")
    check.between(cfg, 0, 1, "gamma")
    check.between(cfg, 0, 1, "tau", "bn_momentum", lo_open=True)
    check.require(len(cfg.hidden_units) == 2 and min(cfg.hidden_units) >= 1, "hidden_units", cfg.hidden_units,
                  "two positive layer sizes, e.g. [400, 300]")
    check.one_of(cfg, "action_layer", (1, 2))


LOSS_COLUMNS = ("critic_loss", "actor_loss")
TABLES = {
    "evaluations": TableRules(
        nan={c: MayBeNaN("no update before learning_starts", lambda df, cfg: df["env_step"] < cfg.learning_starts)
             for c in LOSS_COLUMNS},
        may_be_empty=lambda cfg: cfg.total_env_steps < cfg.eval_every_steps),
    "episodes": TableRules(may_be_empty=True),
}
