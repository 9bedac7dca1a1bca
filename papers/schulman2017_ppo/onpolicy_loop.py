"""The sampling loop that Figure 3's gradient baselines share (A2C, A2C + trust region, vanilla policy gradient with an
adaptive stepsize, TRPO as the PPO paper's reference code ran it): run the policy for T environment steps, estimate
advantages with GAE (PPO eq. 11-12), hand the batch to the method's update, log episodes, checkpoint, keep the agent.

It is PPO's loop (ppo.py: Algorithm 1's "run policy pi_theta_old for T timesteps") with the update taken out: each
method's update is a `Learner` (a2c.py, vanilla_pg.py, trpo_gae.py) with
    horizon             T, environment steps per update
    update(batch, frac) one policy (and value) update on the batch; frac = 1 - t / total_env_steps (for schedules);
                        returns {"policy_loss", "value_loss", "kl", "stepsize"}: the policy loss before the
                        step, the value loss, the mean KL between the policy before and after, and the stepsize used
                        (A2C: RMSProp's; vanilla PG: Adam's; TRPO: the accepted fraction of the full step, 0 if none)
    state_dict() / load_state_dict(state)   what a checkpoint needs beyond the networks
The networks are PPO's (Sec. 6.1): separate policy and value MLPs with two tanh hidden layers, a Gaussian policy with
a state-independent learned log standard deviation (initially 0), "normc" initialization with the policy's output
layer at 0.01 (baselines `MlpPolicy`, as ppo.py), observations normalized by running statistics clipped to [-5, 5].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.onpolicy import gae, gaussian_entropy
from common.onpolicy.rollout import RolloutBuffers, run_gaussian_policy
from common.platform.finite import check_finite
from common.rl.agents import save_agent
from common.onpolicy.sampler_state import observation_filter, restore_sampler, sampler_checkpoint
from common.rl.envs import RunningMeanStd, make_env
from common.rl.npmlp import Params, mlp_forward, mlp_shapes, normc_init

LAYERS = 3  # two hidden layers and a linear output
LOG_EVERY_ENV_STEPS = 2048  # one row of the iterations table per 2048 env steps (A2C updates every 5 steps)


class PolicyValueNets:
    """pi_theta(a|s) = N(mu_theta(s), diag(exp(log_std))^2) and V_phi(s), each in its own flat parameter vector
    (`pi.flat` holds the mean network and `log_std`; `v.flat` the value network), so each method can give them their
    own optimizer."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, rng: np.random.Generator):
        self.pi = Params({**mlp_shapes("pi", [obs_dim, hidden, hidden, act_dim]), "log_std": (act_dim,)})
        self.v = Params(mlp_shapes("v", [obs_dim, hidden, hidden, 1]))
        normc_init(self.pi, "pi", LAYERS, 0.01, rng)  # baselines MlpPolicy: policy output layer at scale 0.01
        normc_init(self.v, "v", LAYERS, 1.0, rng)

    def mean(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.pi, "pi", LAYERS, x)[0]

    def value(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.v, "v", LAYERS, x)[0][..., 0]


@dataclass
class Batch:
    """T consecutive steps of the current policy: normalized observations x, actions, GAE advantages A_t (eq. 11,
    not standardized), value targets R_t = A_t + V(s_t) (the TD(lambda) returns), and V(s_t) as sampled."""
    x: np.ndarray
    act: np.ndarray
    adv: np.ndarray
    returns: np.ndarray
    values: np.ndarray


def save_policy_agent(ctx, cfg, nets: PolicyValueNets, rms: RunningMeanStd, steps: int, algorithm: str,
                      snapshot: int | None = None, value: bool = True) -> None:
    """The policy with its frozen observation statistics (committed) and the value network (git-ignored; not for a
    snapshot, nor with `value=False`: a method that trains none, CEM), in the format of PPO's MuJoCo agents
    (`gaussian_mlp`: `repro eval`, `repro video`)."""
    p = nets.pi
    policy = {name: p[name] for name in p.names()}
    policy.update(obs_mean=rms.mean, obs_var=rms.var)
    meta = {"env_id": cfg.env_id, "obs_dim": int(p["pi.0.w"].shape[0]), "act_dim": int(p["log_std"].shape[0]),
            "hidden_units": cfg.hidden_units, "layers": LAYERS, "activation": "tanh",
            "normalize_obs": cfg.normalize_obs, "obs_clip": cfg.obs_clip, "env_steps": int(steps),
            "algorithm": algorithm, "default_deterministic": False}
    save_agent(ctx, "gaussian_mlp", policy, meta, large=None if snapshot or not value else
               {name: nets.v[name] for name in nets.v.names()}, snapshot=snapshot)


