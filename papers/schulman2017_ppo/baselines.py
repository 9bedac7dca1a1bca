"""The random policy of Table 1's normalization (score 0): uniform random actions, average total reward."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from common.platform import validate as check
from common.rl.envs import CLASSIC, MUJOCO_V5, make_env
from common.platform.finite import check_finite


@dataclass
class RandomPolicyConfig:
    seed: int = 0
    env_id: str = "Hopper-v5"
    n_episodes: int = 100  # Table 1 scores average the last 100 episodes; the random score averages 100 too


def validate_random_policy(cfg: RandomPolicyConfig) -> None:
    """A known task and at least one episode (checked before any run starts)."""
    check.seed(cfg)
    check.one_of(cfg, "env_id", MUJOCO_V5 + CLASSIC)
    check.at_least(cfg, 1, "n_episodes")


def run_random_policy(cfg: RandomPolicyConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_random_policy(cfg)
    env = make_env(cfg.env_id, cfg.seed)
    rows = []
    for episode in range(cfg.n_episodes):
        env.reset(seed=cfg.seed * 100_003 + episode)
        total, length, done = 0.0, 0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += reward
            length += 1
            done = terminated or truncated
        check_finite("episode return", total, f"episode {episode}")
        rows.append((episode, total, length))
        ctx.count(length, "env-steps")
    return {"episodes": pd.DataFrame(rows, columns=["episode", "episode_return", "episode_length"]).assign(seed=cfg.seed)}
