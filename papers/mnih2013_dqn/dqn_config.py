"""DQN's config and its check (dqn.py runs it): no torch, so that `repro list`, `status` and `show` stay fast."""
from __future__ import annotations

from dataclasses import dataclass

from common.platform import validate as check
from common.rl.atari import GAMES, PREPROCESS

from .replay import STACK


@dataclass
class DQNConfig:
    seed: int = 0
    game: str = "Breakout"
    variant: str = "nips2013"  # nips2013 (no target network, squared error) | nature2015 (target net, Huber)
    total_agent_steps: int = 10_000_000  # "10 million frames" (Sec. 5) = agent steps; 40M emulator frames
    frame_skip: int = 4  # k = 4; 3 for Space Invaders (Sec. 5)
    num_envs: int = 4  # environments stepped together; the replay ratio below is per agent step, as in the paper
    replay_capacity_agent_steps: int = 1_000_000  # "one million most recent frames" (Sec. 5)
    epsilon_start: float = 1.0  # Sec. 5: annealed linearly from 1 to 0.1 over the first million frames
    epsilon_end: float = 0.1
    epsilon_anneal_agent_steps: int = 1_000_000
    epsilon_anneal_start: str = "step0"  # step0: over the first million agent steps, from the first (2013 paper,
    #   Sec. 5) | learning_start: from the first update, so epsilon stays 1 through the warm-up (the 2015 code,
    #   NeuralQLearner.lua: ep_endt counted from learn_start)
    learning_starts_agent_steps: int = 50_000  # not in the paper: the 2015 code's replay start size
    update_every_agent_steps: int = 4  # not in the paper: the 2015 code's update frequency (one update per 4 steps)
    batch_size: int = 32  # Sec. 5: minibatches of size 32
    gamma: float = 0.99  # not in the paper: the 2015 code's discount
    lr: float = 2.5e-4  # RMSProp (Sec. 5); rate, decay and epsilon from the 2015 code
    rmsprop_decay: float = 0.95
    rmsprop_eps: float = 0.01
    optimizer: str = "torch_centered"  # torch_centered (torch's centered RMSProp on the minibatch mean) |
    #   deepmind (the 2015 code's RMSProp: epsilon inside the square root, gradients summed over the minibatch)
    target_update_every_agent_steps: int = 0  # 0: no target network (2013); 10,000 agent steps = 2,500 updates at
    #   one update per 4 agent steps (2015 code: target_q = 10000 counted in agent steps; Dopamine, DQN Zoo)
    target_update_every_updates: int = 0  # the other reading of the 2015 paper's "C = 10,000 updates": every 10,000
    #   parameter updates (= 40,000 agent steps); 0: unused. At most one of the two is set
    eval_epsilon: float = 0.05  # Sec. 5: evaluation with epsilon = 0.05
    epoch_updates: int = 50_000  # Figure 2: one epoch = 50,000 minibatch updates
    eval_agent_steps: int = 10_000  # Figure 2: evaluation for 10,000 steps each epoch (split over num_envs streams)
    eval_protocol: str = "complete_started"  # complete_started: every episode that starts inside the window of
    #   eval_agent_steps is played to its end, so an episode's length never decides whether it counts |
    #   window: only the episodes that end inside the window count (runs recorded before this key)
    final_eval_min_episodes: int = 1  # eval_protocol=window only: Table 1's evaluation goes on past eval_agent_steps
    #   until this many episodes have ended (Enduro's episodes outlast 10,000 agent steps split over 4 streams)
    heldout_states: int = 500  # Figure 2: held-out states from a random policy (count: the 2015 code's 500)
    max_episode_frames: int = 108_000  # emulator frames per episode (ALE's 30 minutes at 60 Hz cap)
    frame_preprocess: str = "resize84"  # resize84: the full frame rescaled to 84x84 (2015 paper, ale-py's own) |
    #   crop110: down-sampled to 110x84, then an 84x84 crop (2013 paper, Sec. 4.1; common/rl/atari.py)
    env_seeding: str = "sequence"  # sequence: every environment's seed drawn from the run seed's SeedSequence (no two
    #   runs share a stream) | offset: seed + i for environment i, evaluation seed + 10,000 (runs recorded before)
    life_loss_terminal: bool = True  # not in the paper: the 2015 code marks a lost life terminal in training
    torch_threads: int = 2  # the CNN gains 1.5x from two threads on this machine class
    # keep the final replay memory too (replay.* in agent.large.npz, git-ignored: about 7 KB a transition, 7 GB at
    # the paper's million), for experiments that learn from it (not in the paper)
    save_replay: bool = False
    checkpoint_min_interval_s: float = 1800.0  # the replay is large: checkpoint at most this often (and at epochs)


VARIANTS = ("nips2013", "nature2015")
OPTIMIZERS = ("torch_centered", "deepmind")


def validate_dqn(cfg: DQNConfig) -> None:
    """Values the algorithm can use (checked before any run starts): a known game (or the Toy task), variant and
    optimizer; probabilities in [0, 1]; positive sizes, steps and rates; a replay ring per environment that holds at
    least one frame stack and its next frame."""
    check.seed(cfg)
    check.one_of(cfg, "game", (*GAMES, "Toy"))
    check.one_of(cfg, "variant", VARIANTS)
    check.one_of(cfg, "optimizer", OPTIMIZERS)
    check.one_of(cfg, "eval_protocol", ("complete_started", "window"))
    check.one_of(cfg, "env_seeding", ("sequence", "offset"))
    check.one_of(cfg, "epsilon_anneal_start", ("step0", "learning_start"))
    check.one_of(cfg, "frame_preprocess", tuple(PREPROCESS))
    check.require(not (cfg.target_update_every_agent_steps and cfg.target_update_every_updates),
                  "target_update_every_agent_steps", cfg.target_update_every_agent_steps,
                  "0 when target_update_every_updates is set (at most one of the two periods)")
    check.at_least(cfg, 1, "total_agent_steps", "frame_skip", "num_envs", "epsilon_anneal_agent_steps",
                   "update_every_agent_steps", "batch_size", "epoch_updates", "eval_agent_steps", "heldout_states",
                   "max_episode_frames", "torch_threads")
    check.at_least(cfg, 0, "learning_starts_agent_steps", "target_update_every_updates", "final_eval_min_episodes")
    smallest = (STACK + 1) * cfg.num_envs
    check.require(cfg.replay_capacity_agent_steps >= smallest, "replay_capacity_agent_steps",
                  cfg.replay_capacity_agent_steps, f"an integer >= {STACK + 1} x num_envs ({smallest}): each "
                  f"environment's ring holds a {STACK}-frame stack and its next frame")
    check.between(cfg, 0, 1, "epsilon_start", "epsilon_end", "eval_epsilon", "gamma")
    check.between(cfg, 0, 1, "rmsprop_decay")
    check.positive(cfg, "lr", "rmsprop_eps")
    check.at_least(cfg, 0.0, "checkpoint_min_interval_s")
