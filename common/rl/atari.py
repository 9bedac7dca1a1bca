"""Atari through ale-py's native vector environment (preprocessing in C++), with the protocol of the DQN papers:
no sticky actions, frame skip with max-pooling over the last two frames, 84x84 grayscale, 4-frame stacks, the
minimal action set. Rewards come back unclipped; the agent clips what it learns from."""
from __future__ import annotations

import numpy as np

from common.platform.errors import ReproError

GAMES = {"BeamRider": "beam_rider", "Breakout": "breakout", "Enduro": "enduro", "Pong": "pong", "Qbert": "qbert",
         "Seaquest": "seaquest", "SpaceInvaders": "space_invaders"}


class ToyVectorEnv:
    """A tiny Atari-like task with the same interface as ale-py's vector environment (uint8 84x84 4-frame stacks,
    zeros before an episode's first frame, the step after an episode's end resets it): each frame shows a bar on the
    left or the right; action 1 (left) or 2 (right) on the bar's side earns +1, the other -1, action 0 nothing.
    Episodes last 8 steps. For tests: a Q-network must learn to read the frames."""

    class _Space:
        def __init__(self, n):
            self.n = n

    def __init__(self, num_envs: int, seed: int):
        self.n, self.single_action_space = num_envs, self._Space(3)
        self.rng = np.random.default_rng(seed)
        self.stack = np.zeros((num_envs, 4, 84, 84), np.uint8)
        self.side = np.zeros(num_envs, int)
        self.t = np.zeros(num_envs, int)
        self.done = np.zeros(num_envs, bool)

    def _frame(self, side: int) -> np.ndarray:
        f = np.zeros((84, 84), np.uint8)
        f[20:64, (10 if side == 0 else 64):(20 if side == 0 else 74)] = 255
        return f

    def _reset_env(self, e: int) -> None:
        self.side[e], self.t[e], self.done[e] = self.rng.integers(2), 0, False
        self.stack[e] = 0
        self.stack[e, -1] = self._frame(self.side[e])

    def reset(self, seed=None):
        if seed is not None:  # an int, or one seed per environment (as ale-py takes them)
            self.rng = np.random.default_rng(np.asarray(seed).tolist())
        for e in range(self.n):
            self._reset_env(e)
        return self.stack.copy(), {}

    def step(self, actions):
        reward = np.zeros(self.n, np.float32)
        term = np.zeros(self.n, bool)
        for e, a in enumerate(actions):
            if self.done[e]:
                self._reset_env(e)
                continue
            reward[e] = 0.0 if a == 0 else (1.0 if a - 1 == self.side[e] else -1.0)
            self.t[e] += 1
            self.side[e] = self.rng.integers(2)
            self.stack[e] = np.roll(self.stack[e], -1, axis=0)
            self.stack[e, -1] = self._frame(self.side[e])
            term[e] = self.done[e] = self.t[e] >= 8
        return self.stack.copy(), reward, term, np.zeros(self.n, bool), {}


#: Frame preprocessing (`frame_preprocess`): "resize84", the 2015 paper's (Nature, Methods: the full 210x160 frame
#: rescaled to 84x84), computed by ale-py; "crop110", the 2013 paper's (Sec. 4.1: gray-scale, down-sampled to 110x84,
#: then an 84x84 crop "that roughly captures the playing area"). ale-py resizes but does not crop, so "crop110" asks
#: it for 110x84 frames and keeps rows 18-101: the paper does not give the crop's position; these are the rows of the
#: public 2013 replication (spragunr/deep_q_rl, ale_experiment.py: CROP_OFFSET = 8 rows above the bottom).
PREPROCESS = {"resize84": (84, None), "crop110": (110, slice(18, 102))}


class CroppedVectorEnv:
    """ale-py's vector environment with its frames cropped to rows `rows` (the 2013 paper's 84x84 crop)."""

    def __init__(self, env, rows: slice):
        self.env, self.rows = env, rows
        self.single_action_space = env.single_action_space

    def reset(self, seed=None):
        obs, info = self.env.reset(seed=seed)
        return np.ascontiguousarray(obs[:, :, self.rows]), info

    def step(self, actions):
        obs, *rest = self.env.step(actions)
        return (np.ascontiguousarray(obs[:, :, self.rows]), *rest)


def stream_seeds(run_seed: int, n: int, *purpose: int) -> np.ndarray:
    """One emulator seed per environment for one purpose of one run (training, evaluation k, resume attempt k, ...),
    drawn from numpy's SeedSequence of the run's seed: no two runs and no two purposes share a stream. ale-py seeds
    sub-environment i with seed + i when given one integer, so runs with adjacent seeds shared all but one stream;
    given an array it uses one seed per sub-environment. Non-negative 31-bit values (ale-py's seeds are int32)."""
    state = np.random.SeedSequence(run_seed, spawn_key=tuple(purpose)).generate_state(n, np.uint32)
    return (state >> np.uint32(1)).astype(np.int64)


def make_atari(game: str, num_envs: int, seed, frame_skip: int, noop_max: int = 30, max_episode_frames: int = 108_000,
               frame_preprocess: str = "resize84"):
    """The vector environment and its first observations. `seed`: an integer (ale-py seeds environment i with
    seed + i) or one seed per environment (`stream_seeds`)."""
    from ale_py.vector_env import AtariVectorEnv

    if game == "Toy":
        env = ToyVectorEnv(num_envs, 0)
        return env, env.reset(seed=seed)[0]
    if game not in GAMES:
        raise ReproError(f"unknown Atari game '{game}'; valid: {', '.join(GAMES)} (and Toy, a tiny test task)")
    if frame_preprocess not in PREPROCESS:
        raise ReproError(f"unknown frame_preprocess '{frame_preprocess}'; valid: {', '.join(PREPROCESS)}")
    height, rows = PREPROCESS[frame_preprocess]
    env = AtariVectorEnv(game=GAMES[game], num_envs=num_envs, num_threads=1, frameskip=frame_skip,
                         repeat_action_probability=0.0, full_action_space=False, img_height=height, img_width=84,
                         grayscale=True, stack_num=4, maxpool=True, noop_max=noop_max, episodic_life=False,
                         reward_clipping=False, use_fire_reset=False, max_num_frames_per_episode=max_episode_frames)
    if rows is not None:
        env = CroppedVectorEnv(env, rows)
    obs, _ = env.reset(seed=seed)
    return env, obs


def env_version(game: str) -> str:
    import ale_py

    return f"ale-py {ale_py.__version__} {game} (no sticky actions, minimal action set, 84x84 grayscale, 4-frame stacks)"


def lives_lost(prev_lives: np.ndarray, info: dict) -> tuple[np.ndarray, np.ndarray]:
    """Which environments lost a life in this step, and the lives now (games without lives, and the toy task, report
    none lost). A reset step raises the count, so it never reads as a loss."""
    lives = np.asarray(info.get("lives", np.zeros_like(prev_lives)))
    return lives < prev_lives, lives


def clip_reward(reward: np.ndarray) -> np.ndarray:
    """Training rewards clipped to their sign: +1, 0 or -1 (Mnih et al. 2013, Sec. 5)."""
    return np.sign(reward).astype(np.float32)
