"""Trust Region Policy Optimization (Schulman, Levine, Moritz, Jordan, Abbeel; ICML 2015; arXiv 1502.05477).

Reads like the paper's practical algorithm (Sec. 6) with the single-path estimator (Sec. 5.1) and Appendix C:
  1. Use the single path procedure to collect state-action pairs with Monte Carlo estimates of their Q-values:
       Q_{theta_old}(s_t, a_t) ~ sum_{l>=0} gamma^l r_{t+l}  along the sampled trajectory        (Sec. 5.1)
  2. Average over samples to construct the estimated objective and constraint of eq. (14):
       maximize_theta  L(theta) = E_{s~rho_old, a~q}[ pi_theta(a|s) / q(a|s) Q_old(s, a) ]        (eq. 14)
       subject to      mean KL  E_{s~rho_old}[ D_KL(pi_old(.|s) || pi_theta(.|s)) ] <= delta         (eq. 12, 14)
     with q = pi_old (single path).
  3. Approximately solve the constrained problem (Appendix C): search direction s = A^{-1} g by 10 steps of
     conjugate gradient, A the Fisher matrix as the analytic Hessian of the mean KL, its products J^T M J v
     computed on 10% of the batch (Appendix C.1); maximal step beta = sqrt(2 delta / s^T A s); backtracking line
     search until the surrogate improves and the mean KL is at most delta.
The pieces of step 3 are shared with the other on-policy papers (`common/onpolicy/`).

Vine (Sec. 5.2, Figure 1): simulate pi_old to get trunk trajectories; choose a subset of N states along them (the
rollout set); at each s_n sample K actions a_{n,k} ~ q = pi_old and estimate Q(s_n, a_{n,k}) by a short rollout
from (s_n, a_{n,k}) that then follows pi_old, with the same random numbers for the K rollouts of a state (common
random numbers); the objective is the self-normalized importance-sampling estimate of eq. (16):
       L_n(theta) = sum_k w_nk(theta) Q(s_n, a_nk) / sum_k w_nk(theta),  w_nk = pi_theta(a_nk|s_n) / pi_old(a_nk|s_n)
averaged over the rollout set; the KL constraint averages over the trunks' states.

Policy (Appendix D, Sec. 8.1, Table 2): a Gaussian with diagonal covariance independent of the state, its mean a
fully connected network of the state with one hidden layer (30 units on Swimmer, 50 on Hopper and Walker), its log
standard deviations a separate parameter vector r; on cart-pole a linear policy with six parameters (4 weights and
a bias for the mean, one log std). The hidden nonlinearity is not stated in the paper: tanh, as in the first
author's modular_rl. Each choice the paper does not state is a config key, listed in README.md.

Everything runs in numpy on one flat parameter vector (`common/rl/npmlp.py`): the policy is small and the batch large,
so a framework's per-operation overhead would cost more than the arithmetic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.platform import validate as check
from common.rl.agents import save_agent
from common.rl.envs import CLASSIC, MUJOCO_V5, RunningMeanStd, make_env, restore_env_state, save_env_state
from common.platform.errors import ReproError
from common.platform.finite import check_finite, finite_mean
from common.rl.npmlp import Params, mlp_backward, mlp_forward, mlp_shapes, normc_init
from common.onpolicy import (LineSearchResult, conjugate_gradient, discounted_returns, gaussian_empirical_fvp,
                             gaussian_entropy, gaussian_fvp, gaussian_kl, gaussian_log_prob, line_search, max_step)

BASELINES = ("none", "linear")
METHODS = ("single_path", "vine")
STEP_RULES = ("trust_region", "natural_gradient")
FISHERS = ("kl_hessian", "empirical")
KL_CONSTRAINTS = ("mean", "max")


@dataclass
class TRPOConfig:
    seed: int = 0
    env_id: str = "Swimmer-v5"
    method: str = "single_path"  # single_path (Sec. 5.1) | vine (Sec. 5.2)
    iterations: int = 200  # policy iterations (Table 2: 200 on Swimmer, Hopper and Walker)
    batch_steps: int = 50_000  # single path: simulation steps per iteration (Table 2: 50K Swimmer, 1M Hopper/Walker)
    path_length: int = 1000  # single path: maximal path length (Table 2, "SP: path len.")
    hidden_units: int = 30  # one hidden layer (Sec. 8.1, Table 2: 30 Swimmer, 50 Hopper/Walker); 0: linear policy
    max_kl: float = 0.01  # delta, "Stepsize (D_KL)" (Table 2)
    gamma: float = 0.99  # discount (Table 2)
    cg_iters: int = 10  # conjugate-gradient iterations k = 10 (Appendix C.1)
    fvp_fraction: float = 0.1  # Fisher-vector products on 10% of the batch (Appendix C.1)
    cg_damping: float = 1e-3  # not stated: A + damping I in CG; modular_rl's default (baselines: 0.1)
    backtrack_shrink: float = 0.5  # not stated: "shrink exponentially"; modular_rl and baselines halve the step
    max_backtracks: int = 10  # not stated; modular_rl and baselines try 10 step sizes
    baseline: str = "none"  # none: Q as in Sec. 5.1 (the paper has no value function) | linear: a deviation
    normalize_obs: bool = True  # not stated: running mean/std filter of observations, modular_rl's default
    obs_clip: float = 5.0  # modular_rl's ZFilter clips normalized observations to [-5, 5]
    init_log_std: float = 0.0  # not stated: initial sigma = 1 (modular_rl)
    # Figure 4's comparisons that share TRPO's sampling (Sec. 8.1; settings not stated beyond these)
    step_rule: str = "trust_region"  # trust_region (TRPO) | natural_gradient: theta + (1/lambda) A^-1 g, no search
    ng_stepsize: float = 0.01  # 1/lambda of the natural gradient's fixed penalty (eq. 17); the paper's is not stated
    fisher: str = "kl_hessian"  # kl_hessian: A = Hessian of the mean KL (Sec. 6) | empirical: covariance of scores
    kl_constraint: str = "mean"  # mean (eq. 12) | max: the line search bounds the largest KL over the batch (eq. 11)
    # vine (Table 2, order Swimmer / Hopper / Walker)
    vine_trunks: int = 16  # "num. rollouts for sampling": trunk trajectories per iteration
    vine_trunk_length: int = 1000  # "len. rollouts for sampling"
    vine_states: int = 125  # N: rollout-set size = "Q-values per batch" / "rollouts per state" = 500/4, 2500/4
    vine_actions: int = 4  # K: "rollouts per state"
    vine_rollout_length: int = 50  # "rollout length": 50 / 100 / 100


def validate_trpo(cfg: TRPOConfig) -> None:
    """Values the algorithm can use (checked before any run starts): a known task, method and step rule; positive
    sizes and KL bound; discount in [0, 1]; shares and shrink factors in (0, 1]."""
    check.seed(cfg)
    check.one_of(cfg, "env_id", MUJOCO_V5 + CLASSIC)
    check.one_of(cfg, "method", ("single_path", "vine"))
    check.one_of(cfg, "step_rule", ("trust_region", "natural_gradient"))
    check.one_of(cfg, "fisher", ("kl_hessian", "empirical"))
    check.one_of(cfg, "kl_constraint", ("mean", "max"))
    check.one_of(cfg, "baseline", ("none", "linear"))
    check.at_least(cfg, 1, "iterations", "batch_steps", "path_length", "cg_iters", "max_backtracks", "vine_trunks",
                   "vine_trunk_length", "vine_states", "vine_actions", "vine_rollout_length")
    check.at_least(cfg, 0, "hidden_units")
    check.positive(cfg, "max_kl", "ng_stepsize", "obs_clip")
    check.at_least(cfg, 0.0, "cg_damping")
    check.between(cfg, 0, 1, "gamma")
    check.between(cfg, 0, 1, "fvp_fraction", "backtrack_shrink", lo_open=True)
    check.finite(cfg, "init_log_std")


# ---- the policy --------------------------------------------------------------------------------------------------
class GaussianPolicy:
    """pi_theta(a|s) = N(mean(s), diag(exp(r))^2): mean an MLP with one tanh hidden layer (or linear), r the
    separate log-std vector (Appendix D). All parameters sit in one flat vector, `self.p.flat` = theta."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, init_log_std: float, rng: np.random.Generator):
        sizes = [obs_dim, hidden, act_dim] if hidden > 0 else [obs_dim, act_dim]
        self.layers = len(sizes) - 1
        self.p = Params({**mlp_shapes("mean", sizes), "log_std": (act_dim,)})
        # not stated: normc initialization, output layer at scale 0.1 (modular_rl scales its last layer by 0.1)
        normc_init(self.p, "mean", self.layers, 0.1, rng)
        self.p["log_std"][...] = init_log_std

    def mean(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.p, "mean", self.layers, x)[0]


