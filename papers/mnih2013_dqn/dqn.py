"""Deep Q-learning with experience replay (Mnih et al. 2013, "Playing Atari with Deep Reinforcement Learning",
arXiv 1312.5602), Algorithm 1, on ale-py's native vector environment; the 2015 "Nature" variant (target network,
Huber loss, larger network) is a config.

    y_j = r_j                                      if phi_{j+1} is terminal                 (Algorithm 1)
        = r_j + gamma max_a' Q(phi_{j+1}, a'; theta^-)  otherwise      (theta^- = theta in 2013; a target net in 2015)
    loss = (y_j - Q(phi_j, a_j; theta))^2                                                   (eq. 2 / Algorithm 1)

Units: an agent step is one action, repeated for `frame_skip` emulator frames. The paper's "frames" (10 million of
training, a replay of one million, epsilon annealed over one million) are agent steps, as in the authors' 2015 code;
emulator frames are agent steps x frame_skip (40M for 10M agent steps). Every count in the config names its unit.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from common.rl.agents import save_agent
from common.rl.atari import clip_reward, lives_lost, make_atari, stream_seeds
from common.platform.device import module_device, to_cpu, torch_device
from common.platform.finite import EmptyMetricError, MayBeNaN, TableRules, check_finite
from common.platform.memory import keep_freed_memory
from common.rl.networks import atari_torso, scale_frames

from .replay import FrameReplay


from .dqn_config import OPTIMIZERS, VARIANTS, DQNConfig, validate_dqn  # noqa: E402,F401 (torch-free)


def _no_epoch_can_end(cfg) -> bool:
    """Too few agent steps after learning starts for `epoch_updates` updates (with a vector step of slack)."""
    u = cfg.update_every_agent_steps
    return (cfg.total_agent_steps - cfg.learning_starts_agent_steps - cfg.num_envs) // u < cfg.epoch_updates


#: What a key absent from a recorded config.yaml meant: the behaviour of the code before the key existed. A committed
#: run whose recorded config differs from what its experiment resolves to now is labelled "old protocol" by
#: `repro report` (common/analysis/report.py), with the keys that differ.
LEGACY = {"eval_protocol": "window", "final_eval_min_episodes": 0, "target_update_every_agent_steps": 0,
          "epsilon_anneal_start": "step0", "frame_preprocess": "resize84", "env_seeding": "offset",
          "optimizer": "torch_centered", "save_replay": False}

# Seed purposes (common.rl.atari.stream_seeds): each environment's emulator seed is drawn for one purpose of one run
TRAIN, EVAL, HELDOUT, RESUME = 0, 1, 2, 3


def env_seeds(cfg, old: int, *purpose: int):
    """The emulator seeds for one purpose: one per environment from the run seed's SeedSequence, or (env_seeding =
    offset, runs recorded before) the integer `old`, which ale-py spreads as old + i over the environments."""
    if cfg.env_seeding == "offset":
        return old
    return stream_seeds(cfg.seed, cfg.num_envs, *purpose)


def eval_rng(cfg, rng, *purpose: int) -> np.random.Generator:
    """The evaluation's epsilon-greedy draws: their own stream (so that how long an evaluation runs never shifts the
    training's draws), or the training generator itself under env_seeding = offset (runs recorded before)."""
    if cfg.env_seeding == "offset":
        return rng
    return np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(EVAL, *purpose, 1)))


#: What may be NaN or empty in the recorded tables (common.platform.finite); anything else must be finite.
TABLES = {
    # an evaluation window shorter than an episode ends no episode: its returns are undefined (eval_episodes 0)
    "epochs": TableRules(
        nan={c: MayBeNaN("no evaluation episode ended", lambda df, cfg: df["eval_episodes"] == 0)
             for c in ("eval_mean_return", "eval_best_return")},
        may_be_empty=_no_epoch_can_end),
    # final_eval_min_episodes 0: the final evaluation stops after its steps, ended episodes or not (q_divergence;
    # a config recorded before the key existed ran that way too)
    "final_eval": TableRules(may_be_empty=lambda cfg: getattr(cfg, "eval_protocol", "window") == "window"
                             and getattr(cfg, "final_eval_min_episodes", 0) == 0),
    "episodes": TableRules(may_be_empty=True),  # the episodes that ended: none may end in a short run
}


class QNetwork(nn.Module):
    """2013: 16 8x8/4 conv, 32 4x4/2 conv, 256 fully connected (Sec. 4.1), one output per action.
    2015: 32 8x8/4, 64 4x4/2, 64 3x3/1, 512 fully connected."""

    def __init__(self, n_actions: int, variant: str):
        super().__init__()
        self.torso, width = atari_torso(variant)
        self.out = nn.Linear(width, n_actions)

    def forward(self, frames_uint8: torch.Tensor) -> torch.Tensor:
        return self.out(self.torso(scale_frames(frames_uint8)))


