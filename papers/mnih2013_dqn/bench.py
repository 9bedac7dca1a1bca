"""Speed benchmark: DQN training against environment-only stepping of the same vector environment, in one run."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common.rl.atari import make_atari
from common.platform.records import RunRecord

from .dqn import DQNConfig, run_dqn

#: Context only: measured on another day on another host of this machine class (2 cores, CPU only), from the
#: project's shared perf notes: CleanRL dqn_atari on Breakout after learning starts (one update per 4 agent steps,
#: Nature CNN). The peer measured in the same invocation (`peer`) is the comparison.
REFERENCES_MEASURED = {"when": "2026-11-21 or before", "machine": "another 2-core CPU host of this class"}
REFERENCE_STEPS_PER_S = {"Breakout": {"CleanRL dqn_atari (Nature CNN)": (59, 80)}}


WARMUP = 2000  # agent steps before learning starts; only the learning phase is timed
REPLAY = 50_000  # a small replay for the bench (the paper's million-step one takes minutes to allocate and fill)


def bench(cfg: DQNConfig, n_steps: int, scratch: Path, environment: bool = True, training: bool = True) -> dict:
    """Environment-only stepping and the training loop's learning phase (`environment` / `training`: which)."""
    out = {"unit": "agent-steps/s", "threads": cfg.torch_threads,
           "references": REFERENCE_STEPS_PER_S.get(cfg.game, {}), "references_measured": REFERENCES_MEASURED,
           "note": f"DQN {cfg.variant}, {cfg.num_envs} envs, one update per {cfg.update_every_agent_steps} agent "
                   f"steps, batch {cfg.batch_size}, {cfg.torch_threads} torch threads; learning phase only, timed "
                   "inside the run after its warm-up"}
    if environment:
        env, _ = make_atari(cfg.game, cfg.num_envs, cfg.seed, cfg.frame_skip, frame_preprocess=cfg.frame_preprocess)
        rng = np.random.default_rng(cfg.seed)
        start = time.perf_counter()
        for _ in range(n_steps // cfg.num_envs):
            env.step(rng.integers(0, env.single_action_space.n, cfg.num_envs))
        out["environment_only"] = n_steps / (time.perf_counter() - start)
    if training:  # the learning phase timed inside the run, after its own warm-up
        from common.platform.bench import LearningPhaseContext

        small = replace(cfg, learning_starts_agent_steps=WARMUP, replay_capacity_agent_steps=REPLAY,
                        heldout_states=32, epoch_updates=10**9, total_agent_steps=WARMUP + n_steps)
        ctx = LearningPhaseContext(RunRecord(scratch), 1e9, False, start_at=WARMUP, stop_at=WARMUP + n_steps)
        run_dqn(small, ctx)
        out["training"] = ctx.learning_rate()
    return out


def peer_settings(cfg: DQNConfig) -> dict:
    """stable-baselines3 DQN's settings matching this run's (common/rl/peers.py `dqn_model`)."""
    target = cfg.target_update_every_agent_steps or cfg.target_update_every_updates * cfg.update_every_agent_steps
    return dict(seed=cfg.seed, variant=cfg.variant, num_envs=cfg.num_envs, frame_skip=cfg.frame_skip,
                learning_starts=WARMUP, replay_size=REPLAY, batch_size=cfg.batch_size,
                update_every_agent_steps=cfg.update_every_agent_steps, target_update_every_agent_steps=target,
                lr=cfg.lr, rmsprop_decay=cfg.rmsprop_decay, rmsprop_eps=cfg.rmsprop_eps, gamma=cfg.gamma,
                max_episode_frames=cfg.max_episode_frames, threads=cfg.torch_threads)


def peer(cfg: DQNConfig, n_steps: int) -> dict | None:
    """stable-baselines3 DQN with this run's network, environments, preprocessing, replay ratio, RMSProp and torch
    threads, timed over its learning phase after the same warm-up; None for the Toy task."""
    from common.rl import peers

    if cfg.game == "Toy":
        return None
    return peers.dqn(cfg.game, n_steps, **peer_settings(cfg))


#: Agent steps of random play that fill stable-baselines3's replay before the profile times its update.
PEER_FILL = 256


def profile(cfg: DQNConfig) -> dict:
    """Where one minibatch update's time goes: ms per update in fp32, its phases (forward, backward, optimizer), its
    FLOPs (forward and backward of the online network, the target's forward) and the profiler's time shares; the
    floor of its own convolutions and matrix products timed bare at their shapes, in turn with the update and with
    stable-baselines3's DQN update on a minibatch of the same size (common/offpolicy/speed.py `update_profile`):
    the share of the floor reached and the most any update doing this arithmetic could gain over the peer's; and
    the levers on the update, timed in turn with it in the same rounds: bf16 autocast, channels-last memory,
    oneDNN (mkldnn) convolutions switched off. Random frames and transitions of the paper's shapes: the arithmetic
    of an update does not depend on the data."""
    import torch

    from common.offpolicy.speed import update_profile
    from common.platform.bench import (alternating_ms, counted_flops, matmul_floor_call, recorded_matmuls,
                                       time_shares)
    from common.rl import peers

    from .dqn import QNetwork, gradient_step, rmsprop, td_loss

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
        return net, target, opt, (lambda: gradient_step(cfg, net, target, opt, *batch))

    net, target, opt, fp32 = make()

    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fp32()

    def mkldnn_off():
        with torch.backends.mkldnn.flags(enabled=False):
            return fp32()

    peer_update = None
    if peers.available() and cfg.game != "Toy":  # stable-baselines3's update with the same settings and batch
        peer_update = peers.update_call(peers.dqn_model(cfg.game, **{
            **peer_settings(cfg), "learning_starts": max(PEER_FILL, b), "replay_size": max(PEER_FILL, b)}))
    measures = update_profile(fp32, lambda: td_loss(cfg, net, target, *batch), [opt], None, {}, peer_update)
    measures.pop("phase_ms_target_average")  # the target is copied by the loop, every few thousand updates
    measures["update_gflop"] = counted_flops(fp32) / 1e9
    measures["matmul_floor_same_shapes_gflop"] = counted_flops(matmul_floor_call(recorded_matmuls(fp32))) / 1e9
    levers = {"float32": fp32, "bfloat16_autocast": bf16, "channels_last": make(channels_last=True)[3],
              "mkldnn_off": mkldnn_off}
    times = {k: np.array(v) for k, v in alternating_ms(levers, calls=5, rounds=5).items()}
    for name in list(levers)[1:]:
        measures[f"update_ms_{name}"] = float(np.median(times[name]))
        measures[f"speedup_{name}"] = float(np.median(times["float32"] / times[name]))
    shares = time_shares(fp32, calls=10, groups={"convolution": ("conv",), "matmul": ("mm", "linear"),
                                                 "optimizer": ("_foreach", "rmsprop", "addcdiv", "addcmul")})
    measures.update({f"time_share_{k}_float32": v for k, v in shares.items()})
    return {"measures": measures,
            "note": f"DQN {cfg.variant} network, batch {b}, {cfg.torch_threads} torch thread(s), Breakout's 4 actions; "
                    "one minibatch update (gradient_step); same-shapes floor = its own convolutions and matrix "
                    "products timed bare, in turn with it and with stable-baselines3's update (peer); speedup = "
                    "float32 time / the lever's, same rounds"}
