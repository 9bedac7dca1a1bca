"""TRPO on Atari: its config and its check (trpo_atari.py runs it): no torch, so that `repro list`, `status` and
`show` stay fast."""
from __future__ import annotations

from dataclasses import dataclass

from common.platform import validate as check
from common.rl.atari import GAMES


@dataclass
class TRPOAtariConfig:
    seed: int = 0
    game: str = "Pong"
    method: str = "single_path"  # single_path (Sec. 5.1) | vine (Sec. 5.2)
    iterations: int = 500  # policy iterations (Table 3)
    batch_steps: int = 100_000  # SP: sim. steps per iteration (Table 3), counted as agent steps
    num_actors: int = 8  # not stated: emulators that fill the batch (single path) or play the trunks (vine)
    frame_skip: int = 4  # Mnih et al. 2013 (3 on Space Invaders: experiments.yaml)
    max_kl: float = 0.01  # delta (Table 3)
    gamma: float = 0.99  # (Table 3)
    cg_iters: int = 10  # Appendix C.1
    fvp_fraction: float = 0.1  # Appendix C.1
    cg_damping: float = 1e-3  # not stated (modular_rl's default)
    backtrack_shrink: float = 0.5  # not stated (modular_rl, baselines)
    max_backtracks: int = 10  # not stated (modular_rl, baselines)
    channels: int = 16  # two conv layers of 16 channels (Sec. 8.2)
    hidden_units: int = 20  # one fully connected layer of 20 units (Sec. 8.2)
    torch_threads: int = 1
    # vine (Table 3: 400K sim. steps per iteration, rollouts per state about 4; the split is not stated):
    # 40,000 trunk steps + 900 states x 4 actions x rollouts of at most 100 steps = 400,000
    vine_trunk_steps: int = 40_000  # not stated: trunk steps per iteration (their states carry the KL constraint)
    vine_states: int = 900  # not stated: N, the rollout set's size
    vine_actions: int = 4  # K: "rollouts per state" (Table 3: about 4)
    vine_rollout_length: int = 100  # not stated (Hopper's and Walker's in Table 2)


def validate_trpo_atari(cfg: TRPOAtariConfig) -> None:
    """Values the algorithm can use (checked before any run starts): a known game (or the Toy task) and method,
    positive sizes, a positive KL bound, discount in [0, 1], a share of the batch for the Fisher-vector products in
    (0, 1]."""
    check.seed(cfg)
    check.one_of(cfg, "game", (*GAMES, "Toy"))
    check.one_of(cfg, "method", ("single_path", "vine"))
    check.at_least(cfg, 1, "iterations", "batch_steps", "num_actors", "frame_skip", "cg_iters", "max_backtracks",
                   "channels", "hidden_units", "torch_threads", "vine_trunk_steps", "vine_states", "vine_actions",
                   "vine_rollout_length")
    check.positive(cfg, "max_kl")
    check.at_least(cfg, 0.0, "cg_damping")
    check.between(cfg, 0, 1, "gamma")
    check.between(cfg, 0, 1, "fvp_fraction", "backtrack_shrink", lo_open=True)