def algorithm_name(cfg: TRPOConfig) -> str:
    """The method as Figure 4's legend would name it, e.g. "TRPO (single path)", "natural gradient (1/lambda = 0.1)"."""
    if cfg.step_rule == "natural_gradient":
        return f"natural gradient, fixed penalty (1/lambda = {cfg.ng_stepsize:g}; {cfg.method.replace('_', ' ')})"
    extras = [x for x in ("empirical FIM" if cfg.fisher == "empirical" else "",
                          "max KL" if cfg.kl_constraint == "max" else "") if x]
    return f"TRPO ({', '.join([cfg.method.replace('_', ' '), *extras])})"


# ---- the saved agent ---------------------------------------------------------------------------------------------
def save_trpo_agent(ctx, cfg: TRPOConfig, policy: GaussianPolicy, rms: RunningMeanStd, steps: int,
                    algorithm: str | None = None) -> None:
    """The final policy and what acting needs (common/rl/agents.py, kind gaussian_mlp, PPO's layout): the mean
    network's weights (as `pi.<layer>.w/b`), the log std, the observation filter's statistics as they stand after the
    last update (the next batch would have been sampled with them), its clip, and the network sizes; committed with
    the run (334 parameters on Swimmer, 1,212 on Walker). TRPO has no value function, so there is no large part.
    `load_agent(run_dir).act(obs)` is the training loop's action for the same noise. `algorithm` names the method
    that trained it (default: the TRPO variant of `cfg`; Figure 4's comparisons name theirs)."""
    p = policy.p
    arrays = {name.replace("mean.", "pi.", 1): p[name] for name in p.names() if name.startswith("mean.")}
    arrays.update(log_std=p["log_std"], obs_mean=rms.mean, obs_var=rms.var)
    meta = {"env_id": cfg.env_id, "obs_dim": int(p["mean.0.w"].shape[0]), "act_dim": int(p["log_std"].shape[0]),
            "hidden_units": cfg.hidden_units, "layers": policy.layers, "activation": "tanh",
            "normalize_obs": cfg.normalize_obs, "obs_clip": cfg.obs_clip, "env_steps": int(steps),
            "algorithm": algorithm or algorithm_name(cfg), "default_deterministic": False}
    save_agent(ctx, "gaussian_mlp", arrays, meta)


