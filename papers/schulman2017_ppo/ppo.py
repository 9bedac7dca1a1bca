"""Proximal Policy Optimization (Schulman, Wolski, Dhariwal, Radford, Klimov 2017; arXiv 1707.06347), MuJoCo.

Reads like the paper: Algorithm 1 (actor-critic style PPO) with the surrogate objectives of Section 3 and 4:
    r_t(theta) = pi_theta(a_t|s_t) / pi_theta_old(a_t|s_t)                                      (eq. 6)
    L^CLIP = E_t[ min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t) ]                                  (eq. 7)
    L^KLPEN = E_t[ r_t A_t - beta KL[pi_old(.|s_t), pi_theta(.|s_t)] ]                          (eq. 8)
    adaptive beta: d < d_targ/1.5 -> beta/2;  d > 1.5 d_targ -> beta*2                          (Sec. 4)
    A_t = sum_l (gamma lambda)^l delta_{t+l},  delta_t = r_t + gamma V(s_{t+1}) - V(s_t)         (eq. 11-12)
Where the paper is silent, the paper's reference code (baselines ppo1, `pposgd_simple` run by `run_mujoco`) is
followed; each such choice is a config key, listed in README.md.

Both networks, their gradients and Adam run in numpy (common/rl/npmlp.py): with 64-unit layers and minibatches of 64,
a framework's per-operation overhead would cost more than the arithmetic. The gradients are derived below, next to
the losses they differentiate, and tested against torch autograd.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List

import numpy as np
import pandas as pd

from common.platform import validate as check
from common.rl.agents import save_agent
from common.rl.envs import CLASSIC, MUJOCO_V5, RunningMeanStd, make_env
from common.platform.finite import check_finite
from common.platform.memory import keep_freed_memory
from common.rl.npmlp import Adam, Params, mlp_backward, mlp_forward, mlp_shapes, normc_init
# GAE (eq. 11-12) and the Gaussian log-likelihood and KL are shared with the other on-policy papers
from common.onpolicy import gae, gaussian_kl, gaussian_log_prob  # noqa: F401 (gae is also used by the tests)
from common.onpolicy.rollout import RolloutBuffers, run_gaussian_policy
from common.onpolicy.sampler_state import observation_filter, restore_sampler, sampler_checkpoint

OBJECTIVES = ("clip", "none", "adaptive_kl", "fixed_kl")
#: What a key absent from a recorded config.yaml meant: runs recorded before `save_agent_at_steps` existed kept no
#: intermediate policy (common/platform/registry.py).
LEGACY = {"save_agent_at_steps": []}


@dataclass
class PPOConfig:
    seed: int = 0
    env_id: str = "Hopper-v5"
    total_env_steps: int = 1_000_000  # environment steps (agent steps; MuJoCo has no frame skip), Sec. 6.1
    horizon: int = 2048  # T: environment steps per policy iteration (Table 3)
    lr: float = 3e-4  # Adam stepsize (Table 3)
    adam_eps: float = 1e-5  # the reference code's Adam epsilon (baselines ppo1 learn(adam_epsilon=1e-5))
    epochs: int = 10  # K: epochs per iteration (Table 3)
    minibatch_size: int = 64  # M (Table 3)
    gamma: float = 0.99  # discount (Table 3)
    gae_lambda: float = 0.95  # GAE lambda (Table 3)
    objective: str = "clip"  # clip | none | adaptive_kl | fixed_kl  (the rows of Table 1)
    clip_epsilon: float = 0.2  # eps of L^CLIP (Figure 3 uses 0.2)
    kl_target: float = 0.01  # d_targ of the adaptive KL penalty
    kl_beta: float = 1.0  # beta (fixed penalty), or its initial value (adaptive; Table 1 note: starts at 1)
    hidden_units: int = 64  # two hidden layers, tanh (Sec. 6.1)
    normalize_obs: bool = True  # reference code: running mean/std of observations
    obs_clip: float = 5.0  # reference code clips normalized observations to [-5, 5]
    normalize_advantages: bool = True  # reference code standardizes advantages per batch
    anneal: bool = True  # reference code (schedule='linear'): stepsize and eps multiplied by 1 - t/T_total
    bootstrap_truncation: bool = False  # reference code treats a time-limit end as terminal (Gym -v1 semantics)
    # env steps after which the policy is also kept (agent_step<N>.npz), for experiments that need intermediate
    # policies; taken at the end of the first iteration that reaches each (not in the paper)
    save_agent_at_steps: List[int] = field(default_factory=list)


def validate_ppo(cfg: PPOConfig) -> None:
    """Values the algorithm can use (checked before any run starts): a known task and objective, positive sizes and
    rates, discount and GAE lambda in [0, 1], minibatches no larger than the horizon."""
    check.seed(cfg)
    check.one_of(cfg, "env_id", MUJOCO_V5 + CLASSIC)
    check.one_of(cfg, "objective", OBJECTIVES)
    check.at_least(cfg, 1, "total_env_steps", "horizon", "epochs", "minibatch_size", "hidden_units")
    check.snapshot_steps(cfg)
    check.require(cfg.minibatch_size <= cfg.horizon, "minibatch_size", cfg.minibatch_size,
                  f"an integer from 1 to horizon ({cfg.horizon})")
    check.positive(cfg, "lr", "adam_eps", "clip_epsilon", "kl_target", "obs_clip")
    check.at_least(cfg, 0.0, "kl_beta")
    check.between(cfg, 0, 1, "gamma", "gae_lambda")


# ---- networks --------------------------------------------------------------------------------------------------
LAYERS = 3  # two hidden layers and a linear output


class ActorCritic:
    """Separate policy and value networks (Sec. 6.1: no shared parameters, so c1 is irrelevant), each with two hidden
    layers of 64 tanh units; the policy outputs the mean of a Gaussian with a state-independent, learned log standard
    deviation. All parameters sit in one flat vector (`self.p.flat`) that Adam updates."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, rng: np.random.Generator):
        self.p = Params({**mlp_shapes("pi", [obs_dim, hidden, hidden, act_dim]), "log_std": (act_dim,),
                         **mlp_shapes("v", [obs_dim, hidden, hidden, 1])})
        normc_init(self.p, "pi", LAYERS, 0.01, rng)  # reference code: output layer of the policy at scale 0.01
        normc_init(self.p, "v", LAYERS, 1.0, rng)

    def mean(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.p, "pi", LAYERS, x)[0]

    def value(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.p, "v", LAYERS, x)[0][..., 0]


