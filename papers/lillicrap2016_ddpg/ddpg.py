"""Deep Deterministic Policy Gradient (Lillicrap, Hunt, Pritzel, Heess, Erez, Tassa, Silver, Wierstra; ICLR 2016,
arXiv 1509.02971), Algorithm 1 with the low-dimensional settings of its Section 7, and "Our DDPG" of the TD3 paper
(Fujimoto, van Hoof, Meger 2018, arXiv 1802.09477, Sec. 6.1 and its code OurDDPG.py) as a variant of the same code.

Equations (numbers of 1509.02971):
    y_i = r_i + gamma (1 - d_i) Q'(s_{i+1}, mu'(s_{i+1}))                 (Algorithm 1, eq. 5 with target networks)
    L   = 1/N sum_i (y_i - Q(s_i, a_i))^2                                  (Algorithm 1, eq. 4)
    grad J ~ 1/N sum_i grad_a Q(s_i, a)|_{a = mu(s_i)} grad_theta mu(s_i)  (Algorithm 1, eq. 6)
    theta' <- tau theta + (1 - tau) theta'                                 (Algorithm 1, tau = 0.001)
    x_{t+1} = x_t + theta (m - x_t) dt + sigma sqrt(dt) N(0, I)            (Section 7: Ornstein-Uhlenbeck, 0.15, 0.2)
d_i is 1 only where the episode terminated (a time-limit end is bootstrapped), as the replay records it.

Networks (Section 7): two hidden layers of 400 and 300 rectifiers; the actor's output is tanh, scaled to the action
bounds; the critic takes the action at its second hidden layer (`action_layer: 2`; TD3's Our DDPG: 1, both at the
input); final layers uniform in +-3e-3, the others uniform in +-1/sqrt(fan-in) (torch's own default for a Linear
layer); batch normalization (`batch_norm`) on the state input and every layer of the actor and on the critic's
layers before the action enters. Updates use the minibatch's statistics; acting and the Q estimates of evaluations
use the running statistics. The actor's gradient comes from the same critic as the critic's loss of this step (one
backward pass; the critic's weights are detached for it), as OpenAI baselines' DDPG computes both.

Speed: acting runs the actor in numpy on views of the torch weights (the optimizer updates them in place); one
backward pass serves both losses, fused Adam steps, losses kept on the device (common/offpolicy/update.py); targets
are averaged with one fused in-place operation (common/offpolicy).
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
from common.offpolicy.policies import deterministic_actor as np_actor
from common.offpolicy.update import adam, gradient_step, learn
from common.platform.device import to_cpu
from common.platform.finite import EmptyMetricError, NonFiniteError, check_finite
from common.rl.agents import save_agent

from .ddpg_config import LOSS_COLUMNS, TABLES, DDPGConfig, validate_ddpg  # noqa: F401 (re-exported)


# ---- exploration -----------------------------------------------------------------------------------------------
class OrnsteinUhlenbeck:
    """x_{t+1} = x_t + theta (m - x_t) dt + sigma sqrt(dt) eps_t, eps_t ~ N(0, I), started at m (Section 7). Its
    mean reverts as E[x_{t+k} | x_t] = m + (1 - theta dt)^k (x_t - m); its stationary variance is
    sigma^2 dt / (1 - (1 - theta dt)^2), which tends to the continuous process's sigma^2 / (2 theta) as dt -> 0."""

    def __init__(self, dim: int, theta: float, sigma: float, dt: float = 1.0, mean: float = 0.0):
        self.theta, self.sigma, self.dt, self.mean = theta, sigma, dt, mean
        self.x = np.full(dim, mean, dtype=np.float64)

    def reset(self) -> None:
        self.x[:] = self.mean

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        self.x = (self.x + self.theta * (self.mean - self.x) * self.dt
                  + self.sigma * math.sqrt(self.dt) * rng.standard_normal(len(self.x)))
        return self.x

    def stationary_variance(self) -> float:
        return self.sigma ** 2 * self.dt / (1 - (1 - self.theta * self.dt) ** 2)