def epsilon_at(cfg: DQNConfig, agent_step: int) -> float:
    """Linear from epsilon_start to epsilon_end over epsilon_anneal_agent_steps, then constant (Sec. 5), counted from
    the first agent step (2013 paper) or from the start of learning (epsilon_anneal_start = learning_start, the
    2015 code)."""
    start = cfg.learning_starts_agent_steps if cfg.epsilon_anneal_start == "learning_start" else 0
    frac = min(max(agent_step - start, 0) / cfg.epsilon_anneal_agent_steps, 1.0)
    return cfg.epsilon_start + frac * (cfg.epsilon_end - cfg.epsilon_start)


def refresh_target_now(cfg: DQNConfig, step0: int, step1: int) -> bool:
    """Whether the target network is refreshed after the vector step from agent step step0 to step1 (and its
    updates): each time the agent-step count passes a multiple of target_update_every_agent_steps, as the 2015 code
    (`numSteps % target_q`, numSteps in agent steps), Dopamine and DQN Zoo count it. (The other reading,
    target_update_every_updates, is applied per update in the update loop.)"""
    period = cfg.target_update_every_agent_steps
    return bool(period) and step1 // period > step0 // period


def rmsprop_step_ratio(sigma, eps: float = 0.01, batch: int = 32):
    """How many times larger the 2015 code's RMSProp step is than torch's centered RMSProp's, in the steady state
    where the minibatch-mean gradient of a weight has mean m and standard deviation sigma (m << sigma):
        torch (minibatch mean, eps outside the root):  lr m / (sigma + eps)
        2015 code (minibatch sum, eps inside the root): lr (batch m) / sqrt(batch^2 sigma^2 + eps)
                                                      = lr m / sqrt(sigma^2 + eps / batch^2)
    ratio = (sigma + eps) / sqrt(sigma^2 + eps / batch^2): 3.2 for sigma -> 0 (eps / sqrt(eps) / batch = 0.1 x 32 / 1),
    falling to 1 for sigma >> eps."""
    sigma = np.asarray(sigma, float)
    return (sigma + eps) / np.sqrt(sigma ** 2 + eps / batch ** 2)