# ---- surrogate objectives and their gradients -------------------------------------------------------------------
def surrogate(cfg: PPOConfig, ratio: np.ndarray, adv: np.ndarray, kl: np.ndarray | None, eps: float,
              beta: float) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Negative surrogate objective (to minimise), averaged over the minibatch, with its derivatives with respect to
    each sample's ratio r_t and (for the penalty objectives) each sample's KL."""
    M = len(ratio)
    if cfg.objective == "clip":  # eq. 7
        # clip(r, 1-eps, 1+eps) as np.clip computes it, without its Python-level overhead (320 calls an iteration)
        unclipped, clipped = ratio * adv, np.minimum(np.maximum(ratio, 1 - eps), 1 + eps) * adv
        # the min follows r_t A_t wherever that term is the smaller one (or equal, inside the clip range);
        # where the clipped term is smaller, it is constant in theta and passes no gradient
        d_ratio = np.where(unclipped <= clipped, -adv / M, 0.0)
        return -float(np.minimum(unclipped, clipped).mean()), d_ratio, None
    if cfg.objective == "none":  # eq. 6, no clipping or penalty (L^CPI)
        return -float((ratio * adv).mean()), -adv / M, None
    return -float((ratio * adv - beta * kl).mean()), -adv / M, np.full(M, beta / M)  # eq. 8, fixed or adaptive beta


def minibatch_gradient(cfg: PPOConfig, model: ActorCritic, x, act, adv, ret, old_logp, old_mean, old_log_std,
                       eps: float, beta: float) -> tuple[float, float]:
    """Forward and backward pass of L = -L^surrogate + L^VF on one minibatch; writes the gradient into model.p.grad
    and returns both losses. Chain rule, with z = a - mu(s) and sigma = exp(log_std):
        dr/d(log pi) = r;  d(log pi)/d mu = z / sigma^2;  d(log pi)/d(log sigma) = z^2 / sigma^2 - 1
        dKL/d mu = (mu - mu_old) / sigma^2;  dKL/d(log sigma) = 1 - (sigma_old^2 + (mu_old - mu)^2) / sigma^2
        L^VF = mean (V(s) - V^targ)^2  ->  dL^VF/dV = 2 (V(s) - V^targ) / M"""
    p = model.p
    mean, pi_inputs = mlp_forward(p, "pi", LAYERS, x)
    log_std = p["log_std"]
    var = np.exp(2 * log_std)
    z = act - mean
    logp = (-0.5 * z * z / var - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)  # gaussian_log_prob, reusing z, var
    ratio = np.exp(logp - old_logp)  # eq. 6
    kl = gaussian_kl(old_mean, old_log_std, mean, log_std) if cfg.objective in ("adaptive_kl", "fixed_kl") else None
    loss_pi, d_ratio, d_kl = surrogate(cfg, ratio, adv, kl, eps, beta)
    d_logp = (d_ratio * ratio)[:, None]
    d_mean = d_logp * z / var
    d_log_std = (d_logp * (z * z / var - 1.0)).sum(0)
    if d_kl is not None:
        d_mean += d_kl[:, None] * (mean - old_mean) / var
        d_log_std += (d_kl[:, None] * (1.0 - (np.exp(2 * old_log_std) + (old_mean - mean) ** 2) / var)).sum(0)
    mlp_backward(p, "pi", LAYERS, pi_inputs, d_mean)
    p.g("log_std")[...] = d_log_std
    value, v_inputs = mlp_forward(p, "v", LAYERS, x)
    err = value[:, 0] - ret  # squared-error value loss
    mlp_backward(p, "v", LAYERS, v_inputs, (2.0 * err / len(err))[:, None])
    return loss_pi, float((err * err).mean())


# ---- the saved agent -------------------------------------------------------------------------------------------
def save_ppo_agent(ctx, cfg: PPOConfig, model: ActorCritic, rms: RunningMeanStd, steps: int,
                   snapshot: int | None = None) -> None:
    """The policy (its network, log std and the observation statistics, committed) and the value network (beside
    the run, git-ignored) into the run folder (common/rl/agents.py)."""
    p = model.p
    policy = {name: p[name] for name in p.names() if name.startswith("pi.") or name == "log_std"}
    policy.update(obs_mean=rms.mean, obs_var=rms.var)
    meta = {"env_id": cfg.env_id, "obs_dim": int(p["pi.0.w"].shape[0]), "act_dim": int(p["log_std"].shape[0]),
            "hidden_units": cfg.hidden_units, "layers": LAYERS, "activation": "tanh",
            "normalize_obs": cfg.normalize_obs, "obs_clip": cfg.obs_clip, "env_steps": int(steps),
            "algorithm": f"PPO ({cfg.objective})", "default_deterministic": False}
    save_agent(ctx, "gaussian_mlp", policy, meta, large=None if snapshot else
               {name: p[name] for name in p.names() if name.startswith("v.")}, snapshot=snapshot)


# ---- the algorithm ---------------------------------------------------------------------------------------------
def run_ppo(cfg: PPOConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_ppo(cfg)
    keep_freed_memory()  # the batch's temporaries reuse freed memory instead of new pages (no change to any number)
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    model = ActorCritic(obs_dim, act_dim, cfg.hidden_units, np.random.default_rng(np.random.SeedSequence([cfg.seed, 5])))
    optimizer = Adam(len(model.p.flat), eps=cfg.adam_eps)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7]))
    rms = RunningMeanStd((obs_dim,))
    n_iterations = math.ceil(cfg.total_env_steps / cfg.horizon)
    snapshot_steps = sorted(int(s) for s in cfg.save_agent_at_steps)  # in 1..total_env_steps (validate_ppo)

    state = ctx.restore()
    if state is None:
        obs, _ = env.reset(seed=cfg.seed)
        state = {"iteration": 0, "steps": 0, "beta": cfg.kl_beta, "ep_return": 0.0, "ep_length": 0,
                 "episodes": [], "iterations": []}
    else:
        model.p.flat[...] = state["model"]
        optimizer.load_state_dict(state["optimizer"])
        obs = restore_sampler(state, rms, rng, env)

    def checkpoint_state() -> dict:
        return {**state, "model": model.p.flat.copy(), "optimizer": optimizer.state_dict(),
                **sampler_checkpoint(rms, rng, env, obs)}

    T = cfg.horizon
    buffers = RolloutBuffers.zeros(T, obs_dim, act_dim)
    buf_obs, buf_act, buf_rew, buf_val, buf_end = buffers.obs, buffers.act, buffers.rew, buffers.val, buffers.end
    normalize = observation_filter(rms, cfg.normalize_obs, cfg.obs_clip)
    bar = ctx.progress(n_iterations, f"PPO {cfg.env_id} {cfg.objective}", initial=state["iteration"],
                       unit="iterations")
    for iteration in range(state["iteration"], n_iterations):
        frac = max(1.0 - state["steps"] / cfg.total_env_steps, 0.0) if cfg.anneal else 1.0
        lr_now, eps_now = cfg.lr * frac, cfg.clip_epsilon * frac
        # -- run policy pi_theta_old for T timesteps (Algorithm 1) --------------------------------------------
        obs = run_gaussian_policy(env, obs, buffers, state, model.mean, model.value, np.exp(model.p["log_std"]),
                                  normalize, rng, cfg.gamma, cfg.bootstrap_truncation)
        steps_before = state["steps"]
        state["steps"] += T
        last_value = model.value(normalize(obs))
        # -- compute advantage estimates A_1..A_T (eq. 11) and value targets --------------------------------------
        adv = gae(buf_rew, buf_val, buf_end, last_value, cfg.gamma, cfg.gae_lambda)
        returns = adv + buf_val
        if cfg.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        if cfg.normalize_obs:  # reference code: update the statistics with the batch, then learn on it
            rms.update(buf_obs)
        x = rms.normalize(buf_obs, cfg.obs_clip) if cfg.normalize_obs else buf_obs
        old_mean, old_log_std = model.mean(x), model.p["log_std"].copy()
        old_logp = gaussian_log_prob(old_mean, old_log_std, buf_act)
        # -- optimize the surrogate L wrt theta, K epochs, minibatch M (Algorithm 1) -------------------------------
        stats = []
        for _ in range(cfg.epochs):
            perm = rng.permutation(T)
            for start in range(0, T, cfg.minibatch_size):
                i = perm[start:start + cfg.minibatch_size]
                stats.append(minibatch_gradient(cfg, model, x[i], buf_act[i], adv[i], returns[i], old_logp[i],
                                                old_mean[i], old_log_std, eps_now, state["beta"]))
                optimizer.step(model.p.flat, model.p.grad, lr_now)
        d = float(gaussian_kl(old_mean, old_log_std, model.mean(x), model.p["log_std"]).mean())
        if cfg.objective == "adaptive_kl":  # Sec. 4: adapt beta toward the KL target
            if d < cfg.kl_target / 1.5:
                state["beta"] /= 2
            elif d > cfg.kl_target * 1.5:
                state["beta"] *= 2
        losses = np.mean(stats, axis=0).tolist()
        where = f"iteration {iteration} (env step {state['steps']:,})"
        check_finite("policy loss", losses[0], where)  # over the iteration's minibatches: a NaN in any shows here
        check_finite("value loss", losses[1], where)
        check_finite("KL", d, where)
        check_finite("parameters", model.p.flat, where)  # one small vector: about 10 us an iteration
        check_finite("observation statistics", {"mean": rms.mean, "variance": rms.var}, where)
        state["iterations"].append((iteration, state["steps"], d, losses[0], losses[1], state["beta"], lr_now))
        state["iteration"] = iteration + 1
        ctx.count(T, "env-steps")
        bar.update(1)
        for s in snapshot_steps:  # the policy after the iteration that reached step s
            if steps_before < s <= state["steps"]:
                save_ppo_agent(ctx, cfg, model, rms, state["steps"], snapshot=s)
        ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    env.close()
    save_ppo_agent(ctx, cfg, model, rms, state["steps"])
    episodes = pd.DataFrame(state["episodes"], columns=["env_step", "episode_return", "episode_length"])
    iterations = pd.DataFrame(state["iterations"], columns=["iteration", "env_step", "kl", "policy_loss",
                                                            "value_loss", "beta", "lr"])
    return {"episodes": episodes.assign(seed=cfg.seed), "iterations": iterations.assign(seed=cfg.seed)}
