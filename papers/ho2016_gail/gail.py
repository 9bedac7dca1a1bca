"""Generative Adversarial Imitation Learning (Ho & Ermon, NeurIPS 2016, arXiv 1606.03476).

Reads like the paper's Algorithm 1:
  Input: expert trajectories tau_E ~ pi_E, initial policy and discriminator parameters theta_0, w_0
  for i = 0, 1, 2, ...
    sample trajectories tau_i ~ pi_theta_i                                            (Table 2: 5,000 or 50,000 pairs)
    update the discriminator from w_i to w_{i+1} with the gradient                                          (eq. 17)
        E_tau_i[grad_w log D_w(s, a)] + E_tau_E[grad_w log(1 - D_w(s, a))]
      (an Adam step; D_w(s, a) is the probability that (s, a) came from the policy, not the expert)
    take a policy step from theta_i to theta_{i+1} with the TRPO rule on the cost log D_{w_{i+1}}(s, a)     (eq. 18)
        E_tau_i[grad_theta log pi_theta(a|s) Q(s, a)] - lambda grad_theta H(pi_theta),
        Q(s_bar, a_bar) = E_tau_i[log D_{w_{i+1}}(s, a) | s_0 = s_bar, a_0 = a_bar]
      with a value function and GAE (gamma = .995, lambda = .97; Appendix B) in place of the Monte Carlo Q.

The same loop runs the apprenticeship-learning baselines (Sec. 6: FEM with C_linear, GTAL with C_convex) with their
cost in place of the discriminator's, and the experts (`method: expert`) with the task's true reward: one loop, a
pluggable cost model with `update(obs, acts, t) -> diagnostics`, `cost(obs, acts, t) -> per-pair cost`, `state()`
and `load(state)`. Behavioral cloning (`method: bc`) fits the policy to the expert's pairs instead
(papers/ho2016_gail/baselines.py) and shares only the evaluation.

The causal entropy term -lambda H(pi) (eq. 1; lambda = `causal_entropy`) enters as the reward bonus
-lambda log pi(a_t|s_t): H(pi) = E_pi[-log pi(a|s)] (the gamma-discounted causal entropy, Sec. 2), so its policy
gradient is the bonus's advantage.

Policies, value functions and discriminators: "2 hidden layers of 100 units each, with tanh nonlinearities"
(Appendix B), numpy on flat parameter vectors (`common/rl/npmlp.py`). A classic-control policy is a softmax over the
task's actions; a MuJoCo policy a Gaussian with a state-independent log std. Observations are standardized by the
expert data's mean and std (the authors' code's `obsnorm_mode: expertdata`), clipped at +-5; an expert's (no data)
by a running filter. Every episode starts from a reset seeded by the run's random stream, so a run resumes from a
checkpoint exactly.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from common.onpolicy import categorical_log_prob, discounted_returns, gae, gaussian_entropy, gaussian_log_prob, softmax
from common.onpolicy.rollout import record_batch, sample_trajectories
from common.onpolicy.trpo import fit_value_trust_region, random_rows, trpo_step
from common.platform.finite import check_finite
from common.platform.memory import keep_freed_memory
from common.rl.agents import save_agent
from common.rl.envs import RunningMeanStd, make_env
from common.rl.npmlp import Adam, Params, mlp_backward, mlp_forward, mlp_shapes, normc_init

from .gail_config import GAILConfig, is_discrete, validate_gail

OBS_CLIP = 5.0


# ---- the networks -------------------------------------------------------------------------------------------------
class Normalizer:
    """x -> clip((x - mean) / std, +-5): fixed at the expert data's statistics, or (`running`) updated with every
    batch of an expert's training (common/rl/envs.py: RunningMeanStd)."""

    def __init__(self, dim: int, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        self.running = mean is None
        self.rms = RunningMeanStd((dim,))
        self.mean = np.zeros(dim) if mean is None else np.asarray(mean, float)
        self.std = np.ones(dim) if std is None else np.maximum(np.asarray(std, float), 1e-3)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        # np.clip's numbers (NaN stays NaN) spelled as minimum(maximum(.)), without its Python-level overhead per step
        return np.minimum(np.maximum((obs - self.mean) / self.std, -OBS_CLIP), OBS_CLIP)

    def update(self, obs: np.ndarray) -> None:
        if self.running:
            self.rms.update(obs)
            self.mean, self.std = self.rms.mean.copy(), np.sqrt(self.rms.var + 1e-8)

    def state(self) -> dict:
        return {"mean": self.mean.copy(), "std": self.std.copy(), "rms": dict(self.rms.__dict__)}

    def load(self, state: dict) -> None:
        self.mean, self.std = state["mean"].copy(), state["std"].copy()
        self.rms.__dict__.update(state["rms"])


class Policy:
    """pi_theta(a|s): an MLP with tanh hidden layers on the standardized observation; its output the logits of a
    softmax (discrete actions) or the mean of a Gaussian with the separate log std `log_std` (continuous)."""

    def __init__(self, obs_dim: int, n_out: int, hidden: list[int], discrete: bool, init_log_std: float, rng):
        sizes = [obs_dim, *hidden, n_out]
        self.layers, self.discrete, self.n_out = len(sizes) - 1, discrete, n_out
        shapes = mlp_shapes("pi", sizes)
        if not discrete:
            shapes["log_std"] = (n_out,)
        self.p = Params(shapes)
        normc_init(self.p, "pi", self.layers, 0.01, rng)  # not stated: a near-uniform (near-zero-mean) start
        if not discrete:
            self.p["log_std"][...] = init_log_std

    def out(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.p, "pi", self.layers, x)[0]

    def act(self, x: np.ndarray, rng: np.random.Generator, deterministic: bool = False):
        """One action for one standardized observation (the inverse CDF of one uniform draw, or mean + std N(0,1)).
        The forward pass of `out` for one row, with the layers' views looked up once (`Params.layers`)."""
        *hidden, (w_out, b_out) = self.p.layers("pi", self.layers)
        h = x
        for w, b in hidden:
            h = np.tanh(h @ w + b)
        h = h @ w_out + b_out
        if self.discrete:
            if deterministic:
                return int(h.argmax())
            e = np.exp(h - h.max())
            cdf = (e / e.sum()).cumsum()
            return int(min(cdf.searchsorted(rng.random(), side="right"), self.n_out - 1))
        if deterministic:
            return h
        return h + np.exp(self.p["log_std"]) * rng.standard_normal(self.n_out)

    def log_prob(self, x: np.ndarray, act: np.ndarray) -> np.ndarray:
        out = self.out(x)
        if self.discrete:
            return categorical_log_prob(out, act)
        return gaussian_log_prob(out, self.p["log_std"], act)

    def entropy(self, x: np.ndarray) -> float:
        """The mean entropy of pi(.|s) over the batch's states."""
        if self.discrete:
            probs = softmax(self.out(x))
            return float(-(probs * np.log(np.maximum(probs, 1e-300))).sum(-1).mean())
        return gaussian_entropy(self.p["log_std"])


class ValueFunction:
    """V_phi(s): an MLP with tanh hidden layers and a linear scalar output (Appendix B: the policy's architecture)."""

    def __init__(self, obs_dim: int, hidden: list[int], rng):
        sizes = [obs_dim, *hidden, 1]
        self.layers = len(sizes) - 1
        self.p = Params(mlp_shapes("v", sizes))
        normc_init(self.p, "v", self.layers, 1.0, rng)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.p, "v", self.layers, x)[0][:, 0]


