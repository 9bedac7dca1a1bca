"""Atari through ale-py's native vector environment (preprocessing in C++), with the protocol of the DQN papers:
no sticky actions, frame skip with max-pooling over the last two frames, 84x84 grayscale, 4-frame stacks, the
minimal action set. Rewards come back unclipped; the agent clips what it learns from. `ClonableAtari`: one emulator
with the same protocol whose state can be saved and restored (TRPO's vine)."""
from __future__ import annotations

import numpy as np

from common.platform.errors import ReproError

GAMES = {"BeamRider": "beam_rider", "Breakout": "breakout", "Enduro": "enduro", "Pong": "pong", "Qbert": "qbert",
         "Seaquest": "seaquest", "SpaceInvaders": "space_invaders"}


def toy_frame(side: int) -> np.ndarray:
    """The toy task's frame: a bar on the left (side 0) or the right (side 1)."""
    f = np.zeros((84, 84), np.uint8)
    f[20:64, (10 if side == 0 else 64):(20 if side == 0 else 74)] = 255
    return f


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

    def _reset_env(self, e: int) -> None:
        self.side[e], self.t[e], self.done[e] = self.rng.integers(2), 0, False
        self.stack[e] = 0
        self.stack[e, -1] = toy_frame(self.side[e])

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
            self.stack[e, -1] = toy_frame(self.side[e])
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


# ---- one emulator whose state can be saved and restored (TRPO's vine, Sec. 5.2) ------------------------------------
def area_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of area averaging: output pixel i averages the input span [i s, (i+1) s), s = n_in /
    n_out, each input pixel weighted by its overlap with that span (OpenCV's INTER_AREA when shrinking)."""
    scale = n_in / n_out
    weights = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            weights[i, j] = (min(hi, j + 1) - max(lo, j)) / scale
    return weights


class AreaShrink:
    """A grayscale screen shrunk to 84x84 by area averaging with OpenCV's arithmetic, which ale-py's vector
    environment uses: float32 weights, each output pixel accumulated over its input pixels in order (columns, then
    rows), rounded to the nearest integer (ties to even). Equal frame for frame to the vector environment's (tested);
    computed in float64 or as matrix products, a few pixels a frame come out one gray level off."""

    def __init__(self, height: int = 210, width: int = 160, size: int = 84):
        self.cols, self.col_w = self._taps(width, size)
        self.rows, self.row_w = self._taps(height, size)
        self.size = size

    @staticmethod
    def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
        """Each output pixel's input pixels (n_out, taps) and their float32 weights, padded with weight 0."""
        weights = area_resize_matrix(n_in, n_out)
        taps = int((weights > 0).sum(1).max())
        index, w = np.zeros((n_out, taps), np.intp), np.zeros((n_out, taps), np.float32)
        for i in range(n_out):
            inputs = np.flatnonzero(weights[i])
            index[i, :len(inputs)], w[i, :len(inputs)] = inputs, weights[i, inputs]
        return index, w

    def __call__(self, screen: np.ndarray) -> np.ndarray:
        # a few small temporaries a frame: buffers reused through np.take(..., out=) measured slower (82 against
        # 67 microseconds a frame)
        pixels = screen.astype(np.float32)
        across = np.zeros((pixels.shape[0], self.size), np.float32)
        for t in range(self.cols.shape[1]):  # each term rounded to float32, then added: OpenCV's order
            across += pixels[:, self.cols[:, t]] * self.col_w[:, t]
        out = np.zeros((self.size, self.size), np.float32)
        for t in range(self.rows.shape[1]):
            out += across[self.rows[:, t]] * self.row_w[:, t, None]
        return np.rint(out).astype(np.uint8)


class ClonableAtari:
    """One emulator with `make_atari`'s protocol (no sticky actions, the minimal action set, frame skip with
    max-pooling over the last two frames, 84x84 grayscale frames, 4-frame stacks with zeros before an episode's first
    frame, up to `noop_max` - 1 no-ops at reset, episodes cut at `max_episode_frames`) whose whole state, the
    emulator's and the frame stack's, can be saved (`snapshot`) and restored into any emulator of the same game
    (`restore`). ale-py's vector environment cannot restore a state. The frame is ale-py's grayscale screen
    shrunk by area averaging (`AreaShrink`), as the vector environment's."""

    def __init__(self, game: str, seed: int, frame_skip: int, noop_max: int = 30, max_episode_frames: int = 108_000):
        import ale_py
        from ale_py import roms

        if game not in GAMES:
            raise ReproError(f"unknown Atari game '{game}'; valid: {', '.join(GAMES)} (and Toy, a tiny test task)")
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self.ale = ale_py.ALEInterface()
        self.ale.setInt("random_seed", int(seed))
        self.ale.setFloat("repeat_action_probability", 0.0)
        self.ale.setInt("frame_skip", 1)
        self.ale.setInt("max_num_frames_per_episode", int(max_episode_frames))
        self.ale.loadROM(roms.get_rom_path(GAMES[game]))
        self.actions = self.ale.getMinimalActionSet()
        self.n_actions = len(self.actions)
        self.frame_skip, self.noop_max = frame_skip, noop_max
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), 31]))  # the no-ops at reset
        self.shrink = AreaShrink()
        self.stack = np.zeros((4, 84, 84), np.uint8)
        self.screens = [np.zeros((210, 160), np.uint8)] * 2  # the last two frames of a step

    def _push(self, screen: np.ndarray) -> np.ndarray:
        self.stack[:-1] = self.stack[1:]
        self.stack[-1] = self.shrink(screen)
        return self.stack.copy()

    def reset(self) -> np.ndarray:
        self.ale.reset_game()
        for _ in range(int(self.rng.integers(self.noop_max)) if self.noop_max > 0 else 0):
            self.ale.act(self.actions[0])
            if self.ale.game_over():
                self.ale.reset_game()
        self.stack[:] = 0
        screen = self.ale.getScreenGrayscale()
        self.screens = [screen, screen]
        return self._push(screen)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        """One agent step: the action repeated for `frame_skip` frames; (stack, reward, terminated, truncated)."""
        reward = 0.0
        for frame in range(self.frame_skip):
            reward += self.ale.act(self.actions[action])
            if frame >= self.frame_skip - 2:  # the last two frames are max-pooled ...
                self.screens[frame - self.frame_skip + 2] = self.ale.getScreenGrayscale()
            if self.ale.game_over():  # ... and, as in the vector env, a game that ends leaves the slots not yet
                break                 # filled in this step with the frames of the step before
        screen = np.maximum(self.screens[0], self.screens[1])
        terminated = self.ale.game_over(with_truncation=False)
        truncated = self.ale.game_truncated() and not terminated
        return self._push(screen), reward, terminated, truncated

    def snapshot(self) -> tuple:
        return (self.ale.cloneState(include_rng=True), self.stack.copy(), [s.copy() for s in self.screens],
                self.rng.bit_generator.state)

    def restore(self, snap: tuple) -> None:
        self.ale.restoreState(snap[0])
        self.stack[:] = snap[1]
        self.screens = [s.copy() for s in snap[2]]
        self.rng.bit_generator.state = snap[3]


