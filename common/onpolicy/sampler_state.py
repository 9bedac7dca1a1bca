"""What an on-policy sampling loop (PPO, its Figure 3 baselines) keeps besides its networks and optimizer: the
running observation statistics and the filter that applies them, the numpy generator, the environment, and the
observation the loop stopped at, saved into a checkpoint and restored from one for a bit-identical resume."""
from __future__ import annotations

from typing import Callable

import numpy as np

from common.rl.envs import RunningMeanStd, restore_env_state, save_env_state


def observation_filter(rms: RunningMeanStd, normalize_obs: bool, obs_clip: float) -> Callable[[np.ndarray], np.ndarray]:
    """o -> clip((o - mean) / sqrt(var + 1e-8), -obs_clip, obs_clip) with the statistics `rms` holds when called, or
    o unchanged without `normalize_obs`."""
    def normalize(o: np.ndarray) -> np.ndarray:
        return rms.normalize(o, obs_clip) if normalize_obs else o

    return normalize


def sampler_checkpoint(rms: RunningMeanStd, rng: np.random.Generator, env, obs: np.ndarray) -> dict:
    """The sampler's part of a checkpoint (restored by `restore_sampler`)."""
    return {"rms": dict(rms.__dict__), "rng": rng.bit_generator.state, "env": save_env_state(env), "obs": obs}


def restore_sampler(state: dict, rms: RunningMeanStd, rng: np.random.Generator, env) -> np.ndarray:
    """Restore what `sampler_checkpoint` saved into `state`; returns the observation the loop stopped at."""
    rms.__dict__.update(state["rms"])
    rng.bit_generator.state = state["rng"]
    restore_env_state(env, state["env"])
    return state["obs"]
