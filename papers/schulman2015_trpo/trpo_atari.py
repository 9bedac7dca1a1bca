"""Single path and vine TRPO on Atari (Schulman et al. 2015, Sec. 8.2, Table 1 and Table 3).

The algorithm of trpo.py with a categorical policy over the game's minimal action set (Appendix D: softmax over
the network's outputs) and the network of Sec. 8.2 / Figure 3 (bottom): two convolutional layers of 16 channels,
4x4 filters, stride 2, and one fully connected layer of 20 units; preprocessing "following the protocol in Mnih
et al. (2013)" (common/rl/atari.py: 84x84 grayscale, 4-frame stacks, frame skip 4, rewards clipped to their sign for
learning). Table 3: max KL 0.01, gamma 0.99, 100K simulation steps per iteration, 500 iterations.
    Q_t ~ sum_l gamma^l r_{t+l} along each trajectory                                                   (Sec. 5.1)
    maximize L(theta) = mean_t [pi_theta(a_t|s_t) / pi_old(a_t|s_t)] Q_t  s.t.  mean KL(pi_old || pi_theta) <= delta
                                                                                                        (eq. 14)
    step: conjugate gradient on A s = g (A: the Hessian of the mean KL, its products on 10% of the batch), beta =
    sqrt(2 delta / s^T A s), backtracking line search (Appendix C; common/onpolicy/natural.py)
The network is small but convolutional, so it runs in torch (float32); its Fisher-vector products are J^T M J v at
theta_old with M = diag(p) - p p^T, J v by forward mode and J^T u by backpropagation
(common/onpolicy/torch_fisher.py; tested against the Hessian of the mean KL by double backpropagation).
Vine (Sec. 5.2, Table 3: 400K simulation steps per iteration, about 4 rollouts per state): `num_actors` emulators
play trunk trajectories under pi_old (`vine_trunk_steps` agent steps an iteration in all, their games going on
across iterations); at N states drawn uniformly from them (the rollout set) K actions a_nk ~ q = pi_old are tried,
each followed by a rollout of at most `vine_rollout_length` steps under pi_old in an emulator restored to the saved
state, the K rollouts of a state drawing their actions with the same uniform numbers (common random numbers):
    Q(s_n, a_nk) ~ sum_{l < L} gamma^l r_l  (clipped rewards)
    L_n(theta) = sum_k w_nk Q(s_n, a_nk) / sum_k w_nk,  w_nk = pi_theta(a_nk|s_n) / pi_old(a_nk|s_n)       (eq. 16)
averaged over the rollout set; the KL constraint (and its Fisher products) averages over the trunks' states.
Emulators whose state can be restored are `ClonableAtari` (common/rl/atari.py), frame for frame those of
ale-py's vector environment that single path uses.
Units: agent steps (one action = 4 emulator frames); "sim. steps per iter." are counted as agent steps here.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import nn

from common.rl.agents import save_agent
from common.rl.atari import clip_reward, make_atari, make_clonable_atari, stream_seeds
from common.platform.finite import check_finite
from common.platform.memory import keep_freed_memory
from common.rl.networks import atari_torso, scale_frames
from common.onpolicy import LineSearchResult, conjugate_gradient, discounted_returns, line_search, max_step
from common.onpolicy.torch_fisher import categorical_fvp_fn

from .trpo_atari_config import TRPOAtariConfig, validate_trpo_atari  # noqa: E402,F401 (torch-free)


class AtariPolicy(nn.Module):
    """pi_theta(a|s) = softmax(f_theta(s)): conv 16 4x4/2, conv 16 4x4/2, fully connected 20 (Sec. 8.2, Figure 3);
    the nonlinearity is not stated: ReLU, as the network of Mnih et al. 2013 whose preprocessing the paper follows."""

    def __init__(self, n_actions: int, channels: int, hidden: int):
        super().__init__()
        torso, width = atari_torso("trpo2015", channels, hidden)  # common/rl/networks.py, shared with the saved agent
        self.net = nn.Sequential(*torso, nn.Linear(width, n_actions))  # logits

    def forward(self, frames_uint8: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(scale_frames(frames_uint8)), -1)  # log pi(.|s)


def save_trpo_atari_agent(ctx, cfg: TRPOAtariConfig, policy: AtariPolicy, steps: int) -> None:
    """The final policy network (beside the run, git-ignored: about 121,000 float32 parameters, 0.44 MB) and what
    acting needs (committed): the game, frame skip, episode cap, action count and network sizes
    (common/rl/agents.py, kind atari_softmax_policy: the torso's layers as `torso.<i>`, the output layer as `pi`)."""
    head = str(len(policy.net) - 1)  # the output layer's index in the Sequential
    weights = {}
    for name, value in policy.net.state_dict().items():
        index, rest = name.split(".", 1)
        weights[f"pi.{rest}" if index == head else f"torso.{name}"] = value.detach().clone()
    meta = {"game": cfg.game, "frame_skip": cfg.frame_skip, "max_episode_frames": 108_000,
            "network": "trpo2015", "network_sizes": {"channels": cfg.channels, "hidden_units": cfg.hidden_units},
            "n_actions": int(policy.net[-1].out_features), "agent_steps": int(steps),
            "algorithm": f"TRPO ({cfg.method.replace('_', ' ')}, Atari)", "default_deterministic": False}
    save_agent(ctx, "atari_softmax_policy", {}, meta, large=weights)


def policy_step(policy: AtariPolicy, x_obj: torch.Tensor, a_obj: torch.Tensor, surrogate, coef: torch.Tensor,
                x_kl: torch.Tensor | None, cfg: TRPOAtariConfig, rng: np.random.Generator, where: str,
                chunk: int = 4096) -> LineSearchResult:
    """One TRPO step (eq. 14, Appendix C) on the objective's (state, action) pairs `x_obj`, `a_obj` and the KL's
    states `x_kl` (None: the objective's). `surrogate(ratio)` is L from the pairs' pi_theta / pi_old; `coef` its
    derivative in log pi of each pair at theta_old, so that g = sum_i coef_i grad log pi(a_i|s_i). The policy ends
    at the accepted parameters."""
    params = list(policy.parameters())

    def set_flat(theta: np.ndarray) -> None:
        nn.utils.vector_to_parameters(torch.as_tensor(theta, dtype=torch.float32), params)

    def log_probs(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([policy(x[i:i + chunk]) for i in range(0, len(x), chunk)])

    theta_old = nn.utils.parameters_to_vector(params).detach().double().numpy()
    old_log_p_obj = log_probs(x_obj)
    old_logp_a = old_log_p_obj.gather(1, a_obj[:, None]).squeeze(1)
    old_log_p_kl = old_log_p_obj if x_kl is None else log_probs(x_kl)

    def evaluate(theta: np.ndarray) -> tuple[float, float]:
        """(L(theta), mean KL(pi_old || pi_theta)) on the batch (eq. 14)."""
        set_flat(theta)
        log_p = log_probs(x_obj)
        ratio = (log_p.gather(1, a_obj[:, None]).squeeze(1) - old_logp_a).exp()
        if x_kl is not None:
            log_p = log_probs(x_kl)
        kl = (old_log_p_kl.exp() * (old_log_p_kl - log_p)).sum(1).mean()
        return float(surrogate(ratio)), float(kl)

    set_flat(theta_old)
    policy.zero_grad()
    for i in range(0, len(a_obj), chunk):  # g = grad L at theta_old = sum_i coef_i grad log pi(a_i|s_i)
        logp_a = policy(x_obj[i:i + chunk]).gather(1, a_obj[i:i + chunk, None]).squeeze(1)
        (logp_a * coef[i:i + chunk]).sum().backward()
    g = torch.cat([p.grad.reshape(-1) for p in params]).double().numpy()
    check_finite("policy gradient", g, where)

    # conjugate gradient with Fisher-vector products on 10% of the KL's states (Appendix C.1)
    x_fvp = x_obj if x_kl is None else x_kl
    sub = torch.from_numpy(np.sort(rng.choice(len(x_fvp), size=max(1, int(math.ceil(cfg.fvp_fraction * len(x_fvp)))),
                                              replace=False)))
    fvp = categorical_fvp_fn(policy.net, scale_frames(x_fvp[sub]), cfg.cg_damping)  # A v = J^T M J v (+ damping v)
    s = conjugate_gradient(fvp, g, cfg.cg_iters)
    full_step = max_step(s, fvp(s), cfg.max_kl)  # beta s, beta = sqrt(2 delta / s^T A s)
    result = line_search(theta_old, full_step, evaluate, cfg.max_kl, cfg.backtrack_shrink, cfg.max_backtracks)
    set_flat(result.theta)
    check_finite("surrogate improvement", result.improvement, where)
    check_finite("KL", result.kl, where)
    check_finite("parameters", nn.utils.parameters_to_vector(params).detach(), where)
    return result


def run_trpo_atari(cfg: TRPOAtariConfig, ctx) -> dict[str, pd.DataFrame]:
    torch.set_num_threads(cfg.torch_threads)
    keep_freed_memory()  # the batch's frames and activations reuse freed memory instead of new pages (no number changes)
    torch.manual_seed(cfg.seed)
    if cfg.method == "vine":
        return run_vine(cfg, ctx)
    # one emulator seed per actor from the run seed's SeedSequence: no two runs share a stream (common/rl/atari.py)
    env, obs = make_atari(cfg.game, cfg.num_actors, stream_seeds(cfg.seed, cfg.num_actors, 0), cfg.frame_skip)
    N = cfg.num_actors
    T = math.ceil(cfg.batch_steps / N)  # steps per actor and iteration
    policy = AtariPolicy(env.single_action_space.n, cfg.channels, cfg.hidden_units)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 17]))

    state = ctx.restore()
    if state is None:
        state = {"iteration": 0, "steps": 0, "ep_return": np.zeros(N), "ep_length": np.zeros(N, int),
                 "was_done": np.zeros(N, bool), "episodes": [], "iterations": []}
    else:  # emulator states cannot be saved with ale-py's vector env: games in progress restart (as PPO's Atari)
        policy.load_state_dict(state["policy"])
        gen.set_state(state["gen"])
        rng.bit_generator.state = state["rng"]
        obs, _ = env.reset(seed=cfg.seed + 1_000 * len(ctx.record.attempts()))
        state["ep_return"][:], state["ep_length"][:], state["was_done"][:] = 0.0, 0, False

    buf_obs = np.zeros((T, N, 4, 84, 84), np.uint8)
    buf_act, buf_rew = np.zeros((T, N), np.int64), np.zeros((T, N))
    buf_end, buf_live = np.zeros((T, N), bool), np.ones((T, N), bool)
    bar = ctx.progress(cfg.iterations, f"TRPO {cfg.game}", initial=state["iteration"], unit="iterations")
    for iteration in range(state["iteration"], cfg.iterations):
        # -- 1. single path: run pi_old in N emulators for T steps each (Sec. 5.1) ---------------------------------
        for t in range(T):
            with torch.no_grad():
                log_p = policy(torch.from_numpy(obs))
            action = torch.multinomial(log_p.exp(), 1, generator=gen).squeeze(1).numpy()
            buf_obs[t], buf_act[t] = obs, action
            live = ~state["was_done"]  # the step after a game's end resets it: its action is ignored
            buf_live[t] = live
            obs, reward, term, trunc, _ = env.step(action)
            buf_rew[t] = np.where(live, clip_reward(reward), 0.0)  # rewards clipped to their sign (Mnih et al. 2013)
            buf_end[t] = (term | trunc) & live
            state["ep_return"] += np.where(live, reward, 0.0)
            state["ep_length"] += live
            step = state["steps"] + (t + 1) * N
            for e in np.flatnonzero(buf_end[t]):
                check_finite("episode return", float(state["ep_return"][e]), f"agent step {step:,}")
                state["episodes"].append((iteration, step, float(state["ep_return"][e]), int(state["ep_length"][e])))
                state["ep_return"][e], state["ep_length"][e] = 0.0, 0
            state["was_done"] = term | trunc
        state["steps"] += T * N
        where = f"iteration {iteration} (agent step {state['steps']:,})"
        # Q estimates along each emulator's trajectory; a game still running at the batch's end is cut there
        ends = buf_end | ~buf_live
        q = np.stack([discounted_returns(buf_rew[:, e], ends[:, e], cfg.gamma) for e in range(N)], axis=1)
        keep = buf_live.reshape(-1)
        x = torch.from_numpy(buf_obs.reshape(T * N, 4, 84, 84)[keep])
        a = torch.from_numpy(buf_act.reshape(-1)[keep])
        q_t = torch.tensor(q.reshape(-1)[keep], dtype=torch.float32)

        # -- 2.-3. eq. (14): L = mean_t ratio_t Q_t, whose derivative in log pi_t at theta_old is Q_t / T; the step
        result = policy_step(policy, x, a, lambda ratio: (ratio * q_t).mean(), q_t / len(a), None, cfg, rng, where)

        state["iterations"].append((iteration, state["steps"], result.improvement, result.kl, int(result.accepted),
                                    result.backtracks))
        state["iteration"] = iteration + 1
        ctx.count(T * N, "agent-steps")
        bar.update(1)
        ctx.maybe_checkpoint(lambda: {**state, "policy": policy.state_dict(), "gen": gen.get_state(),
                                      "rng": rng.bit_generator.state})
    bar.close()
    return _tables(ctx, cfg, policy, state)


