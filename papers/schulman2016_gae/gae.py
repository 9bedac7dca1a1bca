"""High-Dimensional Continuous Control Using Generalized Advantage Estimation (Schulman, Moritz, Levine, Jordan,
Abbeel; ICLR 2016; arXiv 1506.02438).

Reads like the paper's Algorithm 1 (Sec. 6.1), "policy optimization with generalized advantage estimation":
  for i = 0, 1, 2, ...
    simulate the current policy pi_theta_i until N timesteps are obtained (cart-pole: 20 trajectories);
    compute delta^V_t at all timesteps t, using V = V_phi_i:  delta^V_t = r_t + gamma V(s_{t+1}) - V(s_t)  (eq. 9)
    compute A_t = sum_{l>=0} (gamma lambda)^l delta^V_{t+l} at all timesteps                       (eq. 16, GAE)
    compute theta_{i+1} with TRPO (eq. 31): maximize g^T (theta - theta_i) subject to the quadratic model of the
      mean KL, 1/2 (theta - theta_i)^T F (theta - theta_i) <= epsilon, by conjugate gradient on F s = g,
      the maximal step and a backtracking line search (the pieces of TRPO, `common/onpolicy/`)
    compute phi_{i+1} with the value function's trust region (eq. 30):
      minimize_phi  sum_n ||V_phi(s_n) - V_hat_n||^2
      subject to    1/N sum_n ||V_phi(s_n) - V_phi_old(s_n)||^2 / (2 sigma^2) <= epsilon,
                    sigma^2 = 1/N sum_n ||V_phi_old(s_n) - V_hat_n||^2,
      V_hat_n the discounted sum of rewards; solved approximately by conjugate gradient on the Gauss-Newton matrix
      H = 1/N sum_n j_n j_n^T (j_n = grad_phi V_phi(s_n)), the step scaled to the trust region's boundary.
  The policy step uses V_phi_i, the value function before its update (Sec. 6.1: fitting it first would bias the
  advantages towards zero on the batch).

"No VF" (Sec. 6, Figures 2-4): no value function; the advantage is the discounted return minus a time-dependent
baseline, the batch's mean return at each time index (`common/onpolicy: time_dependent_baseline`).

Policies and value functions (Sec. 6.2-6.3): cart-pole, a linear Gaussian policy and a value network with one
hidden layer of 20 units; 3D tasks, both networks with tanh hidden layers of 100, 50 and 25 units and a linear
output. The Gaussian's log standard deviations are a separate parameter vector (as TRPO's policies). Everything
runs in numpy on flat parameter vectors (`common/rl/npmlp.py`).

Cart-pole is the numpy cart-pole of Barto et al. 1983 (`common/rl/barto_cartpole.py`), the batch's 20
trajectories stepped together; a cart-pole run may hold several seeds (`seeds_per_run`, Figure 2's 21 in one run),
all their carts stepped together, each seed the same computation as a run of its own (`run_packed`, at the end).
The 3D tasks run gymnasium's MuJoCo v5 tasks one step at a time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np
import pandas as pd

from common.platform import validate as check
from common.platform.finite import check_finite, finite_mean
from common.platform.memory import keep_freed_memory
from common.rl.agents import packed_arrays, save_agent
from common.rl.barto_cartpole import ENV_ID as CARTPOLE, MAX_STEPS as CARTPOLE_MAX_STEPS, BartoCartPole
from common.rl.envs import MUJOCO_V5, MUJOCO_V5_EXTRA, RunningMeanStd, make_env, restore_env_state, save_env_state
from common.rl.npmlp import Params, mlp_forward, mlp_shapes, normc_init
from common.onpolicy import (discounted_returns, fit_value_trust_region, gae, gaussian_entropy, random_rows,
                             time_dependent_baseline, trpo_step)
from common.onpolicy.rollout import record_batch, sample_trajectories

BASELINES = ("value_function", "time")  # GAE with V_phi | "No VF": the time-dependent batch-average baseline
ENVS = (CARTPOLE,) + MUJOCO_V5 + MUJOCO_V5_EXTRA


@dataclass
class GAEConfig:
    seed: int = 0
    env_id: str = CARTPOLE
    iterations: int = 20  # policy iterations (updates); the batch after the last update is sampled and recorded too
    trajectories: int = 20  # cart-pole: trajectories per batch (Sec. 6.3.1); 0: collect `batch_steps` instead
    batch_steps: int = 50_000  # 3D: timesteps per batch (Sec. 6.3.2: 50,000 biped, 200,000 quadruped, standing up)
    path_length: int = 1000  # the longest trajectory (cart-pole: 1,000, Sec. 6.3.1; 3D: the v5 tasks' 1,000)
    policy_hidden: List[int] = field(default_factory=list)  # cart-pole: linear; 3D: [100, 50, 25] tanh
    value_hidden: List[int] = field(default_factory=lambda: [20])  # cart-pole: one layer of 20; 3D: [100, 50, 25]
    gamma: float = 0.99  # discount, the figure's axis
    lam: float = 0.96  # lambda of GAE (eq. 16), the figure's axis
    baseline: str = "value_function"  # value_function | time ("No VF")
    max_kl: float = 0.01  # policy trust region epsilon (eq. 31); not stated in the paper: TRPO's 0.01
    vf_max_kl: float = 0.01  # value trust region epsilon (eq. 30); not stated in the paper: 0.01
    cg_iters: int = 10  # conjugate-gradient iterations (TRPO Appendix C)
    cg_damping: float = 1e-3  # not stated: F + damping I (TRPO runner's and modular_rl's default)
    fvp_fraction: float = 1.0  # share of the batch in the policy's Fisher-vector products (TRPO used 10%)
    backtrack_shrink: float = 0.5  # TRPO's line search (not stated): halve the step
    max_backtracks: int = 10
    normalize_obs: bool = True  # not stated: running mean/std filter of observations (modular_rl's default)
    obs_clip: float = 5.0
    init_log_std: float = 0.0  # log of the initial action std (cart-pole: log 10 N, Barto's force magnitude)
    # cart-pole: seeds packed into one run, K = seeds_per_run: the run of seed index i holds seeds i K .. i K + K - 1,
    # all stepped together, each exactly as a run of its own (`run_packed`); 1: one seed a run
    seeds_per_run: int = 1


def validate_gae(cfg: GAEConfig) -> None:
    """Values the algorithm can use, checked before any run starts."""
    check.seed(cfg)
    check.one_of(cfg, "env_id", ENVS)
    check.one_of(cfg, "baseline", BASELINES)
    check.at_least(cfg, 1, "iterations", "batch_steps", "path_length", "cg_iters", "max_backtracks")
    check.at_least(cfg, 0, "trajectories")
    check.at_least(cfg, 1, "seeds_per_run")
    check.positive(cfg, "max_kl", "vf_max_kl", "obs_clip")
    check.at_least(cfg, 0.0, "cg_damping")
    check.between(cfg, 0, 1, "gamma", "lam")
    check.between(cfg, 0, 1, "fvp_fraction", "backtrack_shrink", lo_open=True)
    check.finite(cfg, "init_log_std")
    check.each(cfg, "policy_hidden", len(cfg.policy_hidden), "hidden layer", 1)
    check.each(cfg, "value_hidden", len(cfg.value_hidden), "hidden layer", 1)
    for key in ("policy_hidden", "value_hidden"):
        values = getattr(cfg, key)
        check.require(all(float(v).is_integer() for v in values), key, values, "whole numbers of units")
    if cfg.env_id == CARTPOLE:
        check.require(cfg.trajectories >= 1, "trajectories", cfg.trajectories,
                      "at least 1 on BartoCartPole (its batch is a number of trajectories)")
        check.require(cfg.path_length <= CARTPOLE_MAX_STEPS, "path_length", cfg.path_length,
                      f"at most {CARTPOLE_MAX_STEPS} on BartoCartPole")
    else:
        check.require(cfg.trajectories == 0, "trajectories", cfg.trajectories,
                      "0 on the MuJoCo tasks (their batch is `batch_steps` timesteps)")
        check.require(cfg.seeds_per_run == 1, "seeds_per_run", cfg.seeds_per_run,
                      "1 on the MuJoCo tasks (seeds are packed into one run on BartoCartPole only)")


# ---- the networks -------------------------------------------------------------------------------------------------
class GaussianPolicy:
    """pi_theta(a|s) = N(mean(s), diag(exp(r))^2): mean an MLP with tanh hidden layers (none: linear), r a separate
    log-std vector; theta = `self.p.flat`."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], init_log_std: float, rng):
        sizes = [obs_dim, *hidden, act_dim]
        self.layers = len(sizes) - 1
        self.p = Params({**mlp_shapes("pi", sizes), "log_std": (act_dim,)})
        normc_init(self.p, "pi", self.layers, 0.1, rng)  # not stated: modular_rl's, output layer at 0.1
        self.p["log_std"][...] = init_log_std

    def mean(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.p, "pi", self.layers, x)[0]