def pair_features(obs_n: np.ndarray, acts: np.ndarray, discrete: bool, n_out: int) -> np.ndarray:
    """A state-action pair as the discriminator's input: the standardized observation and the action (one-hot for
    discrete actions)."""
    if discrete:
        return np.concatenate([obs_n, np.eye(n_out)[np.asarray(acts, int).reshape(-1)]], axis=1)
    return np.concatenate([obs_n, np.asarray(acts, float).reshape(len(obs_n), -1)], axis=1)


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log sigma(z), stable for large |z|."""
    return -np.logaddexp(0.0, -z)


class Discriminator:
    """D_w(s, a) = sigma(f_w(s, a)), f_w an MLP with tanh hidden layers: the probability that (s, a) is the policy's.

    Loss (eq. 17, to minimize, each expectation the mean over its batch):
        L(w) = -E_tau_i[log D_w(s, a)] - E_tau_E[log(1 - D_w(s, a))] - c * (E_tau_i[H(D_w)] + E_tau_E[H(D_w)]) / 2
    with H(D) = -D log D - (1 - D) log(1 - D) the entropy of D's Bernoulli output, c = `entropy_weight` (the authors'
    code's 0.001; 0 is the paper's eq. 17). Per pair, with z = f_w(s, a):
        d(-log sigma(z))/dz = sigma(z) - 1;  d(-log(1 - sigma(z)))/dz = sigma(z);  dH/dz = -z sigma(z) (1 - sigma(z)).
    The policy's cost (eq. 18): log D_w(s, a) (`reward_form: policy_cost`), or -log(1 - D_w(s, a)) (`zero_for_expert`).
    Expert-like pairs have small D, so a low cost."""

    def __init__(self, expert_obs: np.ndarray, expert_acts: np.ndarray, *, discrete: bool, n_out: int,
                 hidden: list[int], learning_rate: float, steps: int, entropy_weight: float, reward_form: str, rng,
                 normalize=None):
        self.discrete, self.n_out = discrete, n_out
        self.normalize = normalize or (lambda obs: obs)  # the observation standardization (the expert data's)
        self.expert_x = self.features(expert_obs, expert_acts)
        sizes = [self.expert_x.shape[1], *hidden, 1]
        self.layers = len(sizes) - 1
        self.p = Params(mlp_shapes("d", sizes))
        normc_init(self.p, "d", self.layers, 1.0, rng)
        self.adam = Adam(len(self.p.flat))
        self.learning_rate, self.steps = learning_rate, steps
        self.entropy_weight, self.reward_form = entropy_weight, reward_form

    def features(self, obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        return pair_features(self.normalize(obs), acts, self.discrete, self.n_out)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return mlp_forward(self.p, "d", self.layers, x)[0][:, 0]

    def loss_and_grad(self, policy_x: np.ndarray) -> tuple[float, np.ndarray, dict]:
        """L(w) of eq. (17) (with the entropy bonus) on the policy's batch and the expert's pairs, and dL/dw."""
        x = np.concatenate([policy_x, self.expert_x])
        n_pi, n_e = len(policy_x), len(self.expert_x)
        z, inputs = mlp_forward(self.p, "d", self.layers, x)
        z = z[:, 0]
        d = 1.0 / (1.0 + np.exp(-z))  # D_w = sigma(z)
        log_d, log_1md = log_sigmoid(z), log_sigmoid(-z)
        entropy = -d * log_d - (1.0 - d) * log_1md
        z_pi, z_e = slice(0, n_pi), slice(n_pi, None)
        c = self.entropy_weight
        loss = (-log_d[z_pi].mean() - log_1md[z_e].mean()
                - c * 0.5 * (entropy[z_pi].mean() + entropy[z_e].mean()))
        weight = np.concatenate([np.full(n_pi, 1.0 / n_pi), np.full(n_e, 1.0 / n_e)])
        dz = np.concatenate([d[z_pi] - 1.0, d[z_e]]) * weight
        dz += c * 0.5 * z * d * (1.0 - d) * weight
        mlp_backward(self.p, "d", self.layers, inputs, dz[:, None])
        info = {"disc_loss": float(loss), "disc_policy_d": float(d[z_pi].mean()),
                "disc_expert_d": float(d[z_e].mean()),
                "disc_accuracy": float(0.5 * ((d[z_pi] > 0.5).mean() + (d[z_e] < 0.5).mean()))}
        return float(loss), self.p.grad.copy(), info

    # -- the cost-model interface (shared with baselines.LinearCost) -----------------------------------------------
    def update(self, obs: np.ndarray, acts: np.ndarray, t: np.ndarray) -> dict[str, float]:
        """w_i -> w_{i+1}: `steps` Adam steps on eq. (17); returns the diagnostics before the first step."""
        x = self.features(obs, acts)
        info = None
        for _ in range(self.steps):
            _, grad, step_info = self.loss_and_grad(x)
            info = info or step_info
            self.adam.step(self.p.flat, grad, self.learning_rate)
        return info

    def cost(self, obs: np.ndarray, acts: np.ndarray, t: np.ndarray) -> np.ndarray:
        z = self.logits(self.features(obs, acts))
        if self.reward_form == "policy_cost":
            return log_sigmoid(z)  # log D (eq. 18): <= 0
        return -log_sigmoid(-z)  # -log(1 - D): >= 0

    def state(self) -> dict:
        return {"params": self.p.flat.copy(), "adam": self.adam.state_dict()}

    def load(self, state: dict) -> None:
        self.p.flat[...] = state["params"]
        self.adam.load_state_dict(state["adam"])


class TrueReward:
    """The task's own reward as a cost model (`method: expert`, the experts of Appendix B): cost = -reward."""

    def update(self, obs, acts, t) -> dict[str, float]:
        return {}

    def cost(self, obs, acts, t, rewards=None) -> np.ndarray:
        return -rewards

    def state(self) -> dict:
        return {}

    def load(self, state: dict) -> None:
        pass


