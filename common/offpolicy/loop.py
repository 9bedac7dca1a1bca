"""Pieces of the off-policy training loops (DDPG, SAC): the setup of the environments and action bounds, the parts
of the loop's state every such loop checkpoints, one environment step into the replay buffer, the end of a training
episode, the tables of the run, the deterministic evaluation rollout and the check of pending losses."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch

from common.platform.device import torch_device
from common.platform.finite import check_finite
from common.rl.envs import make_env, restore_env_state, save_env_state


class LoopSetup(NamedTuple):
    device: torch.device
    env: Any
    eval_env: Any
    obs_dim: int
    act_dim: int
    low: np.ndarray  # the action bounds, float64
    high: np.ndarray
    scale: np.ndarray  # a = center + scale * u maps u in [-1, 1] onto the bounds
    center: np.ndarray


def setup_loop(cfg) -> LoopSetup:
    """Before the agent is made: the device (REPRO_DEVICE: cpu unless cuda is asked for), torch's threads
    (`cfg.torch_threads`) and seed (`cfg.seed`, so that the networks' initialization follows the seed), the training
    environment seeded with `cfg.seed` and the evaluation environment with `cfg.seed + 10_000`, their sizes and the
    action bounds."""
    device = torch_device()
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    env, eval_env = make_env(cfg.env_id, cfg.seed), make_env(cfg.env_id, cfg.seed + 10_000)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    return LoopSetup(device, env, eval_env, obs_dim, act_dim, low, high, (high - low) / 2, (high + low) / 2)


def new_loop_state(env, seed: int) -> tuple[np.ndarray, dict]:
    """(the first observation, from `env.reset(seed=seed)`; the loop's state before its first step)."""
    obs, _ = env.reset(seed=seed)
    return obs, {"step": 0, "ep_return": 0.0, "ep_length": 0, "episodes": [], "evaluations": []}


def restore_loop(state: dict, replay, rng: np.random.Generator, env, eval_env) -> np.ndarray:
    """Restore from a checkpoint's `state` what `loop_checkpoint` saved: the replay buffer, the numpy generator and
    both environments; returns the observation the loop stopped at."""
    replay.load(state["replay"])
    rng.bit_generator.state = state["rng"]
    restore_env_state(env, state["env"])
    restore_env_state(eval_env, state["eval_env"])
    return state["obs"]


def loop_checkpoint(replay, rng: np.random.Generator, env, eval_env, obs: np.ndarray) -> dict:
    """The parts of a checkpoint every off-policy loop saves besides its agent (restored by `restore_loop`)."""
    return {"replay": replay.state(), "rng": rng.bit_generator.state, "env": save_env_state(env),
            "eval_env": save_env_state(eval_env), "obs": obs}


def env_step(env, replay, state: dict, obs: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, bool]:
    """One step of `action` from `obs`: the transition into `replay` (only a termination is terminal: a time-limit
    end is bootstrapped), its reward and step into the episode's running return and length in `state`. Returns
    (the next observation, whether the episode ended)."""
    next_obs, reward, terminated, truncated, _ = env.step(action)
    replay.add(obs, action, reward, next_obs, terminated)
    state["ep_return"] += reward
    state["ep_length"] += 1
    return next_obs, terminated or truncated


def end_episode(env, state: dict, env_step_count: int) -> np.ndarray:
    """Record the training episode that ended at env step `env_step_count` (its return must be finite) and start the
    next one; returns its first observation."""
    check_finite("episode return", state["ep_return"], f"env step {env_step_count:,}")
    state["episodes"].append((env_step_count, state["ep_return"], state["ep_length"]))
    state["ep_return"], state["ep_length"] = 0.0, 0
    obs, _ = env.reset()
    return obs


def finish_loop(state: dict, bar, agent: torch.nn.Module, total_env_steps: int) -> None:
    """After the last step: the state's step count, the progress bar closed, and the final parameters checked."""
    state["step"] = total_env_steps
    bar.close()
    check_finite("parameters", agent.state_dict(), f"the end of training (env step {total_env_steps:,})")


def loop_tables(state: dict, seed: int, eval_columns: list[str]) -> dict[str, pd.DataFrame]:
    """The run's tables: `episodes` (each training episode's end step, return and length) and `evaluations` (one row
    per evaluation, `eval_columns`), each with the seed."""
    episodes = pd.DataFrame(state["episodes"], columns=["env_step", "episode_return", "episode_length"])
    evals = pd.DataFrame(state["evaluations"], columns=eval_columns)
    return {"episodes": episodes.assign(seed=seed), "evaluations": evals.assign(seed=seed)}


@dataclass
class EvalResult:
    """`mean_return`: the undiscounted returns of the episodes, summed in step order over all episodes and divided
    by their number; `returns`, `discounted_returns` (sum_t gamma^t r_t from the first state) and `first_obs`: per
    episode."""
    mean_return: float
    returns: list = field(default_factory=list)
    discounted_returns: list = field(default_factory=list)
    first_obs: list = field(default_factory=list)


def evaluate(env, act: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int, gamma: float = 1.0) -> EvalResult:
    """`episodes` episodes of the policy `act(obs) -> action` (no exploration noise: the papers' evaluation), the
    k-th from `env.reset(seed=seed + k)`, each run to termination or the time limit."""
    total, out = 0.0, EvalResult(0.0)
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        out.first_obs.append(obs)
        ret, disc, discount, done = 0.0, 0.0, 1.0, False
        while not done:
            obs, r, terminated, truncated, _ = env.step(act(obs))
            total += r
            ret += r
            disc += discount * r
            discount *= gamma
            done = terminated or truncated
        out.returns.append(ret)
        out.discounted_returns.append(disc)
    out.mean_return = total / episodes
    return out


def first_nonfinite_loss(pending: Sequence[torch.Tensor]) -> tuple[int, int, float] | None:
    """(update index within `pending`, loss column, value) of the first non-finite loss among `pending` (one loss
    vector per update), or None; one device sync."""
    if not pending:
        return None
    losses = torch.stack(list(pending))
    bad = ~torch.isfinite(losses)
    if not bool(bad.any()):
        return None
    i, j = (int(x) for x in bad.nonzero()[0])
    return i, j, float(losses[i, j])
