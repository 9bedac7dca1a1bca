"""PPO on Atari (Schulman et al. 2017, Sec. 6.4, Table 5 hyperparameters, Table 6 scores).

The same objective as ppo.py with the Atari settings of Table 5: 8 actors, horizon 128, 3 epochs, minibatch
32 x 8 = 256, Adam 2.5e-4 x alpha, clip eps = 0.1 x alpha, value coefficient c1 = 1, entropy coefficient c2 = 0.01,
alpha annealed linearly from 1 to 0 over the paper's 10M agent steps (a shorter run is that schedule cut short);
the policy network of Mnih et al. (2016), here a shared torso with a policy and a value head:
    L^{CLIP+VF+S}_t = E_t[ L^CLIP_t - c1 (V(s_t) - V_t^targ)^2 + c2 S[pi](s_t) ]                    (eq. 9)
Units: agent steps (one action = 4 emulator frames); Table 6 is after 40M frames = 10M agent steps.
As in the reference code (baselines ppo2 with its DeepMind wrappers), a lost life ends the learner's episode (no
value is bootstrapped across it) while the game goes on; the scores recorded are those of whole games.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from common.rl.agents import save_agent
from common.rl.atari import clip_reward, lives_lost, make_atari, stream_seeds
from common.platform.finite import check_finite
from common.platform.memory import keep_freed_memory
from common.rl.networks import atari_torso, scale_frames

from .ppo import gae


from .ppo_atari_config import NETWORKS, PPOAtariConfig, validate_ppo_atari  # noqa: E402,F401 (torch-free)


#: What a key absent from a recorded config.yaml meant (the code before the key existed); see common/analysis/report.py.
LEGACY = {"init": "torch_default", "anneal_agent_steps": 0, "env_seeding": "offset", "life_loss_terminal": False}
PAPER_AGENT_STEPS = 10_000_000  # Table 6: 40M frames


class PolicyValueNet(nn.Module):
    def __init__(self, n_actions: int, network: str, init: str = "orthogonal"):
        super().__init__()
        self.torso, width = atari_torso(network)
        self.pi, self.v = nn.Linear(width, n_actions), nn.Linear(width, 1)
        if init == "orthogonal":  # ppo2 (baselines/a2c/utils.py ortho_init) and CleanRL (layer_init)
            for layer, gain in [(m, 2 ** 0.5) for m in self.torso if isinstance(m, (nn.Conv2d, nn.Linear))] + [
                    (self.pi, 0.01), (self.v, 1.0)]:
                nn.init.orthogonal_(layer.weight, gain)
                nn.init.zeros_(layer.bias)
        elif init != "torch_default":
            raise ValueError(f"init must be orthogonal or torch_default; got {init!r}")

    def forward(self, frames_uint8: torch.Tensor):
        h = self.torso(scale_frames(frames_uint8))
        return self.pi(h), self.v(h).squeeze(-1)


def actor_seeds(cfg: PPOAtariConfig, old: int, *purpose: int):
    """The actors' emulator seeds: from the run seed's SeedSequence, or old + i (env_seeding = offset)."""
    if cfg.env_seeding == "offset":
        return old
    if cfg.env_seeding != "sequence":
        raise ValueError(f"env_seeding must be sequence or offset; got {cfg.env_seeding!r}")
    return stream_seeds(cfg.seed, cfg.num_actors, *purpose)


def alpha_at(cfg: PPOAtariConfig, iteration: int) -> float:
    """Table 5's alpha at the start of an iteration: 1 - t / (the schedule's iterations), never below 0; the schedule
    spans anneal_agent_steps (the paper's 10M), or the run's own total_agent_steps when that is 0."""
    per_iteration = cfg.num_actors * cfg.horizon
    n_anneal = -(-(cfg.anneal_agent_steps or cfg.total_agent_steps) // per_iteration)
    return max(1.0 - iteration / n_anneal, 0.0)


def run_ppo_atari(cfg: PPOAtariConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_ppo_atari(cfg)
    torch.set_num_threads(cfg.torch_threads)
    keep_freed_memory()  # the minibatches' frames and activations reuse freed memory instead of new pages (no number changes)
    torch.manual_seed(cfg.seed)
    env, obs = make_atari(cfg.game, cfg.num_actors, actor_seeds(cfg, cfg.seed, 0), cfg.frame_skip)
    n_actions, N, T = env.single_action_space.n, cfg.num_actors, cfg.horizon
    net = PolicyValueNet(n_actions, cfg.network, cfg.init)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, eps=1e-5)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 17]))
    gen = torch.Generator().manual_seed(cfg.seed)
    n_iterations = -(-cfg.total_agent_steps // (N * T))

    state = ctx.restore()
    if state is None:
        state = {"iteration": 0, "ep_return": np.zeros(N), "ep_length": np.zeros(N, int), "was_done": np.zeros(N, bool),
                 "lives": np.zeros(N, int), "episodes": []}
    else:  # emulator states cannot be saved with ale-py's vector env: games in progress restart (README)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        rng.bit_generator.state = state["rng"]
        gen.set_state(state["gen"])
        attempt = len(ctx.record.attempts())
        obs, _ = env.reset(seed=actor_seeds(cfg, cfg.seed + 1_000 * attempt, 3, attempt))
        state["ep_return"][:], state["ep_length"][:], state["was_done"][:], state["lives"][:] = 0.0, 0, False, 0

    buf_obs = np.zeros((T, N, 4, 84, 84), np.uint8)
    buf_act, buf_logp = np.zeros((T, N), np.int64), np.zeros((T, N), np.float32)
    buf_rew, buf_val, buf_end = np.zeros((T, N)), np.zeros((T, N)), np.zeros((T, N), bool)
    buf_life_end = np.zeros((T, N), bool)  # a life lost in this step (the learner's episode ends; the game goes on)
    buf_live = np.ones((T, N), bool)  # False for reset steps (their action was ignored): not learned from
    bar = ctx.progress(n_iterations, f"PPO {cfg.game}", initial=state["iteration"], unit="iterations")
    for iteration in range(state["iteration"], n_iterations):
        alpha = alpha_at(cfg, iteration)  # annealed from 1 to 0 over the paper's 10M agent steps (Table 5)
        for t in range(T):  # run the old policy for T steps in each of the N actors
            with torch.no_grad():
                logits, value = net(torch.from_numpy(obs))
            action = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(1)  # a ~ pi(.|s)
            logp = torch.log_softmax(logits, -1).gather(1, action[:, None]).squeeze(1)
            buf_obs[t], buf_act[t], buf_logp[t], buf_val[t] = obs, action.numpy(), logp.numpy(), value.numpy()
            buf_live[t] = ~state["was_done"]
            obs, reward, term, trunc, info = env.step(action.numpy())
            live = ~state["was_done"]
            lost, state["lives"] = lives_lost(state["lives"], info)
            buf_life_end[t] = lost & live & cfg.life_loss_terminal
            buf_rew[t] = np.where(live, clip_reward(reward), 0.0)  # rewards clipped to their sign in training
            buf_end[t] = (term | trunc) & live
            state["ep_return"] += np.where(live, reward, 0.0)
            state["ep_length"] += live
            step = (iteration * T + t + 1) * N
            for e in np.flatnonzero(buf_end[t]):
                check_finite("episode return", float(state["ep_return"][e]), f"agent step {step:,}")
                state["episodes"].append((step, float(state["ep_return"][e]), int(state["ep_length"][e])))
                state["ep_return"][e], state["ep_length"][e] = 0.0, 0
            state["was_done"] = term | trunc
        with torch.no_grad():
            last_value = net(torch.from_numpy(obs))[1].numpy()
        # a reset step's transition is not part of any episode: mark it as an episode end with no reward
        ends = buf_end | buf_life_end | ~buf_live
        adv = np.stack([gae(buf_rew[:, e], buf_val[:, e], ends[:, e], last_value[e], cfg.gamma, cfg.gae_lambda)
                        for e in range(N)], axis=1)
        returns = adv + buf_val
        keep = buf_live.reshape(-1)
        x = torch.from_numpy(buf_obs.reshape(T * N, 4, 84, 84)[keep])
        a, old_logp = torch.from_numpy(buf_act.reshape(-1)[keep]), torch.from_numpy(buf_logp.reshape(-1)[keep])
        adv_t = torch.tensor(adv.reshape(-1)[keep], dtype=torch.float32)
        ret_t = torch.tensor(returns.reshape(-1)[keep], dtype=torch.float32)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * alpha
        eps = cfg.clip_epsilon * alpha
        n = len(a)
        loss_sum = torch.zeros(())  # summed without .item(); read once an iteration
        for _ in range(cfg.epochs):
            perm = torch.from_numpy(rng.permutation(n))
            for start in range(0, n, cfg.minibatch_size):
                idx = perm[start:start + cfg.minibatch_size]
                logits, value = net(x[idx])
                logp_all = torch.log_softmax(logits, -1)
                ratio = (logp_all.gather(1, a[idx][:, None]).squeeze(1) - old_logp[idx]).exp()  # eq. 6
                mb_adv = (adv_t[idx] - adv_t[idx].mean()) / (adv_t[idx].std() + 1e-8)
                clip_obj = torch.min(ratio * mb_adv, ratio.clamp(1 - eps, 1 + eps) * mb_adv).mean()  # eq. 7
                entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
                loss = -(clip_obj - cfg.vf_coef * ((value - ret_t[idx]) ** 2).mean() + cfg.ent_coef * entropy)  # eq. 9
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
                opt.step()
                loss_sum += loss.detach()
        where = f"iteration {iteration} (agent step {(iteration + 1) * N * T:,})"
        check_finite("loss (L^CLIP+VF+S, summed over the iteration's minibatches)", loss_sum.item(), where)
        state["iteration"] = iteration + 1
        ctx.count(N * T, "agent-steps")
        bar.update(1)

        def checkpoint_state() -> dict:  # parameters are checked when they are saved, and at the end
            check_finite("parameters", net.state_dict(), where)
            return {**state, "net": net.state_dict(), "opt": opt.state_dict(), "rng": rng.bit_generator.state,
                    "gen": gen.get_state()}

        ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    check_finite("parameters", net.state_dict(), f"the end of training (agent step {n_iterations * N * T:,})")
    # the policy-value network (beside the run, git-ignored) and what acting needs (committed): common/rl/agents.py
    meta = {"game": cfg.game, "frame_skip": cfg.frame_skip, "network": cfg.network, "n_actions": int(n_actions),
            "max_episode_frames": 108_000, "agent_steps": int(n_iterations * N * T), "algorithm": "PPO (Atari)",
            "default_deterministic": False}
    save_agent(ctx, "atari_policy_network", {}, meta, large={k: v.detach().clone() for k, v in net.state_dict().items()})
    episodes = pd.DataFrame(state["episodes"], columns=["agent_step", "episode_return", "episode_length"])
    return {"episodes": episodes.assign(seed=cfg.seed)}