# ---- the policy and value steps -------------------------------------------------------------------------------
def policy_step(policy: Policy, x: np.ndarray, act: np.ndarray, adv: np.ndarray, cfg: GAILConfig, where: str,
                rows: np.ndarray | None = None):
    """TRPO's update (Schulman et al. 2015, Appendix C) with GAE's advantages, the shared step
    (common/onpolicy/trpo.py): maximize mean_t pi_theta(a_t|s_t) / pi_old(a_t|s_t) A_t subject to the mean
    KL(pi_old || pi_theta) <= epsilon; softmax or Gaussian policy; the Fisher-vector products on the batch's `rows`
    (None: all). `policy.p.flat` holds theta_{i+1} afterwards."""
    return trpo_step(policy.p, "pi", policy.layers, x, act, adv, dist="categorical" if policy.discrete else "gaussian",
                     max_kl=cfg.max_kl, cg_iters=cfg.cg_iters, cg_damping=cfg.cg_damping, fvp_rows=rows, where=where)


def fit_value(vf: ValueFunction, x: np.ndarray, targets: np.ndarray, cfg: GAILConfig,
              rows: np.ndarray | None = None) -> dict:
    """The value function's trust-region regression on the discounted returns (GAE, Schulman et al. 2016, eq. 30),
    its Gauss-Newton products on the batch's `rows` (None: all)."""
    return fit_value_trust_region(vf.p, "v", vf.layers, x, targets, max_kl=cfg.vf_max_kl, cg_iters=cfg.cg_iters,
                                  damping=cfg.cg_damping, hvp_rows=rows)


