"""The DeepMind Control Suite (dm-control, Tassa et al. 2018) behind gymnasium's interface, for the tasks gymnasium
lacks (DDPG Table 1's cartpole swing-up first). Ids follow shimmy's naming: `dm_control/<domain>-<task>-v0`.

- Observations: the task's observation dict flattened, its entries concatenated in the order the task returns them
  (e.g. cartpole: `position` (cart x, cos and sin of the pole angle), then `velocity`), as float64.
- Actions: the task's bounds (a Box of the action spec's minimum and maximum); dm-control clips nothing, so the caller
  keeps actions inside them (DDPG's tanh actor and its clipping do).
- Episodes: 1,000 control steps (dm-control's default time limit, every task here), ended by gymnasium's `TimeLimit`
  as a truncation (dm-control's own limit is switched off so that the counter lives where `save_env_state` saves it);
  no action repeat (each step is one control step of the task: `control_timestep` seconds, the task's own physics
  substeps inside).
- Seeding: `reset(seed=s)` reseeds the task's own `numpy.random.RandomState` with s (the stream of `suite.load(...,
  task_kwargs={"random": s})`); `np_random` is a Generator over the same MT19937 bit generator, so `save_env_state`
  and `restore_env_state` (common/rl/envs.py) save and restore it exactly, with the simulator's `MjData`.
- Only the tasks of `TASKS` are offered: their `initialize_episode` changes only the simulator's data (never its
  model), so the saved `MjData` and random state are everything an episode's future depends on (the resume of a run is
  exact). `reacher` and `point_mass` move their targets in the model at each reset and are left out.

dm-control is imported only when a task is made, never by listing or checking configurations."""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys

import numpy as np

from common.platform.errors import ReproError

PREFIX = "dm_control/"
#: (domain, task) pairs offered; each keeps its episode state in MjData and the task's random state (module docstring)
TASKS = (("pendulum", "swingup"), ("cartpole", "balance"), ("cartpole", "swingup"), ("cartpole", "two_poles"),
         ("cartpole", "three_poles"), ("cheetah", "run"), ("hopper", "stand"), ("hopper", "hop"),
         ("walker", "stand"), ("walker", "walk"), ("walker", "run"))
ENV_IDS = tuple(f"{PREFIX}{d}-{t}-v0" for d, t in TASKS)
#: control steps per episode: dm-control's default time limit (each of TASKS: 1,000 control steps)
EPISODE_STEPS = 1000