class ValueFunction:
    """V_phi(s): an MLP with tanh hidden layers and a scalar linear output; phi = `self.p.flat`."""

    def __init__(self, obs_dim: int, hidden: list[int], rng):
        sizes = [obs_dim, *hidden, 1]
        self.layers = len(sizes) - 1
        self.p = Params(mlp_shapes("v", sizes))
        normc_init(self.p, "v", self.layers, 1.0, rng)  # not stated

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.p, "v", self.layers, x)[0][:, 0]


# ---- sampling -----------------------------------------------------------------------------------------------------
def _normalizer(cfg: GAEConfig, rms: RunningMeanStd):
    if not cfg.normalize_obs:
        return lambda o: o
    mean, std, clip = rms.mean, np.sqrt(rms.var + 1e-8), cfg.obs_clip
    return lambda o: np.minimum(np.maximum((o - mean) / std, -clip), clip)


def sample_cartpole(cfg: GAEConfig, policy: GaussianPolicy, rms: RunningMeanStd, rng: np.random.Generator) -> dict:
    """`cfg.trajectories` trajectories of at most `cfg.path_length` steps from the current policy, stepped together
    (one numpy step moves every cart). Returns the steps laid end to end, trajectory by trajectory: observations,
    actions, rewards, time indices, trajectory ends, and each trajectory's return and length."""
    n, horizon, normalize = cfg.trajectories, cfg.path_length, _normalizer(cfg, rms)
    std = np.exp(policy.p["log_std"])
    carts = BartoCartPole(n)
    obs = carts.reset(rng)
    obs_buf = np.zeros((horizon, n, 4))
    act_buf = np.zeros((horizon, n, 1))
    lengths = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    for t in range(horizon):
        action = policy.mean(normalize(obs)) + std * rng.standard_normal((n, 1))
        obs_buf[t], act_buf[t] = obs, action
        lengths += alive  # the step is taken by every cart still balancing (reward 1, the failing step included)
        obs, failed = carts.step(action[:, 0])
        alive &= ~failed
        if not alive.any():
            break
    # trajectory-major layout (carts that failed kept moving in the arrays; those steps are dropped here)
    idx_i, idx_t = np.nonzero(np.arange(horizon)[None, :] < lengths[:, None])  # row-major: trajectory by trajectory
    ends = np.zeros(len(idx_t), dtype=bool)
    ends[np.cumsum(lengths) - 1] = True
    return {"obs": obs_buf[idx_t, idx_i], "act": act_buf[idx_t, idx_i], "rew": np.ones(len(idx_t)),
            "t": idx_t, "end": ends, "returns": lengths.astype(float), "lengths": lengths}


