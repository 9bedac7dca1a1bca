"""Running a diagonal-Gaussian policy for T timesteps (PPO's Algorithm 1, "run policy pi_theta_old in environment for
T timesteps"), the loop PPO and its Figure 3 comparisons share.

At each step the action is the policy mean plus std times a standard normal draw; the value of the observation is
kept for GAE. An episode that ends by the time limit (truncated, not terminated) may bootstrap: its last reward gets
gamma V(s_T) added, so GAE treats the cut as the value of the state it stopped in. Finished episodes are appended to
`state["episodes"]` as (env step at its end, return, length) and checked finite.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from common.platform.finite import check_finite


@dataclass
class RolloutBuffers:
    """One batch of T timesteps: observations (raw, before normalization), actions, value estimates, rewards and
    whether the episode ended at each step."""
    obs: np.ndarray
    act: np.ndarray
    val: np.ndarray
    rew: np.ndarray
    end: np.ndarray

    @classmethod
    def zeros(cls, horizon: int, obs_dim: int, act_dim: int) -> "RolloutBuffers":
        return cls(np.zeros((horizon, obs_dim)), np.zeros((horizon, act_dim)), np.zeros(horizon), np.zeros(horizon),
                   np.zeros(horizon, dtype=bool))


def run_gaussian_policy(env, obs: np.ndarray, buffers: RolloutBuffers, state: dict,
                        mean: Callable[[np.ndarray], np.ndarray], value: Callable[[np.ndarray], float],
                        std: np.ndarray, normalize: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator,
                        gamma: float, bootstrap_truncation: bool) -> np.ndarray:
    """Fill `buffers` with len(buffers.rew) timesteps from `obs`; returns the observation to continue from.
    `state` holds the running episode ("ep_return", "ep_length"), the env steps before this batch ("steps") and the
    finished episodes ("episodes")."""
    # the batch's noise in one draw: the same numbers, in the same order, as one draw of act_dim per step
    noise = rng.standard_normal(buffers.act.shape)
    for t in range(len(buffers.rew)):
        x = normalize(obs)
        action = mean(x) + std * noise[t]
        buffers.obs[t], buffers.act[t], buffers.val[t] = obs, action, value(x)
        obs, reward, terminated, truncated, _ = env.step(action)
        state["ep_return"] += reward
        state["ep_length"] += 1
        if truncated and not terminated and bootstrap_truncation:
            reward += gamma * value(normalize(obs))
        buffers.rew[t], buffers.end[t] = reward, terminated or truncated
        if terminated or truncated:
            check_finite("episode return", state["ep_return"], f"env step {state['steps'] + t + 1:,}")
            state["episodes"].append((state["steps"] + t + 1, state["ep_return"], state["ep_length"]))
            state["ep_return"], state["ep_length"] = 0.0, 0
            obs, _ = env.reset()
    return obs