# ---- sampling -----------------------------------------------------------------------------------------------------
def sample(env, policy: Policy, norm: Normalizer, n_pairs: int, rng: np.random.Generator,
           deterministic: bool = False, episodes: int | None = None) -> dict:
    """Whole trajectories of the current policy until the batch holds at least `n_pairs` pairs (or, given
    `episodes`, that many trajectories), each from a reset seeded by `rng`. Returns the steps laid end to end:
    raw observations, actions, true rewards, time indices, trajectory ends, each trajectory's return and length."""
    batch = sample_trajectories(env, lambda obs: policy.act(norm(obs), rng, deterministic),
                                min_steps=n_pairs if episodes is None else None, episodes=episodes,
                                reset_seed=lambda: int(rng.integers(2**31 - 1)))
    if policy.discrete:
        batch["act"] = batch["act"].astype(np.int64)
    return batch


# ---- the expert's data ----------------------------------------------------------------------------------------------
def expert_pairs(cfg: GAILConfig) -> tuple[dict, dict]:
    """The first `cfg.trajectories` trajectories of the stored expert dataset, each subsampled to every
    `subsample_every`-th pair from an offset drawn per trajectory by a generator fixed at 0 (the authors' code:
    `data_subsamp_freq`), so that every seed and method sees the same pairs. Returns the pairs (obs, act, t) and
    the dataset's record."""
    from common.offline.datasets import load_dataset

    from .gail_config import DATASET_KIND, check_dataset

    check_dataset(cfg)
    ds, doc = load_dataset(cfg.env_id, DATASET_KIND, cfg.dataset_root or None)
    ends = ds.episode_ends()
    starts = np.r_[0, ends[:-1] + 1]
    offsets = np.random.default_rng(0).integers(0, cfg.subsample_every, size=len(starts))
    rows, times = [], []
    for k in range(cfg.trajectories):
        idx = np.arange(starts[k], ends[k] + 1)
        keep = idx[offsets[k]::cfg.subsample_every] if offsets[k] < len(idx) else idx[:1]
        rows.append(keep)
        times.append(keep - starts[k])
    rows, times = np.concatenate(rows), np.concatenate(times)
    acts = ds.actions[rows].astype(float)
    if is_discrete(cfg.env_id):
        acts = acts[:, 0].astype(np.int64)
    return {"obs": ds.observations[rows].astype(float), "act": acts, "t": times}, doc


