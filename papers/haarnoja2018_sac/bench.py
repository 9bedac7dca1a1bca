"""Speed benchmark: SAC's training loop against environment-only stepping, in one process and one run."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from common.offpolicy.speed import env_only_steps_per_s, learning_phase_steps_per_s
from common.rl.envs import make_env

from .sac import SACConfig, run_sac

#: Context only: measured on another day on another host of this machine class (2 cores, CPU only), from the
#: project's shared perf notes (steps/s after learning starts): CleanRL sac_continuous_action and stable-baselines3
#: SAC on Hopper-v5, default hyperparameters. The peer measured in the same invocation (`peer`) is the comparison.
REFERENCES_MEASURED = {"when": "2026-11-21 or before", "machine": "another 2-core CPU host of this class"}
REFERENCE_STEPS_PER_S = {"Hopper-v5": {"CleanRL sac_continuous_action": (50, 65), "stable-baselines3 SAC": (44, 59)}}


WARMUP = 1000  # learning starts after 1000 random steps; only the learning phase is timed


def bench(cfg: SACConfig, n_steps: int, scratch: Path, environment: bool = True, training: bool = True) -> dict:
    """Environment-only stepping and the training loop's learning phase (`environment` / `training`: which)."""
    out = {"unit": "env-steps/s", "threads": cfg.torch_threads,
           "references": REFERENCE_STEPS_PER_S.get(cfg.env_id, {}), "references_measured": REFERENCES_MEASURED,
           "note": f"SAC {cfg.version}, {cfg.torch_threads} torch thread(s), matmuls {cfg.matmul_dtype}, batch "
                   f"{cfg.batch_size}, {cfg.updates_per_step} update per env step; learning phase only, timed inside "
                   "the run after its warm-up"}
    if environment:
        out["environment_only"] = env_only_steps_per_s(cfg.env_id, cfg.seed, n_steps)
    if training:  # the learning phase timed inside the run, after its own warm-up
        run_cfg = replace(cfg, total_env_steps=WARMUP + n_steps, learning_starts=WARMUP,
                          eval_every_steps=WARMUP + n_steps)
        out["training"] = learning_phase_steps_per_s(run_sac, run_cfg, scratch, WARMUP, n_steps)
    return out


def peer_settings(cfg: SACConfig) -> dict:
    """stable-baselines3 SAC's settings for this run: its networks, batch, replay, update ratio, temperature rule and
    torch threads, learning after the bench's warm-up."""
    return dict(seed=cfg.seed, learning_starts=WARMUP, hidden_units=cfg.hidden_units, batch_size=cfg.batch_size,
                lr=cfg.lr, gamma=cfg.gamma, tau=cfg.tau, replay_size=cfg.replay_size,
                updates_per_step=cfg.updates_per_step, init_alpha=cfg.init_alpha,
                target_entropy_per_dim=cfg.target_entropy_per_dim,
                fixed_alpha=1.0 / cfg.reward_scale if cfg.version == "v1" else None, threads=cfg.torch_threads)


def peer(cfg: SACConfig, n_steps: int) -> dict | None:
    """stable-baselines3 SAC with this run's settings (`peer_settings`), timed over its learning phase after the same
    warm-up; None for matmul_dtype other than float32."""
    from common.rl import peers

    if cfg.matmul_dtype != "float32":
        return None
    return peers.sac(cfg.env_id, n_steps, **peer_settings(cfg))


def profile(cfg: SACConfig) -> dict:
    """Where one update's time goes: ms per update in fp32 and bf16, its phases (forward, backward, optimizer, target
    average) and the loop's other parts (env step, acting, sampling), its FLOPs, the machine's rate for the critics'
    matrix shape and the floor that rate sets, the floor of its own matrix products timed bare at their shapes and
    the share of it reached, and the profiler's time shares. Random minibatches of the task's
    sizes: the arithmetic of an update does not depend on the data."""
    import torch

    from common.offpolicy import Replay
    from common.offpolicy.speed import loop_phase_ms, update_profile
    from common.platform.bench import counted_flops, matmul_gflops, ms_per_call, time_shares
    from common.rl import peers

    from .sac import SAC, np_policy_mean

    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    b = cfg.batch_size
    batch = (torch.randn(b, obs_dim), torch.rand(b, act_dim) * 2 - 1, torch.randn(b), torch.randn(b, obs_dim),
             torch.zeros(b), torch.randn(b, act_dim), torch.randn(b, act_dim))
    measures, update, agents = {}, {}, {}
    for dtype in ("float32", "bfloat16"):
        agents[dtype] = agent = SAC(replace(cfg, matmul_dtype=dtype), obs_dim, act_dim, low, high)
        update[dtype] = lambda agent=agent: agent.update(*batch)
        measures[f"update_ms_{dtype}"] = ms_per_call(update[dtype], calls=100)
    agent = agents["float32"]  # the update's phases, the loop's other parts, the floor at the update's own shapes
    weights = {k: v.detach().numpy() for k, v in agent.actor.state_dict().items() if k.startswith("net")}
    scale, center = (high - low) / 2, (high + low) / 2
    rng = np.random.default_rng(cfg.seed)
    loop_ms = loop_phase_ms(cfg.env_id, cfg.seed, lambda o: np_policy_mean(weights, o, act_dim, scale, center,
                                                                           rng.standard_normal(act_dim)),
                            Replay(10_000, obs_dim, act_dim), b)
    peer_update = None
    if peers.available():  # stable-baselines3's update with the same settings, timed in the same rounds
        peer_update = peers.update_call(peers.sac_model(cfg.env_id, **{**peer_settings(cfg), "replay_size": WARMUP}))
    measures.update(update_profile(update["float32"], lambda: agent.losses(*batch), agent.optimizers,
                                   agent.soft_update, loop_ms, peer_update))
    mflop = counted_flops(update["float32"]) / 1e6
    measures["update_mflop"] = mflop
    h = cfg.hidden_units
    for dtype in ("float32", "bfloat16"):  # the hidden layer of both critics: (2, batch, h) @ (2, h, h)
        gflops = matmul_gflops(2, b, h, h, dtype)
        measures[f"matmul_gflop_per_s_{dtype}"] = gflops
        measures[f"matmul_floor_ms_{dtype}"] = mflop / gflops  # MFLOP / (GFLOP/s) = ms
        measures[f"max_env_steps_per_s_{dtype}"] = 1e3 / measures[f"matmul_floor_ms_{dtype}"]
    shares = time_shares(update["float32"], calls=50, groups={
        "matmul": ("mm", "matmul", "linear"), "relu": ("relu", "threshold_backward"),
        "optimizer_and_target_average": ("_foreach", "adam", "lerp")})
    measures.update({f"time_share_{k}_float32": v for k, v in shares.items()})
    return {"measures": measures,
            "note": f"SAC {cfg.version} update on {cfg.env_id} sizes, batch {b}, {cfg.torch_threads} torch thread(s); "
                    "floor = the update's FLOPs at the measured matmul rate, with no other cost; same-shapes floor = its own "
                    "matrix products timed bare; phases in ms per update (env step, acting, sampling: per env step)"}
