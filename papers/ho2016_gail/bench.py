"""Speed benchmark (`repro bench ho2016_gail EXPERIMENT`): GAIL's whole loop (sampling, the discriminator's step, the
TRPO step, the value function's fit) against stepping the same task alone with random actions, in one process."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common.platform.records import RunContext, RunRecord

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
    """The run's `iterations` from a fresh policy (its expert dataset must exist), then environment-only stepping."""
    start = time.perf_counter()
    tables = run_gail(cfg, RunContext(RunRecord(scratch), checkpoint_every_s=1e9, show_progress=False))
    wall = time.perf_counter() - start
    steps = int(tables["iterations"]["env_step"].max()) if "iterations" in tables else 0
    return {"unit": "env-steps/s", "environment_only": env_only_steps_per_s(cfg, n_steps), "training": steps / wall,
            "note": f"{cfg.method} on {cfg.env_id}, {cfg.trajectories} expert trajectories: {cfg.iterations} "
                    f"iterations of {cfg.batch_steps:,} pairs from a fresh policy ({steps:,} env steps, with the 50 "
                    f"evaluation episodes in the time); environment only: {n_steps:,} steps of random actions"}
