"""Environments shared by the deep-RL papers: MuJoCo (gymnasium v5) creation, fast observation normalization,
and exact save/restore of an environment's state for bit-identical resume."""
from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import numpy as np

from common.platform.errors import ReproError

if TYPE_CHECKING:  # gymnasium is imported where environments are made: configs and their checks import this module
    import gymnasium as gym

MUJOCO_V5 = ("HalfCheetah-v5", "Hopper-v5", "InvertedDoublePendulum-v5", "InvertedPendulum-v5", "Reacher-v5",
             "Swimmer-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")


CLASSIC = ("Pendulum-v1",)  # small continuous-control tasks for tests
#: gymnasium's classic-control tasks with discrete actions (GAIL's cart-pole, acrobot and mountain car)
CLASSIC_DISCRETE = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")
#: MuJoCo v5 tasks that only some papers use (GAE's biped standing up)
MUJOCO_V5_EXTRA = ("HumanoidStandup-v5",)
#: numpy tasks of this repository (common/rl/barto_cartpole.py: GAE's cart-pole)
NUMPY_TASKS = ("BartoCartPole",)


def make_env(env_id: str, seed: int, max_episode_steps: int | None = None) -> gym.Env:
    """A MuJoCo v5 task, a classic-control task, a numpy task of this repository, or a DeepMind Control Suite task
    (`dm_control/<domain>-<task>-v0`, common/rl/dmc.py), seeded; `max_episode_steps` replaces the task's own time
    limit (gymnasium's `TimeLimit`) when given (not for dm-control tasks, whose episodes are 1,000 control steps)."""
    if env_id.startswith("dm_control/"):
        if max_episode_steps is not None:
            raise ReproError(f"{env_id}: max_episode_steps is for gymnasium tasks; dm-control episodes are 1,000 steps")
        from common.rl.dmc import make_dmc_env

        return make_dmc_env(env_id, seed)
    valid = MUJOCO_V5 + MUJOCO_V5_EXTRA + CLASSIC + CLASSIC_DISCRETE + NUMPY_TASKS
    if env_id not in valid:
        raise ReproError(f"unknown environment '{env_id}'; valid: {', '.join(valid)}")
    if env_id == "BartoCartPole":
        from common.rl.barto_cartpole import make_barto_env

        env = make_barto_env()
        env.reset(seed=seed)
        env.action_space.seed(seed)
        return env
    import gymnasium as gym

    env = gym.make(env_id) if max_episode_steps is None else gym.make(env_id, max_episode_steps=max_episode_steps)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def env_version(env_id: str) -> str:
    if env_id == "BartoCartPole":
        from common.rl import barto_cartpole

        return barto_cartpole.env_version()
    if env_id.startswith("dm_control/"):
        from common.rl import dmc

        return f"{env_id} ({dmc.version()})"
    import gymnasium as gym

    if env_id in CLASSIC_DISCRETE:
        return f"gymnasium {gym.__version__} {env_id}"
    import mujoco

    return f"gymnasium {gym.__version__} {env_id} (MuJoCo {mujoco.__version__})"


class RunningMeanStd:
    """Running mean and variance over batches (Chan et al. parallel update), as baselines' RunningMeanStd."""

    def __init__(self, shape: tuple, epsilon: float = 1e-2):
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = epsilon

    def update(self, x: np.ndarray) -> None:
        batch_mean, batch_var, n = x.mean(axis=0), x.var(axis=0), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total

    def std(self) -> np.ndarray:
        """sqrt(var + 1e-8), computed once per variance array: kept beside the array it was computed from and
        recomputed whenever `var` is another object (`update` assigns a new one, and so does restoring a checkpoint's
        `__dict__`, with or without this cache in it). `var` is never changed in place."""
        cached = self.__dict__.get("_std_of_var")
        if cached is None or cached[0] is not self.var:
            cached = self._std_of_var = (self.var, np.sqrt(self.var + 1e-8))
        return cached[1]

    def normalize(self, x: np.ndarray, clip: float) -> np.ndarray:
        """clip((x - mean) / sqrt(var + 1e-8), -clip, clip), with np.clip's arithmetic (NaN stays NaN) spelled as
        minimum(maximum(.)): the same numbers without np.clip's Python-level overhead, a few microseconds per call
        in a loop that filters every observation."""
        return np.minimum(np.maximum((x - self.mean) / self.std(), -clip), clip)