# ---- networks --------------------------------------------------------------------------------------------------
def _linear(n_in: int, n_out: int, final_init: float | None = None) -> nn.Linear:
    """Uniform in +-1/sqrt(fan-in) (torch's default for nn.Linear, the paper's for hidden layers), or in
    +-final_init for the final layers (Section 7: 3e-3)."""
    layer = nn.Linear(n_in, n_out)
    if final_init:
        nn.init.uniform_(layer.weight, -final_init, final_init)
        nn.init.uniform_(layer.bias, -final_init, final_init)
    return layer


def _bn(h: torch.Tensor, bn: nn.BatchNorm1d, train: bool, update_stats: bool, detach: bool) -> torch.Tensor:
    """Batch normalization: the minibatch's statistics when `train` (the running ones updated only if
    `update_stats`), else the running statistics; with `detach`, no gradient reaches its scale and shift."""
    w, b = (bn.weight.detach(), bn.bias.detach()) if detach else (bn.weight, bn.bias)
    keep = update_stats or not train
    return F.batch_norm(h, bn.running_mean if keep else None, bn.running_var if keep else None, w, b, train,
                        bn.momentum, bn.eps)


def _dense(h: torch.Tensor, layer: nn.Linear, detach: bool) -> torch.Tensor:
    return F.linear(h, layer.weight.detach(), layer.bias.detach()) if detach else layer(h)


class Actor(nn.Module):
    """mu(s) = tanh(W3 relu(W2 relu(W1 s))) (with batch normalization of s and of each hidden layer's
    pre-activation when `batch_norm`), in [-1, 1]; the loop scales it to the action bounds."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list, batch_norm: bool, final_init: float,
                 bn_momentum: float = 0.1):
        super().__init__()
        h1, h2 = hidden
        self.l1, self.l2, self.l3 = _linear(obs_dim, h1), _linear(h1, h2), _linear(h2, act_dim, final_init)
        self.bns = nn.ModuleList(nn.BatchNorm1d(d, momentum=bn_momentum) for d in (obs_dim, h1, h2)) \
            if batch_norm else None

    def forward(self, obs: torch.Tensor, train: bool = True, update_stats: bool = True) -> torch.Tensor:
        def norm(h, i):
            return h if self.bns is None else _bn(h, self.bns[i], train, update_stats, False)

        h = F.relu(norm(self.l1(norm(obs, 0)), 1))
        h = F.relu(norm(self.l2(h), 2))
        return torch.tanh(self.l3(h))


class Critic(nn.Module):
    """Q(s, a) with the action entering at layer `action_layer`: 2 (Section 7) gives
    W3 relu(W2 [relu(W1 s), a]), 1 (TD3's Our DDPG) W3 relu(W2 relu(W1 [s, a])); batch normalization on the state
    input and the layers before the action enters."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list, action_layer: int, batch_norm: bool,
                 final_init: float, bn_momentum: float = 0.1):
        super().__init__()
        h1, h2 = hidden
        self.action_layer = action_layer
        first_in, second_in = (obs_dim, h1 + act_dim) if action_layer == 2 else (obs_dim + act_dim, h1)
        self.l1, self.l2, self.l3 = _linear(first_in, h1), _linear(second_in, h2), _linear(h2, 1, final_init)
        # the layers before the action: the state input, and the first hidden layer when the action enters at 2
        dims = (obs_dim, h1) if action_layer == 2 else ()
        self.bns = nn.ModuleList(nn.BatchNorm1d(d, momentum=bn_momentum) for d in dims) \
            if batch_norm and dims else None

    def forward(self, obs: torch.Tensor, act: torch.Tensor, train: bool = True, update_stats: bool = True,
                detach_weights: bool = False) -> torch.Tensor:
        """(B,) Q-values. With `detach_weights` gradients reach the inputs only (the actor's update)."""
        def norm(h, i):
            return h if self.bns is None else _bn(h, self.bns[i], train, update_stats, detach_weights)

        if self.action_layer == 2:
            h = F.relu(norm(_dense(norm(obs, 0), self.l1, detach_weights), 1))
            h = F.relu(_dense(torch.cat([h, act], dim=-1), self.l2, detach_weights))
        else:
            h = F.relu(_dense(torch.cat([obs, act], dim=-1), self.l1, detach_weights))
            h = F.relu(_dense(h, self.l2, detach_weights))
        return _dense(h, self.l3, detach_weights).squeeze(-1)


