"""The replay buffer of the off-policy methods: transitions (s, a, r, s', terminal) in preallocated float32 arrays."""
from __future__ import annotations

import numpy as np
import torch

FIELDS = ("obs", "next_obs", "act", "rew", "done")


class Replay:
    """Transitions in preallocated float32 arrays; the oldest are overwritten past `capacity`. `done` holds the
    terminal flag only: an episode cut by a time limit is not terminal, so its value is bootstrapped."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.act = np.zeros((capacity, act_dim), np.float32)
        self.rew = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)

    def add(self, obs, act, rew, next_obs, terminated) -> None:
        i = self.pos
        self.obs[i], self.act[i], self.rew[i], self.next_obs[i], self.done[i] = obs, act, rew, next_obs, terminated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, idx: np.ndarray, device: str | torch.device = "cpu"):
        """The minibatch at rows `idx` as tensors on `device` (no copy on the CPU): obs, act, rew, next_obs, done."""
        return tuple(torch.from_numpy(a[idx]).to(device, non_blocking=True)
                     for a in (self.obs, self.act, self.rew, self.next_obs, self.done))

    def state(self) -> dict:
        n = self.size
        return {"size": n, "pos": self.pos, **{k: getattr(self, k)[:n].copy() for k in FIELDS}}

    def load(self, s: dict) -> None:
        n = s["size"]
        for k in FIELDS:
            getattr(self, k)[:n] = s[k]
        self.size, self.pos = n, s["pos"]
