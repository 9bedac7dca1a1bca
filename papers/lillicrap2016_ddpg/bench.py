"""Speed benchmark: DDPG's training loop against environment-only stepping and against stable-baselines3's DDPG,
in one invocation (`repro bench lillicrap2016_ddpg td3_table1 --variant our_ddpg__Hopper-v5`)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from common.offpolicy.speed import env_only_steps_per_s, learning_phase_steps_per_s
from common.rl.envs import make_env

from .ddpg import DDPGConfig, run_ddpg

WARMUP = 1000  # learning starts after 1000 steps; only the learning phase is timed


def bench(cfg: DDPGConfig, n_steps: int, scratch: Path, environment: bool = True, training: bool = True) -> dict:
    """Environment-only stepping and the training loop's learning phase (`environment` / `training`: which)."""
    out = {"unit": "env-steps/s", "threads": cfg.torch_threads,
           "note": f"DDPG, {cfg.torch_threads} torch thread(s), batch {cfg.batch_size}, hidden "
                   f"{list(cfg.hidden_units)}, action at critic layer {cfg.action_layer}, batch norm "
                   f"{'on' if cfg.batch_norm else 'off'}, one update per env step; learning phase only, timed inside the run after its warm-up"}
    if environment:
        out["environment_only"] = env_only_steps_per_s(cfg.env_id, cfg.seed, n_steps)
    if training:  # the learning phase timed inside the run, after its own warm-up
        run_cfg = replace(cfg, total_env_steps=WARMUP + n_steps, learning_starts=WARMUP,
                          random_steps=min(cfg.random_steps, WARMUP), eval_every_steps=WARMUP + n_steps,
                          eval_episodes=1)
        out["training"] = learning_phase_steps_per_s(run_ddpg, run_cfg, scratch, WARMUP, n_steps)
    return out


def peer_settings(cfg: DDPGConfig) -> dict:
    """stable-baselines3 DDPG's settings for this run (hidden layers, batch, replay, discount, tau, exploration noise,
    torch threads; the critic's learning rate for both networks), learning after the bench's warm-up."""
    return dict(seed=cfg.seed, learning_starts=WARMUP, hidden_units=list(cfg.hidden_units), batch_size=cfg.batch_size,
                lr=cfg.critic_lr, gamma=cfg.gamma, tau=cfg.tau, replay_size=cfg.replay_size, noise=cfg.exploration,
                sigma=cfg.ou_sigma if cfg.exploration == "ou" else cfg.gaussian_sigma, theta=cfg.ou_theta,
                dt=cfg.ou_dt, threads=cfg.torch_threads)


def peer_is_exact(cfg: DDPGConfig) -> bool:
    """Whether stable-baselines3 can build these settings exactly (TD3's Our DDPG), not only the nearest ones."""
    return cfg.action_layer == 1 and not cfg.batch_norm and cfg.critic_l2 == 0 and cfg.actor_lr == cfg.critic_lr


def peer(cfg: DDPGConfig, n_steps: int) -> dict | None:
    """stable-baselines3 DDPG with this run's hidden layers, batch, replay, discount, tau, exploration noise and
    torch threads, timed over its learning phase after the same warm-up. stable-baselines3's critic takes the action
    at its input and has one learning rate and no batch normalization or L2: for the paper's DDPG (action at layer 2,
    batch norm, 1e-4 / 1e-3, L2) it is the nearest it can build, and the result says so; TD3's Our DDPG it matches."""
    from common.rl import peers

    out = peers.ddpg(cfg.env_id, n_steps, **peer_settings(cfg))
    if not peer_is_exact(cfg):
        out["peer"] += (" (nearest settings: action at its critic's input, one learning rate "
                        f"{cfg.critic_lr:g}, no batch norm, no L2)")
    return out


def profile(cfg: DDPGConfig) -> dict:
    """Where one update's time goes: ms per update, its phases (forward, backward, optimizer, target average) and the
    loop's other parts (env step, acting, sampling), its FLOPs (torch's counter), one core's rate on the hidden
    layer's matrix product (batch, 400) x (400, 300) and the floor that rate sets, the floor of its own matrix
    products timed bare at their shapes and the share of it reached, and the profiler's time shares.
    Random minibatches of the task's sizes: the arithmetic of an update does not depend on the data."""
    import torch

    from common.offpolicy import Replay
    from common.offpolicy.policies import deterministic_actor as np_actor
    from common.offpolicy.speed import loop_phase_ms, update_profile
    from common.platform.bench import counted_flops, matmul_gflops, time_shares
    from common.rl import peers

    from .ddpg import DDPG, actor_arrays

    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    b = cfg.batch_size
    batch = (torch.randn(b, obs_dim), torch.rand(b, act_dim) * 2 - 1, torch.randn(b), torch.randn(b, obs_dim),
             torch.zeros(b))
    agent = DDPG(cfg, obs_dim, act_dim)
    low, high = env.action_space.low.astype("float64"), env.action_space.high.astype("float64")
    weights = actor_arrays(agent.actor)
    loop_ms = loop_phase_ms(cfg.env_id, cfg.seed, lambda o: (high + low) / 2 + (high - low) / 2 * np_actor(weights, o),
                            Replay(10_000, obs_dim, act_dim), b)
    peer_update = None
    if peers.available():  # stable-baselines3's update with the nearest settings, timed in the same rounds
        peer_update = peers.update_call(peers.ddpg_model(cfg.env_id, **{**peer_settings(cfg), "replay_size": WARMUP}))
    measures = update_profile(lambda: agent.update(*batch), lambda: agent.losses(*batch),
                              (agent.critic_opt, agent.actor_opt), agent.soft_update, loop_ms, peer_update)
    mflop = counted_flops(lambda: agent.update(*batch)) / 1e6
    h1, h2 = cfg.hidden_units
    gflops = matmul_gflops(1, b, h1, h2, "float32")
    measures.update({"update_mflop": mflop, "matmul_gflop_per_s_float32": gflops,
                     "matmul_floor_ms_float32": mflop / gflops, "max_env_steps_per_s_float32": 1e3 * gflops / mflop})
    shares = time_shares(lambda: agent.update(*batch), calls=50, groups={
        "matmul": ("mm", "matmul", "linear"), "relu": ("relu", "threshold_backward"),
        "batch_norm": ("batch_norm",), "optimizer_and_target_average": ("_foreach", "adam", "lerp")})
    measures.update({f"time_share_{k}_float32": v for k, v in shares.items()})
    return {"measures": measures,
            "note": f"DDPG update on {cfg.env_id} sizes, batch {b}, hidden {list(cfg.hidden_units)}, batch norm "
                    f"{'on' if cfg.batch_norm else 'off'}, {cfg.torch_threads} torch thread(s); floor = the update's "
                    "FLOPs at the measured matmul rate, with no other cost; same-shapes floor = its own matrix products "
                    "timed bare; phases in ms per update (env step, acting, sampling: per env step)"}