def sample_env(cfg: GAEConfig, env, policy: GaussianPolicy, rms: RunningMeanStd, rng: np.random.Generator) -> dict:
    """Whole trajectories of a gymnasium task until the batch has at least `cfg.batch_steps` steps (the last
    trajectory runs to its end), each at most `cfg.path_length` steps; same layout as `sample_cartpole`."""
    normalize, std = _normalizer(cfg, rms), np.exp(policy.p["log_std"])
    act_dim = len(std)
    return sample_trajectories(env, lambda obs: policy.mean(normalize(obs)) + std * rng.standard_normal(act_dim),
                               min_steps=cfg.batch_steps, max_length=cfg.path_length)


# ---- the algorithm -----------------------------------------------------------------------------------------------
def run_gae(cfg: GAEConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_gae(cfg)
    keep_freed_memory()  # the batch's temporaries reuse freed memory instead of new pages (no change to any number)
    if cfg.seeds_per_run > 1:
        return run_packed(cfg, ctx)
    cartpole = cfg.env_id == CARTPOLE
    env = None if cartpole else make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = (4, 1) if cartpole else (env.observation_space.shape[0], env.action_space.shape[0])
    policy = GaussianPolicy(obs_dim, act_dim, list(cfg.policy_hidden), cfg.init_log_std,
                            np.random.default_rng(np.random.SeedSequence([cfg.seed, 5])))
    vf = ValueFunction(obs_dim, list(cfg.value_hidden), np.random.default_rng(np.random.SeedSequence([cfg.seed, 6])))
    p = policy.p
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7]))
    rms = RunningMeanStd((obs_dim,))

    state = ctx.restore()
    if state is None:
        state = {"iteration": 0, "steps": 0, "episodes": [], "iterations": []}
    else:
        p.flat[...] = state["policy"]
        vf.p.flat[...] = state["value"]
        rms.__dict__.update(state["rms"])
        rng.bit_generator.state = state["rng"]
        if env is not None:
            restore_env_state(env, state["env"])

    def checkpoint_state() -> dict:
        return {**state, "policy": p.flat.copy(), "value": vf.p.flat.copy(), "rms": dict(rms.__dict__),
                "rng": rng.bit_generator.state, "env": None if env is None else save_env_state(env)}

    bar = ctx.progress(cfg.iterations + 1, f"GAE {cfg.env_id} gamma={cfg.gamma} lambda={cfg.lam}",
                       initial=state["iteration"], unit="batches")
    # batch i is sampled by pi_theta_i; after the last update (i = iterations) its batch is sampled and recorded only
    for iteration in range(state["iteration"], cfg.iterations + 1):
        # -- simulate the current policy (Algorithm 1) -----------------------------------------------------------
        batch = sample_cartpole(cfg, policy, rms, rng) if cartpole else sample_env(cfg, env, policy, rms, rng)
        where, row = record_batch(state, batch, iteration)
        n_steps = len(batch["rew"])
        if iteration == cfg.iterations:  # the final policy's batch: recorded, not learned from
            state["iterations"].append({**row, **{k: 0.0 for k in STEP_COLUMNS}})
            state["iteration"] = iteration + 1
            ctx.count(n_steps, "env-steps")
            bar.update(1)
            break
        step = learn(cfg, policy, vf, rms, rng, batch, where)
        state["iterations"].append({**row, **step})
        state["iteration"] = iteration + 1
        ctx.count(n_steps, "env-steps")
        bar.update(1)
        ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    if env is not None:
        env.close()
    save_gae_agent(ctx, cfg, policy, vf, rms, state["steps"])
    episodes = pd.DataFrame(state["episodes"], columns=["iteration", "env_step", "episode_return", "episode_length"])
    iterations = pd.DataFrame(state["iterations"], columns=ITERATION_COLUMNS)
    return {"episodes": episodes.assign(seed=cfg.seed), "iterations": iterations.assign(seed=cfg.seed)}