def td_target(rew: torch.Tensor, done: torch.Tensor, q_next: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + gamma (1 - d) Q'(s', mu'(s'))   (Algorithm 1)."""
    return rew + gamma * (1.0 - done) * q_next


# ---- the update ----------------------------------------------------------------------------------------------
class DDPG(nn.Module):
    def __init__(self, cfg: DDPGConfig, obs_dim: int, act_dim: int):
        super().__init__()
        self.cfg, self.act_dim = cfg, act_dim
        self.actor = Actor(obs_dim, act_dim, list(cfg.hidden_units), cfg.batch_norm, cfg.final_layer_init,
                           cfg.bn_momentum)
        self.critic = Critic(obs_dim, act_dim, list(cfg.hidden_units), cfg.action_layer, cfg.batch_norm,
                             cfg.final_layer_init, cfg.bn_momentum)
        if cfg.target_network:  # theta' <- theta (Algorithm 1)
            self.actor_target = Actor(obs_dim, act_dim, list(cfg.hidden_units), cfg.batch_norm,
                                      cfg.final_layer_init, cfg.bn_momentum)
            self.critic_target = Critic(obs_dim, act_dim, list(cfg.hidden_units), cfg.action_layer, cfg.batch_norm,
                                        cfg.final_layer_init, cfg.bn_momentum)
            self.actor_target.load_state_dict(self.actor.state_dict())
            self.critic_target.load_state_dict(self.critic.state_dict())
            for p in list(self.actor_target.parameters()) + list(self.critic_target.parameters()):
                p.requires_grad_(False)
            self._online = list(self.actor.parameters()) + list(self.critic.parameters())
            self._target = list(self.actor_target.parameters()) + list(self.critic_target.parameters())
        # L2 weight decay on the critic's weight matrices (Section 7), not on biases or batch-norm parameters
        decayed = [m.weight for m in (self.critic.l1, self.critic.l2, self.critic.l3)]
        rest = [p for p in self.critic.parameters() if all(p is not w for w in decayed)]
        self.critic_opt = adam([{"params": decayed, "weight_decay": cfg.critic_l2},
                                {"params": rest, "weight_decay": 0.0}], lr=cfg.critic_lr)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.actor_lr)

    def targets(self) -> tuple[nn.Module, nn.Module]:
        """The networks of y: the target networks, or without them (Figure 2's ablation) the online ones."""
        if self.cfg.target_network:
            return self.actor_target, self.critic_target
        return self.actor, self.critic

    def soft_update(self) -> None:
        """theta' <- tau theta + (1 - tau) theta' for actor and critic (Algorithm 1)."""
        if self.cfg.target_network:
            polyak_update(self._target, self._online, self.cfg.tau)

    def update(self, obs, act, rew, next_obs, done) -> torch.Tensor:
        """One step on both losses (one backward pass: common/offpolicy/update.py) and the soft target update; the
        losses (critic, actor) without .item()."""
        total, reported = self.losses(obs, act, rew, next_obs, done)
        gradient_step(total, (self.critic_opt, self.actor_opt))
        self.soft_update()
        return reported

    def losses(self, obs, act, rew, next_obs, done) -> tuple[torch.Tensor, torch.Tensor]:
        """(L + J, the vector (L, J)) on one minibatch: the critic's loss and the actor's, -Q(s, mu(s))."""
        cfg = self.cfg
        actor_t, critic_t = self.targets()
        with torch.no_grad():  # y (Algorithm 1); batch statistics of s', the running ones left alone
            q_next = critic_t(next_obs, actor_t(next_obs, update_stats=False), update_stats=False)
            y = td_target(rew, done, q_next, cfg.gamma)
        critic_loss = ((self.critic(obs, act) - y) ** 2).mean()  # L (eq. 4)
        # J: -Q(s, mu(s)) through the critic's inputs only, its weights detached (eq. 6)
        actor_loss = -self.critic(obs, self.actor(obs), update_stats=False, detach_weights=True).mean()
        return critic_loss + actor_loss, torch.stack([critic_loss.detach(), actor_loss.detach()])

    @torch.no_grad()
    def q_estimate(self, obs: np.ndarray) -> np.ndarray:
        """Q(s, mu(s)) of the online critic, running statistics (Figure 3's estimate)."""
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.actor.l1.weight.device)
        return self.critic(x, self.actor(x, train=False), train=False).cpu().numpy().astype(np.float64)


