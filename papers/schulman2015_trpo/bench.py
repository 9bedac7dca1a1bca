"""Speed benchmark (`repro bench schulman2015_trpo fig4_swimmer`): the whole TRPO loop (sampling, Q estimates,
gradient, conjugate gradient, line search) against environment-only stepping, and against sb3-contrib's TRPO built
with the same settings (common/rl/peers.py), alternating A B A B in one invocation (common/platform/bench.py)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path


from common.platform.errors import ReproError
from common.platform.records import RunContext, RunRecord
from common.rl import envs, peers

from .trpo import TRPOConfig, run_trpo


def blas_threads() -> int:
    """Threads of numpy's BLAS, which the update's matrix products use: OPENBLAS_NUM_THREADS or OMP_NUM_THREADS as
    set when the process started (`OMP_NUM_THREADS=1 repro bench ...`, as `repro sweep` runs), else one per core."""
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def iterations_for(cfg: TRPOConfig, n_steps: int) -> int:
    """Whole policy iterations closest to `n_steps` environment steps, at least one (single path: batch_steps
    each; vine: its trunks and rollouts)."""
    per_iteration = cfg.batch_steps if cfg.method == "single_path" else (
        cfg.vine_trunks * cfg.vine_trunk_length + cfg.vine_states * cfg.vine_actions * cfg.vine_rollout_length)
    return max(1, round(n_steps / per_iteration))


def env_only_steps_per_s(cfg: TRPOConfig, n_steps: int) -> float:
    """The same environment with the loop's observation filter, Gaussian random actions, no learning."""
    return envs.env_only_steps_per_s(cfg.env_id, cfg.seed, cfg.obs_clip, n_steps)


def bench(cfg: TRPOConfig, n_steps: int, scratch: Path, environment: bool = True, training: bool = True) -> dict:
    """Environment-only stepping and the whole training loop over whole iterations near `n_steps` env steps, timed
    from the start of the run to its end (start-up and saving the agent included)."""
    if cfg.method not in ("single_path", "vine"):
        raise ReproError(f"repro bench times TRPO (single_path, vine), not {cfg.method!r}: "
                         "pick --variant single_path or vine")
    iterations = iterations_for(cfg, n_steps)
    out = {"unit": "env-steps/s", "threads": blas_threads(),
           "note": f"TRPO {cfg.method} (numpy policy and Fisher-vector products), {iterations} iteration(s) of "
                   f"{cfg.batch_steps if cfg.method == 'single_path' else 'vine'} steps, {cfg.hidden_units} hidden "
                   f"units, CG {cfg.cg_iters} steps on {cfg.fvp_fraction:.0%} of the batch; whole run timed"}
    if environment:
        out["environment_only"] = env_only_steps_per_s(cfg, n_steps)
    if training:
        run_cfg = replace(cfg, iterations=iterations)
        start = time.perf_counter()
        result = run_trpo(run_cfg, RunContext(RunRecord(scratch), checkpoint_every_s=1e9, show_progress=False))
        out["training"] = int(result["iterations"]["env_step"].iloc[-1]) / (time.perf_counter() - start)
    return out


@peers.requires(*peers.CONTRIB)
def peer(cfg: TRPOConfig, n_steps: int) -> dict | None:
    """sb3-contrib TRPO with this loop's policy sizes, batch, KL bound, CG and line-search settings, observation
    filter and thread count, over the same whole iterations; None for the settings it does not have (the vine,
    a linear baseline, the natural gradient, the empirical Fisher, the max-KL constraint)."""
    if (cfg.method, cfg.baseline, cfg.step_rule, cfg.fisher, cfg.kl_constraint) != (
            "single_path", "none", "trust_region", "kl_hessian", "mean"):
        return None
    return peers.trpo(cfg.env_id, iterations_for(cfg, n_steps) * cfg.batch_steps, seed=cfg.seed,
                      batch_steps=cfg.batch_steps, hidden_units=cfg.hidden_units, max_kl=cfg.max_kl,
                      gamma=cfg.gamma, cg_iters=cfg.cg_iters, cg_damping=cfg.cg_damping,
                      backtrack_shrink=cfg.backtrack_shrink, max_backtracks=cfg.max_backtracks,
                      init_log_std=cfg.init_log_std, normalize_obs=cfg.normalize_obs, obs_clip=cfg.obs_clip,
                      threads=blas_threads())