def learn(cfg: GAEConfig, policy: GaussianPolicy, vf: ValueFunction, rms: RunningMeanStd, rng, batch: dict,
          where: str) -> dict:
    """One policy iteration on a sampled batch (Algorithm 1 after the simulation): the observation filter, the
    advantages (GAE, eq. 16, or No VF), the TRPO policy step (eq. 31) and the value function's step (eq. 30). Updates
    `policy`, `vf` and `rms` in place; returns the step's diagnostics (STEP_COLUMNS)."""
    p = policy.p
    if cfg.normalize_obs:  # update the filter with the batch, then learn on the same inputs (as TRPO's runner)
        rms.update(batch["obs"])
    x = np.clip((batch["obs"] - rms.mean) / np.sqrt(rms.var + 1e-8), -cfg.obs_clip, cfg.obs_clip) \
        if cfg.normalize_obs else batch["obs"]
    returns = discounted_returns(batch["rew"], batch["end"], cfg.gamma)  # V_hat_t = sum_l gamma^l r_{t+l}

    # -- advantages: GAE(gamma, lambda) with V = V_phi_i (eq. 16), or "No VF" --------------------------------
    if cfg.baseline == "value_function":
        values = vf(x)
        # delta_t = r_t + gamma V(s_{t+1}) - V(s_t) (eq. 9), V = 0 after a trajectory's end;
        # A_t = sum_l (gamma lambda)^l delta_{t+l} (eq. 16)
        adv = gae(batch["rew"], values, batch["end"], 0.0, cfg.gamma, cfg.lam)
    else:  # No VF: A_t = R_t - b_t, b_t the batch's mean return at time index t
        adv = returns - time_dependent_baseline(returns, batch["t"])
    check_finite("advantages", adv, where)

    # -- policy: TRPO step on the linearized objective and the KL trust region (eq. 31) ----------------------
    result = policy_step(cfg, policy, x, batch["act"], adv, rng, where)

    # -- value function: trust-region regression on the discounted returns (eq. 30) --------------------------
    if cfg.baseline == "value_function":
        before = values  # V_phi_i on the batch (the policy step leaves phi unchanged)
        fit = fit_value_trust_region(vf.p, "v", vf.layers, x, returns, max_kl=cfg.vf_max_kl, cg_iters=cfg.cg_iters,
                                     damping=cfg.cg_damping)
        after = vf(x)
        var = float(np.var(returns))
        fit["vf_explained_variance"] = 1.0 - float(np.var(returns - before)) / var if var > 0 else 0.0
        fit["vf_mse_after"] = float(np.mean((after - returns) ** 2))
    else:
        fit = {"vf_mse_before": 0.0, "vf_step_fraction": 0.0, "vf_explained_variance": 0.0, "vf_mse_after": 0.0}
    check_finite("value-function parameters", vf.p.flat, where)
    check_finite("policy parameters", p.flat, where)
    check_finite("observation statistics", {"mean": rms.mean, "variance": rms.var}, where)
    step = {"surrogate_improvement": result.improvement, "kl": result.kl, "accepted": int(result.accepted),
            "backtracks": result.backtracks, "entropy": gaussian_entropy(p["log_std"]), **fit}
    check_finite("iteration metrics", step, where)
    return step