class ClonableToy:
    """`ToyVectorEnv`'s task for one environment, with `ClonableAtari`'s interface (for tests)."""

    def __init__(self, seed: int):
        self.n_actions = 3
        self.rng = np.random.default_rng(seed)
        self.stack = np.zeros((4, 84, 84), np.uint8)
        self.side = self.t = 0

    def reset(self) -> np.ndarray:
        self.side, self.t = int(self.rng.integers(2)), 0
        self.stack[:] = 0
        self.stack[-1] = toy_frame(self.side)
        return self.stack.copy()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        reward = 0.0 if action == 0 else (1.0 if action - 1 == self.side else -1.0)
        self.t += 1
        self.side = int(self.rng.integers(2))
        self.stack[:-1] = self.stack[1:]
        self.stack[-1] = toy_frame(self.side)
        return self.stack.copy(), reward, self.t >= 8, False

    def snapshot(self) -> tuple:
        return self.side, self.t, self.stack.copy(), self.rng.bit_generator.state

    def restore(self, snap: tuple) -> None:
        self.side, self.t = snap[0], snap[1]
        self.stack[:] = snap[2]
        self.rng.bit_generator.state = snap[3]


def make_clonable_atari(game: str, seed: int, frame_skip: int, noop_max: int = 30,
                        max_episode_frames: int = 108_000):
    """One emulator with `snapshot` / `restore` (the toy task for game "Toy")."""
    if game == "Toy":
        return ClonableToy(seed)
    return ClonableAtari(game, seed, frame_skip, noop_max, max_episode_frames)