# ---- acting in numpy -------------------------------------------------------------------------------------------
def actor_arrays(actor: Actor) -> dict:
    """Numpy views of the actor's weights and running statistics (on the CPU: updated in place by the optimizer)."""
    return {k: v.detach().cpu().numpy() for k, v in actor.state_dict().items() if not k.endswith("num_batches_tracked")}


# ---- the saved agent -------------------------------------------------------------------------------------------
def save_ddpg_agent(ctx, cfg: DDPGConfig, agent: DDPG, steps: int, scale: np.ndarray, center: np.ndarray) -> None:
    """The actor with its running statistics and action scaling (committed), and the critic and the target
    networks (beside the run, git-ignored) into the run folder (common/rl/agents.py)."""
    policy = {**actor_arrays(agent.actor), "scale": scale, "center": center}  # float64 scaling, as acting uses
    obs_dim = int(agent.actor.l1.weight.shape[1])
    meta = {"env_id": cfg.env_id, "obs_dim": obs_dim, "act_dim": agent.act_dim, "hidden_units": list(cfg.hidden_units),
            "batch_norm": cfg.batch_norm, "activation": "relu", "env_steps": int(steps),
            "algorithm": "DDPG", "exploration": cfg.exploration, "ou_theta": cfg.ou_theta, "ou_sigma": cfg.ou_sigma,
            "ou_dt": cfg.ou_dt, "gaussian_sigma": cfg.gaussian_sigma, "default_deterministic": True}
    nets = ("critic", "actor_target", "critic_target") if cfg.target_network else ("critic",)
    large = {f"{name}.{k}": v for name in nets for k, v in to_cpu(getattr(agent, name).state_dict()).items()}
    save_agent(ctx, "deterministic_mlp", policy, meta, large=large)