# ---- the algorithm ------------------------------------------------------------------------------------------------
def make_task(cfg: GAILConfig, seed: int):
    return make_env(cfg.env_id, seed, cfg.max_episode_steps or None)


def run_gail(cfg: GAILConfig, ctx) -> dict[str, pd.DataFrame]:
    validate_gail(cfg)
    keep_freed_memory()  # the batch's temporaries reuse freed memory instead of new pages (no change to any number)
    discrete = is_discrete(cfg.env_id)
    env = make_task(cfg, cfg.seed)
    obs_dim = env.observation_space.shape[0]
    n_out = int(env.action_space.n) if discrete else env.action_space.shape[0]
    data, doc = (None, None) if cfg.method == "expert" else expert_pairs(cfg)
    if doc is not None:  # the expert dataset's checksums, in the run's provenance
        from common.offline.datasets import input_entry

        ctx.record_input("expert_dataset", input_entry(doc, cfg.dataset_root or None))
    if data is None:
        norm = Normalizer(obs_dim)
    else:
        norm = Normalizer(obs_dim, data["obs"].mean(0), data["obs"].std(0))
    if cfg.method == "bc":
        return run_bc(cfg, ctx, env, data, doc, norm, discrete, n_out)

    policy = Policy(obs_dim, n_out, list(cfg.policy_hidden), discrete, cfg.init_log_std,
                    np.random.default_rng(np.random.SeedSequence([cfg.seed, 1])))
    vf = ValueFunction(obs_dim, list(cfg.value_hidden), np.random.default_rng(np.random.SeedSequence([cfg.seed, 2])))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 3]))
    if cfg.method == "gail":
        cost_model = Discriminator(data["obs"], data["act"], discrete=discrete, n_out=n_out,
                                   hidden=list(cfg.disc_hidden), learning_rate=cfg.disc_learning_rate,
                                   steps=cfg.disc_steps, entropy_weight=cfg.disc_entropy_weight,
                                   reward_form=cfg.reward_form, normalize=norm,
                                   rng=np.random.default_rng(np.random.SeedSequence([cfg.seed, 4])))
    elif cfg.method in ("fem", "gtal"):
        from .baselines import LinearCost  # imported on use: numpy only

        cost_model = LinearCost(cfg.method, data["obs"], data["act"], data["t"], discrete=discrete, n_out=n_out,
                                horizon=int(cfg.max_episode_steps or env.spec.max_episode_steps),
                                favor_zero_expert_cost=cfg.reward_form == "zero_for_expert", seed=cfg.seed)
    else:
        cost_model = TrueReward()

    state = ctx.restore()
    if state is None:
        state = {"iteration": 0, "steps": 0, "episodes": [], "iterations": []}
    else:
        policy.p.flat[...] = state["policy"]
        vf.p.flat[...] = state["value"]
        rng.bit_generator.state = state["rng"]
        norm.load(state["norm"])
        cost_model.load(state["cost"])

    def checkpoint_state() -> dict:
        return {**state, "policy": policy.p.flat.copy(), "value": vf.p.flat.copy(), "rng": rng.bit_generator.state,
                "norm": norm.state(), "cost": cost_model.state()}

    bar = ctx.progress(cfg.iterations, f"{cfg.method} {cfg.env_id} {cfg.trajectories} traj", initial=state["iteration"],
                       unit="iterations")
    for iteration in range(state["iteration"], cfg.iterations):
        batch = sample(env, policy, norm, cfg.batch_steps, rng)  # tau_i ~ pi_theta_i
        where, row = record_batch(state, batch, iteration)
        row.update(learn(cfg, policy, vf, norm, cost_model, batch, where, rng))
        state["iterations"].append(row)
        ctx.count(len(batch["rew"]), "env-steps")
        state["iteration"] = iteration + 1
        bar.update(1)
        if iteration + 1 < cfg.iterations:
            ctx.maybe_checkpoint(checkpoint_state)
    bar.close()
    save_policy(ctx, cfg, policy.p, policy.layers, discrete, n_out, norm.mean, norm.std, OBS_CLIP, state["steps"])
    evaluation = evaluate(cfg, lambda x, r, det: policy.act(x, r, det), norm)
    return {"episodes": pd.DataFrame(state["episodes"], columns=EPISODE_COLUMNS).assign(seed=cfg.seed),
            "iterations": pd.DataFrame(state["iterations"]).assign(seed=cfg.seed),
            **evaluation_tables(cfg, evaluation, doc)}


