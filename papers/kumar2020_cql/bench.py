"""Speed benchmark (`repro bench kumar2020_cql EXPERIMENT [--variant V]`): gradient steps per second of CQL's update
and of its baselines', against SAC's own online update (papers/haarnoja2018_sac through common/offpolicy/update.py)
as the yardstick, in one process on the config's torch threads.

The updates run in turn, `rounds` times (A B C ... A B C ...), each `n_steps` updates per turn, so that all meet the
same load of a shared machine; per update and round: gradient steps/s, ms per update and the share of the machine
other processes used (`other_load`, common/platform/bench.py); per update: their medians and ranges, and the
median over rounds of its time over SAC's update time in the same round ("what the regularizer costs").

The inputs are synthetic: minibatches of Gaussian states, uniform actions and Gaussian rewards of the task's
dimensions, drawn once in memory (an update's arithmetic does not depend on the data), cycled through; each update
is timed alone (drawing a minibatch and the noise is the loop's, the same for every method). The peer
(d3rlpy's CQL) is timed in the same rounds where it imports: see PEER.
"""
from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np

from common.platform.bench import measured
from common.platform.finite import NonFiniteError
from common.rl.envs import make_env

from .cql_config import CQLConfig

#: The updates timed: name -> (what it is, the CQL config's changes). The gaps' weight alpha' is fixed (cql_alpha)
#: except in cql_h_lagrange (the Lagrange dual with threshold tau, Appendix F: the paper's Gym MuJoCo setting).
UPDATES = {
    "cql_h": ("CQL(H) (eq. 4), alpha' fixed", {"method": "cql_h", "lagrange": False}),
    "cql_h_lagrange": ("CQL(H) (eq. 4), alpha' by the Lagrange dual", {"method": "cql_h", "lagrange": True}),
    "cql_rho": ("CQL(rho) (eq. 3), alpha' fixed", {"method": "cql_rho", "lagrange": False}),
    "sac_offline": ("offline SAC (CQL(H)'s gap measured without gradient, a diagnostic)", {"method": "sac"}),
    # a run with sac_gap_every_steps = k measures the gap on 1 update of k: its time is (k-1)/k of this and 1/k of
    # sac_offline's
    "sac_offline_no_gap": ("offline SAC on an update that does not measure the gap (sac_gap_every_steps > 1)",
                           {"method": "sac"}),
    "bc": ("behavioural cloning (the actor only)", {"method": "bc"}),
}
YARDSTICK = "sac_online"  # SAC v2's own update (papers/haarnoja2018_sac), the same networks and minibatch
#: The peer: d3rlpy's CQL (Seno and Imai, d3rlpy 2.8.1), timed in the same rounds as `d3rlpy_cql` where it imports.
#: It is on the package index but pins gymnasium==1.0.0 (this repository: 1.4.0), so it is no dependency here; it runs
#: from a folder of its own put on PYTHONPATH (README, Speed: the command). Its CQL follows the authors' code: the
#: log-sum-exp over 10 uniform, 10 pi(s) and 10 pi(s') actions per state, 1.5x the sampled Q evaluations of this
#: CQL(H) (which samples pi(s) only): compare the FLOPs beside the times. Set here as cql_h: alpha' fixed (its
#: conservative_weight, alpha_learning_rate 0), the same learning rates, batch, networks and N.
PEER = "d3rlpy_cql"
PEER_VERSION = "2.8.1"
PEER_NOTE = (f"d3rlpy {PEER_VERSION}'s CQL (alpha' fixed; N uniform + N pi(s) + N pi(s') actions per state, as the "
             "authors' code) in the same rounds where d3rlpy imports; it pins gymnasium==1.0.0, so it is not a "
             "dependency of this repository (README: how to put it beside it)")
WHAT = {YARDSTICK: "SAC v2's online update (the yardstick)",
        PEER: "d3rlpy's CQL (the peer), alpha' fixed, N uniform + N pi(s) + N pi(s') actions per state"}
MINIBATCHES = 8  # synthetic minibatches (with their noise) cycled through
WARMUP = 3  # untimed updates of each kind before the first round


def _minibatches(cfg: CQLConfig, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray):
    """MINIBATCHES synthetic minibatches with the noise an update takes: (obs, act, rew, next_obs, terminal,
    eps_now, eps_next, (policy noise (B*N, dim A), uniform draws (B*N, dim A)))."""
    import torch

    gen = torch.Generator().manual_seed(cfg.seed)
    b, n = cfg.batch_size, cfg.n_action_samples
    lo, hi = torch.tensor(low, dtype=torch.float32), torch.tensor(high, dtype=torch.float32)
    out = []
    for _ in range(MINIBATCHES):
        out.append((torch.randn((b, obs_dim), generator=gen), lo + (hi - lo) * torch.rand((b, act_dim), generator=gen),
                    torch.randn(b, generator=gen), torch.randn((b, obs_dim), generator=gen), torch.zeros(b),
                    torch.randn((b, act_dim), generator=gen), torch.randn((b, act_dim), generator=gen),
                    (torch.randn((b * n, act_dim), generator=gen), torch.rand((b * n, act_dim), generator=gen))))
    return out


