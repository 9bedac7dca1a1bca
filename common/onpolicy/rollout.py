"""Sampling the on-policy methods share.

`run_gaussian_policy`: a diagonal-Gaussian policy for T timesteps (PPO's Algorithm 1, "run policy pi_theta_old in
environment for T timesteps"), the loop PPO and its Figure 3 comparisons share, episodes crossing batch boundaries.
`sample_trajectories`: whole trajectories until a batch has enough steps (or a number of episodes), the batches of
GAE's gymnasium tasks and of GAIL, laid end to end; `record_batch` counts such a batch into a run's state.

In `run_gaussian_policy` each action is the policy mean plus std times a standard normal draw; the value of the
observation is kept for GAE. An episode that ends by the time limit (truncated, not terminated) may bootstrap: its
last reward gets gamma V(s_T) added, so GAE treats the cut as the value of the state it stopped in. Finished
episodes are appended to `state["episodes"]` as (env step at its end, return, length) and checked finite.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from common.platform.finite import check_finite, finite_mean


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


def sample_trajectories(env, act: Callable[[np.ndarray], np.ndarray], *, min_steps: int | None = None,
                        episodes: int | None = None, max_length: int | None = None,
                        reset_seed: Callable[[], int] | None = None) -> dict:
    """Whole trajectories of a policy (TRPO's and GAE's batches, GAIL's sampling): episodes until the batch holds
    at least `min_steps` steps (the last one runs to its end) or, given `episodes`, that many; each ends when the
    task ends it or after `max_length` steps. `act(obs)` gives the action for a raw observation (the policy's own
    normalization and noise inside); `reset_seed()`, if given, seeds each reset. Returns the steps laid end to end:
    raw observations, actions, rewards, time indices within the trajectory, trajectory ends, and each trajectory's
    return and length."""
    if (min_steps is None) == (episodes is None):
        raise ValueError("give exactly one of min_steps and episodes")
    obs_l, act_l, rew_l, t_l, end_l, returns, lengths = [], [], [], [], [], [], []
    n = 0
    while (n < min_steps) if episodes is None else (len(returns) < episodes):
        obs, _ = env.reset() if reset_seed is None else env.reset(seed=reset_seed())
        ep_return, length = 0.0, 0
        while True:
            action = act(obs)
            obs_l.append(obs)
            act_l.append(action)
            t_l.append(length)
            obs, reward, terminated, truncated, _ = env.step(action)
            reward = float(reward)
            rew_l.append(reward)
            ep_return += reward
            length += 1
            done = terminated or truncated or (max_length is not None and length >= max_length)
            end_l.append(done)
            if done:
                break
        n += length
        returns.append(ep_return)
        lengths.append(length)
    return {"obs": np.array(obs_l, dtype=float), "act": np.array(act_l), "rew": np.array(rew_l), "t": np.array(t_l),
            "end": np.array(end_l, bool), "returns": np.array(returns), "lengths": np.array(lengths)}


def record_batch(state: dict, batch: dict, iteration: int) -> tuple[str, dict]:
    """Counts a batch of `sample_trajectories` into a run's state: its steps into `state["steps"]`, each trajectory
    into `state["episodes"]` as (iteration, env step after the batch, return, length), every return checked finite.
    Returns where the batch stands (for error messages) and the iteration's row so far: iteration, env step, the mean
    return, the number of trajectories and their mean length."""
    state["steps"] += len(batch["rew"])
    where = f"iteration {iteration} (env step {state['steps']:,})"
    for ret, length in zip(batch["returns"], batch["lengths"]):
        check_finite("episode return", float(ret), where)
        state["episodes"].append((iteration, state["steps"], float(ret), int(length)))
    row = {"iteration": iteration, "env_step": state["steps"],
           "mean_return": finite_mean("mean episode return", batch["returns"], where),
           "episodes": len(batch["returns"]), "mean_length": float(np.mean(batch["lengths"]))}
    return where, row