def learn(cfg: GAILConfig, policy: Policy, vf: ValueFunction, norm: Normalizer, cost_model, batch: dict,
          where: str, rng: np.random.Generator) -> dict:
    """One iteration's updates on the batch of pi_theta_i: the cost model (w_i -> w_{i+1}, eq. 17), then the
    policy's TRPO step on the cost of w_{i+1} (eq. 18) with GAE, then the value function; each step's curvature
    products on its own random `cfg.fvp_fraction` of the batch, drawn from `rng` (none drawn at 1)."""
    norm.update(batch["obs"])
    x = norm(batch["obs"])
    info = cost_model.update(batch["obs"], batch["act"], batch["t"])  # w_i -> w_{i+1}
    if isinstance(cost_model, TrueReward):
        cost = cost_model.cost(batch["obs"], batch["act"], batch["t"], batch["rew"])
    else:
        cost = cost_model.cost(batch["obs"], batch["act"], batch["t"])  # c_{i+1}(s, a), e.g. log D_{w_{i+1}}(s, a)
    reward = -cost
    if cfg.causal_entropy > 0:  # -lambda H(pi): the bonus -lambda log pi(a|s) on every pair
        reward = reward - cfg.causal_entropy * policy.log_prob(x, batch["act"])
    check_finite("imitation reward", reward, where)
    # advantages: GAE(gamma, lambda) with V_phi_i (GAE eq. 16); V = 0 after a trajectory's end
    values = vf(x)
    adv = gae(reward, values, batch["end"], 0.0, cfg.gamma, cfg.lam)
    returns = discounted_returns(reward, batch["end"], cfg.gamma)
    step = policy_step(policy, x, batch["act"], adv, cfg, where,
                       random_rows(rng, len(x), cfg.fvp_fraction))  # theta_i -> theta_{i+1}
    var = float(np.var(returns))
    fit = fit_value(vf, x, returns, cfg, random_rows(rng, len(x), cfg.fvp_fraction))
    check_finite("policy parameters", policy.p.flat, where)
    check_finite("value-function parameters", vf.p.flat, where)
    row = {"mean_imitation_reward": float(reward.mean()), "surrogate_improvement": step.improvement, "kl": step.kl,
           "accepted": int(step.accepted), "backtracks": step.backtracks, "entropy": policy.entropy(x),
           "vf_explained_variance": 1.0 - float(np.var(returns - values)) / var if var > 0 else 0.0,
           "vf_step_fraction": fit["vf_step_fraction"], **(info or {})}
    check_finite("iteration metrics", row, where)
    return row


EPISODE_COLUMNS = ["iteration", "env_step", "episode_return", "episode_length"]


# ---- evaluation and the scale of Figure 1 --------------------------------------------------------------------------
def evaluate(cfg: GAILConfig, act, norm: Normalizer) -> dict:
    """`eval_episodes` episodes of the learned policy on the true reward (Table 3: "over 50 trajectories"), from
    resets of a stream apart from training's; `act(x, rng, deterministic)` acts on a standardized observation."""
    env = make_task(cfg, cfg.seed + 10_000)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 99]))
    returns, lengths = [], []
    for _ in range(cfg.eval_episodes):
        obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
        total, n, done = 0.0, 0, False
        while not done:
            obs, r, term, trunc, _ = env.step(act(norm(obs), rng, cfg.eval_deterministic))
            total, n, done = total + float(r), n + 1, bool(term or trunc)
        returns.append(total)
        lengths.append(n)
    env.close()
    return {"returns": np.array(returns), "lengths": np.array(lengths)}


def scaled(returns, random_return: float, expert_return: float) -> np.ndarray:
    """Figure 1's scale: random policy = 0, expert = 1: (R - R_random) / (R_expert - R_random)."""
    if not expert_return != random_return:
        raise ValueError(f"the expert's return {expert_return} equals the random policy's: no scale")
    return (np.asarray(returns, float) - random_return) / (expert_return - random_return)


