"""Conservative Q-Learning on SAC (Kumar, Zhou, Tucker, Levine 2020, arXiv 2006.04779), and the baselines of its
Table 1 trained on the same data with the same networks: offline SAC (no regularizer) and behavioural cloning.

Methods (`method`):
    cql_h    SAC's losses plus CQL(H)'s gap (eq. 4): alpha E_s[log sum_a exp Q(s,a) - E_{a~D} Q(s,a)], the log-sum-exp
             importance-sampled from N uniform actions and N actions of the current policy (Appendix F)
    cql_rho  the same with CQL(rho)'s gap (eq. 3, Sec. 3.2): E_s[E_{a~mu} Q] - E_D Q, mu ∝ rho exp Q, rho = the
             current policy, from its N actions
    sac      offline SAC v2: the same losses without the gap (the "SAC" column of Table 1)
    bc       behavioural cloning: the same actor trained to maximize log pi(a|s) of the dataset's actions

SAC's pieces come from papers/haarnoja2018_sac/sac.py (the squashed Gaussian actor, the twin Q-network, the soft
Bellman target, eq. 5 and 8 of 1812.05905; the temperature loss, eq. 18); CQL's regularizers and the Lagrange
variant from common/offline/conservative.py. One training step ("gradient step") updates every network once on one
minibatch of the dataset; terminals stop bootstrapping, time-outs do not (datasets keep them apart).

    J_Q   = 1/2 E_D[(Q(s,a) - y)^2] + alpha' gap(Q),   y = r + gamma (1 - terminal) (min_j Qbar_j(s',a') - alpha log pi(a'|s'))
    J_pi  = E_{s~D}[alpha log pi(a~|s) - min_j Q_j(s,a~)]              (1812.05905 eq. 7; CQL Sec. 4, "CQL on SAC")
    alpha' fixed (`cql_alpha`), or the Lagrange variant: max_{alpha' >= 0} alpha' (gap - tau)   (Appendix F)
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import torch
from torch import nn

from common.offline.conservative import cql_h_gap, cql_rho_gap, lagrange_losses, uniform_log_density
from common.offline.d4rl import d4rl_normalized, d4rl_task
from common.offline.datasets import (FIELDS, Dataset, collect, episode_returns, input_entry, load_dataset,
                                     uniform_policy)
from common.platform.device import to_cpu, torch_device
from common.platform.finite import NonFiniteError, check_finite
from common.platform.memory import keep_freed_memory
from common.rl.envs import make_env
from papers.haarnoja2018_sac.sac import (Actor, TwinQ, np_policy_mean, soft_bellman_target, squashed_log_prob,
                                         temperature_loss)

from .cql_config import EVAL_COLUMNS, METHODS, Q_COLUMNS, TABLES, CQLConfig, validate_cql  # noqa: F401 (re-exported)


# ---- the learner -------------------------------------------------------------------------------------------------
class OfflineLearner(nn.Module):
    def __init__(self, cfg: CQLConfig, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray):
        super().__init__()
        self.cfg, self.act_dim = cfg, act_dim
        self.actor = Actor(obs_dim, act_dim, cfg.hidden_units, low, high)
        self.q = TwinQ(obs_dim, act_dim, cfg.hidden_units)
        self.q_target = TwinQ(obs_dim, act_dim, cfg.hidden_units)
        self.q_target.load_state_dict(self.q.state_dict())
        for p in self.q_target.parameters():
            p.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.zeros(()))  # SAC's temperature, alpha = 1 at the start
        self.log_alpha_prime = nn.Parameter(torch.zeros(()))  # CQL's Lagrange multiplier, alpha' = 1 at the start
        self.register_buffer("low", torch.tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.tensor(high, dtype=torch.float32))
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.policy_lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.policy_lr)
        self.q_opt = torch.optim.Adam(self.q.parameters(), lr=cfg.q_lr)
        self.alpha_prime_opt = torch.optim.Adam([self.log_alpha_prime], lr=cfg.q_lr)
        self.target_entropy = -float(act_dim)  # -dim(A) (1812.05905 Table 1)

    OPTIMIZERS = ("actor_opt", "alpha_opt", "q_opt", "alpha_prime_opt")

    def dataset_log_prob(self, obs, act):
        """log pi(a|s) of the dataset's actions (behavioural cloning): u = atanh((a - center) / scale), clipped
        inside (-1, 1) where the data sits on the bounds."""
        mean, log_std = self.actor.distribution(obs)
        x = ((act - self.actor.center) / self.actor.scale).clamp(-1 + 1e-6, 1 - 1e-6)
        return squashed_log_prob(torch.atanh(x), mean, log_std)

    def sampled_actions(self, mean, log_std, gen_eps):
        """N actions of the current policy per state with their log-densities (B*N,), drawn from the Gaussians of
        the minibatch's own forward pass of the actor (`mean`, `log_std`: (B, dim A), repeated N times; no second
        pass of the network over the B*N repeated states), and N uniform actions per state. No gradient: the gap
        trains the Q-functions only."""
        n = self.cfg.n_action_samples
        with torch.no_grad():
            a_pi, logp_pi = self.actor.sample(mean.detach().repeat_interleave(n, dim=0),
                                              log_std.detach().repeat_interleave(n, dim=0), gen_eps[0])
            a_unif = self.low + (self.high - self.low) * gen_eps[1]
        return a_unif, a_pi, logp_pi

    def sampled_q(self, obs, a_unif, a_pi):
        """Q at the N uniform and the N policy actions per state, (n_q, B, N) each, one pass of the twin network over
        each set of B*N pairs (one pass over all 2BN pairs was measured slower here: larger activations). CQL(rho)'s
        gap uses the policy's actions only, so the uniform ones are left out (q_unif None)."""
        b, n = obs.shape[0], self.cfg.n_action_samples
        obs_rep = obs.repeat_interleave(n, dim=0)
        q_pi = self.q(obs_rep, a_pi).view(2, b, n)
        q_unif = None if self.cfg.method == "cql_rho" else self.q(obs_rep, a_unif).view(2, b, n)
        return q_unif, q_pi

    def gap(self, q_data, q_unif, q_pi, logp_pi):
        """CQL(H)'s gap (eq. 4; for offline SAC, measured only) or CQL(rho)'s (eq. 3, mu ∝ rho exp Q), per Q-function."""
        if self.cfg.method == "cql_rho":
            return cql_rho_gap(q_pi, q_data)
        log_unif = uniform_log_density(self.low, self.high)  # log density of Unif(A)
        q_samples = torch.cat([q_unif, q_pi], dim=-1)
        log_density = torch.cat([log_unif.expand_as(q_unif), logp_pi.view(q_pi.shape[1:]).expand_as(q_pi)], dim=-1)
        return cql_h_gap(q_samples, log_density, q_data)

    def update(self, obs, act, rew, next_obs, terminal, eps_now, eps_next, gen_eps,
               measure_gap: bool = True) -> torch.Tensor:
        """One gradient step on every loss; returns (pi_loss, q_loss, q_data_mean, q_pi_mean, cql_gap, sac_alpha,
        cql_alpha) without .item(). `measure_gap` False: offline SAC leaves its diagnostic gap out (NaN)."""
        cfg = self.cfg
        nan = torch.full((), float("nan"), device=obs.device)
        if cfg.method == "bc":
            pi_loss = -self.dataset_log_prob(obs, act).mean()  # maximum likelihood of the dataset's actions
            self.actor_opt.zero_grad(set_to_none=True)
            pi_loss.backward()
            self.actor_opt.step()
            return torch.stack([pi_loss.detach(), *([nan] * 6)])
        mean, log_std = self.actor.distribution(obs)
        a_new, logp = self.actor.sample(mean, log_std, eps_now)
        q_new = self.q(obs, a_new, detach_weights=True).min(0).values
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():  # soft Bellman target (1812.05905 eq. 5, 8)
            a_next, logp_next = self.actor(next_obs, eps_next)
            q_next = self.q_target(next_obs, a_next).min(0).values
            target = soft_bellman_target(rew, terminal, q_next, logp_next, alpha, cfg.gamma)
        q_data = self.q(obs, act)
        bellman = 0.5 * ((q_data - target) ** 2).mean(1).sum()  # J_Q, both Q-functions
        alpha_prime_loss = torch.zeros((), device=obs.device)
        if cfg.method == "sac":  # no regularizer; CQL(H)'s gap measured (no gradient), a diagnostic of overestimation
            gap = nan
            if measure_gap:
                with torch.no_grad():
                    a_unif, a_pi, logp_pi = self.sampled_actions(mean, log_std, gen_eps)
                    gap = self.gap(q_data.detach(), *self.sampled_q(obs, a_unif, a_pi), logp_pi)
            critic_loss, alpha_prime = bellman, nan
        else:
            a_unif, a_pi, logp_pi = self.sampled_actions(mean, log_std, gen_eps)
            gap = self.gap(q_data, *self.sampled_q(obs, a_unif, a_pi), logp_pi)  # eq. 4 (cql_h) or eq. 3 (cql_rho)
            if cfg.lagrange:  # Appendix F: alpha' (gap - tau), alpha' >= 0 by the dual
                penalty, alpha_prime_loss = lagrange_losses(self.log_alpha_prime, gap, cfg.lagrange_tau)
                alpha_prime = self.log_alpha_prime.exp().detach()
            else:
                penalty, alpha_prime = cfg.cql_alpha * gap.sum(), torch.tensor(cfg.cql_alpha, device=obs.device)
            critic_loss = bellman + penalty
        pi_loss = (alpha * logp - q_new).mean()  # J_pi (1812.05905 eq. 7)
        alpha_loss = temperature_loss(self.log_alpha, logp, self.target_entropy)  # J(alpha) (eq. 18)
        opts = [getattr(self, name) for name in self.OPTIMIZERS]
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        (critic_loss + pi_loss + alpha_loss + alpha_prime_loss).backward()
        for opt in opts:
            opt.step()
        with torch.no_grad():  # theta_bar <- tau theta + (1 - tau) theta_bar
            torch._foreach_lerp_(list(self.q_target.parameters()), list(self.q.parameters()), cfg.target_smoothing)
        return torch.stack([pi_loss.detach(), bellman.detach(), q_data.detach().mean(), q_new.detach().mean(),
                            gap.detach().mean(), alpha, alpha_prime.float()])


