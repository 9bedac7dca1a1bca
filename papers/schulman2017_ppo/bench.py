"""Speed benchmark: the full PPO loop against environment-only stepping, in one process and one run."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common.rl import envs
from common.platform.records import RunContext, RunRecord

from .ppo import PPOConfig, run_ppo

#: Context only: speeds measured on another day on another host of this machine class (2 cores, CPU only), from the
#: project's shared perf notes: CleanRL ppo_continuous_action and stable-baselines3 PPO with their default
#: hyperparameters (= Table 3's). The peer measured in the same invocation (`peer`) is the comparison.
REFERENCES_MEASURED = {"when": "2026-11-21 or before", "machine": "another 2-core CPU host of this class"}
REFERENCE_STEPS_PER_S = {
    "Hopper-v5": {"CleanRL ppo_continuous_action": (564, 578), "stable-baselines3 PPO": (527, 548)},
    "HalfCheetah-v5": {"CleanRL ppo_continuous_action": (616, 669)},
}


def env_only_steps_per_s(cfg: PPOConfig, n_steps: int) -> float:
    """The same environment with the loop's observation filter, Gaussian random actions, no learning."""
    return envs.env_only_steps_per_s(cfg.env_id, cfg.seed, cfg.obs_clip, n_steps)


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


def blas_threads() -> int:
    """Threads of numpy's BLAS, which this PPO's matrix products use: OPENBLAS_NUM_THREADS or OMP_NUM_THREADS as
    set when the process started (run `OMP_NUM_THREADS=1 repro bench ...` for one), else one per core."""
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def bench(cfg: PPOConfig, n_steps: int, scratch: Path, environment: bool = True, training: bool = True) -> dict:
    """Environment-only stepping (two ways) and the full training loop (`environment` / `training`: which)."""
    out = {"unit": "env-steps/s", "threads": blas_threads(),
           "references": REFERENCE_STEPS_PER_S.get(cfg.env_id, {}), "references_measured": REFERENCES_MEASURED,
           "note": f"PPO (numpy networks and gradients), horizon {cfg.horizon}, {cfg.epochs} epochs, "
                   f"minibatch {cfg.minibatch_size}; timed over {n_steps:,} env steps including start-up"}
    if environment:
        out["environment_only"] = env_only_steps_per_s(cfg, n_steps)
        out["environment_only_gym_wrappers"] = gym_wrapper_env_only_steps_per_s(cfg, n_steps)
    if training:
        cfg_run = PPOConfig(**{**cfg.__dict__, "total_env_steps": n_steps})
        start = time.perf_counter()
        run_ppo(cfg_run, RunContext(RunRecord(scratch), checkpoint_every_s=1e9, show_progress=False))
        out["training"] = n_steps / (time.perf_counter() - start)
    return out


def peer(cfg: PPOConfig, n_steps: int) -> dict:
    """stable-baselines3 PPO with this loop's settings and BLAS thread count as torch threads, timed the same way
    (start-up included); None for the objectives other than clipping, which stable-baselines3 does not have."""
    from common.rl import peers

    if cfg.objective != "clip":
        return None

    return peers.ppo(cfg.env_id, n_steps, seed=cfg.seed, horizon=cfg.horizon, minibatch_size=cfg.minibatch_size,
                     epochs=cfg.epochs, lr=cfg.lr, adam_eps=cfg.adam_eps, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                     clip_epsilon=cfg.clip_epsilon, anneal=cfg.anneal, hidden_units=cfg.hidden_units,
                     normalize_obs=cfg.normalize_obs, obs_clip=cfg.obs_clip,
                     normalize_advantages=cfg.normalize_advantages, threads=blas_threads())