def evaluation_tables(cfg: GAILConfig, evaluation: dict, doc: dict | None) -> dict[str, pd.DataFrame]:
    """The `evaluation` table: each evaluation episode's return and length, and for an imitator the return on
    Figure 1's scale, by the expert's and the random policy's mean returns its dataset recorded."""
    df = pd.DataFrame({"episode": np.arange(len(evaluation["returns"])), "episode_return": evaluation["returns"],
                       "episode_length": evaluation["lengths"]})
    if doc is not None:
        scale = doc["source"]["scale"]
        df["scaled_return"] = scaled(df["episode_return"], scale["random_return_mean"], scale["expert_return_mean"])
        df["expert_return"], df["random_return"] = scale["expert_return_mean"], scale["random_return_mean"]
    return {"evaluation": df.assign(seed=cfg.seed)}


def save_policy(ctx, cfg: GAILConfig, p: Params, layers: int, discrete: bool, n_out: int, obs_mean: np.ndarray,
                obs_std: np.ndarray, obs_clip: float, steps: int) -> None:
    """A learned policy into the run folder (common/rl/agents.py): a softmax policy (`categorical_mlp`) or a
    Gaussian one (`gaussian_mlp`, PPO's format), with its observation standardization (x - mean) / std, clipped."""
    arrays = {name: p[name] for name in p.names()}
    meta = {"env_id": cfg.env_id, "obs_dim": int(p["pi.0.w"].shape[0]), "layers": layers,
            "hidden_units": list(cfg.policy_hidden), "activation": "tanh", "obs_clip": obs_clip,
            "env_steps": int(steps), "algorithm": f"{cfg.method} (Ho & Ermon 2016)",
            "max_episode_steps": cfg.max_episode_steps, "default_deterministic": False}
    if discrete:
        arrays.update(obs_mean=obs_mean, obs_std=obs_std)
        save_agent(ctx, "categorical_mlp", arrays, {**meta, "n_actions": n_out})
    else:
        arrays.update(obs_mean=obs_mean, obs_var=obs_std ** 2 - 1e-8)  # the agent divides by sqrt(var + 1e-8)
        save_agent(ctx, "gaussian_mlp", arrays, {**meta, "act_dim": n_out, "normalize_obs": True})


# ---- behavioral cloning -------------------------------------------------------------------------------------------
def run_bc(cfg: GAILConfig, ctx, env, data: dict, doc: dict, norm: Normalizer, discrete: bool,
           n_out: int) -> dict[str, pd.DataFrame]:
    """Behavioral cloning (Sec. 6): the policy class's maximum-likelihood fit to the expert's pairs, 70/30
    train/validation split, Adam, minibatches of 128, stopped early on the validation loss (baselines.train_bc)."""
    from .baselines import STANDARDIZE_EPS, train_bc  # imported on use: numpy only

    bc_policy, history = train_bc(data["obs"], data["act"], discrete=discrete, n_out=n_out,
                                  hidden=tuple(cfg.policy_hidden), seed=cfg.seed, batch_size=cfg.bc_batch_size,
                                  learning_rate=cfg.bc_learning_rate, max_epochs=cfg.bc_max_epochs,
                                  patience=cfg.bc_patience, validation_fraction=cfg.bc_validation_fraction)
    ctx.count(len(history), "epochs")
    # BCPolicy's standardization: (x - mean) / (std + eps), unclipped
    save_policy(ctx, cfg, bc_policy.params, bc_policy.n_layers, discrete, n_out, bc_policy.obs_mean,
                bc_policy.obs_std + STANDARDIZE_EPS, 1e9, 0)
    # BCPolicy standardizes the raw observation itself (the expert data's statistics), one row at a time here
    evaluation = evaluate(cfg, lambda obs, r, det: bc_policy.act(obs[None], r, det)[0], lambda obs: obs)
    return {"bc_epochs": history.assign(seed=cfg.seed), **evaluation_tables(cfg, evaluation, doc)}


def live_tables(state, cfg) -> dict[str, pd.DataFrame]:
    """The live tables of a checkpoint's state (common/platform/registry.py `Live`)."""
    if not isinstance(state, dict):
        return {}
    return {"episodes": pd.DataFrame(state.get("episodes") or [], columns=EPISODE_COLUMNS).assign(seed=cfg.seed),
            "iterations": pd.DataFrame(state.get("iterations") or []).assign(seed=cfg.seed)}