def run_onpolicy(cfg, ctx, make_learner, algorithm: str) -> dict[str, pd.DataFrame]:
    """Train with `make_learner(cfg, nets, rng)`'s updates for `cfg.total_env_steps` env steps (rounded up to whole
    updates); the config needs seed, env_id, total_env_steps, gamma, gae_lambda, hidden_units, normalize_obs,
    obs_clip, bootstrap_truncation, save_agent_at_steps."""
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    nets = PolicyValueNets(obs_dim, act_dim, cfg.hidden_units,
                           np.random.default_rng(np.random.SeedSequence([cfg.seed, 5])))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7]))
    learner = make_learner(cfg, nets, rng)
    rms = RunningMeanStd((obs_dim,))
    T = learner.horizon
    n_updates = math.ceil(cfg.total_env_steps / T)
    snapshot_steps = sorted(int(s) for s in cfg.save_agent_at_steps)  # in 1..total_env_steps (validate)

    state = ctx.restore()
    if state is None:
        obs, _ = env.reset(seed=cfg.seed)
        state = {"update": 0, "steps": 0, "ep_return": 0.0, "ep_length": 0, "episodes": [], "iterations": [],
                 "pending": [], "logged_at": 0}
    else:
        nets.pi.flat[...], nets.v.flat[...] = state["pi"], state["v"]
        learner.load_state_dict(state["learner"])
        obs = restore_sampler(state, rms, rng, env)

    def checkpoint_state() -> dict:
        return {**state, "pi": nets.pi.flat.copy(), "v": nets.v.flat.copy(), "learner": learner.state_dict(),
                **sampler_checkpoint(rms, rng, env, obs)}

    normalize = observation_filter(rms, cfg.normalize_obs, cfg.obs_clip)
    buffers = RolloutBuffers.zeros(T, obs_dim, act_dim)
    buf_obs, buf_act, buf_rew, buf_val, buf_end = buffers.obs, buffers.act, buffers.rew, buffers.val, buffers.end
    bar = ctx.progress(n_updates * T, f"{algorithm} {cfg.env_id}", initial=state["steps"], unit="env-steps")
    for update in range(state["update"], n_updates):
        frac = max(1.0 - state["steps"] / cfg.total_env_steps, 0.0)
        # -- run the policy for T timesteps ------------------------------------------------------------------------
        obs = run_gaussian_policy(env, obs, buffers, state, nets.mean, nets.value, np.exp(nets.pi["log_std"]),
                                  normalize, rng, cfg.gamma, cfg.bootstrap_truncation)
        steps_before = state["steps"]
        state["steps"] += T
        # -- advantages A_t by GAE (eq. 11-12) and value targets -------------------------------------------------
        adv = gae(buf_rew, buf_val, buf_end, nets.value(normalize(obs)), cfg.gamma, cfg.gae_lambda)
        if cfg.normalize_obs:  # as ppo.py and the reference code: update the statistics with the batch, then learn
            rms.update(buf_obs)
        batch = Batch(normalize(buf_obs), buf_act.copy(), adv, adv + buf_val, buf_val.copy())
        stats = learner.update(batch, frac)
        where = f"update {update} (env step {state['steps']:,})"
        for key in ("policy_loss", "value_loss", "kl"):
            check_finite(key.replace("_", " "), stats[key], where)
        state["pending"].append((stats["policy_loss"], stats["value_loss"], stats["kl"]))
        if state["steps"] - state["logged_at"] >= LOG_EVERY_ENV_STEPS or update == n_updates - 1:
            check_finite("parameters", {"policy": nets.pi.flat, "value": nets.v.flat}, where)
            check_finite("observation statistics", {"mean": rms.mean, "variance": rms.var}, where)
            means = np.mean(state["pending"], axis=0).tolist()
            state["iterations"].append((update, state["steps"], *means, stats["stepsize"],
                                        gaussian_entropy(nets.pi["log_std"])))
            state["pending"], state["logged_at"] = [], state["steps"]
        state["update"] = update + 1
        ctx.count(T, "env-steps")
        bar.update(T)
        for s in snapshot_steps:  # the policy after the update that reached step s
            if steps_before < s <= state["steps"]:
                save_policy_agent(ctx, cfg, nets, rms, state["steps"], algorithm, snapshot=s)
        ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    env.close()
    save_policy_agent(ctx, cfg, nets, rms, state["steps"], algorithm)
    episodes = pd.DataFrame(state["episodes"], columns=["env_step", "episode_return", "episode_length"])
    iterations = pd.DataFrame(state["iterations"], columns=["update", "env_step", "policy_loss", "value_loss", "kl",
                                                            "stepsize", "entropy"])
    return {"episodes": episodes.assign(seed=cfg.seed), "iterations": iterations.assign(seed=cfg.seed)}
