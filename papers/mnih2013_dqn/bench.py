"""Speed benchmark: DQN training against environment-only stepping of the same vector environment, in one run."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common.atari import make_atari
from common.records import RunContext, RunRecord

from .dqn import DQNConfig, run_dqn

#: Measured on this machine class (2 cores, CPU only), from the project's shared perf notes: CleanRL dqn_atari on
#: Breakout after learning starts (one update per 4 agent steps, Nature CNN).
REFERENCE_STEPS_PER_S = {"Breakout": {"CleanRL dqn_atari (Nature CNN)": (59, 80)}}


def bench(cfg: DQNConfig, n_steps: int, scratch: Path) -> dict:
    env, _ = make_atari(cfg.game, cfg.num_envs, cfg.seed, cfg.frame_skip)
    rng = np.random.default_rng(cfg.seed)
    start = time.perf_counter()
    for _ in range(n_steps // cfg.num_envs):
        env.step(rng.integers(0, env.single_action_space.n, cfg.num_envs))
    env_sps = n_steps / (time.perf_counter() - start)
    warm = 2000
    small = replace(cfg, learning_starts_agent_steps=warm, replay_capacity_agent_steps=50_000, heldout_states=32,
                    epoch_updates=10**9)
    t0 = time.perf_counter()
    run_dqn(replace(small, total_agent_steps=warm), RunContext(RunRecord(scratch), 1e9, False))
    t_warm = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_dqn(replace(small, total_agent_steps=warm + n_steps), RunContext(RunRecord(scratch / "b"), 1e9, False))
    train_sps = n_steps / max(time.perf_counter() - t1 - t_warm, 1e-9)
    return {"unit": "agent-steps/s", "environment_only": env_sps, "training": train_sps,
            "references": REFERENCE_STEPS_PER_S.get(cfg.game, {}),
            "note": f"DQN {cfg.variant}, {cfg.num_envs} envs, one update per {cfg.update_every_agent_steps} agent steps, "
                    f"batch {cfg.batch_size}, {cfg.torch_threads} torch threads; learning phase only"}
