"""Soft Actor-Critic, both versions, for MuJoCo.

v1: Haarnoja, Zhou, Abbeel, Levine (2018), arXiv 1801.01290 (ICML): a state-value network V_psi with a target
    V_psi_bar, two soft Q-functions (their minimum is used), a tanh-squashed Gaussian policy, and a fixed
    temperature expressed as a reward scale (Table 2 of its Appendix D).
v2: Haarnoja et al. (2018), arXiv 1812.05905: no value network; target Q-networks; the temperature alpha is
    learned by minimising J(alpha) toward the entropy target -dim(A).

Equations (numbers of 1812.05905 unless marked v1):
    J_Q = E[ 1/2 (Q(s,a) - (r + gamma (1-d) (min_j Qbar_j(s',a') - alpha log pi(a'|s'))))^2 ]     (eq. 5, 8)
    J_pi = E[ alpha log pi(a~|s) - min_j Q_j(s, a~) ],  a~ = tanh(mu + sigma eps)                   (eq. 7, 9)
    J(alpha) = E[ -alpha log pi(a~|s) - alpha Hbar ],   Hbar = -dim(A)                             (eq. 18)
    v1: J_V = E[ 1/2 (V(s) - (min_j Q_j(s,a~) - log pi(a~|s)))^2 ]                                 (v1 eq. 5)
        J_Q = E[ 1/2 (Q(s,a) - (r_hat + gamma (1-d) Vbar(s')))^2 ], r_hat = reward_scale * r        (v1 eq. 7, 8)
    log pi(a|s) = log N(u | mu, sigma) - sum_i log(1 - tanh(u_i)^2)                                (v1 eq. 21)

Speed: the two Q-functions are one batched network (stacked weights, one batched matmul per layer); when the
actor differentiates through the critics their weights are detached (no weight gradients are computed); one
backward pass per update, losses kept on the device (common/offpolicy/update.py); acting
runs the policy in numpy. `matmul_dtype: bfloat16` runs the networks' matmuls in bf16 autocast (fp32 weights).

The replay buffer, the soft target update, the loop's setup, environment steps, episode bookkeeping and checkpointed
state, the evaluation rollout and the non-finite loss check are shared with DDPG (common/offpolicy).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from common.offpolicy import Replay, evaluate, first_nonfinite_loss, polyak_update
from common.offpolicy.loop import (end_episode, env_step, finish_loop, loop_checkpoint, loop_tables, new_loop_state,
                                   restore_loop, setup_loop)
from common.offpolicy.update import adam, gradient_step, learn
from common.rl.agents import save_agent
from common.platform.device import to_cpu
from common.platform.finite import EmptyMetricError, MayBeNaN, NonFiniteError, TableRules, check_finite
from common.platform.memory import keep_freed_memory

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # clamp of the policy's log standard deviation (reference code)


from .sac_config import MATMUL_DTYPES, VERSIONS, SACConfig, validate_sac  # noqa: E402,F401 (torch-free)


#: torch's default Adam, not the fused kernel: at SAC's sizes the fused one saved no time measurably (0.98x the
#: update's time, within the machine's noise), while its rounding changes trajectories (README, Speed).
FUSED_ADAM = False

LOSS_COLUMNS = ("q_loss", "pi_loss", "alpha_or_v_loss", "alpha")
#: What may be NaN or empty in the recorded tables (common.platform.finite): an evaluation before learning starts follows
#: no update, so its losses are undefined; anything else must be finite.
TABLES = {
    "evaluations": TableRules(
        nan={c: MayBeNaN("no update before learning_starts", lambda df, cfg: df["env_step"] < cfg.learning_starts)
             for c in LOSS_COLUMNS},
        may_be_empty=lambda cfg: cfg.total_env_steps < cfg.eval_every_steps),
    "episodes": TableRules(may_be_empty=True),  # the episodes that ended: none may end in a short run
}


# ---- networks --------------------------------------------------------------------------------------------------
class TwinQ(nn.Module):
    """Two Q-functions as one network: weights stacked on a leading axis of size 2, one batched matmul per layer."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, n: int = 2):
        super().__init__()
        dims = [obs_dim + act_dim, hidden, hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            bound = 1 / math.sqrt(d_in)  # torch.nn.Linear's default initialization, per Q-function
            self.weights.append(nn.Parameter(torch.empty(n, d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, 1, d_out).uniform_(-bound, bound)))

    def forward(self, obs: torch.Tensor, act: torch.Tensor, detach_weights: bool = False) -> torch.Tensor:
        """(n, B) Q-values. With `detach_weights`, gradients flow to the inputs only (the actor's update)."""
        h = torch.cat([obs, act], dim=-1).unsqueeze(0).expand(len(self.weights[0]), -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if detach_weights:
                w, b = w.detach(), b.detach()
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = F.relu(h)
        return h.squeeze(-1)


def mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class Actor(nn.Module):
    """Gaussian policy squashed by tanh (v1 Appendix C), scaled to the action bounds."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, low: np.ndarray, high: np.ndarray,
                 log_prob_units: str = "normalized"):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, hidden)
        self.register_buffer("scale", torch.tensor((high - low) / 2, dtype=torch.float32))
        self.register_buffer("center", torch.tensor((high + low) / 2, dtype=torch.float32))
        # change of variables a = center + scale tanh(u): the density in the task's units is the normalized
        # action's divided by prod_i scale_i; in normalized units (the authors' code) nothing is subtracted
        self.log_scale_sum = float(np.log((high - low) / 2).sum()) if log_prob_units == "env" else 0.0

    def forward(self, obs: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterized action a~ = center + scale tanh(mu + sigma eps) and its log-probability (v1 eq. 21), the
        latter in the units `log_prob_units` names."""
        return self.sample(*self.distribution(obs), eps)

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian's mean and clamped log standard deviation at each state (one forward pass of the network)."""
        mean, log_std = self.net(obs).float().chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, mean: torch.Tensor, log_std: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` from the distribution's parameters: several samples per state need one network pass only."""
        u = mean + log_std.exp() * eps
        log_prob = squashed_log_prob(u, mean, log_std) - self.log_scale_sum
        return self.center + self.scale * torch.tanh(u), log_prob


def squashed_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(u | mean, std) - sum_i log(1 - tanh(u_i)^2), with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))."""
    gauss = (-0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    return gauss - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)


def soft_bellman_target(rew, done, q_next_min, logp_next, alpha, gamma: float):
    """y = r + gamma (1 - d) (min_j Qbar_j(s', a') - alpha log pi(a'|s')),  a' ~ pi(.|s')   (eq. 5 and 8)."""
    return rew + gamma * (1.0 - done) * (q_next_min - alpha * logp_next)


def temperature_loss(log_alpha, logp, target_entropy: float):
    """J(alpha) = E[-alpha (log pi(a~|s) + Hbar)]   (eq. 18), optimised through log alpha."""
    return -(log_alpha * (logp.detach() + target_entropy)).mean()


# ---- the update ----------------------------------------------------------------------------------------------
class SAC(nn.Module):
    def __init__(self, cfg: SACConfig, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray):
        super().__init__()
        self.cfg, self.act_dim = cfg, act_dim
        self.actor = Actor(obs_dim, act_dim, cfg.hidden_units, low, high, cfg.log_prob_units)
        self.q = TwinQ(obs_dim, act_dim, cfg.hidden_units)
        if cfg.version == "v1":
            self.v, self.v_target = mlp(obs_dim, 1, cfg.hidden_units), mlp(obs_dim, 1, cfg.hidden_units)
            self.v_target.load_state_dict(self.v.state_dict())
            critic_params = list(self.q.parameters()) + list(self.v.parameters())
        else:
            self.q_target = TwinQ(obs_dim, act_dim, cfg.hidden_units)
            self.q_target.load_state_dict(self.q.state_dict())
            self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.init_alpha)))
            self.alpha_opt = adam([self.log_alpha], lr=cfg.lr, fused=FUSED_ADAM)
            critic_params = list(self.q.parameters())
        self.critic_opt = adam(critic_params, lr=cfg.lr, fused=FUSED_ADAM)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.lr, fused=FUSED_ADAM)
        self.optimizers = [self.critic_opt, self.actor_opt] + ([self.alpha_opt] if cfg.version == "v2" else [])
        self.target_entropy = cfg.target_entropy_per_dim * act_dim
        for p in (self.v_target if cfg.version == "v1" else self.q_target).parameters():
            p.requires_grad_(False)

    def soft_update(self) -> None:
        """theta_bar <- tau theta + (1 - tau) theta_bar (Table 1: tau = 0.005, every step)."""
        src, dst = (self.v, self.v_target) if self.cfg.version == "v1" else (self.q, self.q_target)
        polyak_update(dst.parameters(), src.parameters(), self.cfg.tau)

    def update(self, obs, act, rew, next_obs, done, eps_next, eps_now) -> torch.Tensor:
        """One gradient step on every loss, then the soft target update; returns the losses without .item(). The
        losses touch disjoint parameters (the actor sees the critics through detached weights, the temperature
        through detached log-probabilities), so one backward pass serves all (common/offpolicy/update.py); the
        policy gradient uses the critics before this step's update."""
        total, reported = self.losses(obs, act, rew, next_obs, done, eps_next, eps_now)
        gradient_step(total, self.optimizers)
        self.soft_update()
        return reported

    def losses(self, obs, act, rew, next_obs, done, eps_next, eps_now) -> tuple[torch.Tensor, torch.Tensor]:
        """(J_Q + J_pi + J(alpha) or J_V, the vector of LOSS_COLUMNS) on one minibatch."""
        cfg = self.cfg
        with torch.autocast(obs.device.type, dtype=torch.bfloat16, enabled=cfg.matmul_dtype == "bfloat16"):
            a_new, logp = self.actor(obs, eps_now)
            q_new = self.q(obs, a_new, detach_weights=True).float().min(0).values
            if cfg.version == "v2":
                alpha = self.log_alpha.exp().detach()
                with torch.no_grad():  # soft Bellman target (eq. 5, with the minimum of the target Q's)
                    a_next, logp_next = self.actor(next_obs, eps_next)
                    q_next_min = self.q_target(next_obs, a_next).float().min(0).values
                    target = soft_bellman_target(rew, done, q_next_min, logp_next, alpha, cfg.gamma)
                critic_loss = 0.5 * ((self.q(obs, act).float() - target) ** 2).mean(1).sum()  # J_Q, both Q's
                pi_loss = (alpha * logp - q_new).mean()  # J_pi (eq. 7)
                extra_loss = temperature_loss(self.log_alpha, logp, self.target_entropy)  # J(alpha), eq. 18
                extra = alpha
            else:  # v1: value network, rewards scaled, alpha = 1
                with torch.no_grad():
                    target = cfg.reward_scale * rew + cfg.gamma * (1.0 - done) * self.v_target(next_obs).float().squeeze(-1)
                    target_v = q_new - logp  # E_a[min_j Q_j - log pi] (v1 eq. 5)
                extra_loss = 0.5 * ((self.v(obs).float().squeeze(-1) - target_v) ** 2).mean()  # J_V (v1 eq. 5)
                critic_loss = 0.5 * ((self.q(obs, act).float() - target) ** 2).mean(1).sum()  # J_Q (v1 eq. 7)
                pi_loss = (logp - q_new).mean()  # J_pi (v1 eq. 12)
                extra = torch.ones((), device=critic_loss.device)
        return (critic_loss + pi_loss + extra_loss,
                torch.stack([critic_loss.detach(), pi_loss.detach(), extra_loss.detach(), extra]))


def np_policy_mean(w: dict, obs: np.ndarray, act_dim: int, scale: np.ndarray, center: np.ndarray,
                   eps: np.ndarray | None) -> np.ndarray:
    """The actor in numpy for acting: a = center + scale tanh(mu + sigma eps), or tanh(mu) with eps None."""
    h = np.maximum(obs @ w["net.0.weight"].T + w["net.0.bias"], 0)
    h = np.maximum(h @ w["net.2.weight"].T + w["net.2.bias"], 0)
    out = h @ w["net.4.weight"].T + w["net.4.bias"]
    mean, log_std = out[:act_dim], np.clip(out[act_dim:], LOG_STD_MIN, LOG_STD_MAX)
    u = mean if eps is None else mean + np.exp(log_std) * eps
    return center + scale * np.tanh(u)


def check_losses(pending: list, first_step: int, cfg: SACConfig) -> None:
    """Raise NonFiniteError naming the first of `pending` (one loss vector per update, the first at env step
    `first_step`) that holds a non-finite loss. One device sync; called once per evaluation period, and when
    anything else in the loop turns non-finite (to name the update where it began)."""
    bad = first_nonfinite_loss(pending)
    if bad is not None:
        i, j, value = bad
        step = first_step + i // cfg.updates_per_step
        update = (first_step - cfg.learning_starts) * cfg.updates_per_step + i + 1
        raise NonFiniteError(f"non-finite {LOSS_COLUMNS[j].replace('_', ' ')} ({value}) at update "
                             f"{update:,} (env step {step:,})")


# ---- the saved agent -------------------------------------------------------------------------------------------
def save_sac_agent(ctx, cfg: SACConfig, agent: SAC, steps: int, scale: np.ndarray, center: np.ndarray,
                   snapshot: int | None = None, replay: "Replay | None" = None) -> None:
    """The actor and its action scaling (committed) and, for the final agent, the critics, v1's value networks and
    the temperature (beside the run, git-ignored) into the run folder (common/rl/agents.py)."""
    actor = {k: v for k, v in to_cpu(agent.actor.state_dict()).items() if k.startswith("net.")}
    policy = {**actor, "scale": scale, "center": center}  # float64, as acting uses
    obs_dim = int(actor["net.0.weight"].shape[1])
    meta = {"env_id": cfg.env_id, "obs_dim": obs_dim, "act_dim": agent.act_dim, "hidden_units": cfg.hidden_units,
            "layers": 3, "activation": "relu", "log_std_min": LOG_STD_MIN, "log_std_max": LOG_STD_MAX,
            "env_steps": int(steps), "algorithm": f"SAC {cfg.version}", "default_deterministic": True}
    large = None
    if snapshot is None:
        critics = ("q", "v", "v_target") if cfg.version == "v1" else ("q", "q_target")
        large = {f"{name}.{k}": v for name in critics for k, v in to_cpu(getattr(agent, name).state_dict()).items()}
        if cfg.version == "v2":
            large["log_alpha"] = agent.log_alpha.detach().cpu()
        if replay is not None:  # the transitions in the buffer, oldest overwritten past its capacity
            large.update({f"replay.{k}": np.asarray(v) for k, v in replay.state().items()})
    save_agent(ctx, "squashed_gaussian_mlp", policy, meta, large=large, snapshot=snapshot)


# ---- the loop --------------------------------------------------------------------------------------------------
def run_sac(cfg: SACConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_sac(cfg)
    keep_freed_memory()  # the update's activations reuse freed memory instead of new pages (no change to any number)
    device, env, eval_env, obs_dim, act_dim, low, high, scale, center = setup_loop(cfg)
    agent = SAC(cfg, obs_dim, act_dim, low, high).to(device)
    replay = Replay(min(cfg.replay_size, cfg.total_env_steps), obs_dim, act_dim)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 11]))
    gen = torch.Generator().manual_seed(cfg.seed)
    snapshot_steps = set(int(s) for s in cfg.save_agent_at_steps)  # in 1..total_env_steps (validate_sac)

    state = ctx.restore()
    if state is None:
        obs, state = new_loop_state(env, cfg.seed)
    else:
        agent.load_state_dict(state["agent"])
        for name in ("critic_opt", "actor_opt") + (("alpha_opt",) if cfg.version == "v2" else ()):
            getattr(agent, name).load_state_dict(state[name])
        gen.set_state(state["torch_gen"])
        obs = restore_loop(state, replay, rng, env, eval_env)

    def checkpoint_state() -> dict:  # tensors on the CPU, so that a checkpoint loads on any machine
        check_finite("parameters", agent.state_dict(), f"env step {state['step']:,}")  # when saved, and at the end
        opts = {name: to_cpu(getattr(agent, name).state_dict()) for name in ("critic_opt", "actor_opt")
                + (("alpha_opt",) if cfg.version == "v2" else ())}
        return {**state, **opts, "agent": to_cpu(agent.state_dict()), "torch_gen": gen.get_state(),
                **loop_checkpoint(replay, rng, env, eval_env, obs)}

    # numpy views of the actor's weights: the optimizer updates them in place, so acting always sees the latest
    # (on a GPU, a copy refreshed after every update instead)
    def actor_weights() -> dict:
        return {k: v.detach().cpu().numpy() for k, v in agent.actor.state_dict().items() if k.startswith("net")}

    weights = actor_weights()
    pending_losses = []
    bar = ctx.progress(cfg.total_env_steps, f"SAC {cfg.version} {cfg.env_id}", initial=state["step"],
                       unit="env-steps")
    for step in range(state["step"], cfg.total_env_steps):
        if step < cfg.learning_starts:
            action = rng.uniform(low, high)
        else:
            action = np_policy_mean(weights, obs, act_dim, scale, center, rng.standard_normal(act_dim))
        obs, episode_ended = env_step(env, replay, state, obs, action)
        if episode_ended:
            if not math.isfinite(state["ep_return"]):  # name the update where it began, if one did
                check_losses(pending_losses, step + 1 - len(pending_losses) // cfg.updates_per_step, cfg)
            obs = end_episode(env, state, step + 1)
        if step + 1 >= cfg.learning_starts:
            learn(agent.update, replay, rng, cfg.batch_size, cfg.updates_per_step, device, pending_losses,
                  noise=lambda: torch.randn((2, cfg.batch_size, act_dim), generator=gen).to(device).unbind())
            if device.type != "cpu":
                weights = actor_weights()
        if step + 1 in snapshot_steps:
            save_sac_agent(ctx, cfg, agent, step + 1, scale, center, snapshot=step + 1)
        if (step + 1) % cfg.eval_every_steps == 0:
            ret = evaluate(eval_env, lambda o: np_policy_mean(weights, o, act_dim, scale, center, None),
                           cfg.eval_episodes, cfg.seed * 1_000_003 + step).mean_return  # the mean action
            if pending_losses:  # the mean over this evaluation period's updates: a NaN in any shows here
                losses = torch.stack(pending_losses).mean(0).tolist()
                if not all(map(math.isfinite, losses)):
                    check_losses(pending_losses, max(step + 2 - cfg.eval_every_steps, cfg.learning_starts), cfg)
            elif step + 1 >= cfg.learning_starts:
                raise EmptyMetricError(f"no update in the evaluation period ending at env step {step + 1:,} "
                                       f"(updates_per_step={cfg.updates_per_step}): its losses cannot be computed")
            else:
                losses = [float("nan")] * 4  # no update before learning starts: undefined, by design (TABLES)
            check_finite("evaluation return", ret, f"the evaluation at env step {step + 1:,}")
            pending_losses = []
            state["evaluations"].append((step + 1, ret, *losses))
            state["step"], state["obs"] = step + 1, obs
            bar.update(cfg.eval_every_steps)
            ctx.maybe_checkpoint(checkpoint_state)  # at evaluation boundaries only: nothing pending is lost
        ctx.count(1, "env-steps")
    finish_loop(state, bar, agent, cfg.total_env_steps)
    save_sac_agent(ctx, cfg, agent, cfg.total_env_steps, scale, center, replay=replay if cfg.save_replay else None)
    return loop_tables(state, cfg.seed, ["env_step", "eval_return", *LOSS_COLUMNS])