# ---- the loop --------------------------------------------------------------------------------------------------
def run_ddpg(cfg: DDPGConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_ddpg(cfg)
    device, env, eval_env, obs_dim, act_dim, low, high, scale, center = setup_loop(cfg)
    agent = DDPG(cfg, obs_dim, act_dim).to(device)
    replay = Replay(min(cfg.replay_size, cfg.total_env_steps), obs_dim, act_dim)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 13]))
    ou = OrnsteinUhlenbeck(act_dim, cfg.ou_theta, cfg.ou_sigma, cfg.ou_dt)

    state = ctx.restore()
    if state is None:
        obs, state = new_loop_state(env, cfg.seed)
    else:
        agent.load_state_dict(state["agent"])
        agent.critic_opt.load_state_dict(state["critic_opt"])
        agent.actor_opt.load_state_dict(state["actor_opt"])
        ou.x = state["ou"]
        obs = restore_loop(state, replay, rng, env, eval_env)

    def checkpoint_state() -> dict:  # tensors on the CPU, so that a checkpoint loads on any machine
        check_finite("parameters", agent.state_dict(), f"env step {state['step']:,}")
        return {**state, "agent": to_cpu(agent.state_dict()), "critic_opt": to_cpu(agent.critic_opt.state_dict()),
                "actor_opt": to_cpu(agent.actor_opt.state_dict()), "ou": ou.x.copy(),
                **loop_checkpoint(replay, rng, env, eval_env, obs)}

    weights = actor_arrays(agent.actor)  # views on the CPU; on a GPU a copy refreshed after every update
    pending_losses: list = []
    bar = ctx.progress(cfg.total_env_steps, f"DDPG {cfg.env_id}", initial=state["step"], unit="env-steps")
    for step in range(state["step"], cfg.total_env_steps):
        if step < cfg.random_steps:
            action = rng.uniform(low, high)
        else:  # a = mu(s) + N, N the exploration noise (Algorithm 1), kept within the bounds
            noise = ou.sample(rng) if cfg.exploration == "ou" else cfg.gaussian_sigma * rng.standard_normal(act_dim)
            action = center + scale * np.clip(np_actor(weights, obs) + noise, -1.0, 1.0)
        obs, episode_ended = env_step(env, replay, state, obs, action)
        if episode_ended:
            obs = end_episode(env, state, step + 1)
            ou.reset()  # a new random process per episode (Algorithm 1)
        if step + 1 >= cfg.learning_starts:
            # one update on a uniform minibatch of N transitions (Algorithm 1)
            learn(agent.update, replay, rng, cfg.batch_size, 1, device, pending_losses)
            if device.type != "cpu":
                weights = actor_arrays(agent.actor)
        if (step + 1) % cfg.eval_every_steps == 0:
            ev = evaluate(eval_env, lambda o: center + scale * np_actor(weights, o), cfg.eval_episodes,
                          cfg.seed * 1_000_003 + step, gamma=cfg.gamma)
            q0 = agent.q_estimate(np.stack(ev.first_obs))  # Figure 3: Q(s_0, mu(s_0)) against the return from s_0
            if pending_losses:
                bad = first_nonfinite_loss(pending_losses)
                if bad is not None:  # one update per env step: the i-th pending one followed env step first + i
                    i, j, value = bad
                    first = step + 2 - len(pending_losses)
                    raise NonFiniteError(f"non-finite {LOSS_COLUMNS[j].replace('_', ' ')} ({value}) in the update "
                                         f"at env step {first + i:,}")
                losses = torch.stack(pending_losses).mean(0).tolist()
            elif step + 1 >= cfg.learning_starts:
                raise EmptyMetricError(f"no update in the evaluation period ending at env step {step + 1:,}")
            else:
                losses = [float("nan")] * 2  # no update before learning starts: undefined, by design (TABLES)
            check_finite("evaluation return", ev.mean_return, f"the evaluation at env step {step + 1:,}")
            check_finite("Q estimate", q0, f"the evaluation at env step {step + 1:,}")
            pending_losses = []
            state["evaluations"].append((step + 1, ev.mean_return, float(np.mean(ev.discounted_returns)),
                                         float(q0.mean()), *losses))
            state["step"], state["obs"] = step + 1, obs
            bar.update(cfg.eval_every_steps)
            ctx.maybe_checkpoint(checkpoint_state)  # at evaluation boundaries only: nothing pending is lost
        ctx.count(1, "env-steps")
    finish_loop(state, bar, agent, cfg.total_env_steps)
    save_ddpg_agent(ctx, cfg, agent, cfg.total_env_steps, scale, center)
    return loop_tables(state, cfg.seed, ["env_step", "eval_return", "eval_discounted_return", "q_estimate",
                                         *LOSS_COLUMNS])