def run_vine(cfg: TRPOAtariConfig, ctx) -> dict[str, pd.DataFrame]:
    """Vine TRPO on Atari (Sec. 5.2; module docstring). The trunks are played by `num_actors` emulators, the
    rollouts of `num_actors` states at a time by K emulators each, so that pi_old acts on batches. Every trunk
    emulator's state is saved with the checkpoint: a resumed run continues its games and ends with the metrics of an
    uninterrupted one."""
    E, K, L = cfg.num_actors, cfg.vine_actions, cfg.vine_rollout_length
    seeds = stream_seeds(cfg.seed, E + E * K, 0)  # the trunks' emulators, then the rollouts' (their no-ops unused)
    trunks = [make_clonable_atari(cfg.game, int(seed), cfg.frame_skip) for seed in seeds[:E]]
    branches = [make_clonable_atari(cfg.game, int(seed), cfg.frame_skip) for seed in seeds[E:]]  # state g, action k
    policy = AtariPolicy(trunks[0].n_actions, cfg.channels, cfg.hidden_units)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 17]))

    state = ctx.restore()
    if state is None:
        state = {"iteration": 0, "steps": 0, "ep_return": np.zeros(E), "ep_length": np.zeros(E, int),
                 "obs": np.stack([env.reset() for env in trunks]), "episodes": [], "iterations": []}
    else:
        policy.load_state_dict(state["policy"])
        gen.set_state(state["gen"])
        rng.bit_generator.state = state["rng"]
        for env, snap in zip(trunks, state["trunks"]):
            env.restore(snap)

    def act(obs: np.ndarray, uniforms: torch.Tensor | None = None) -> np.ndarray:
        """a ~ pi_old(.|s) for a batch of stacks; by inverse CDF from `uniforms` where given (common random numbers)."""
        with torch.no_grad():
            p = policy(torch.from_numpy(obs)).exp()
        if uniforms is None:
            return torch.multinomial(p, 1, generator=gen).squeeze(1).numpy()
        below = (p.cumsum(1) < uniforms[:, None]).sum(1)  # the first action whose cumulative probability reaches u
        return below.clamp(max=p.shape[1] - 1).numpy()

    T = math.ceil(cfg.vine_trunk_steps / E)  # trunk steps per emulator and iteration
    buf_obs = np.zeros((T * E, 4, 84, 84), np.uint8)  # row t E + e: emulator e's state at step t
    frames = np.zeros((E * K, 4, 84, 84), np.uint8)
    bar = ctx.progress(cfg.iterations, f"TRPO vine {cfg.game}", initial=state["iteration"], unit="iterations")
    for iteration in range(state["iteration"], cfg.iterations):
        # -- 1. trunks under pi_old; the rollout set's states are saved as the trunks pass them ---------------------
        n_states = min(cfg.vine_states, T * E)
        rollout_set = np.sort(rng.choice(T * E, size=n_states, replace=False))  # uniform over the trunks' states
        saved, obs = [], state["obs"]
        for t in range(T):
            buf_obs[t * E:(t + 1) * E] = obs
            while len(saved) < n_states and rollout_set[len(saved)] < (t + 1) * E:
                saved.append(trunks[rollout_set[len(saved)] - t * E].snapshot())
            action = act(obs)
            step = state["steps"] + (t + 1) * E
            for e, env in enumerate(trunks):
                obs[e], reward, term, trunc = env.step(int(action[e]))
                state["ep_return"][e] += reward
                state["ep_length"][e] += 1
                if term or trunc:
                    check_finite("episode return", float(state["ep_return"][e]), f"agent step {step:,}")
                    state["episodes"].append((iteration, step, float(state["ep_return"][e]),
                                              int(state["ep_length"][e])))
                    state["ep_return"][e], state["ep_length"][e], obs[e] = 0.0, 0, env.reset()
        state["obs"] = obs
        steps = T * E

        # -- 2. K actions at each state of the rollout set, each followed by a rollout under pi_old -------------------
        x_set = torch.from_numpy(buf_obs[rollout_set])
        with torch.no_grad():
            p_set = torch.cat([policy(x_set[i:i + 4096]).exp() for i in range(0, n_states, 4096)])
        a_set = torch.multinomial(p_set, K, replacement=True, generator=gen)  # a_nk ~ q = pi_old, (N, K)
        q = np.zeros((n_states, K))
        for first in range(0, n_states, E):  # E states at a time, K emulators each
            group = np.arange(first, min(first + E, n_states))
            uniforms = torch.rand((len(group), L), generator=gen)  # common random numbers: one row per state
            envs = branches[:len(group) * K]
            for b, env in enumerate(envs):
                env.restore(saved[group[b // K]])
            actions = a_set[group].reshape(-1).numpy()
            alive = np.ones(len(envs), bool)
            for step in range(L):
                for b in np.flatnonzero(alive):
                    frames[b], reward, term, trunc = envs[b].step(int(actions[b]))
                    q[group[b // K], b % K] += cfg.gamma ** step * float(np.sign(reward))  # clipped reward
                    steps += 1
                    alive[b] = not (term or trunc)
                if step + 1 == L or not alive.any():
                    break
                actions = act(frames[:len(envs)], uniforms[:, step + 1].repeat_interleave(K))
        state["steps"] += steps
        where = f"iteration {iteration} (agent step {state['steps']:,})"

        # -- 3. eq. (16) over the rollout set; the KL over the trunks' states ------------------------------------------
        q_t = torch.tensor(q, dtype=torch.float32)
        x_obj = x_set.repeat_interleave(K, 0)  # (N K, ...): state n, action k
        a_obj = a_set.reshape(-1)

        def surrogate(ratio: torch.Tensor) -> torch.Tensor:
            w = ratio.reshape(n_states, K)
            return ((w * q_t).sum(1) / w.sum(1)).mean()

        # dL_n / d log pi_nk at theta_old (w = 1): (Q_nk - mean_k Q_nk) / K, averaged over the N states
        coef = ((q_t - q_t.mean(1, keepdim=True)) / (K * n_states)).reshape(-1)
        result = policy_step(policy, x_obj, a_obj, surrogate, coef, torch.from_numpy(buf_obs), cfg, rng, where)

        state["iterations"].append((iteration, state["steps"], result.improvement, result.kl, int(result.accepted),
                                    result.backtracks))
        state["iteration"] = iteration + 1
        ctx.count(steps, "agent-steps")
        bar.update(1)
        ctx.maybe_checkpoint(lambda: {**state, "policy": policy.state_dict(), "gen": gen.get_state(),
                                      "rng": rng.bit_generator.state, "trunks": [env.snapshot() for env in trunks]})
    bar.close()
    return _tables(ctx, cfg, policy, state)


def _tables(ctx, cfg: TRPOAtariConfig, policy: AtariPolicy, state: dict) -> dict[str, pd.DataFrame]:
    save_trpo_atari_agent(ctx, cfg, policy, state["steps"])
    episodes = pd.DataFrame(state["episodes"], columns=["iteration", "agent_step", "episode_return", "episode_length"])
    iterations = pd.DataFrame(state["iterations"], columns=["iteration", "agent_step", "surrogate_improvement", "kl",
                                                            "accepted", "backtracks"])
    return {"episodes": episodes.assign(seed=cfg.seed), "iterations": iterations.assign(seed=cfg.seed)}