# ---- the loop ----------------------------------------------------------------------------------------------------
def get_dataset(cfg: CQLConfig) -> tuple[Dataset, dict]:
    """The stored dataset (its checksum checked), or the quick budget's tiny one made in memory."""
    if cfg.tiny_dataset_transitions:
        env = make_env(cfg.env_id, 0)
        low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
        ds = collect(cfg.env_id, uniform_policy(low, high), cfg.tiny_dataset_transitions, seed=0)
        return ds, {"label": "tiny dataset of uniform actions, made in memory (quick check)", "sha256": ""}
    ds, doc = load_dataset(cfg.env_id, cfg.dataset, cfg.dataset_root or None)
    return ds, {"label": doc["label"], "sha256": doc["content_sha256"],  # the arrays' content (datasets.py)
                "input": input_entry(doc, cfg.dataset_root or None)}  # its files' checksums, for the run's provenance


def first_rows(ds: Dataset, n: int) -> Dataset:
    """The dataset's first n rows; the last of them ends its episode (timed out, if not terminal)."""
    part = Dataset(*(getattr(ds, name)[:n].copy() for name in FIELDS))
    part.cut_at_end = not (part.terminals[-1] or part.timeouts[-1]) or (n == len(ds) and getattr(ds, "cut_at_end", False))
    part.timeouts[-1] = not part.terminals[-1]
    return part