STEP_COLUMNS = ("surrogate_improvement", "kl", "accepted", "backtracks", "entropy", "vf_mse_before",
                "vf_step_fraction", "vf_explained_variance", "vf_mse_after")
ITERATION_COLUMNS = ["iteration", "env_step", "mean_return", "episodes", "mean_length", *STEP_COLUMNS]


def policy_step(cfg: GAEConfig, policy: GaussianPolicy, x: np.ndarray, act: np.ndarray, adv: np.ndarray, rng,
                where: str):
    """TRPO's update (Schulman et al. 2015, Sec. 6 and Appendix C; GAE eq. 31) with the advantages in place of
    TRPO's Q: maximize L(theta) = mean_t pi_theta(a_t|s_t) / pi_old(a_t|s_t) A_t subject to the mean KL <= epsilon
    (`common/onpolicy/trpo.py: trpo_step`), the Fisher-vector products on a random `cfg.fvp_fraction` of the batch.
    `policy.p.flat` holds theta_{i+1} afterwards."""
    rows = random_rows(rng, len(x), cfg.fvp_fraction)
    return trpo_step(policy.p, "pi", policy.layers, x, act, adv, dist="gaussian", max_kl=cfg.max_kl,
                     cg_iters=cfg.cg_iters, cg_damping=cfg.cg_damping, fvp_rows=rows,
                     backtrack_shrink=cfg.backtrack_shrink, max_backtracks=cfg.max_backtracks, where=where)