# ---- the optional value baseline (a deviation; off by default) -----------------------------------------------------
def _baseline_features(obs: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Features of the linear time-varying baseline of rllab (Duan et al. 2016): [s, s^2, t, t^2, t^3, 1]."""
    o = np.clip(obs, -10, 10)
    al = (t / 100.0)[:, None]
    return np.concatenate([o, o * o, al, al ** 2, al ** 3, np.ones_like(al)], axis=1)


def _fit_baseline(obs: np.ndarray, t: np.ndarray, returns: np.ndarray, reg: float = 1e-5) -> np.ndarray:
    f = _baseline_features(obs, t)
    return np.linalg.solve(f.T @ f + reg * np.eye(f.shape[1]), f.T @ returns)


# ---- sampling -----------------------------------------------------------------------------------------------------
class Sampler:
    """Runs pi_old in the environment: whole paths (single path and vine trunks) and vine rollouts."""

    def __init__(self, cfg: TRPOConfig, env, policy: GaussianPolicy, rng: np.random.Generator, rms: RunningMeanStd,
                 state: dict):
        self.cfg, self.env, self.policy, self.rng, self.rms, self.state = cfg, env, policy, rng, rms, state
        self.obs_dim, self.act_dim = env.observation_space.shape[0], env.action_space.shape[0]

    def actor(self):
        """a = mean(filter(s)) + sigma * noise for one state, written into `out`: the arithmetic of
        `RunningMeanStd.normalize` (its square root taken once: the filter changes between batches only),
        `GaussianPolicy.mean` (`mlp_forward`) and `mean + std * noise`, operation for operation (so the same bits),
        with the weights looked up once and every intermediate in a buffer allocated once per batch: the
        per-step cost of acting is then a few microseconds beside the simulator's. Returns act(obs, noise, out)."""
        cfg, p = self.cfg, self.policy.p
        std = np.exp(p["log_std"])
        layers = [(p[f"mean.{i}.w"], p[f"mean.{i}.b"]) for i in range(self.policy.layers)]
        hidden = [np.empty(w.shape[1]) for w, _ in layers]  # each layer's output
        x, scaled = np.empty(self.obs_dim), np.empty(self.act_dim)
        mean, var_std, clip = self.rms.mean, np.sqrt(self.rms.var + 1e-8), cfg.obs_clip

        def act(obs: np.ndarray, noise: np.ndarray, out: np.ndarray) -> np.ndarray:
            if cfg.normalize_obs:  # clip((s - mean) / std, -clip, clip)
                np.subtract(obs, mean, out=x)
                np.divide(x, var_std, out=x)
                np.maximum(x, -clip, out=x)
                h = np.minimum(x, clip, out=x)
            else:
                h = obs
            for i, (w, b) in enumerate(layers):  # x W + b, tanh between layers (mlp_forward)
                np.matmul(h, w, out=hidden[i])
                h = np.add(hidden[i], b, out=hidden[i])
                if i < len(layers) - 1:
                    np.tanh(h, out=h)
            np.multiply(std, noise, out=scaled)
            return np.add(h, scaled, out=out)

        return act

    def paths(self, iteration: int, min_steps: int, max_paths: int, path_length: int, snapshots: bool = False):
        """Whole paths from s_0 ~ rho_0 under pi_old until at least `min_steps` steps or `max_paths` paths, each at
        most `path_length` steps: observations, actions, rewards, time indices, episode ends (and, for the vine,
        the physics state before each step). Each path is recorded as an episode."""
        from common.rl.envs import physics_state, physics_state_size

        env, rng, act_dim, act = self.env, self.rng, self.act_dim, self.actor()
        capacity = min(min_steps - 1 + path_length, max_paths * path_length)  # crossing min_steps: < 1 path
        obs_b, act_b = np.empty((capacity, self.obs_dim)), np.empty((capacity, act_dim))
        rew_b, t_b, end_b = np.empty(capacity), np.empty(capacity), np.zeros(capacity, bool)
        snap_b = np.empty((capacity, physics_state_size(env))) if snapshots else None
        n = paths = 0
        while n < min_steps and paths < max_paths:
            obs, _ = env.reset()
            ep_return, length = 0.0, 0
            while True:
                if snapshots:
                    physics_state(env, out=snap_b[n])
                obs_b[n] = obs
                action = act(obs, rng.standard_normal(act_dim), act_b[n])  # a ~ pi_old(.|s)
                t_b[n] = length
                obs, reward, terminated, truncated, _ = env.step(action)
                rew_b[n] = reward
                ep_return += reward
                length += 1
                n += 1
                if terminated or truncated or length >= path_length:
                    end_b[n - 1] = True
                    break
            paths += 1
            check_finite("episode return", ep_return, f"env step {self.state['steps'] + n:,}")
            self.state["episodes"].append((iteration, self.state["steps"] + n, ep_return, length))
        self.state["steps"] += n
        out = {"obs": obs_b[:n], "act": act_b[:n], "rew": rew_b[:n], "t": t_b[:n], "end": end_b[:n], "n": n}
        if snapshots:
            out["snap"] = snap_b[:n]
        return out

    def vine_q(self, trunks: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rollout set and its Q estimates (Sec. 5.2): N states drawn uniformly from the trunks' states (how the
        paper picks them is not stated), K actions each from q = pi_old, one rollout of at most `vine_rollout_length`
        steps per action, following pi_old after the first action with the same noise for the K rollouts of a
        state (common random numbers). Returns (state indices (N,), actions (N, K, act_dim), Q (N, K))."""
        from common.rl.envs import physics_state, set_physics_state

        cfg, env, act = self.cfg, self.env, self.actor()
        n_states = min(cfg.vine_states, trunks["n"])
        idx = np.sort(self.rng.choice(trunks["n"], size=n_states, replace=False))
        actions = np.empty((n_states, cfg.vine_actions, self.act_dim))
        q = np.zeros((n_states, cfg.vine_actions))
        resume = physics_state(env)  # the rollouts leave the environment where the trunks did
        steps = 0
        action = np.empty(self.act_dim)
        for j, i in enumerate(idx):
            for k, draw in enumerate(self.rng.standard_normal((cfg.vine_actions, self.act_dim))):
                act(trunks["obs"][i], draw, actions[j, k])  # a_nk ~ q = pi_old
            noise = self.rng.standard_normal((cfg.vine_rollout_length, self.act_dim))  # common random numbers
            for k in range(cfg.vine_actions):
                set_physics_state(env, trunks["snap"][i])
                action[:], discount = actions[j, k], 1.0
                for step in range(cfg.vine_rollout_length):
                    obs, reward, terminated, truncated, _ = env.step(action)
                    q[j, k] += discount * reward
                    discount *= cfg.gamma
                    steps += 1
                    if terminated or truncated:
                        break
                    act(obs, noise[step], action)
        set_physics_state(env, resume)
        self.state["steps"] += steps
        return idx, actions, q


# ---- the algorithm -----------------------------------------------------------------------------------------------
def run_trpo(cfg: TRPOConfig, ctx) -> dict[str, pd.DataFrame]:
    if cfg.baseline not in BASELINES:
        raise ReproError(f"baseline must be one of {', '.join(BASELINES)}, got {cfg.baseline!r}")
    if cfg.method not in METHODS:
        raise ReproError(f"method must be one of {', '.join(METHODS)}, got {cfg.method!r}")
    for key, valid in (("step_rule", STEP_RULES), ("fisher", FISHERS), ("kl_constraint", KL_CONSTRAINTS)):
        if getattr(cfg, key) not in valid:
            raise ReproError(f"{key} must be one of {', '.join(valid)}, got {getattr(cfg, key)!r}")
    if cfg.method == "vine" and cfg.baseline != "none":
        raise ReproError("the vine estimator (eq. 16) needs no baseline (Sec. 5.2): use baseline=none with method=vine")
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    policy = GaussianPolicy(obs_dim, act_dim, cfg.hidden_units, cfg.init_log_std,
                            np.random.default_rng(np.random.SeedSequence([cfg.seed, 5])))
    p = policy.p
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7]))
    rms = RunningMeanStd((obs_dim,))
    baseline_coef = np.zeros(2 * obs_dim + 4)

    state = ctx.restore()
    if state is None:
        state = {"iteration": 0, "steps": 0, "episodes": [], "iterations": []}
    else:
        p.flat[...] = state["policy"]
        rms.__dict__.update(state["rms"])
        rng.bit_generator.state = state["rng"]
        restore_env_state(env, state["env"])
        baseline_coef = state["baseline_coef"]

    def checkpoint_state() -> dict:
        return {**state, "policy": p.flat.copy(), "rms": dict(rms.__dict__), "rng": rng.bit_generator.state,
                "env": save_env_state(env), "baseline_coef": baseline_coef.copy()}

    def normalize(o: np.ndarray) -> np.ndarray:
        return rms.normalize(o, cfg.obs_clip) if cfg.normalize_obs else o

    sampler = Sampler(cfg, env, policy, rng, rms, state)
    bar = ctx.progress(cfg.iterations, f"TRPO {cfg.method} {cfg.env_id}", initial=state["iteration"],
                       unit="iterations")
    for iteration in range(state["iteration"], cfg.iterations):
        steps_before, first_episode = state["steps"], len(state["episodes"])
        if cfg.method == "single_path":
            # -- 1. single path: simulate pi_old from s_0 ~ rho_0 for whole trajectories (Sec. 5.1) -------------
            batch = sampler.paths(iteration, cfg.batch_steps, 10 ** 12, cfg.path_length)
            # Q-value estimates: discounted sums of future rewards along each trajectory (Sec. 5.1)
            q = discounted_returns(batch["rew"], batch["end"], cfg.gamma)
            if cfg.baseline == "linear":  # deviation: A = Q - b(s, t), b fitted on the previous batches
                adv = q - _baseline_features(batch["obs"], batch["t"]) @ baseline_coef
                baseline_coef = _fit_baseline(batch["obs"], batch["t"], q)
            else:
                adv = q  # the paper: Q in place of A (changes the objective by a constant only, Sec. 5)
            obj_obs, obj_act = batch["obs"], batch["act"]
        else:
            # -- 1. vine: trunks under pi_old, then K rollouts from each state of the rollout set (Sec. 5.2) -------
            batch = sampler.paths(iteration, 10 ** 12, cfg.vine_trunks, cfg.vine_trunk_length, snapshots=True)
            idx, vine_act, vine_q = sampler.vine_q(batch)
            obj_obs = np.repeat(batch["obs"][idx], cfg.vine_actions, axis=0)  # (N K, obs_dim): state n, action k
            obj_act, q = vine_act.reshape(-1, act_dim), vine_q
        where = f"iteration {iteration} (env step {state['steps']:,})"
        if cfg.normalize_obs:  # update the filter with the batch, then define pi_old and learn on the same inputs
            rms.update(batch["obs"])
        x_kl, x_obj = normalize(batch["obs"]), normalize(obj_obs)

        # -- 2. the surrogate objective and the KL constraint of eq. (14), estimated over the batch ---------------
        theta_old = p.flat.copy()
        old_log_std = p["log_std"].copy()
        old_mean_kl = policy.mean(x_kl)  # pi_old on the states of the KL constraint
        old_mean, old_inputs = mlp_forward(p, "mean", policy.layers, x_obj)  # ... and on those of the objective
        old_logp = gaussian_log_prob(old_mean, old_log_std, obj_act)
        if cfg.method == "single_path":
            def surrogate(ratio: np.ndarray) -> float:  # eq. (14): mean_t ratio_t Q_t
                return float((ratio * adv).mean())

            # dL/d log pi_t at theta_old (ratio 1): Q_t / T
            coef = adv / len(adv)
        else:
            n_states, k_actions = q.shape

            def surrogate(ratio: np.ndarray) -> float:  # eq. (16), averaged over the rollout set
                w = ratio.reshape(n_states, k_actions)
                return float(((w * q).sum(1) / w.sum(1)).mean())

            # dL_n/d w_k at w = 1: (Q_nk - mean_k Q_nk) / K; chain rule d w / d log pi = w = 1
            coef = ((q - q.mean(1, keepdims=True)) / (k_actions * n_states)).reshape(-1)

        def evaluate(theta: np.ndarray) -> tuple[float, float]:
            """(L(theta), mean KL(pi_old || pi_theta)) on the batch (eq. 14, 16)."""
            p.flat[...] = theta
            ratio = np.exp(gaussian_log_prob(policy.mean(x_obj), p["log_std"], obj_act) - old_logp)  # pi / q
            kl = gaussian_kl(old_mean_kl, old_log_std, policy.mean(x_kl), p["log_std"])
            return surrogate(ratio), float(kl.max() if cfg.kl_constraint == "max" else kl.mean())

        # g = grad L at theta_old = sum_i coef_i grad log pi(a_i|s_i); with z = a - mean(s), sigma = exp(r):
        #   d log pi / d mean = z / sigma^2;   d log pi / d r = z^2 / sigma^2 - 1
        var = np.exp(2 * old_log_std)
        z = obj_act - old_mean
        d_logp = coef[:, None]
        mlp_backward(p, "mean", policy.layers, old_inputs, d_logp * z / var)
        p.g("log_std")[...] = (d_logp * (z * z / var - 1.0)).sum(0)
        g = p.grad.copy()
        check_finite("policy gradient", g, where)

        # -- 3. search direction by conjugate gradient on A s = g, A v = J^T M J v on 10% of the batch (App. C) ---
        n_kl = len(x_kl)
        sub = rng.choice(n_kl, size=max(1, int(math.ceil(cfg.fvp_fraction * n_kl))), replace=False)
        if cfg.fisher == "kl_hessian":
            sub_inputs = mlp_forward(p, "mean", policy.layers, x_kl[np.sort(sub)])[1]

            def fvp(v: np.ndarray) -> np.ndarray:
                return gaussian_fvp(p, "mean", policy.layers, "log_std", sub_inputs, v, cfg.cg_damping)
        else:  # empirical FIM: the covariance of the score vectors of the objective's samples (Sec. 8.1)
            if cfg.method == "vine":  # those are the rollout set's (state, action) pairs, not the trunks'
                sub = rng.choice(len(x_obj), size=max(1, int(math.ceil(cfg.fvp_fraction * len(x_obj)))),
                                 replace=False)
            sub = np.sort(sub)
            sub_inputs, sub_act = mlp_forward(p, "mean", policy.layers, x_obj[sub])[1], obj_act[sub]

            def fvp(v: np.ndarray) -> np.ndarray:
                return gaussian_empirical_fvp(p, "mean", policy.layers, "log_std", sub_inputs, sub_act, v,
                                              cfg.cg_damping)

        s = conjugate_gradient(fvp, g, cfg.cg_iters)
        if cfg.step_rule == "natural_gradient":  # fixed penalty: theta + (1/lambda) A^-1 g, no line search (eq. 17)
            theta = theta_old + cfg.ng_stepsize * s
            improvement, kl = (np.subtract(evaluate(theta), (evaluate(theta_old)[0], 0.0))).tolist()
            result = LineSearchResult(theta, True, 0, improvement, kl, 1.0)
        else:
            full_step = max_step(s, fvp(s), cfg.max_kl)  # beta s, beta = sqrt(2 delta / s^T A s)
            # -- line search: shrink exponentially until L improves and KL <= delta (Appendix C) -------------------
            result = line_search(theta_old, full_step, evaluate, cfg.max_kl, cfg.backtrack_shrink,
                                 cfg.max_backtracks)
        p.flat[...] = result.theta

        returns = [e[2] for e in state["episodes"][first_episode:]]
        mean_return = finite_mean("mean episode return", returns, where)
        check_finite("surrogate improvement", result.improvement, where)
        check_finite("KL", result.kl, where)
        check_finite("parameters", p.flat, where)
        check_finite("observation statistics", {"mean": rms.mean, "variance": rms.var}, where)
        state["iterations"].append((iteration, state["steps"], mean_return, len(returns), result.improvement,
                                    result.kl, int(result.accepted), result.backtracks,
                                    gaussian_entropy(p["log_std"])))
        state["iteration"] = iteration + 1
        ctx.count(state["steps"] - steps_before, "env-steps")
        bar.update(1)
        ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    env.close()
    save_trpo_agent(ctx, cfg, policy, rms, state["steps"])
    episodes = pd.DataFrame(state["episodes"], columns=["iteration", "env_step", "episode_return", "episode_length"])
    iterations = pd.DataFrame(state["iterations"], columns=[
        "iteration", "env_step", "mean_return", "episodes", "surrogate_improvement", "kl", "accepted", "backtracks",
        "entropy"])
    return {"episodes": episodes.assign(seed=cfg.seed), "iterations": iterations.assign(seed=cfg.seed)}
