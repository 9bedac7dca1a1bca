"""PPO on Atari: its config and its check (ppo_atari.py runs it): no torch, so that `repro list`, `status` and `show`
stay fast."""
from __future__ import annotations

from dataclasses import dataclass

from common.platform import validate as check
from common.rl.atari import GAMES


@dataclass
class PPOAtariConfig:
    seed: int = 0
    game: str = "Breakout"
    total_agent_steps: int = 10_000_000  # 40M emulator frames (Sec. 6.4)
    frame_skip: int = 4
    num_actors: int = 8  # Table 5
    horizon: int = 128  # T (Table 5)
    lr: float = 2.5e-4  # Adam stepsize x alpha (Table 5)
    epochs: int = 3  # Table 5
    minibatch_size: int = 256  # 32 x 8 (Table 5)
    gamma: float = 0.99  # Table 5
    gae_lambda: float = 0.95  # Table 5
    clip_epsilon: float = 0.1  # x alpha (Table 5)
    vf_coef: float = 1.0  # c1 (Table 5) on the squared error (V - V^targ)^2 of eq. 9; ppo2 and CleanRL weigh
    #   0.5 x (1/2)(V - V^targ)^2, i.e. vf_coef = 0.25 here
    ent_coef: float = 0.01  # c2 (Table 5)
    max_grad_norm: float = 0.5  # reference code (baselines ppo2); the paper is silent
    network: str = "nips2013"  # Sec. 6.4: the same policy network architecture as [Mni+16], A3C's 16-32-256
    #   network | nature2015: the Nature CNN of the reference code (ppo2's cnn policy, CleanRL)
    init: str = "orthogonal"  # orthogonal: gain sqrt(2) on the torso, 0.01 on the policy head, 1 on the value head,
    #   zero biases (ppo2's ortho_init, CleanRL's layer_init; the paper is silent) | torch_default: PyTorch's default
    #   (runs recorded before this key)
    anneal_agent_steps: int = 10_000_000  # alpha falls linearly from 1 to 0 over this many agent steps (Table 5
    #   over the paper's 10M), so a shorter run is the paper's schedule cut short; 0: over the run's own
    #   total_agent_steps, a compressed schedule (runs recorded before this key)
    env_seeding: str = "sequence"  # sequence: each actor's emulator seed from the run seed's SeedSequence |
    #   offset: seed + i for actor i, shared by runs with adjacent seeds (runs recorded before this key)
    life_loss_terminal: bool = True  # reference code (ppo2 on wrap_deepmind(episode_life=True)); the paper is silent
    torch_threads: int = 2


NETWORKS = ("nips2013", "nature2015")  # common/rl/networks.py: atari_torso


def validate_ppo_atari(cfg: PPOAtariConfig) -> None:
    """Values the algorithm can use (checked before any run starts): a known game (or the Toy task) and network,
    positive sizes and rates, discount and GAE lambda in [0, 1], minibatches no larger than one batch."""
    check.seed(cfg)
    check.one_of(cfg, "game", (*GAMES, "Toy"))
    check.one_of(cfg, "network", NETWORKS)
    check.at_least(cfg, 1, "total_agent_steps", "frame_skip", "num_actors", "horizon", "epochs", "minibatch_size",
                   "torch_threads")
    batch = cfg.num_actors * cfg.horizon
    check.require(cfg.minibatch_size <= batch, "minibatch_size", cfg.minibatch_size,
                  f"an integer from 1 to num_actors x horizon ({batch})")
    check.positive(cfg, "lr", "clip_epsilon", "max_grad_norm")
    check.at_least(cfg, 0.0, "vf_coef", "ent_coef")
    check.between(cfg, 0, 1, "gamma", "gae_lambda")
    check.one_of(cfg, "init", ("orthogonal", "torch_default"))
    check.one_of(cfg, "env_seeding", ("sequence", "offset"))
    check.at_least(cfg, 0, "anneal_agent_steps")
