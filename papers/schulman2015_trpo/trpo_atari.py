"""Single path TRPO on Atari (Schulman et al. 2015, Sec. 8.2, Table 1 and Table 3).

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
Units: agent steps (one action = 4 emulator frames); "sim. steps per iter." are counted as agent steps here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from common.platform import validate as check
from common.rl.agents import save_agent
from common.rl.atari import GAMES, clip_reward, make_atari, stream_seeds
from common.platform.finite import check_finite
from common.rl.networks import atari_torso, scale_frames
from common.onpolicy import conjugate_gradient, discounted_returns, line_search, max_step
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
            "algorithm": "TRPO (single path, Atari)", "default_deterministic": False}
    save_agent(ctx, "atari_softmax_policy", {}, meta, large=weights)


def run_trpo_atari(cfg: TRPOAtariConfig, ctx) -> dict[str, pd.DataFrame]:
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    # one emulator seed per actor from the run seed's SeedSequence: no two runs share a stream (common/rl/atari.py)
    env, obs = make_atari(cfg.game, cfg.num_actors, stream_seeds(cfg.seed, cfg.num_actors, 0), cfg.frame_skip)
    N = cfg.num_actors
    T = math.ceil(cfg.batch_steps / N)  # steps per actor and iteration
    policy = AtariPolicy(env.single_action_space.n, cfg.channels, cfg.hidden_units)
    params = list(policy.parameters())
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

    def flat() -> torch.Tensor:
        return nn.utils.parameters_to_vector(params).detach()

    def set_flat(theta: np.ndarray) -> None:
        nn.utils.vector_to_parameters(torch.as_tensor(theta, dtype=torch.float32), params)

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
        n = len(a)

        # -- 2. surrogate and KL of eq. (14) ---------------------------------------------------------------------------
        theta_old = flat().double().numpy()
        with torch.no_grad():
            old_log_p = torch.cat([policy(x[i:i + 4096]) for i in range(0, n, 4096)])
        old_logp_a = old_log_p.gather(1, a[:, None]).squeeze(1)

        def evaluate(theta: np.ndarray) -> tuple[float, float]:
            set_flat(theta)
            surr = kl = 0.0
            with torch.no_grad():
                for i in range(0, n, 4096):
                    log_p = policy(x[i:i + 4096])
                    ratio = (log_p.gather(1, a[i:i + 4096, None]).squeeze(1) - old_logp_a[i:i + 4096]).exp()
                    surr += float((ratio * q_t[i:i + 4096]).sum())
                    lo = old_log_p[i:i + 4096]
                    kl += float((lo.exp() * (lo - log_p)).sum())
            return surr / n, kl / n

        set_flat(theta_old)
        policy.zero_grad()
        for i in range(0, n, 4096):  # g = grad L at theta_old = mean_t Q_t grad log pi(a_t|s_t)
            logp_a = policy(x[i:i + 4096]).gather(1, a[i:i + 4096, None]).squeeze(1)
            ((logp_a * q_t[i:i + 4096]).sum() / n).backward()
        g = torch.cat([p.grad.reshape(-1) for p in params]).double().numpy()
        check_finite("policy gradient", g, where)

        # -- 3. conjugate gradient with Fisher-vector products on 10% of the batch (Appendix C.1) ------------------
        sub = torch.from_numpy(np.sort(rng.choice(n, size=max(1, int(math.ceil(cfg.fvp_fraction * n))), replace=False)))
        fvp = categorical_fvp_fn(policy.net, scale_frames(x[sub]), cfg.cg_damping)  # A v = J^T M J v (+ damping v)

        s = conjugate_gradient(fvp, g, cfg.cg_iters)
        full_step = max_step(s, fvp(s), cfg.max_kl)
        result = line_search(theta_old, full_step, evaluate, cfg.max_kl, cfg.backtrack_shrink, cfg.max_backtracks)
        set_flat(result.theta)

        check_finite("surrogate improvement", result.improvement, where)
        check_finite("KL", result.kl, where)
        check_finite("parameters", flat(), where)
        state["iterations"].append((iteration, state["steps"], result.improvement, result.kl, int(result.accepted),
                                    result.backtracks))
        state["iteration"] = iteration + 1
        ctx.count(T * N, "agent-steps")
        bar.update(1)
        ctx.maybe_checkpoint(lambda: {**state, "policy": policy.state_dict(), "gen": gen.get_state(),
                                      "rng": rng.bit_generator.state})
    bar.close()
    save_trpo_atari_agent(ctx, cfg, policy, state["steps"])
    episodes = pd.DataFrame(state["episodes"], columns=["iteration", "agent_step", "episode_return", "episode_length"])
    iterations = pd.DataFrame(state["iterations"], columns=["iteration", "agent_step", "surrogate_improvement", "kl",
                                                            "accepted", "backtracks"])
    return {"episodes": episodes.assign(seed=cfg.seed), "iterations": iterations.assign(seed=cfg.seed)}