def update_calls(cfg: CQLConfig) -> dict:
    """name -> a call of one update on the next synthetic minibatch (returning its loss vector), for UPDATES and the
    yardstick, all at the config's task dimensions, batch, networks and sampled actions."""
    import torch

    from papers.haarnoja2018_sac.sac import SAC, SACConfig

    from .cql import OfflineLearner

    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    env.close()
    batches = _minibatches(cfg, obs_dim, act_dim, low, high)

    def cycle(update, order):
        state = {"i": 0}

        def call():
            batch = batches[state["i"] % MINIBATCHES]
            state["i"] += 1
            return update(*order(batch))
        return call

    calls = {}
    for name, (_, changes) in UPDATES.items():
        learner = OfflineLearner(replace(cfg, **changes), obs_dim, act_dim, low, high)
        gap = name != "sac_offline_no_gap"  # OfflineLearner.update's measure_gap
        calls[name] = cycle(learner.update, lambda batch, gap=gap: (*batch, gap))
    sac = SAC(SACConfig(env_id=cfg.env_id, hidden_units=cfg.hidden_units, batch_size=cfg.batch_size, gamma=cfg.gamma,
                        tau=cfg.target_smoothing, torch_threads=cfg.torch_threads, seed=cfg.seed),
              obs_dim, act_dim, low, high)
    # SAC's update takes (obs, act, rew, next_obs, done, eps_next, eps_now)
    calls[YARDSTICK] = cycle(sac.update, lambda batch: (*batch[:5], batch[6], batch[5]))
    peer = d3rlpy_update(cfg, obs_dim, act_dim)
    if peer is not None:
        update, to_peer = peer
        calls[PEER] = cycle(update, lambda batch: (to_peer(batch),))
    return calls


def d3rlpy_update(cfg: CQLConfig, obs_dim: int, act_dim: int):
    """(one update of d3rlpy's CQL, the conversion of a synthetic minibatch to its TransitionMiniBatch), or None
    where d3rlpy does not import (or is not version PEER_VERSION)."""
    try:
        import d3rlpy
        from d3rlpy.dataset import TransitionMiniBatch
        from d3rlpy.models.encoders import VectorEncoderFactory
    except ImportError:
        return None
    if d3rlpy.__version__ != PEER_VERSION:
        return None
    enc = VectorEncoderFactory(hidden_units=[cfg.hidden_units, cfg.hidden_units])
    algo = d3rlpy.algos.CQLConfig(
        batch_size=cfg.batch_size, gamma=cfg.gamma, tau=cfg.target_smoothing, actor_learning_rate=cfg.policy_lr,
        critic_learning_rate=cfg.q_lr, temp_learning_rate=cfg.policy_lr, alpha_learning_rate=0.0,
        conservative_weight=cfg.cql_alpha, n_action_samples=cfg.n_action_samples, actor_encoder_factory=enc,
        critic_encoder_factory=enc).create(device="cpu:0")
    algo.create_impl((obs_dim,), act_dim)

    def to_peer(batch):
        obs, act, rew, next_obs, terminal = (x.numpy() for x in batch[:5])
        return TransitionMiniBatch(observations=obs, actions=act, rewards=rew[:, None], next_observations=next_obs,
                                   next_actions=act, terminals=terminal[:, None], intervals=np.ones_like(rew[:, None]),
                                   transitions=[])

    def update(batch):
        import torch

        out = algo.update(batch)  # a dict of floats
        return torch.tensor([out["critic_loss"], out["actor_loss"], out["temp_loss"], out["temp"]])
    return update, to_peer


def _check_finite(name: str, losses) -> None:
    import torch

    kept = (losses[:1] if name == "bc" else losses[:4] if name in (YARDSTICK, PEER)
            else losses[[0, 1, 2, 3, 5]] if name == "sac_offline_no_gap" else losses[:6])  # no gap measured: NaN
    if not bool(torch.isfinite(kept).all()):
        raise NonFiniteError(f"non-finite loss in the bench's {name} update: {losses.tolist()}")


