"""Proximal Policy Optimization (Schulman, Wolski, Dhariwal, Radford, Klimov 2017; arXiv 1707.06347), MuJoCo.

Reads like the paper: Algorithm 1 (actor-critic style PPO) with the surrogate objectives of Section 3 and 4:
    r_t(theta) = pi_theta(a_t|s_t) / pi_theta_old(a_t|s_t)                                      (eq. 6)
    L^CLIP = E_t[ min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t) ]                                  (eq. 7)
    L^KLPEN = E_t[ r_t A_t - beta KL[pi_old(.|s_t), pi_theta(.|s_t)] ]                          (eq. 8)
    adaptive beta: d < d_targ/1.5 -> beta/2;  d > 1.5 d_targ -> beta*2                          (Sec. 4)
    A_t = sum_l (gamma lambda)^l delta_{t+l},  delta_t = r_t + gamma V(s_{t+1}) - V(s_t)         (eq. 11-12)
Where the paper is silent, the paper's reference code (baselines ppo1, `pposgd_simple` run by `run_mujoco`) is
followed; each such choice is a config key, listed in README.md.

Acting runs the two 64-64 tanh networks in numpy (a copy of the torch weights, refreshed after each update):
one step's inference costs microseconds instead of a torch call's overhead. Learning runs in torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from common.envs import RunningMeanStd, make_env, restore_env_state, save_env_state

OBJECTIVES = ("clip", "none", "adaptive_kl", "fixed_kl")


@dataclass
class PPOConfig:
    seed: int = 0
    env_id: str = "Hopper-v5"
    total_env_steps: int = 1_000_000  # environment steps (agent steps; MuJoCo has no frame skip), Sec. 6.1
    horizon: int = 2048  # T: environment steps per policy iteration (Table 3)
    lr: float = 3e-4  # Adam stepsize (Table 3)
    adam_eps: float = 1e-8  # reference code's Adam epsilon
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
    torch_threads: int = 1


# ---- networks --------------------------------------------------------------------------------------------------
def normc_(layer: nn.Linear, std: float, gen: torch.Generator) -> None:
    """Reference code's initializer: Gaussian weights, each unit's incoming weights scaled to norm `std`."""
    with torch.no_grad():
        w = torch.randn(layer.weight.shape, generator=gen, dtype=layer.weight.dtype)
        layer.weight.copy_(w * std / w.norm(dim=1, keepdim=True))
        layer.bias.zero_()


def mlp(n_in: int, n_out: int, hidden: int, out_std: float, gen: torch.Generator) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out))
    for layer, std in zip((net[0], net[2], net[4]), (1.0, 1.0, out_std)):
        normc_(layer, std, gen)
    return net


class ActorCritic(nn.Module):
    """Separate policy and value networks (Sec. 6.1: no shared parameters, so c1 is irrelevant); the policy outputs
    the mean of a Gaussian with a state-independent, learned log standard deviation."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, gen: torch.Generator):
        super().__init__()
        self.pi = mlp(obs_dim, act_dim, hidden, 0.01, gen)
        self.v = mlp(obs_dim, 1, hidden, 1.0, gen)
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        mean = self.pi(obs)
        return (-0.5 * ((act - mean) / self.log_std.exp()) ** 2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def numpy_weights(self) -> dict:
        return {name: p.detach().numpy().copy() for name, p in self.named_parameters()}


def np_forward(w: dict, prefix: str, x: np.ndarray) -> np.ndarray:
    h = np.tanh(x @ w[f"{prefix}.0.weight"].T + w[f"{prefix}.0.bias"])
    h = np.tanh(h @ w[f"{prefix}.2.weight"].T + w[f"{prefix}.2.bias"])
    return h @ w[f"{prefix}.4.weight"].T + w[f"{prefix}.4.bias"]


# ---- advantage estimation --------------------------------------------------------------------------------------
def gae(rewards: np.ndarray, values: np.ndarray, episode_ends: np.ndarray, last_value: float, gamma: float,
        lam: float) -> np.ndarray:
    """Generalized advantage estimation (eq. 11-12) over one batch of T steps.
    `episode_ends[t]` is True when the episode ended after step t: then V(s_{t+1}) counts as 0 and the sum stops.
    (A truncation that should bootstrap has gamma V(s_final) folded into its reward beforehand.)"""
    T = len(rewards)
    adv = np.zeros(T)
    last = 0.0
    for t in range(T - 1, -1, -1):
        not_end = 1.0 - float(episode_ends[t])
        next_value = last_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_value * not_end - values[t]  # eq. 12
        last = delta + gamma * lam * not_end * last  # eq. 11, recursively
        adv[t] = last
    return adv


# ---- surrogate objectives --------------------------------------------------------------------------------------
def gaussian_kl(mean_old, log_std_old, mean, log_std) -> torch.Tensor:
    """KL[pi_old || pi] for diagonal Gaussians, summed over action dimensions."""
    var_old, var = (2 * log_std_old).exp(), (2 * log_std).exp()
    return (log_std - log_std_old + (var_old + (mean_old - mean) ** 2) / (2 * var) - 0.5).sum(-1)


def policy_loss(cfg: PPOConfig, ratio: torch.Tensor, adv: torch.Tensor, kl: torch.Tensor | None, eps: float,
                beta: float) -> torch.Tensor:
    """Negative surrogate objective, to minimise."""
    if cfg.objective == "clip":  # eq. 7
        return -torch.min(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv).mean()
    if cfg.objective == "none":  # eq. 6, no clipping or penalty (L^CPI)
        return -(ratio * adv).mean()
    return -(ratio * adv - beta * kl).mean()  # eq. 8, fixed or adaptive beta


# ---- the algorithm ---------------------------------------------------------------------------------------------
def run_ppo(cfg: PPOConfig, ctx) -> dict[str, pd.DataFrame]:
    if cfg.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {cfg.objective!r}")
    torch.set_num_threads(cfg.torch_threads)
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    gen = torch.Generator().manual_seed(cfg.seed)
    model = ActorCritic(obs_dim, act_dim, cfg.hidden_units, gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=cfg.adam_eps, foreach=True)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7]))
    rms = RunningMeanStd((obs_dim,))
    n_iterations = math.ceil(cfg.total_env_steps / cfg.horizon)

    state = ctx.restore()
    if state is None:
        obs, _ = env.reset(seed=cfg.seed)
        state = {"iteration": 0, "steps": 0, "beta": cfg.kl_beta, "ep_return": 0.0, "ep_length": 0,
                 "episodes": [], "iterations": []}
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rms.__dict__.update(state["rms"])
        rng.bit_generator.state = state["rng"]
        restore_env_state(env, state["env"])
        obs = state["obs"]

    def checkpoint_state() -> dict:
        return {**state, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rms": dict(rms.__dict__),
                "rng": rng.bit_generator.state, "env": save_env_state(env), "obs": obs}

    T = cfg.horizon
    buf_obs = np.zeros((T, obs_dim))
    buf_act = np.zeros((T, act_dim))
    buf_rew = np.zeros(T)
    buf_val = np.zeros(T)
    buf_end = np.zeros(T, dtype=bool)
    bar = ctx.progress(n_iterations, f"PPO {cfg.env_id} {cfg.objective}", initial=state["iteration"])
    for iteration in range(state["iteration"], n_iterations):
        frac = max(1.0 - state["steps"] / cfg.total_env_steps, 0.0) if cfg.anneal else 1.0
        lr_now, eps_now = cfg.lr * frac, cfg.clip_epsilon * frac
        # -- run policy pi_theta_old for T timesteps (Algorithm 1) --------------------------------------------
        w = model.numpy_weights()
        std = np.exp(w["log_std"])
        for t in range(T):
            x = rms.normalize(obs, cfg.obs_clip) if cfg.normalize_obs else obs
            mean = np_forward(w, "pi", x)
            action = mean + std * rng.standard_normal(act_dim)
            buf_obs[t], buf_act[t], buf_val[t] = obs, action, np_forward(w, "v", x)[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            state["ep_return"] += reward
            state["ep_length"] += 1
            if truncated and not terminated and cfg.bootstrap_truncation:
                x_final = rms.normalize(obs, cfg.obs_clip) if cfg.normalize_obs else obs
                reward += cfg.gamma * np_forward(w, "v", x_final)[0]
            buf_rew[t], buf_end[t] = reward, terminated or truncated
            if terminated or truncated:
                state["episodes"].append((state["steps"] + t + 1, state["ep_return"], state["ep_length"]))
                state["ep_return"], state["ep_length"] = 0.0, 0
                obs, _ = env.reset()
        state["steps"] += T
        x_last = rms.normalize(obs, cfg.obs_clip) if cfg.normalize_obs else obs
        last_value = np_forward(w, "v", x_last)[0]
        # -- compute advantage estimates A_1..A_T (eq. 11) and value targets --------------------------------------
        adv = gae(buf_rew, buf_val, buf_end, last_value, cfg.gamma, cfg.gae_lambda)
        returns = adv + buf_val
        if cfg.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        if cfg.normalize_obs:  # reference code: update the statistics with the batch, then learn on it
            rms.update(buf_obs)
        x = torch.tensor(rms.normalize(buf_obs, cfg.obs_clip) if cfg.normalize_obs else buf_obs, dtype=torch.float32)
        act, adv_t, ret_t = (torch.tensor(a, dtype=torch.float32) for a in (buf_act, adv, returns))
        with torch.no_grad():
            old_logp = model.log_prob(x, act)
            old_mean, old_log_std = model.pi(x), model.log_std.detach().clone()
        # -- optimize the surrogate L wrt theta, K epochs, minibatch M (Algorithm 1) -------------------------------
        for group in optimizer.param_groups:
            group["lr"] = lr_now
        stats = []
        for _ in range(cfg.epochs):
            perm = rng.permutation(T)
            for start in range(0, T, cfg.minibatch_size):
                idx = torch.from_numpy(perm[start:start + cfg.minibatch_size])
                mean = model.pi(x[idx])
                logp = (-0.5 * ((act[idx] - mean) / model.log_std.exp()) ** 2 - model.log_std
                        - 0.5 * math.log(2 * math.pi)).sum(-1)
                ratio = (logp - old_logp[idx]).exp()  # eq. 6
                kl = (gaussian_kl(old_mean[idx], old_log_std, mean, model.log_std)
                      if cfg.objective in ("adaptive_kl", "fixed_kl") else None)
                loss_pi = policy_loss(cfg, ratio, adv_t[idx], kl, eps_now, state["beta"])
                loss_v = ((model.v(x[idx]).squeeze(-1) - ret_t[idx]) ** 2).mean()  # squared-error value loss
                optimizer.zero_grad(set_to_none=True)
                (loss_pi + loss_v).backward()
                optimizer.step()
                stats.append((loss_pi.detach(), loss_v.detach()))
        with torch.no_grad():
            d = float(gaussian_kl(old_mean, old_log_std, model.pi(x), model.log_std).mean())
        if cfg.objective == "adaptive_kl":  # Sec. 4: adapt beta toward the KL target
            if d < cfg.kl_target / 1.5:
                state["beta"] /= 2
            elif d > cfg.kl_target * 1.5:
                state["beta"] *= 2
        losses = torch.tensor(stats).mean(0).tolist()
        state["iterations"].append((iteration, state["steps"], d, losses[0], losses[1], state["beta"], lr_now))
        state["iteration"] = iteration + 1
        ctx.count(T, "env-steps")
        bar.update(1)
        ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    env.close()
    episodes = pd.DataFrame(state["episodes"], columns=["env_step", "episode_return", "episode_length"])
    iterations = pd.DataFrame(state["iterations"], columns=["iteration", "env_step", "kl", "policy_loss",
                                                            "value_loss", "beta", "lr"])
    return {"episodes": episodes.assign(seed=cfg.seed), "iterations": iterations.assign(seed=cfg.seed)}