def save_env_state(env: gym.Env) -> bytes:
    """Everything that determines the environment's future: simulator data (MuJoCo MjData, including warm starts, or
    a classic task's state vector), its random generator and the time-limit counter."""
    u = env.unwrapped
    state = {"data": u.data if hasattr(u, "data") else None, "classic_state": getattr(u, "state", None),
             "np_random": u.np_random.bit_generator.state, "elapsed": None,  # set by the wrapper walk below
             "action_space_rng": env.action_space.np_random.bit_generator.state}
    wrapper = env
    while hasattr(wrapper, "env"):
        if hasattr(wrapper, "_elapsed_steps"):
            state["elapsed"] = wrapper._elapsed_steps
        wrapper = wrapper.env
    return pickle.dumps(state)


def restore_env_state(env: gym.Env, blob: bytes) -> None:
    import mujoco

    state = pickle.loads(blob)
    u = env.unwrapped
    if state["data"] is not None:
        mujoco.mj_copyData(u.data, u.model, state["data"])
    else:
        u.state = state["classic_state"]
    u.np_random.bit_generator.state = state["np_random"]
    env.action_space.np_random.bit_generator.state = state["action_space_rng"]
    wrapper = env
    while hasattr(wrapper, "env"):
        if hasattr(wrapper, "_elapsed_steps"):
            wrapper._elapsed_steps = state["elapsed"]
        wrapper = wrapper.env


def physics_state_size(env: gym.Env) -> int:
    """The length of `physics_state`'s vector for this task."""
    import mujoco

    return mujoco.mj_stateSize(env.unwrapped.model, mujoco.mjtState.mjSTATE_INTEGRATION) + 1


def physics_state(env: gym.Env, out: np.ndarray | None = None) -> np.ndarray:
    """A MuJoCo task's integration state (positions, velocities, actuator and warm-start state, time: everything
    the next `step` depends on) and its time-limit counter, as one small vector (written into `out` if given): a few
    microseconds, for the many snapshots of vine rollouts (TRPO Sec. 5.2). `save_env_state` is the complete state
    for checkpoints."""
    import mujoco

    u = env.unwrapped
    if out is None:
        out = np.empty(physics_state_size(env))
    mujoco.mj_getState(u.model, u.data, out[1:], mujoco.mjtState.mjSTATE_INTEGRATION)
    out[0] = _time_limit(env)._elapsed_steps
    return out


def set_physics_state(env: gym.Env, state: np.ndarray) -> None:
    """Put a MuJoCo task back into a state `physics_state` returned; the next `step` continues from there."""
    import mujoco

    u = env.unwrapped
    mujoco.mj_setState(u.model, u.data, state[1:], mujoco.mjtState.mjSTATE_INTEGRATION)
    _time_limit(env)._elapsed_steps = int(state[0])


def _time_limit(env: gym.Env):
    wrapper = env
    while not hasattr(wrapper, "_elapsed_steps"):
        wrapper = wrapper.env
    return wrapper


def env_only_steps_per_s(env_id: str, seed: int, obs_clip: float, n_steps: int) -> float:
    """Environment-only stepping, the yardstick of the on-policy benches: the task with the loops' per-step
    observation filter (running mean and variance, clipped to +-obs_clip), Gaussian random actions, no learning."""
    import time

    import numpy as np

    env = make_env(env_id, seed)
    rng = np.random.default_rng(seed)
    rms = RunningMeanStd(env.observation_space.shape)
    act_dim = env.action_space.shape[0]
    obs, _ = env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(n_steps):
        rms.normalize(obs, obs_clip)
        obs, _, terminated, truncated, _ = env.step(rng.standard_normal(act_dim))
        if terminated or truncated:
            obs, _ = env.reset()
    return n_steps / (time.perf_counter() - start)
