"""The replay buffer of the off-policy methods: transitions (s, a, r, s', terminal) in preallocated float32 arrays."""
from __future__ import annotations

import numpy as np
import torch

FIELDS = ("obs", "next_obs", "act", "rew", "done")


class Replay:
    """Transitions in preallocated float32 arrays; the oldest are overwritten past `capacity`. `done` holds the
    terminal flag only: an episode cut by a time limit is not terminal, so its value is bootstrapped.

    All fields of a transition lie in one row of one array (the fields are column views of it), so that a minibatch
    is one gather of whole rows into a minibatch array allocated once: `sample` returns views of that array, valid
    until the next `sample`."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        self.capacity, self.size, self.pos = capacity, 0, 0
        widths = {"obs": obs_dim, "next_obs": obs_dim, "act": act_dim, "rew": 1, "done": 1}
        self.rows = np.zeros((capacity, sum(widths.values())), np.float32)
        self._columns, start = {}, 0
        for name, width in widths.items():
            self._columns[name] = slice(start, start + width)
            start += width
        self.obs, self.next_obs, self.act = (self.rows[:, self._columns[k]] for k in ("obs", "next_obs", "act"))
        self.rew, self.done = self.rows[:, self._columns["rew"].start], self.rows[:, self._columns["done"].start]
        self._batch = np.zeros((0, self.rows.shape[1]), np.float32)

    def add(self, obs, act, rew, next_obs, terminated) -> None:
        i = self.pos
        self.obs[i], self.act[i], self.rew[i], self.next_obs[i], self.done[i] = obs, act, rew, next_obs, terminated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, idx: np.ndarray, device: str | torch.device = "cpu"):
        """The minibatch at rows `idx` as tensors on `device`: obs, act, rew, next_obs, done. On the CPU they are views
        of one minibatch array that the next `sample` overwrites (use them before sampling again)."""
        if len(self._batch) != len(idx):
            self._batch = np.empty((len(idx), self.rows.shape[1]), np.float32)
        np.take(self.rows, idx, axis=0, out=self._batch)
        rows = torch.from_numpy(self._batch).to(device, non_blocking=True)
        c = self._columns
        return rows[:, c["obs"]], rows[:, c["act"]], rows[:, c["rew"].start], rows[:, c["next_obs"]], \
            rows[:, c["done"].start]

    def state(self) -> dict:
        n = self.size
        return {"size": n, "pos": self.pos, **{k: getattr(self, k)[:n].copy() for k in FIELDS}}

    def load(self, s: dict) -> None:
        n = s["size"]
        for k in FIELDS:
            getattr(self, k)[:n] = s[k]
        self.size, self.pos = n, s["pos"]
