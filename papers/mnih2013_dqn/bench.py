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
    env, _ = make_atari(cfg.game, cfg.num_envs, cfg.seed, cfg.frame_skip, frame_preprocess=cfg.frame_preprocess)
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


def profile(cfg: DQNConfig) -> dict:
    """Where one minibatch update's time goes: ms per update in fp32, under bf16 autocast and with channels-last
    memory, and its FLOPs (forward and backward of the online network, the target's forward). Random frames and
    transitions of the paper's shapes: the arithmetic of an update does not depend on the data."""
    import torch

    from common.bench import counted_flops, ms_per_call, time_shares

    from .dqn import QNetwork, gradient_step, rmsprop

    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    n_actions, b = 4, cfg.batch_size
    batch = (rng.integers(0, 256, (b, 4, 84, 84), dtype=np.uint8), rng.integers(0, n_actions, b),
             rng.choice([-1.0, 0.0, 1.0], b).astype(np.float32), rng.integers(0, 256, (b, 4, 84, 84), dtype=np.uint8),
             np.zeros(b, bool))

    def make(channels_last: bool = False):
        net = QNetwork(n_actions, cfg.variant)
        target = QNetwork(n_actions, cfg.variant) if cfg.target_update_every_updates else net
        if channels_last:
            net, target = net.to(memory_format=torch.channels_last), target.to(memory_format=torch.channels_last)
        opt = rmsprop(cfg, net)
        return lambda: gradient_step(cfg, net, target, opt, *batch)

    fp32 = make()

    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fp32()

    measures = {"update_ms_float32": ms_per_call(fp32, calls=20), "update_ms_bfloat16_autocast": ms_per_call(bf16, calls=20),
                "update_ms_channels_last": ms_per_call(make(channels_last=True), calls=20),
                "update_gflop": counted_flops(fp32) / 1e9}
    shares = time_shares(fp32, calls=10, groups={"convolution": ("conv",), "matmul": ("mm", "linear"),
                                                 "optimizer": ("_foreach", "rmsprop", "addcdiv", "addcmul")})
    measures.update({f"time_share_{k}_float32": v for k, v in shares.items()})
    return {"measures": measures,
            "note": f"DQN {cfg.variant} network, batch {b}, {cfg.torch_threads} torch thread(s), Breakout's 4 actions; "
                    "one minibatch update (gradient_step)"}