def bench(cfg: CQLConfig, n_steps: int = 30, scratch: Path | None = None, rounds: int = 3) -> dict:
    """`rounds` rounds of `n_steps` updates of each of UPDATES and the yardstick in turn (after WARMUP untimed
    updates each); the losses of each turn's last update must be finite."""
    if n_steps < 1:
        raise ValueError(f"--steps must be at least 1 (updates of each kind per round), got {n_steps}")
    calls = update_calls(cfg)
    for fn in calls.values():
        for _ in range(WARMUP):
            fn()
    runs = []
    for i in range(rounds):
        for name, fn in calls.items():
            last, load = measured(lambda fn=fn: [fn() for _ in range(n_steps)][-1])
            _check_finite(name, last)
            runs.append({"round": i, "update": name, "steps_per_s": n_steps / load["seconds"],
                         "ms_per_update": 1e3 * load["seconds"] / n_steps, "threads": cfg.torch_threads, **load})
    yard = [r["ms_per_update"] for r in runs if r["update"] == YARDSTICK]
    from common.platform.bench import counted_flops

    gflop = {name: counted_flops(fn) / 1e9 for name, fn in calls.items()}  # matmuls, forward and backward
    updates = {}
    for name in calls:
        mine = [r for r in runs if r["update"] == name]
        rates, ms = [r["steps_per_s"] for r in mine], [r["ms_per_update"] for r in mine]
        cost = [a / b for a, b in zip(ms, yard)]
        what = UPDATES[name][0] if name in UPDATES else WHAT[name]
        updates[name] = {"what": what, "gflop_per_update": gflop[name],
                         "steps_per_s": statistics.median(rates), "steps_per_s_range": [min(rates), max(rates)],
                         "ms_per_update": statistics.median(ms), "ms_per_update_range": [min(ms), max(ms)],
                         "time_over_sac_update": statistics.median(cost),
                         "time_over_sac_update_range": [min(cost), max(cost)],
                         "other_load": [r["other_load"] for r in mine]}
    out = {}
    if PEER in calls:  # the peer's update time over this CQL(H)'s (alpha' fixed, as the peer is set) in each round
        ms = {name: [r["ms_per_update"] for r in runs if r["update"] == name] for name in (PEER, "cql_h")}
        ratios = [a / b for a, b in zip(ms[PEER], ms["cql_h"])]
        out["peer_ratio"] = {"peer": PEER, "update": "cql_h", "median": statistics.median(ratios),
                             "range": [min(ratios), max(ratios)], "ratios": ratios}
    return {**out, "unit": "gradient-steps/s", "threads": cfg.torch_threads, "rounds": rounds, "yardstick": YARDSTICK,
            "updates": updates, "runs": runs,
            "peer_note": PEER_NOTE if PEER in calls else f"not measured: d3rlpy {PEER_VERSION} does not import here "
                                                         "(it pins gymnasium==1.0.0; README, Speed: how to add it)",
            "note": f"one update of each kind on {cfg.env_id}'s dimensions, batch {cfg.batch_size}, 2 x "
                    f"{cfg.hidden_units} ReLU, {cfg.n_action_samples} uniform + {cfg.n_action_samples} policy "
                    f"actions per state, {cfg.torch_threads} torch thread(s); synthetic minibatches made in memory "
                    f"(no dataset read); {rounds} alternating rounds of {n_steps} updates each; medians [range]"}


def profile(cfg: CQLConfig) -> dict:
    """Where one update's time goes, for CQL(H) (alpha' fixed) and SAC's online update at the config's sizes: ms per
    update and that of its own matrix products timed bare at their shapes (in turn, the same rounds), its FLOPs, and
    the profiler's shares of torch's self time: matrix products (forward and backward), ReLU (forward and backward),
    Adam and the target average, the rest (concatenations, copies, the log-sum-exp, the policy's sampling)."""
    from common.platform.bench import (alternating_ms, counted_flops, matmul_floor_call, recorded_matmuls,
                                       time_shares)

    calls = update_calls(cfg)
    measures = {}
    for name in ("cql_h", YARDSTICK):
        fn = calls[name]
        times = alternating_ms({"update": fn, "floor": matmul_floor_call(recorded_matmuls(fn))}, calls=5, rounds=7)
        update_ms, floor_ms = np.array(times["update"]), np.array(times["floor"])
        measures[f"{name}_update_ms"] = float(np.median(update_ms))
        measures[f"{name}_matmul_floor_same_shapes_ms"] = float(np.median(floor_ms))
        measures[f"{name}_floor_share_reached"] = float(np.median(floor_ms / update_ms))
        measures[f"{name}_update_gflop"] = counted_flops(fn) / 1e9
        shares = time_shares(fn, calls=10, groups={
            "matmul": ("mm", "matmul", "linear"), "relu": ("relu", "threshold", "clamp_min"),
            "optimizer_and_target_average": ("_foreach", "adam", "lerp", "addcdiv", "sqrt")})
        measures.update({f"{name}_time_share_{k}": v for k, v in shares.items()})
        measures[f"{name}_time_share_other"] = 1 - sum(shares.values())
    return {"measures": measures,
            "note": f"CQL(H) (alpha' fixed) and SAC's online update on {cfg.env_id}'s dimensions, batch "
                    f"{cfg.batch_size}, 2 x {cfg.hidden_units} ReLU, {cfg.n_action_samples} + {cfg.n_action_samples} "
                    f"sampled actions, {cfg.torch_threads} torch thread(s), synthetic minibatches; floor = the "
                    "update's own matrix products timed bare at their shapes; time shares from torch's profiler"}
