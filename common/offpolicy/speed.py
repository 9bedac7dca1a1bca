"""Speed measurements shared by the off-policy benches (`repro bench`, DDPG and SAC): environment-only stepping, the
training loop's learning phase timed inside its own run, and the profile of one update, taken apart into its phases
(forward, backward, optimizer, target average) and the loop's other costs (environment step, acting, minibatch
sampling), beside the floor set by its own matrix products."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from common.platform.records import RunRecord
from common.rl.envs import make_env


def env_only_steps_per_s(env_id: str, seed: int, n_steps: int) -> float:
    """Environment steps per second with uniformly random actions, resets included: the loop's ceiling."""
    env = make_env(env_id, seed)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    low, high = env.action_space.low, env.action_space.high
    start = time.perf_counter()
    for _ in range(n_steps):
        _, _, terminated, truncated, _ = env.step(rng.uniform(low, high))
        if terminated or truncated:
            env.reset()
    return n_steps / (time.perf_counter() - start)


def learning_phase_steps_per_s(run: Callable, run_cfg, scratch: Path, warmup: int, n_steps: int) -> float:
    """Env steps per second of `run(run_cfg, ctx)` between the end of its `warmup` steps (learning starts there) and
    `warmup + n_steps`, timed inside the run: first-use costs fall in its own warm-up."""
    from common.platform.bench import LearningPhaseContext

    ctx = LearningPhaseContext(RunRecord(scratch), checkpoint_every_s=1e9, show_progress=False, start_at=warmup,
                               stop_at=warmup + n_steps)
    run(run_cfg, ctx)
    return ctx.learning_rate()


def loop_phase_ms(env_id: str, seed: int, act: Callable[[np.ndarray], np.ndarray], replay, batch_size: int,
                  calls: int = 200) -> dict[str, float]:
    """Milliseconds per env step of the loop's parts outside the update (medians): `env_step` (random actions),
    `policy_act` (`act(obs)`, the loop's acting), `replay_sample` (drawing a minibatch of `batch_size` from `replay`,
    filled here with the observations met)."""
    env = make_env(env_id, seed)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    low, high = env.action_space.low, env.action_space.high
    steps, acts, samples = [], [], []
    for _ in range(calls):
        t0 = time.perf_counter()
        action = act(obs)
        t1 = time.perf_counter()
        next_obs, reward, terminated, truncated, _ = env.step(rng.uniform(low, high))
        t2 = time.perf_counter()
        replay.add(obs, action, reward, next_obs, terminated)
        idx = rng.integers(0, replay.size, batch_size)
        t3 = time.perf_counter()
        replay.sample(idx)
        t4 = time.perf_counter()
        acts.append(t1 - t0)
        steps.append(t2 - t1)
        samples.append(t4 - t3)
        obs = env.reset()[0] if terminated or truncated else next_obs
    return {"env_step": 1e3 * float(np.median(steps)), "policy_act": 1e3 * float(np.median(acts)),
            "replay_sample": 1e3 * float(np.median(samples))}


def update_profile(update: Callable[[], object], losses: Callable[[], tuple], optimizers, after: Callable[[], None],
                   loop_ms: dict[str, float], peer_update: Callable[[], object] | None = None,
                   rounds: int = 15) -> dict[str, float]:
    """The measures of one update's profile: its time (`update_ms_float32`), its phases and the loop's other parts
    (`phase_ms_*`: forward, backward, optimizer, target average, env step, policy act, replay sample; see
    `loop_phase_ms`), the floor set by its own matrix products timed bare at the same shapes
    (`matmul_floor_same_shapes_ms_float32`, common/platform/bench.py), and the share of that floor the update
    reaches (`floor_share_reached_float32`: the median over rounds of floor / update, the two timed in turn in each
    round so that both meet the same load; 1 would be an update that is nothing but its matrix products).

    With `peer_update` (one gradient step of the peer, stable-baselines3, with the same settings: common/rl/peers.py),
    timed in the same rounds: its time and FLOPs, this update's speed-up over it (`update_ratio_to_peer`, median of
    the rounds' quotients), and the most any update doing this one's arithmetic could reach,
    `max_update_ratio_to_peer_at_floor` (the peer's update time over this update's floor)."""
    from common.platform.bench import alternating_ms, matmul_floor_call, recorded_matmuls

    from .update import phase_ms

    from common.platform.bench import counted_flops

    fns = {"update": update, "floor": matmul_floor_call(recorded_matmuls(update))}
    if peer_update is not None:
        fns["peer"] = peer_update
    times = {k: np.array(v) for k, v in alternating_ms(fns, rounds=rounds).items()}
    measures = {"update_ms_float32": float(np.median(times["update"])),
                "matmul_floor_same_shapes_ms_float32": float(np.median(times["floor"])),
                "floor_share_reached_float32": float(np.median(times["floor"] / times["update"]))}
    if peer_update is not None:
        measures.update({"peer_update_ms_float32": float(np.median(times["peer"])),
                         "peer_update_mflop": counted_flops(peer_update) / 1e6,
                         "update_ratio_to_peer": float(np.median(times["peer"] / times["update"])),
                         "max_update_ratio_to_peer_at_floor": float(np.median(times["peer"] / times["floor"]))})
    phases = phase_ms(losses, optimizers, after)
    measures.update({f"phase_ms_{k}": v for k, v in {**phases, **loop_ms}.items()})
    return measures