def epsilon_greedy(q_values: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    greedy = q_values.argmax(axis=1)
    explore = rng.random(len(greedy)) < epsilon
    return np.where(explore, rng.integers(0, q_values.shape[1], len(greedy)), greedy)


def td_targets(reward, terminated, next_q_max, gamma: float):
    """y_j = r_j for terminal phi_{j+1}, else r_j + gamma max_a' Q(phi_{j+1}, a') (Algorithm 1)."""
    return reward + gamma * (1.0 - terminated) * next_q_max


class DeepMindRMSProp(torch.optim.Optimizer):
    """The RMSProp of the 2015 code (NeuralQLearner.lua, qLearnMinibatch), per parameter, gradient d:
        g <- a g + (1 - a) d;   n <- a n + (1 - a) d^2;   w <- w - lr d / sqrt(n - g^2 + eps)
    epsilon inside the square root and no bias correction, unlike torch's centered RMSProp
    (w <- w - lr d / (sqrt(n - g^2) + eps))."""

    def __init__(self, params, lr: float, alpha: float, eps: float):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, a, eps = group["lr"], group["alpha"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["g"], st["n"] = torch.zeros_like(p), torch.zeros_like(p)
                st["g"].mul_(a).add_(p.grad, alpha=1 - a)
                st["n"].mul_(a).addcmul_(p.grad, p.grad, value=1 - a)
                p.addcdiv_(p.grad, (st["n"] - st["g"] * st["g"] + eps).sqrt_(), value=-lr)


def rmsprop(cfg: DQNConfig, net: QNetwork) -> torch.optim.Optimizer:
    """RMSProp with the 2015 code's constants (the paper names RMSProp, not its settings)."""
    if cfg.optimizer == "deepmind":
        return DeepMindRMSProp(net.parameters(), lr=cfg.lr, alpha=cfg.rmsprop_decay, eps=cfg.rmsprop_eps)
    return torch.optim.RMSprop(net.parameters(), lr=cfg.lr, alpha=cfg.rmsprop_decay, eps=cfg.rmsprop_eps, centered=True)


def td_loss(cfg: DQNConfig, net: QNetwork, target: QNetwork, s, a, r, s2, t) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of a minibatch (numpy arrays from the replay) and its per-sample mean, detached: targets from
    `target` (the online network itself in 2013), squared error (2013) or Huber loss (2015)."""
    dev = module_device(net)
    s, a, r, t, s2 = (torch.from_numpy(x).to(dev, non_blocking=True) for x in (s, a, r, t, s2))
    with torch.no_grad():
        y = td_targets(r, t.float(), target(s2).max(1).values, cfg.gamma)
    q_sa = net(s).gather(1, a[:, None]).squeeze(1)
    if cfg.optimizer == "deepmind":  # the 2015 code's gradient: the minibatch sum of delta (clipped in 2015),
        factor = 0.5 if cfg.variant == "nips2013" else 1.0  # that of sum 1/2 delta^2 (or of the summed Huber loss)
        loss = factor * (F.mse_loss(q_sa, y, reduction="sum") if cfg.variant == "nips2013" else
                         F.smooth_l1_loss(q_sa, y, reduction="sum"))
        mean_loss = loss.detach() / (factor * len(y))  # reported per sample, as with the other optimizer
    else:
        loss = F.mse_loss(q_sa, y) if cfg.variant == "nips2013" else F.smooth_l1_loss(q_sa, y)
        mean_loss = loss.detach()
    return loss, mean_loss


def gradient_step(cfg: DQNConfig, net: QNetwork, target: QNetwork, opt, s, a, r, s2, t) -> torch.Tensor:
    """One update on a minibatch (`td_loss`). Returns the loss, detached, without .item()."""
    loss, mean_loss = td_loss(cfg, net, target, s, a, r, s2, t)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return mean_loss


def evaluate(cfg: DQNConfig, net: QNetwork, env, seed, agent_steps: int, rng, min_episodes: int = 0) -> list[float]:
    """The epsilon = 0.05 policy over freshly reset evaluation environments, a window of `agent_steps` agent steps
    split over them (Sec. 5 and Figure 2: "an epsilon-greedy policy with epsilon = 0.05 for 10000 steps"); the
    returns of the episodes counted (unclipped rewards), in the order they end.
    eval_protocol = complete_started: every episode that starts inside the window is played to its end (the episode
    cap bounds it) and counts; a stream whose window has closed starts none. Which episodes count is decided when
    they start, never by their length. (The 2015 code, train_agent.lua, plays one stream for eval_steps = 125,000
    and averages the episodes that terminated in it: at most one episode, the one cut off, is lost there; with 4
    streams of 2,500 agent steps, every episode longer than 2,500 would be.)
    eval_protocol = window (runs recorded before): only the episodes that end inside the window count, and the
    window goes on until at least `min_episodes` have ended."""
    obs, _ = env.reset(seed=seed)
    n = obs.shape[0]
    dev = module_device(net)
    returns, running, was_done = [], np.zeros(n), np.zeros(n, bool)
    steps, window = 0, max(agent_steps // n, 1)
    complete_started = cfg.eval_protocol == "complete_started"
    counting = np.ones(n, bool)  # complete_started: the stream's current episode started inside the window
    while counting.any() if complete_started else (steps < window or len(returns) < min_episodes):
        steps += 1
        with torch.no_grad():
            q = net(torch.from_numpy(obs).to(dev)).cpu().numpy()
        obs, r, term, trunc, _ = env.step(epsilon_greedy(q, cfg.eval_epsilon, rng))
        running += np.where(was_done, 0.0, r)
        done = (term | trunc) & ~was_done
        returns += list(running[done & counting])
        running[done | was_done] = 0.0
        if complete_started:  # the stream's next episode would start after the window: not counted
            counting &= ~(done & (steps >= window))
        was_done = term | trunc
    return returns


def save_dqn_agent(ctx, cfg: DQNConfig, net: QNetwork, agent_steps: int, replay: FrameReplay | None = None) -> None:
    """The Q-network (beside the run, git-ignored: 0.7M parameters in 2013's network, 1.7M in 2015's) and what
    acting needs (committed: game, frame skip, network, evaluation epsilon) into the run folder
    (common/rl/agents.py)."""
    meta = {"game": cfg.game, "frame_skip": cfg.frame_skip, "network": cfg.variant,
            "n_actions": int(net.out.out_features), "eval_epsilon": cfg.eval_epsilon,
            "max_episode_frames": cfg.max_episode_frames, "agent_steps": int(agent_steps),
            "algorithm": f"DQN ({cfg.variant})", "default_deterministic": False}
    large = to_cpu(net.state_dict())
    if replay is not None:
        large.update({f"replay.{k}": np.asarray(v) for k, v in replay.state().items()})
    save_agent(ctx, "atari_q_network", {}, meta, large=large)


def run_dqn(cfg: DQNConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_dqn(cfg)
    keep_freed_memory()  # the update's activations reuse freed memory instead of new pages (no change to any number)
    device = torch_device()  # REPRO_DEVICE: cpu unless cuda is asked for
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    env, obs = make_atari(cfg.game, cfg.num_envs, env_seeds(cfg, cfg.seed, TRAIN), cfg.frame_skip,
                          max_episode_frames=cfg.max_episode_frames, frame_preprocess=cfg.frame_preprocess)
    eval_env, _ = make_atari(cfg.game, cfg.num_envs, env_seeds(cfg, cfg.seed + 10_000, EVAL), cfg.frame_skip,
                             max_episode_frames=cfg.max_episode_frames, frame_preprocess=cfg.frame_preprocess)
    n_actions = env.single_action_space.n
    net = QNetwork(n_actions, cfg.variant).to(device)
    has_target = bool(cfg.target_update_every_agent_steps or cfg.target_update_every_updates)
    target = QNetwork(n_actions, cfg.variant).to(device) if has_target else net
    if target is not net:
        target.load_state_dict(net.state_dict())
    opt = rmsprop(cfg, net)
    replay = FrameReplay(cfg.replay_capacity_agent_steps, cfg.num_envs)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 13]))
    N = cfg.num_envs

    state = ctx.restore()
    if state is None:
        # Figure 2's held-out states: a random policy's states, collected before training starts
        held = []
        eval_env.reset(seed=env_seeds(cfg, cfg.seed + 20_000, HELDOUT))
        while len(held) * N < cfg.heldout_states:
            ho_obs, *_ = eval_env.step(rng.integers(0, n_actions, N))
            held.append(ho_obs.copy())
        heldout = np.concatenate(held)[: cfg.heldout_states]
        for e in range(N):
            replay.start(e, obs[e, -1])
        state = {"agent_steps": 0, "updates": 0, "was_done": np.zeros(N, bool), "lives": np.zeros(N, int),
                 "ep_return": np.zeros(N), "ep_length": np.zeros(N, int), "episodes": [], "epochs": [], "heldout": heldout,
                 "loss_sum": torch.zeros((), device=device), "loss_count": 0}
    else:
        net.load_state_dict(state["net"])
        if target is not net:
            target.load_state_dict(state["target"])
        opt.load_state_dict(state["opt"])
        replay.load(state["replay"])
        rng.bit_generator.state = state["rng"]
        # ale-py's vector environment cannot save emulator states: the episodes in progress restart here (their
        # partial returns are dropped), so a resumed run continues differently from an uninterrupted one.
        attempt = len(ctx.record.attempts())
        obs, _ = env.reset(seed=env_seeds(cfg, cfg.seed + 1_000 * attempt, RESUME, attempt))
        for e in range(N):
            replay.start(e, obs[e, -1])
        state["was_done"][:], state["lives"][:] = False, 0
        state["ep_return"][:], state["ep_length"][:] = 0.0, 0
        state["loss_sum"] = state["loss_sum"].to(device)
    heldout_t = torch.from_numpy(state["heldout"]).to(device)

    def checkpoint_state() -> dict:  # tensors on the CPU, so that a checkpoint loads on any machine
        check_finite("parameters", net.state_dict(), f"update {state['updates']:,} (agent step "
                     f"{state['agent_steps']:,})")  # checked when saved, and at the end
        return {**state, "loss_sum": state["loss_sum"].cpu(), "net": to_cpu(net.state_dict()),
                "target": to_cpu(target.state_dict()), "opt": to_cpu(opt.state_dict()),
                "replay": replay.state(), "rng": rng.bit_generator.state}

    ctx.checkpoint_every_s = max(ctx.checkpoint_every_s, cfg.checkpoint_min_interval_s)
    bar = ctx.progress(cfg.total_agent_steps, f"DQN {cfg.game}", initial=state["agent_steps"], unit="agent-steps")
    while state["agent_steps"] < cfg.total_agent_steps:
        step0 = state["agent_steps"]
        with torch.no_grad():  # act: one forward pass for all environments
            q = net(torch.from_numpy(obs).to(device)).cpu().numpy()
        actions = epsilon_greedy(q, epsilon_at(cfg, step0), rng)
        obs, reward, term, trunc, info = env.step(actions)
        was_done = state["was_done"]
        lost, state["lives"] = lives_lost(state["lives"], info)
        learn_terminal = term | (lost & cfg.life_loss_terminal)  # the game goes on; the target stops here
        for e in range(N):
            if was_done[e]:  # this step reset the emulator: its action was ignored; a new episode starts
                replay.start(e, obs[e, -1])
                continue
            replay.step(e, int(actions[e]), float(clip_reward(reward[e])), bool(learn_terminal[e]), obs[e, -1])
            state["ep_return"][e] += reward[e]
            state["ep_length"][e] += 1
            if term[e] or trunc[e]:
                check_finite("episode return", float(state["ep_return"][e]), f"agent step {step0 + N:,}")
                state["episodes"].append((step0 + N, float(state["ep_return"][e]), int(state["ep_length"][e])))
                state["ep_return"][e], state["ep_length"][e] = 0.0, 0
        state["was_done"] = term | trunc
        state["agent_steps"] = step0 + N
        bar.update(N)
        ctx.count(N, "agent-steps")
        if state["agent_steps"] < cfg.learning_starts_agent_steps:
            continue
        n_updates = state["agent_steps"] // cfg.update_every_agent_steps - step0 // cfg.update_every_agent_steps
        for _ in range(n_updates):  # sample a minibatch of transitions and take a gradient step (Algorithm 1)
            loss = gradient_step(cfg, net, target, opt, *replay.sample(cfg.batch_size, rng))
            state["loss_sum"] += loss  # summed without .item(); read once per epoch
            state["loss_count"] += 1
            state["updates"] += 1
            if cfg.target_update_every_updates and state["updates"] % cfg.target_update_every_updates == 0:
                target.load_state_dict(net.state_dict())
            if state["updates"] % cfg.epoch_updates == 0:  # Figure 2: evaluate once per epoch
                epoch = state["updates"] // cfg.epoch_updates
                returns = evaluate(cfg, net, eval_env, env_seeds(cfg, cfg.seed * 1_000 + epoch, EVAL, epoch),
                                   cfg.eval_agent_steps, eval_rng(cfg, rng, epoch))
                with torch.no_grad():
                    avg_max_q = float(net(heldout_t).max(1).values.mean())
                where = (f"epoch {epoch} (updates {state['updates'] - state['loss_count'] + 1:,}-"
                         f"{state['updates']:,}, agent step {state['agent_steps']:,})")
                if not state["loss_count"]:
                    raise EmptyMetricError(f"the loss cannot be computed (an average of no updates) at {where}")
                losses = check_finite("loss", (state["loss_sum"] / state["loss_count"]).item(), where)
                check_finite("average max Q on the held-out states", avg_max_q, where)
                if returns:
                    check_finite("evaluation return", float(np.mean(returns)), where)
                state["loss_sum"], state["loss_count"] = torch.zeros((), device=device), 0
                state["epochs"].append((epoch, state["agent_steps"],
                                        float(np.mean(returns)) if returns else float("nan"),
                                        float(np.max(returns)) if returns else float("nan"), len(returns), avg_max_q,
                                        losses))
                ctx.maybe_checkpoint(checkpoint_state)
        if refresh_target_now(cfg, step0, state["agent_steps"]):
            target.load_state_dict(net.state_dict())
    bar.close()
    where = f"the end of training (update {state['updates']:,}, agent step {state['agent_steps']:,})"
    if state["loss_count"]:  # the updates after the last epoch: recorded nowhere, checked here
        last_losses = (state["loss_sum"] / state["loss_count"]).item()
        check_finite("loss (the updates after the last epoch)", last_losses, where)
    check_finite("parameters", net.state_dict(), where)
    # Table 1: a final evaluation of the epsilon = 0.05 policy
    returns = evaluate(cfg, net, eval_env, env_seeds(cfg, cfg.seed * 1_000 + 999_999, EVAL, 999_999),
                       cfg.eval_agent_steps, eval_rng(cfg, rng, 999_999), min_episodes=cfg.final_eval_min_episodes)
    check_finite("final evaluation returns", returns, "the final evaluation")
    save_dqn_agent(ctx, cfg, net, state["agent_steps"], replay if cfg.save_replay else None)
    episodes = pd.DataFrame(state["episodes"], columns=["agent_step", "episode_return", "episode_length"])
    epochs = pd.DataFrame(state["epochs"], columns=["epoch", "agent_step", "eval_mean_return", "eval_best_return",
                                                    "eval_episodes", "avg_max_q_heldout", "loss"])
    final = pd.DataFrame({"episode": range(len(returns)), "eval_return": returns})
    return {"episodes": episodes.assign(seed=cfg.seed), "epochs": epochs.assign(seed=cfg.seed),
            "final_eval": final.assign(seed=cfg.seed)}
