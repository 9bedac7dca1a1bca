"""Speed benchmark (`repro bench ho2016_gail EXPERIMENT`): GAIL's whole loop (sampling, the discriminator's step, the
TRPO step, the value function's fit) against stepping the same task alone with random actions, in one process, and
where an iteration's time goes (common/onpolicy/phases.py: each phase timed inside a second run of the same loop)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common.onpolicy.phases import timed_run
from common.platform.bench import blas_threads
from common.platform.records import RunContext, RunRecord

from . import gail
from .gail import make_task, run_gail
from .gail_config import GAILConfig, is_discrete


def env_only_steps_per_s(cfg: GAILConfig, n_steps: int) -> float:
    """The task alone with uniformly random actions (the loops' time limit), no policy and no learning."""
    env = make_task(cfg, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    env.reset(seed=cfg.seed)
    space = env.action_space
    start = time.perf_counter()
    for _ in range(n_steps):
        action = int(rng.integers(space.n)) if is_discrete(cfg.env_id) else rng.uniform(space.low, space.high)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return n_steps / (time.perf_counter() - start)


def bench(cfg: GAILConfig, n_steps: int, scratch: Path) -> dict:
    """The run's `iterations` from a fresh policy (its expert dataset must exist), then environment-only stepping;
    for the imitation methods the run is made twice, the second time with each phase timed (the loop's iterations
    alone and ms per iteration in each phase; common/onpolicy/phases.py)."""
    out = {"unit": "env-steps/s", "threads": blas_threads()}
    if cfg.method == "bc":  # no env steps while learning: only the run's time
        start = time.perf_counter()
        run_gail(cfg, RunContext(RunRecord(scratch / "run"), checkpoint_every_s=1e9, show_progress=False))
        out.update(training=0.0, run_s=time.perf_counter() - start)
        steps = 0
    else:
        from .baselines import LinearCost

        timed = timed_run(run_gail, cfg, scratch, gail, cost_classes=(gail.Discriminator, LinearCost))
        steps = int(round(timed["phases_ms"]["env_steps"] * cfg.iterations))
        out.update(training=timed["run_env_steps_per_s"], training_loop=timed["loop_env_steps_per_s"],
                   phases_ms_per_iteration=timed["phases_ms"])
    out["environment_only"] = env_only_steps_per_s(cfg, n_steps)
    out["note"] = (f"{cfg.method} on {cfg.env_id}, {cfg.trajectories} expert trajectories: {cfg.iterations} "
                   f"iterations of {cfg.batch_steps:,} pairs from a fresh policy (about {steps:,} env steps; training: "
                   f"the whole run, set-up and the {cfg.eval_episodes} evaluation episodes included; training_loop: "
                   f"the iterations alone; phases_ms_per_iteration: ms per iteration in each phase, timed in a second "
                   f"run); environment only: {n_steps:,} steps of random actions; {blas_threads()} BLAS thread(s)")
    return out
