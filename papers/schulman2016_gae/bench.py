"""Speed benchmark (`repro bench schulman2016_gae EXPERIMENT`): the whole training loop against stepping the same
environment alone with random actions, in one process, and where an iteration's time goes (common/onpolicy/phases.py:
each phase timed inside a second run of the same loop; the MuJoCo tasks, whose batches are sampled one step at a time).

On cart-pole "environment only" steps the same carts together (`BartoCartPole`: all trajectories of a batch, of
every seed the run packs, at once) with Gaussian forces; on the MuJoCo tasks it steps the gymnasium task one step
at a time."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common.onpolicy.phases import timed_run
from common.platform.bench import blas_threads
from common.platform.records import RunContext, RunRecord
from common.rl.barto_cartpole import BartoCartPole
from common.rl.envs import make_env

from . import gae
from .gae import CARTPOLE, GAEConfig, run_gae


def env_only_steps_per_s(cfg: GAEConfig, n_steps: int) -> float:
    """Random actions (std 10 N on cart-pole, 1 elsewhere), no learning; failed carts start over together."""
    rng = np.random.default_rng(cfg.seed)
    start = time.perf_counter()
    done = 0
    if cfg.env_id == CARTPOLE:
        n_carts = cfg.trajectories * cfg.seeds_per_run
        carts = BartoCartPole(n_carts)
        carts.reset(rng)
        alive = np.ones(n_carts, bool)
        while done < n_steps:
            _, failed = carts.step(10.0 * rng.standard_normal(n_carts))
            done += int(alive.sum())
            alive &= ~failed
            if not alive.any():
                carts.reset(rng)
                alive[:] = True
    else:
        env = make_env(cfg.env_id, cfg.seed)
        act_dim = env.action_space.shape[0]
        env.reset(seed=cfg.seed)
        for _ in range(n_steps):
            _, _, terminated, truncated, _ = env.step(rng.standard_normal(act_dim))
            if terminated or truncated:
                env.reset()
        done = n_steps
        env.close()
    return done / (time.perf_counter() - start)


def bench(cfg: GAEConfig, n_steps: int, scratch: Path) -> dict:
    """The full loop (sampling, GAE, the TRPO step, the value function's trust region) for the experiment's
    iterations from a fresh policy, then environment-only stepping for `n_steps` steps; on the MuJoCo tasks the run
    is made twice, the second time with each phase timed (the learning iterations alone and ms per iteration in each
    phase; common/onpolicy/phases.py)."""
    out = {"unit": "env-steps/s", "threads": blas_threads()}
    if cfg.env_id == CARTPOLE:
        start = time.perf_counter()
        tables = run_gae(cfg, RunContext(RunRecord(scratch / "run"), checkpoint_every_s=1e9, show_progress=False))
        steps = int(tables["iterations"].groupby("seed")["env_step"].max().sum())  # every seed's steps
        out["training"] = steps / (time.perf_counter() - start)
    else:
        timed = timed_run(run_gae, cfg, scratch, gae, learned_batches=cfg.iterations)
        steps = None
        out.update(training=timed["run_env_steps_per_s"], training_loop=timed["loop_env_steps_per_s"],
                   phases_ms_per_iteration=timed["phases_ms"])
    out["environment_only"] = env_only_steps_per_s(cfg, n_steps)
    counted = f"{steps:,} env steps over its seeds" if steps is not None else "its env steps"
    out["note"] = (f"TRPO + GAE on {cfg.env_id}, gamma {cfg.gamma}, lambda {cfg.lam}, baseline {cfg.baseline}: "
                   f"{cfg.iterations} updates from a fresh policy, {cfg.seeds_per_run} seed(s) in the run; training: "
                   f"{counted} (the batch after the last update included) over the whole run"
                   + ("" if steps is not None else "; training_loop: the learning iterations alone (no set-up, not "
                      "the final batch); phases_ms_per_iteration: ms per iteration in each phase, timed in a second "
                      "run") + f"; environment only: {n_steps:,} steps; {blas_threads()} BLAS thread(s)")
    return out