# ---- the saved agent -------------------------------------------------------------------------------------------
def _agent_arrays(policy: GaussianPolicy, vf: ValueFunction, rms: RunningMeanStd) -> tuple[dict, dict]:
    """A seed's saved arrays: the policy's network, log std and observation statistics; the value network's."""
    p = policy.p
    arrays = {name: p[name] for name in p.names()}
    arrays.update(obs_mean=rms.mean, obs_var=rms.var)
    return arrays, {name: vf.p[name] for name in vf.p.names()}


def save_gae_agent(ctx, cfg: GAEConfig, policy: GaussianPolicy, vf: ValueFunction, rms: RunningMeanStd,
                   steps: int, packed: list | None = None, packed_steps: list[int] | None = None) -> None:
    """The policy (its network, log std and the observation statistics; committed) and the value network (beside
    the run, git-ignored) into the run folder (common/rl/agents.py), in the format of PPO's MuJoCo agents. A packed
    run passes its `SeedLearner`s as `packed`: `policy`, `vf` and `rms` are the first's, and every seed's arrays are
    kept too, stacked (`common.rl.agents.packed_arrays`; `load_agent(run_dir, seed=k)` gives seed k's agent), with
    each seed's env steps `packed_steps`."""
    p = policy.p
    arrays, value = _agent_arrays(policy, vf, rms)
    meta = {"env_id": cfg.env_id, "obs_dim": int(p["pi.0.w"].shape[0]), "act_dim": int(p["log_std"].shape[0]),
            "hidden_units": list(cfg.policy_hidden), "layers": policy.layers, "activation": "tanh",
            "normalize_obs": cfg.normalize_obs, "obs_clip": cfg.obs_clip, "env_steps": int(steps),
            "algorithm": f"TRPO + GAE (gamma {cfg.gamma}, lambda {cfg.lam}, baseline {cfg.baseline})",
            "default_deterministic": False}
    if packed:  # every seed's agent, the first's also under its own names
        per_seed = [_agent_arrays(learner.policy, learner.vf, learner.rms) for learner in packed]
        arrays.update(packed_arrays([policy_arrays for policy_arrays, _ in per_seed]))
        value.update(packed_arrays([value_arrays for _, value_arrays in per_seed]))
        meta["seed"] = int(packed[0].seed)
        meta["packed_seeds"] = [int(learner.seed) for learner in packed]
        meta["packed_env_steps"] = [int(s) for s in packed_steps]
    save_agent(ctx, "gaussian_mlp", arrays, meta, large=value if cfg.baseline == "value_function" else None)


# ---- cart-pole: seeds packed into one run -------------------------------------------------------------------------
# Figure 2 averages 21 seeds per (gamma, lambda) cell. A run with `seeds_per_run` K > 1 holds K seeds: each seed has
# its own policy, value function, observation filter and random stream, seeded exactly as a run of that seed alone
# (SeedSequence([seed, 5 | 6 | 7])); their K x `trajectories` carts are stepped together in one BartoCartPole, and
# each seed then learns from its own batch with the same `learn` as a run of its own. Seed s of a packed run is the
# same computation as the single-seed run of seed s, value for value (tests/test_gae.py).
class SeedLearner:
    """One seed of a packed run: its policy, value function, observation filter and random stream."""

    def __init__(self, cfg: GAEConfig, seed: int):
        self.seed = seed
        self.policy = GaussianPolicy(4, 1, list(cfg.policy_hidden), cfg.init_log_std,
                                     np.random.default_rng(np.random.SeedSequence([seed, 5])))
        self.vf = ValueFunction(4, list(cfg.value_hidden), np.random.default_rng(np.random.SeedSequence([seed, 6])))
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
        self.rms = RunningMeanStd((4,))

    def state(self) -> dict:
        return {"policy": self.policy.p.flat.copy(), "value": self.vf.p.flat.copy(), "rms": dict(self.rms.__dict__),
                "rng": self.rng.bit_generator.state}

    def load(self, state: dict) -> None:
        self.policy.p.flat[...] = state["policy"]
        self.vf.p.flat[...] = state["value"]
        self.rms.__dict__.update(state["rms"])
        self.rng.bit_generator.state = state["rng"]


