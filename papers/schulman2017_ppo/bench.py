"""Speed benchmark: the full PPO loop against environment-only stepping, in one process and one run."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common.envs import RunningMeanStd, make_env
from common.records import RunContext, RunRecord

from .ppo import PPOConfig, run_ppo

#: Reference speeds measured on this machine class (2 cores, CPU only), from the project's shared perf notes:
#: CleanRL ppo_continuous_action and stable-baselines3 PPO with their default hyperparameters (= Table 3's).
REFERENCE_STEPS_PER_S = {
    "Hopper-v5": {"CleanRL ppo_continuous_action": (564, 578), "stable-baselines3 PPO": (527, 548)},
    "HalfCheetah-v5": {"CleanRL ppo_continuous_action": (616, 669)},
}


def env_only_steps_per_s(cfg: PPOConfig, n_steps: int) -> float:
    """The same environment with the same observation normalization, random Gaussian actions, no learning."""
    env = make_env(cfg.env_id, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    rms = RunningMeanStd(env.observation_space.shape)
    act_dim = env.action_space.shape[0]
    obs, _ = env.reset(seed=cfg.seed)
    start = time.perf_counter()
    for _ in range(n_steps):
        rms.normalize(obs, cfg.obs_clip)
        obs, _, terminated, truncated, _ = env.step(rng.standard_normal(act_dim))
        if terminated or truncated:
            obs, _ = env.reset()
    return n_steps / (time.perf_counter() - start)


def gym_wrapper_env_only_steps_per_s(cfg: PPOConfig, n_steps: int) -> float:
    """Environment-only stepping through the wrapper stack CleanRL's ppo_continuous_action uses (a one-env
    SyncVectorEnv with episode statistics, action clipping, observation and reward normalization): the
    "environment only" figure its speed is usually compared with."""
    import gymnasium as gym

    def make():
        env = gym.make(cfg.env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = gym.wrappers.ClipAction(env)
        env = gym.wrappers.NormalizeObservation(env)
        env = gym.wrappers.TransformObservation(env, lambda o: np.clip(o, -10, 10), env.observation_space)
        env = gym.wrappers.NormalizeReward(env, gamma=cfg.gamma)
        return gym.wrappers.TransformReward(env, lambda r: float(np.clip(r, -10, 10)))

    envs = gym.vector.SyncVectorEnv([make])
    envs.reset(seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    shape = envs.action_space.shape
    start = time.perf_counter()
    for _ in range(n_steps):
        envs.step(rng.standard_normal(shape))
    sps = n_steps / (time.perf_counter() - start)
    envs.close()
    return sps


def bench(cfg: PPOConfig, n_steps: int, scratch: Path) -> dict:
    env_sps = env_only_steps_per_s(cfg, n_steps)
    gym_sps = gym_wrapper_env_only_steps_per_s(cfg, n_steps)
    cfg_run = PPOConfig(**{**cfg.__dict__, "total_env_steps": n_steps})
    start = time.perf_counter()
    run_ppo(cfg_run, RunContext(RunRecord(scratch), checkpoint_every_s=1e9, show_progress=False))
    train_sps = n_steps / (time.perf_counter() - start)
    return {"unit": "env-steps/s", "environment_only": env_sps, "training": train_sps,
            "environment_only_gym_wrappers": gym_sps,
            "references": REFERENCE_STEPS_PER_S.get(cfg.env_id, {}),
            "note": f"PPO (numpy networks and gradients), horizon {cfg.horizon}, {cfg.epochs} epochs, "
                    f"minibatch {cfg.minibatch_size}; timed over {n_steps:,} env steps including start-up"}