def parse(env_id: str) -> tuple[str, str]:
    """(domain, task) of an id of ENV_IDS; any other id is an error naming the valid ones."""
    if env_id not in ENV_IDS:
        raise ReproError(f"unknown dm-control task '{env_id}'; valid: {', '.join(ENV_IDS)}")
    domain, task = env_id[len(PREFIX):-len("-v0")].split("-")
    return domain, task


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each record (as logging's last-resort handler)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


@contextlib.contextmanager
def _no_absl_basic_config():
    """absl's logging calls `logging.basicConfig()` when the root logger has no handler, which binds a handler for the
    rest of the process to the sys.stderr of that moment (under pytest a capture file, closed after the test). While
    dm-control loads, a handler that follows sys.stderr stands in, removed afterwards."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    handler = _CurrentStderr()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def load_suite():
    """dm-control's suite module, imported without an OpenGL backend (these tasks are not rendered here): dm-control
    picks its backend once, from MUJOCO_GL, at its first import; the variable is set only for that import, so that
    gymnasium's MuJoCo rendering (repro video) still reads the caller's setting."""
    if "dm_control._render" not in sys.modules and "MUJOCO_GL" not in os.environ:
        os.environ["MUJOCO_GL"] = "disable"
        try:
            with _no_absl_basic_config():
                from dm_control import suite
        finally:
            del os.environ["MUJOCO_GL"]
    with _no_absl_basic_config():
        from dm_control import suite
    # absl's handler keeps the sys.stderr of its import and closes it when any code shuts logging's handlers down
    # (logging.config.dictConfig does, e.g. submitit's); under pytest that is a capture file still in use. The
    # process's own stderr, which absl never closes, is the same stream outside captures.
    # (assigned, not setStream: that flushes the old stream, which may be closed already)
    from absl import logging as absl_logging

    absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__
    return suite


def _check_bindings() -> None:
    """dm-control's MuJoCo bindings are generated from MuJoCo's headers when dm-control is built; bindings of another
    MuJoCo release index fields this one lacks (the published 1.0.50 wheel: MuJoCo 3.17's, 'flex_vertedge')."""
    import mujoco
    from dm_control.mujoco.wrapper.mjbindings import constants

    if constants.mjVERSION_HEADER != mujoco.mj_version():
        raise ReproError(
            f"dm-control's MuJoCo bindings were generated for MuJoCo {constants.mjVERSION_HEADER} but MuJoCo "
            f"{mujoco.mj_version()} ({mujoco.__version__}) is installed; rebuild dm-control from its source against "
            f"this MuJoCo: `make install` (pip's --no-binary dm-control with requirements.lock as constraint)")


def version() -> str:
    from importlib.metadata import version as dist_version

    import mujoco

    return f"dm-control {dist_version('dm-control')} (MuJoCo {mujoco.__version__})"


def make_dmc_env(env_id: str, seed: int):
    """The task behind gymnasium's interface, with gymnasium's TimeLimit at EPISODE_STEPS, reset with `seed`."""
    from gymnasium.wrappers import TimeLimit

    env = TimeLimit(_env_class()(env_id), max_episode_steps=EPISODE_STEPS)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


@functools.cache
def _env_class():
    """DMCEnv, defined on first use: gymnasium and dm-control load only when a task is made."""
    import gymnasium as gym
    from gymnasium import spaces

    class DMCEnv(gym.Env):
        """One dm-control suite task as a gymnasium Env (flat observations, the task's action bounds, no time limit:
        `make_dmc_env` adds gymnasium's)."""

        metadata = {"render_modes": []}

        def __init__(self, env_id: str):
            domain, task = parse(env_id)
            suite = load_suite()
            _check_bindings()

            self.env_id = env_id
            self._random = np.random.RandomState(0)  # the task's own; reset(seed=s) reseeds it in place
            with _no_absl_basic_config():
                self._env = suite.load(domain, task, task_kwargs={"random": self._random, "time_limit": math.inf})
            obs_spec = self._env.observation_spec()
            self._keys = tuple(obs_spec.keys())
            dim = sum(int(np.prod(spec.shape)) for spec in obs_spec.values())
            self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float64)
            spec = self._env.action_spec()
            self.action_space = spaces.Box(spec.minimum.astype(np.float32), spec.maximum.astype(np.float32),
                                           spec.shape, np.float32)
            physics = self._env.physics
            self.model, self.data = physics.model.ptr, physics.data.ptr  # the MjModel and MjData save_env_state reads
            self._np_random = np.random.Generator(self._random._bit_generator)  # the task's MT19937, shared

        def _flat(self, observation) -> np.ndarray:
            return np.concatenate([np.asarray(observation[k], np.float64).ravel() for k in self._keys])

        def reset(self, *, seed: int | None = None, options: dict | None = None):
            if seed is not None:  # RandomState.seed(s) reseeds the same bit generator as RandomState(s) would
                self._random.seed(seed)
            time_step = self._env.reset()
            return self._flat(time_step.observation), {}

        def step(self, action):
            time_step = self._env.step(np.asarray(action, np.float64))
            # suite tasks never terminate; an end with discount 0 would be a termination (dm_env's convention)
            terminated = bool(time_step.last() and time_step.discount == 0.0)
            return self._flat(time_step.observation), float(time_step.reward), terminated, False, {}

        def close(self):
            self._env.close()

    return DMCEnv