def packed_seeds(cfg: GAEConfig) -> list[int]:
    """The seeds a run holds: seed index i with K = seeds_per_run holds seeds i K .. i K + K - 1."""
    k = cfg.seeds_per_run
    return list(range(cfg.seed * k, cfg.seed * k + k))


def sample_cartpole_packed(cfg: GAEConfig, learners: list[SeedLearner]) -> list[dict]:
    """`sample_cartpole` for every seed at once: K x `cfg.trajectories` carts in one BartoCartPole (seed-major), each
    seed's actions from its own policy, filter and random stream. Each seed's noise is drawn for the whole horizon
    in one call (the same values its step-by-step draws would give) and its stream is then set to where its own
    sampling would have left it: after max(its lengths) steps' draws. Returns one batch per seed, as
    `sample_cartpole`'s."""
    k, n, horizon = len(learners), cfg.trajectories, cfg.path_length
    carts = BartoCartPole(k * n)
    carts.state = np.concatenate([BartoCartPole(n).reset(learner.rng) for learner in learners])  # seed by seed
    obs = carts.state.copy()
    streams = [learner.rng.bit_generator.state for learner in learners]
    noise = np.stack([learner.rng.standard_normal((horizon, n, 1)) for learner in learners], axis=1)  # (T, K, n, 1)
    std = np.stack([np.exp(learner.policy.p["log_std"]) for learner in learners])[:, None, :]  # (K, 1, 1)
    layers = learners[0].policy.layers  # each layer's weights (K, in, out) and biases (K, 1, out), seed by seed
    weights = [np.stack([learner.policy.p[f"pi.{j}.w"] for learner in learners]) for j in range(layers)]
    biases = [np.stack([learner.policy.p[f"pi.{j}.b"] for learner in learners])[:, None, :] for j in range(layers)]
    if cfg.normalize_obs:
        mean = np.stack([learner.rms.mean for learner in learners])[:, None, :]  # (K, 1, 4)
        scale = np.stack([np.sqrt(learner.rms.var + 1e-8) for learner in learners])[:, None, :]
    obs_buf = np.zeros((horizon, k, n, 4))
    act_buf = np.zeros((horizon, k, n, 1))
    lengths = np.zeros((k, n), dtype=np.int64)
    alive = np.ones((k, n), dtype=bool)
    for t in range(horizon):
        o = obs.reshape(k, n, 4)
        x = np.minimum(np.maximum((o - mean) / scale, -cfg.obs_clip), cfg.obs_clip) if cfg.normalize_obs else o
        h = x  # each seed's policy mean (GaussianPolicy.mean), the K seeds' products stacked in one matmul
        for j in range(layers):
            h = np.matmul(h, weights[j]) + biases[j]
            if j < layers - 1:
                h = np.tanh(h)
        action = h + std * noise[t]
        obs_buf[t], act_buf[t] = o, action
        lengths += alive
        obs, failed = carts.step(action.reshape(k * n))
        alive &= ~failed.reshape(k, n)
        if not alive.any():
            break
    batches = []
    for i, learner in enumerate(learners):
        learner.rng.bit_generator.state = streams[i]  # as sample_cartpole: one (n, 1) draw for each step taken
        learner.rng.standard_normal((int(lengths[i].max()), n, 1))
        idx_i, idx_t = np.nonzero(np.arange(horizon)[None, :] < lengths[i][:, None])
        ends = np.zeros(len(idx_t), dtype=bool)
        ends[np.cumsum(lengths[i]) - 1] = True
        batches.append({"obs": obs_buf[idx_t, i, idx_i], "act": act_buf[idx_t, i, idx_i], "rew": np.ones(len(idx_t)),
                        "t": idx_t, "end": ends, "returns": lengths[i].astype(float), "lengths": lengths[i].copy()})
    return batches


