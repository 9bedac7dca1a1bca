"""Speed benchmark: SAC's training loop against environment-only stepping, in one process and one run."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common.envs import make_env
from common.records import RunContext, RunRecord

from .sac import SACConfig, run_sac

#: Measured on this machine class (2 cores, CPU only), from the project's shared perf notes (steps/s after learning
#: starts): CleanRL sac_continuous_action and stable-baselines3 SAC on Hopper-v5, default hyperparameters.
REFERENCE_STEPS_PER_S = {"Hopper-v5": {"CleanRL sac_continuous_action": (50, 65), "stable-baselines3 SAC": (44, 59)}}


def bench(cfg: SACConfig, n_steps: int, scratch: Path) -> dict:
    env = make_env(cfg.env_id, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    env.reset(seed=cfg.seed)
    start = time.perf_counter()
    for _ in range(n_steps):
        _, _, terminated, truncated, _ = env.step(rng.uniform(env.action_space.low, env.action_space.high))
        if terminated or truncated:
            env.reset()
    env_sps = n_steps / (time.perf_counter() - start)
    warmup = 1000  # learning starts after 1000 random steps; only the learning phase is timed
    run_cfg = replace(cfg, total_env_steps=warmup + n_steps, learning_starts=warmup, eval_every_steps=warmup + n_steps)
    ctx = RunContext(RunRecord(scratch), checkpoint_every_s=1e9, show_progress=False)
    t0 = time.perf_counter()
    run_sac(replace(run_cfg, total_env_steps=warmup), ctx)  # start-up and random phase alone
    t_warm = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_sac(run_cfg, RunContext(RunRecord(scratch / "full"), checkpoint_every_s=1e9, show_progress=False))
    train_sps = n_steps / max(time.perf_counter() - t1 - t_warm, 1e-9)
    return {"unit": "env-steps/s", "environment_only": env_sps, "training": train_sps,
            "references": REFERENCE_STEPS_PER_S.get(cfg.env_id, {}),
            "note": f"SAC {cfg.version}, {cfg.torch_threads} torch thread(s), matmuls {cfg.matmul_dtype}, batch "
                    f"{cfg.batch_size}, {cfg.updates_per_step} update per env step; learning phase only"}
