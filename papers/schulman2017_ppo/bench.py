"""Speed benchmark: the full PPO loop against environment-only stepping, in one process and one run."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.platform.bench import PhaseTimer
from common.platform.records import RunContext, RunRecord
from common.rl import envs

from .ppo import PPOConfig, run_ppo

#: Context only: speeds measured on another day on another host of this machine class (2 cores, CPU only), from the
#: project's shared perf notes: CleanRL ppo_continuous_action and stable-baselines3 PPO with their default
#: hyperparameters (= Table 3's). The peer measured in the same invocation (`peer`) is the comparison.
REFERENCES_MEASURED = {"when": "2026-11-21 or before", "machine": "another 2-core CPU host of this class"}
REFERENCE_STEPS_PER_S = {
    "Hopper-v5": {"CleanRL ppo_continuous_action": (564, 578), "stable-baselines3 PPO": (527, 548)},
    "HalfCheetah-v5": {"CleanRL ppo_continuous_action": (616, 669)},
}


def env_only_steps_per_s(cfg: PPOConfig, n_steps: int) -> float:
    """The same environment with the loop's observation filter, Gaussian random actions, no learning."""
    return envs.env_only_steps_per_s(cfg.env_id, cfg.seed, cfg.obs_clip, n_steps)


def gym_wrapper_env_only_steps_per_s(cfg: PPOConfig, n_steps: int) -> float:
    """Environment-only stepping through the wrapper stack CleanRL's ppo_continuous_action uses (a one-env
    SyncVectorEnv with episode statistics, action clipping, observation and reward normalization): the
    "environment only" figure its speed is usually compared with."""
    import gymnasium as gym

    def make():
        env = gym.make(cfg.env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = gym.wrappers.ClipAction(env)
        env = gym.wrappers.NormalizeObservation(env)
        env = gym.wrappers.TransformObservation(env, lambda o: np.clip(o, -10, 10), env.observation_space)
        env = gym.wrappers.NormalizeReward(env, gamma=cfg.gamma)
        return gym.wrappers.TransformReward(env, lambda r: float(np.clip(r, -10, 10)))

    envs = gym.vector.SyncVectorEnv([make])
    envs.reset(seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    shape = envs.action_space.shape
    start = time.perf_counter()
    for _ in range(n_steps):
        envs.step(rng.standard_normal(shape))
    sps = n_steps / (time.perf_counter() - start)
    envs.close()
    return sps


def blas_threads() -> int:
    """Threads of numpy's BLAS, which this PPO's matrix products use: OPENBLAS_NUM_THREADS or OMP_NUM_THREADS as
    set when the process started (run `OMP_NUM_THREADS=1 repro bench ...` for one), else one per core."""
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def bench(cfg: PPOConfig, n_steps: int, scratch: Path, environment: bool = True, training: bool = True) -> dict:
    """Environment-only stepping (two ways) and the full training loop (`environment` / `training`: which)."""
    out = {"unit": "env-steps/s", "threads": blas_threads(),
           "references": REFERENCE_STEPS_PER_S.get(cfg.env_id, {}), "references_measured": REFERENCES_MEASURED,
           "note": f"PPO (numpy networks and gradients), horizon {cfg.horizon}, {cfg.epochs} epochs, "
                   f"minibatch {cfg.minibatch_size}; timed over {n_steps:,} env steps including start-up"}
    if environment:
        out["environment_only"] = env_only_steps_per_s(cfg, n_steps)
        out["environment_only_gym_wrappers"] = gym_wrapper_env_only_steps_per_s(cfg, n_steps)
    if training:
        cfg_run = PPOConfig(**{**cfg.__dict__, "total_env_steps": n_steps})
        start = time.perf_counter()
        run_ppo(cfg_run, RunContext(RunRecord(scratch), checkpoint_every_s=1e9, show_progress=False))
        out["training"] = n_steps / (time.perf_counter() - start)
    return out


def peer(cfg: PPOConfig, n_steps: int) -> dict:
    """stable-baselines3 PPO with this loop's settings and BLAS thread count as torch threads, timed the same way
    (start-up included); None for the objectives other than clipping, which stable-baselines3 does not have."""
    from common.rl import peers

    if cfg.objective != "clip":
        return None

    return peers.ppo(cfg.env_id, n_steps, seed=cfg.seed, horizon=cfg.horizon, minibatch_size=cfg.minibatch_size,
                     epochs=cfg.epochs, lr=cfg.lr, adam_eps=cfg.adam_eps, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                     clip_epsilon=cfg.clip_epsilon, anneal=cfg.anneal, hidden_units=cfg.hidden_units,
                     normalize_obs=cfg.normalize_obs, obs_clip=cfg.obs_clip,
                     normalize_advantages=cfg.normalize_advantages, threads=blas_threads())


#: The phases of a PPO iteration the profile times (ms per iteration), in the order the loop runs them. Acting,
#: the filter and the environment happen once per env step inside the rollout; "rollout_other" is the rest of the
#: rollout (the action's noise scaling, buffer writes, episode bookkeeping); "learning_other" the rest of the
#: iteration (the batch's filter statistics and normalization, old log-probabilities, minibatch permutation and
#: indexing, the KL, finiteness checks).
PPO_PHASES = ("environment", "acting_network", "acting_noise", "filter", "rollout_other", "gae", "gradients", "adam",
              "learning_other")


@dataclass
class _IterationMarks(RunContext):
    """A run context that notes, at the end of each iteration, the time and the phase timer's totals."""

    timer: PhaseTimer | None = None
    marks: list = field(default_factory=list)

    def count(self, n: int, unit: str) -> None:
        super().count(n, unit)
        self.marks.append((time.perf_counter(), dict(self.timer.seconds)))


class _TimedRng:
    """A numpy Generator whose normal draws (the policy's noise) are timed; everything else passes through."""

    def __init__(self, rng: np.random.Generator, timer: PhaseTimer):
        self._rng, self.standard_normal = rng, timer.wrap("acting_noise", rng.standard_normal)

    def __getattr__(self, name):
        return getattr(self._rng, name)


def iteration_phases(cfg: PPOConfig, scratch: Path, warmup: int = 1, iterations: int = 4) -> tuple[dict, float]:
    """Milliseconds per iteration of each of PPO_PHASES and in all ("total"), averaged over `iterations` iterations
    after `warmup`, from the real `run_ppo` with its environment, networks, filter, GAE, gradient and Adam calls
    timed by a PhaseTimer; and the env steps per second over the same iterations of a run with no timer (the
    timer's cost shows in the difference)."""
    from unittest import mock

    from . import ppo

    if warmup < 1 or iterations < 1:
        raise ValueError(f"iteration_phases needs warmup and iterations of at least 1, got {warmup} and {iterations}")
    run_cfg = PPOConfig(**{**cfg.__dict__, "total_env_steps": (warmup + iterations) * cfg.horizon})
    plain = _IterationMarks(RunRecord(scratch / "untimed"), checkpoint_every_s=1e9, show_progress=False,
                            timer=PhaseTimer())
    run_ppo(run_cfg, plain)
    untimed_steps_per_s = iterations * cfg.horizon / (plain.marks[-1][0] - plain.marks[warmup - 1][0])

    timer = PhaseTimer()
    make_env_bare, rollout_bare = ppo.make_env, ppo.run_gaussian_policy

    def make_env(*args, **kwargs):
        env = make_env_bare(*args, **kwargs)
        env.step, env.reset = timer.wrap("environment", env.step), timer.wrap("environment", env.reset)
        return env

    def rollout(env, obs, buffers, state, mean, value, std, normalize, rng, *rest):
        act = [timer.wrap("acting_network", f) for f in (mean, value)]
        return timer.wrap("rollout", rollout_bare)(env, obs, buffers, state, *act, std,
                                                   timer.wrap("filter", normalize), _TimedRng(rng, timer), *rest)

    class TimedAdam(ppo.Adam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.step = timer.wrap("adam", self.step)

    ctx = _IterationMarks(RunRecord(scratch / "timed"), checkpoint_every_s=1e9, show_progress=False, timer=timer)
    with mock.patch.multiple(ppo, make_env=make_env, run_gaussian_policy=rollout, Adam=TimedAdam,
                             gae=timer.wrap("gae", ppo.gae),
                             minibatch_gradient=timer.wrap("gradients", ppo.minibatch_gradient)):
        run_ppo(run_cfg, ctx)
    (t0, s0), (t1, s1) = ctx.marks[warmup - 1], ctx.marks[-1]
    ms = {k: 1e3 * (s1[k] - s0.get(k, 0.0)) / iterations for k in s1}
    ms["total"] = 1e3 * (t1 - t0) / iterations
    inside = ("environment", "acting_network", "acting_noise", "filter")
    ms["rollout_other"] = ms.pop("rollout") - sum(ms[k] for k in inside)
    ms["learning_other"] = ms["total"] - sum(ms[k] for k in PPO_PHASES if k != "learning_other")
    return {k: ms[k] for k in (*PPO_PHASES, "total")}, untimed_steps_per_s


def profile(cfg: PPOConfig) -> dict:
    """Where a PPO iteration's time goes (horizon T env steps, then K epochs of minibatch updates): ms per iteration
    in each phase (PPO_PHASES), their shares, env steps per second with and without the timer, and the ceilings
    they imply for the ratio to environment-only stepping (`repro bench`'s yardstick: the environment and the
    filter): the ratio the measured phases imply now, and the ratio if learning (GAE, gradients, Adam and the rest
    of the update) cost nothing, leaving the rollout alone. The other processes' share of the machine during the
    measurement is one of the measures: on a shared machine every millisecond here is inflated by it."""
    import tempfile

    from common.platform.bench import measured

    warmup, iterations = 1, 4
    with tempfile.TemporaryDirectory() as scratch:
        (ms, untimed), load = measured(lambda: iteration_phases(cfg, Path(scratch), warmup, iterations))
    total = ms["total"]
    measures = {f"ms_per_iteration_{k}": v for k, v in ms.items()}
    measures.update({f"share_{k}": ms[k] / total for k in PPO_PHASES})
    env_filter = ms["environment"] + ms["filter"]
    learning = sum(ms[k] for k in ("gae", "gradients", "adam", "learning_other"))
    measures.update({
        "env_steps_per_s_timed": cfg.horizon / (total * 1e-3),
        "env_steps_per_s_untimed": untimed,
        "us_per_env_step_environment": 1e3 * ms["environment"] / cfg.horizon,
        "us_per_env_step_acting": 1e3 * (ms["acting_network"] + ms["acting_noise"]) / cfg.horizon,
        "us_per_env_step_filter": 1e3 * ms["filter"] / cfg.horizon,
        "us_per_env_step_learning": 1e3 * learning / cfg.horizon,
        "ratio_to_environment_only_implied": env_filter / total,
        "ratio_to_environment_only_if_learning_were_free": env_filter / (total - learning),
        "other_processes_share_of_machine": load["other_load"]})
    return {"measures": measures, "measure_order": list(measures),
            "note": f"PPO {cfg.objective} on {cfg.env_id}, {blas_threads()} BLAS thread(s); ms per iteration of "
                    f"{cfg.horizon:,} env steps and {cfg.epochs} epochs of minibatch {cfg.minibatch_size}, mean of "
                    f"{iterations} iterations after {warmup}, each phase timed by perf_counter around its calls in "
                    "the real loop; learning = gae + gradients + adam + learning_other; ratio_to_environment_only_* = "
                    "(environment + filter) / time per iteration (with all of it, or without learning)"}