EPISODE_COLUMNS = ["iteration", "env_step", "episode_return", "episode_length"]


def run_packed(cfg: GAEConfig, ctx) -> dict[str, pd.DataFrame]:
    """`run_gae` for K = `seeds_per_run` cart-pole seeds in one run: the same iterations, each seed's rows tagged
    with its seed (the tables' `seed` column) and its own env-step count. The saved agent holds every seed's
    (`save_gae_agent`; `load_agent(run_dir, seed=k)`), the first seed's also as a run of one seed's."""
    learners = [SeedLearner(cfg, seed) for seed in packed_seeds(cfg)]
    state = ctx.restore()
    if state is None:
        state = {"iteration": 0, "steps": [0] * len(learners), "episodes": [], "iterations": []}
    else:
        for learner, saved in zip(learners, state["learners"]):
            learner.load(saved)

    def checkpoint_state() -> dict:
        return {**state, "steps": list(state["steps"]), "learners": [learner.state() for learner in learners]}

    bar = ctx.progress(cfg.iterations + 1, f"GAE {cfg.env_id} gamma={cfg.gamma} lambda={cfg.lam} "
                       f"seeds {learners[0].seed}-{learners[-1].seed}", initial=state["iteration"], unit="batches")
    for iteration in range(state["iteration"], cfg.iterations + 1):
        batches = sample_cartpole_packed(cfg, learners)  # every seed's batch from pi_theta_i (Algorithm 1)
        for i, (learner, batch) in enumerate(zip(learners, batches)):
            n_steps = len(batch["rew"])
            state["steps"][i] += n_steps
            steps = state["steps"][i]
            where = f"seed {learner.seed}, iteration {iteration} (env step {steps:,})"
            for ret, length in zip(batch["returns"], batch["lengths"]):
                check_finite("episode return", float(ret), where)
                state["episodes"].append((iteration, steps, float(ret), int(length), learner.seed))
            row = {"iteration": iteration, "env_step": steps,
                   "mean_return": finite_mean("mean episode return", batch["returns"], where),
                   "episodes": len(batch["returns"]), "mean_length": float(np.mean(batch["lengths"]))}
            if iteration == cfg.iterations:  # the final policy's batch: recorded, not learned from
                step = {k: 0.0 for k in STEP_COLUMNS}
            else:
                step = learn(cfg, learner.policy, learner.vf, learner.rms, learner.rng, batch, where)
            state["iterations"].append({**row, **step, "seed": learner.seed})
            ctx.count(n_steps, "env-steps")
        state["iteration"] = iteration + 1
        bar.update(1)
        if iteration < cfg.iterations:
            ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    first = learners[0]
    save_gae_agent(ctx, cfg, first.policy, first.vf, first.rms, state["steps"][0], packed=learners,
                   packed_steps=state["steps"])
    return packed_tables(state)


def packed_tables(state: dict) -> dict[str, pd.DataFrame]:
    """A packed run's tables from its state's rows (the final tables, and the live ones at a checkpoint)."""
    return {"episodes": pd.DataFrame(state.get("episodes") or [], columns=EPISODE_COLUMNS + ["seed"]),
            "iterations": pd.DataFrame(state.get("iterations") or [], columns=ITERATION_COLUMNS + ["seed"])}


def live_tables(state, cfg) -> dict[str, pd.DataFrame]:
    """The live tables of a checkpoint's state (common/platform/registry.py `Live`): a packed run's rows carry their
    seed; a run of one seed gets its seed added, as its final tables."""
    if not isinstance(state, dict):
        return {}
    if int(cfg.seeds_per_run) > 1:
        return packed_tables(state)
    return {"episodes": pd.DataFrame(state.get("episodes") or [], columns=EPISODE_COLUMNS).assign(seed=cfg.seed),
            "iterations": pd.DataFrame(state.get("iterations") or [], columns=ITERATION_COLUMNS).assign(seed=cfg.seed)}
