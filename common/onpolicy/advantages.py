"""Returns and advantages over a batch of steps laid end to end (episodes separated by `episode_ends`)."""
from __future__ import annotations

import numpy as np


def _scalars(x):
    """A float64 or bool array as a list of Python floats or bools, for the step-by-step loops below: the same IEEE
    double arithmetic as on the array's elements (same values, bit for bit), without numpy's per-element cost; any
    other array (float32: its own arithmetic) as it is."""
    a = np.asarray(x)
    return a.tolist() if a.ndim == 1 and a.dtype in (np.float64, np.bool_) else x


def _double(x) -> bool:
    """Whether `x` (an array or a scalar) computes in float64, as Python floats do."""
    return isinstance(x, (float, int)) or np.asarray(x).dtype == np.float64


def discounted_returns(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float,
                       last_value: float = 0.0) -> np.ndarray:
    """Q_t = sum_{l>=0} gamma^l r_{t+l}, summed to the end of t's episode (TRPO Sec. 5.1: "computing the discounted
    sum of future rewards along the trajectory"). `episode_ends[t]` is True when the episode ended after step t.
    Steps after the last episode end belong to a path cut by the batch: `last_value` stands for the return beyond
    it (0: the sum simply stops)."""
    q = np.empty(len(rewards))
    running = last_value
    if _double(rewards) and _double(last_value):
        rewards = _scalars(rewards)
    episode_ends = _scalars(episode_ends)
    for t in range(len(rewards) - 1, -1, -1):
        if episode_ends[t]:
            running = 0.0
        running = rewards[t] + gamma * running
        q[t] = running
    return q


def gae(rewards: np.ndarray, values: np.ndarray, episode_ends: np.ndarray, last_value: float, gamma: float,
        lam: float) -> np.ndarray:
    """Generalized advantage estimation (PPO eq. 11-12; Schulman et al. 2016, eq. 16) over one batch of T steps.
    `episode_ends[t]` is True when the episode ended after step t: then V(s_{t+1}) counts as 0 and the sum stops.
    (A truncation that should bootstrap has gamma V(s_final) folded into its reward beforehand.)"""
    T = len(rewards)
    adv = np.zeros(T)
    last = 0.0
    if _double(rewards) and _double(values) and _double(last_value):
        rewards, values = _scalars(rewards), _scalars(values)
    episode_ends = _scalars(episode_ends)
    for t in range(T - 1, -1, -1):
        not_end = 1.0 - float(episode_ends[t])
        next_value = last_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_value * not_end - values[t]  # eq. 12
        last = delta + gamma * lam * not_end * last  # eq. 11, recursively
        adv[t] = last
    return adv


def time_dependent_baseline(returns: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
    """b_t = the mean of the returns at time index t over the batch's trajectories that reached t, evaluated at each
    step (GAE, Schulman et al. 2016, Sec. 6: the "No VF" baseline, "a time-dependent baseline averaged over the
    batch"). `timesteps[i]` is step i's index within its trajectory (0, 1, ...)."""
    t = np.asarray(timesteps, dtype=np.int64)
    sums = np.bincount(t, weights=returns)
    counts = np.bincount(t)
    return (sums / np.maximum(counts, 1))[t]
