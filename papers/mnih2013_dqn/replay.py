"""Replay memory that stores each frame once and rebuilds 4-frame stacks by index.

One ring per environment stream. Position i holds one 84x84 frame (the newest frame of the state the agent saw),
the frame's index within its episode, and, once the next frame arrives, the transition that starts there (action,
clipped reward, terminated). A stack for position i is frames i-3..i; frames before the episode's first frame are
zeros, as the environment's own stacks are after a reset. 1M frames take 7 GB, not the 28 GB of storing both stacks.
"""
from __future__ import annotations

import numpy as np

STACK = 4


class FrameReplay:
    def __init__(self, capacity: int, n_envs: int, frame_shape=(84, 84)):
        self.C, self.N = capacity // n_envs, n_envs
        self.frames = np.zeros((n_envs, self.C, *frame_shape), np.uint8)
        self.action = np.zeros((n_envs, self.C), np.int64)
        self.reward = np.zeros((n_envs, self.C), np.float32)
        self.terminated = np.zeros((n_envs, self.C), np.bool_)
        self.valid = np.zeros((n_envs, self.C), np.bool_)  # a transition starts here and its next frame is stored
        self.episode_pos = np.zeros((n_envs, self.C), np.int64)
        self.pos = np.zeros(n_envs, np.int64)  # next write index per ring
        self.count = np.zeros(n_envs, np.int64)
        self.last = np.full(n_envs, -1, np.int64)  # where each ring's current state frame is

    def start(self, env: int, frame: np.ndarray) -> None:
        """The first frame of a new episode (after a reset): no transition leads into it."""
        self._write(env, frame, episode_pos=0)

    def step(self, env: int, action: int, reward: float, terminated: bool, next_frame: np.ndarray) -> None:
        """The transition from the current state (action, clipped reward, terminated) and the next state's frame."""
        prev = self.last[env]
        self.action[env, prev], self.reward[env, prev], self.terminated[env, prev] = action, reward, terminated
        self._write(env, next_frame, episode_pos=self.episode_pos[env, prev] + 1)
        self.valid[env, prev] = True

    def _write(self, env: int, frame: np.ndarray, episode_pos: int) -> None:
        i = self.pos[env]
        self.frames[env, i] = frame
        self.episode_pos[env, i] = episode_pos
        self.valid[env, i] = False
        self.last[env] = i
        self.pos[env] = (i + 1) % self.C
        self.count[env] = min(self.count[env] + 1, self.C)

    def _sampleable(self, env: np.ndarray, i: np.ndarray) -> np.ndarray:
        """A valid transition whose stack does not reach into frames already overwritten."""
        behind = (self.pos[env] - i - 1) % self.C + 1  # 1 for the newest frame, C for the oldest
        full = self.count[env] == self.C
        return self.valid[env, i] & (i < self.count[env]) & (~full | (behind <= self.C - (STACK - 1)))

    def stacks(self, env: np.ndarray, i: np.ndarray) -> np.ndarray:
        """(B, 4, 84, 84) uint8 stacks ending at positions i, zero before each episode's first frame."""
        offsets = np.arange(STACK - 1, -1, -1)  # 3, 2, 1, 0
        idx = (i[:, None] - offsets) % self.C
        out = self.frames[env[:, None], idx]
        before_start = self.episode_pos[env, i][:, None] - offsets < 0
        out[before_start] = 0
        return out

    def sample(self, batch: int, rng: np.random.Generator):
        """Uniform over stored transitions: (states, actions, rewards, next states, terminated)."""
        envs, idxs = [], []
        while len(envs) < batch:
            e = rng.integers(0, self.N, 2 * batch)
            i = rng.integers(0, np.maximum(self.count[e], 1))
            ok = self._sampleable(e, i)
            envs.extend(e[ok][: batch - len(envs)])
            idxs.extend(i[ok][: batch - len(idxs)])
        e, i = np.array(envs), np.array(idxs)
        nxt = (i + 1) % self.C
        return self.stacks(e, i), self.action[e, i], self.reward[e, i], self.stacks(e, nxt), self.terminated[e, i]

    def state(self) -> dict:
        return {k: getattr(self, k) for k in ("frames", "action", "reward", "terminated", "valid", "episode_pos", "pos",
                                             "count", "last")}

    def load(self, s: dict) -> None:
        for k, v in s.items():
            getattr(self, k)[...] = v