def discounted_returns_to_go(ds: Dataset, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma G_{t+1} within each episode, G = r at its last row: the discounted return the dataset's own
    actions earned from each row (at a time-out the episode's remainder is unknown, so G is cut there: low)."""
    g, out = 0.0, np.zeros(len(ds))
    ends = ds.terminals | ds.timeouts
    for i in range(len(ds) - 1, -1, -1):
        g = float(ds.rewards[i]) + (0.0 if ends[i] else gamma * g)
        out[i] = g
    return out


def evaluate(cfg: CQLConfig, weights: dict, act_dim: int, scale, center, step: int) -> float:
    """Mean return of `eval_episodes` episodes of the policy's mean action, each from its own seed."""
    env, total = make_env(cfg.env_id, cfg.seed + 10_000), 0.0
    for k in range(cfg.eval_episodes):
        obs, _ = env.reset(seed=cfg.seed * 1_000_003 + step + k)
        done = False
        while not done:
            obs, r, terminated, truncated, _ = env.step(np_policy_mean(weights, obs, act_dim, scale, center, None))
            total += r
            done = terminated or truncated
    env.close()
    return total / cfg.eval_episodes


def run_cql(cfg: CQLConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_cql(cfg)
    keep_freed_memory()  # the update's activations reuse freed memory instead of new pages (no change to any number)
    device = torch_device()
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    ds, ds_meta = get_dataset(cfg)
    if "input" in ds_meta:  # a stored dataset: its files' checksums, in the run's provenance
        ctx.record_input("dataset", ds_meta["input"])
    if cfg.dataset_max_transitions and not cfg.tiny_dataset_transitions:  # the quick check keeps its tiny dataset
        if cfg.dataset_max_transitions > len(ds):
            raise ValueError(f"dataset_max_transitions ({cfg.dataset_max_transitions:,}) exceeds the dataset's "
                             f"{len(ds):,} rows")
        ds = first_rows(ds, cfg.dataset_max_transitions)
    env = make_env(cfg.env_id, cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    if ds.observations.shape[1] != obs_dim or ds.actions.shape[1] != act_dim:
        raise ValueError(f"the dataset's observations/actions ({ds.observations.shape[1]}/{ds.actions.shape[1]}) "
                         f"do not fit {cfg.env_id} ({obs_dim}/{act_dim})")
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    scale, center = (high - low) / 2, (high + low) / 2
    learner = OfflineLearner(cfg, obs_dim, act_dim, low, high).to(device)
    data = [torch.from_numpy(np.asarray(a, np.float32)).to(device)
            for a in (ds.observations, ds.actions, ds.rewards, ds.next_observations, ds.terminals)]
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 31]))
    gen = torch.Generator().manual_seed(cfg.seed)

    state = ctx.restore()
    if state is None:
        state = {"step": 0, "evaluations": []}
    else:
        learner.load_state_dict(state["learner"])
        for name in learner.OPTIMIZERS:
            getattr(learner, name).load_state_dict(state[name])
        rng.bit_generator.state = state["rng"]
        gen.set_state(state["torch_gen"])

    def checkpoint_state() -> dict:
        check_finite("parameters", learner.state_dict(), f"gradient step {state['step']:,}")
        return {**state, "learner": to_cpu(learner.state_dict()), "rng": rng.bit_generator.state,
                "torch_gen": gen.get_state(), **{n: to_cpu(getattr(learner, n).state_dict()) for n in learner.OPTIMIZERS}}

    b, n = cfg.batch_size, cfg.n_action_samples
    pending = []
    bar = ctx.progress(cfg.gradient_steps, f"{cfg.method} {cfg.env_id} {cfg.dataset}", initial=state["step"],
                       unit="gradient-steps")
    for step in range(state["step"], cfg.gradient_steps):
        idx = torch.from_numpy(rng.integers(0, len(ds), b))
        eps = torch.randn((2, b, act_dim), generator=gen).to(device)
        gen_eps = (torch.randn((b * n, act_dim), generator=gen).to(device),
                   torch.rand((b * n, act_dim), generator=gen).to(device))
        obs, act, rew, next_obs, terminal = (a[idx] for a in data)
        measure_gap = cfg.method != "sac" or (step + 1) % cfg.sac_gap_every_steps == 0
        pending.append(learner.update(obs, act, rew, next_obs, terminal, eps[0], eps[1], gen_eps, measure_gap))
        if (step + 1) % cfg.eval_every_steps == 0:
            losses = torch.stack(pending)
            means = losses.mean(0)
            checked = losses[:, :1] if cfg.method == "bc" else losses[:, :6]
            if cfg.method == "sac":  # its gap, measured on every k-th step only: the mean over those, NaN elsewhere
                unmeasured = torch.ones(len(pending), dtype=torch.bool)
                unmeasured[cfg.sac_gap_every_steps - 1::cfg.sac_gap_every_steps] = False
                means[4] = losses[~unmeasured, 4].mean()
                checked = checked.clone()
                checked[unmeasured, 4] = 0.0
            bad = ~torch.isfinite(checked)
            if bool(bad.any()):
                i = int(bad.nonzero()[0, 0])
                raise NonFiniteError(f"non-finite loss at gradient step {step + 2 - len(pending) + i:,}")
            weights = {k: v.detach().cpu().numpy() for k, v in learner.actor.state_dict().items() if k.startswith("net")}
            ret = evaluate(cfg, weights, act_dim, scale, center, step + 1)
            check_finite("evaluation return", ret, f"the evaluation at gradient step {step + 1:,}")
            normalized = float(d4rl_normalized(cfg.env_id, ret)) if d4rl_task(cfg.env_id) else float("nan")
            pi_loss, q_loss, q_data, q_pi, gap, sac_alpha, cql_alpha = means.tolist()
            state["evaluations"].append((step + 1, ret, normalized, pi_loss, q_loss, q_data, q_pi, gap, sac_alpha,
                                         cql_alpha))
            pending = []
            state["step"] = step + 1
            bar.update(cfg.eval_every_steps)
            ctx.maybe_checkpoint(checkpoint_state)
        ctx.count(1, "gradient-steps")
    bar.close()
    check_finite("parameters", learner.state_dict(), f"the end of training (gradient step {cfg.gradient_steps:,})")
    returns = episode_returns(ds)
    dataset = pd.DataFrame([{"env_id": cfg.env_id, "dataset": cfg.dataset if not cfg.tiny_dataset_transitions else "tiny",
                             "label": ds_meta["label"], "sha256": ds_meta["sha256"], "transitions": len(ds),
                             "episodes": len(returns),
                             "return_mean": float(returns.mean()) if len(returns) else float("nan"),
                             "discounted_return_mean": float(discounted_returns_to_go(ds, cfg.gamma).mean())}])
    evals = pd.DataFrame(state["evaluations"], columns=list(EVAL_COLUMNS))
    return {"evaluations": evals.assign(seed=cfg.seed), "dataset": dataset.assign(seed=cfg.seed)}
