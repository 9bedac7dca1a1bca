"""GAIL's baselines (Ho & Ermon 2016, Section 6 and Appendix B): behavioral cloning, FEM and GTAL.

Sources. The paper (arXiv 1606.03476) states the setup; the authors' code states the details: openai/imitation
(README: "Generative Adversarial Imitation Learning, Jonathan Ho and Stefano Ermon") at commit
8a2ed905e2ac54bda0f71e5ee364e90568e6d031, cited below as `imitation.py` (policyopt/imitation.py), `rl.py`
(policyopt/rl.py), `nn.py` (policyopt/nn.py), `imitate_mj.py` (scripts/imitate_mj.py), `im_pipeline.py`
(scripts/im_pipeline.py) and the pipelines (pipelines/im_classic_pipeline.yaml, pipelines/im_pipeline.yaml), which
ran the paper's experiments. Equation numbers (1)-(9) are this module's; each names the paper it comes from.

Behavioral cloning (Pomerleau 1991; GAIL Appendix B: 70/30 train/validation split, Adam, minibatch 128, early stopping
on validation). The policy pi_theta(a|s) (2 hidden layers of 100 tanh units: a softmax over actions, or a Gaussian
whose mean is the network's output and whose log standard deviation is a state-independent parameter, rl.py
`GibbsPolicy`, `GaussianPolicy`) maximizes the likelihood of the expert's actions:

    L_BC(theta) = -1/|D| sum_{(s,a) in D} log pi_theta(a|s)                                                     (1)

(rl.py: `bclone_loss = -logprobs_B.mean()`; a Gaussian's likelihood, not a squared error). The parameters kept are
those of the best validation epoch: the validation negative log-likelihood for discrete actions and, as im_pipeline.py
picks its snapshot (`log_df['valacc'].argmax()`, with `valacc` from imitation.py `BehavioralCloningOptimizer.step`),
the validation squared error of the mean action for continuous ones:

    MSE_val(theta) = 1/|D_val| sum_{(s,a) in D_val} || mu_theta(s) - a ||^2                                      (2)

Apprenticeship learning (GAIL Section 4; Ho, Gupta & Ermon 2016, "Model-free imitation learning with policy
optimization"). With features f(s,a) in R^d and a cost class C = {c_w(s,a) = w . f(s,a) : w in W}, the learner solves

    min_pi max_{c in C} E_pi[c(s,a)] - E_piE[c(s,a)] = min_pi max_{w in W} w . (mu_pi - mu_E),                 (3)

    mu_pi = E_pi[f(s,a)],  mu_E = E_piE[f(s,a)]                                                                (4)

estimated by plain averages over state-action pairs, undiscounted (imitation.py `LinearReward._compute_featexp`:
`.mean(axis=0)`; mu_E over the whole expert dataset, fixed at construction). The learner alternates a policy step on
the current cost (the GAIL loop's TRPO step) with the adversary's best response to the same iteration's samples
(imitation.py `ImitationOptimizer.step`: sample with pi_i, cost the samples, policy step, then `reward_func.fit` on
the samples of pi_i, so the cost that pi_{i+1} is trained on answers pi_i). The two cost classes:

  FEM, C_linear (Abbeel & Ng 2004): W = {w : ||w||_2 <= 1}; the best response is

    w = (mu_pi - mu_E) / ||mu_pi - mu_E||_2,  max value ||mu_pi - mu_E||_2                                      (5)

  GTAL, C_convex (Syed & Schapire 2007): W = {w : w >= 0, sum_j w_j = 1}, the simplex; the best response puts all
  weight on the feature the learner most exceeds the expert on,

    w = e_j*,  j* = argmax_j (mu_pi - mu_E)_j,  max value max_j (mu_pi - mu_E)_j                                (6)

  over the features and their negations [f, -f] (imitation.py `LinearReward._featurize`: `if self.simplex: feat_B_Df
  = np.concatenate([feat_B_Df, -feat_B_Df], axis=1)`), so that a feature can count against the learner either way
  and the max value is max_j |mu_pi - mu_E|_j over the original features.

Features (imitation.py `LinearReward._featurize`). Observations (and continuous actions) are standardized with the
expert data's mean and standard deviation, z = (x - mean) / (std + 1e-6) (nn.py `Standardizer`, updated with the
expert data only: `LinearReward.__init__` and imitate_mj.py's `obsnorm_mode='expertdata'`); then

    continuous: f(s,a,t) = [z_s, z_a, (0.01 z_s)^2, (0.01 z_a)^2, (tau, tau^2, tau^3), 1]                         (7)
    discrete:   f(s,a,t) = [1{a=0} g(s,t), ..., 1{a=K-1} g(s,t), 1],  g(s,t) = [z_s, (0.01 z_s)^2, (tau, tau^2, tau^3)]

with tau = t / horizon (imitate_mj.py: `time_scale=1./mdp.env_spec.timestep_limit`). The time features are off by
default: every pipeline of the paper's runs passes `--reward_include_time 0`. The code does not scale features to a
bounded range; it standardizes them as above and divides the cost by the number of features d:

    c(s,a,t) = w . f(s,a,t) / d                                                                                 (8)

(imitation.py `compute_reward`: `/ float(feat_B_Df.shape[1])`). Finally the code shifts the cost by the most extreme
value it has produced so far, so that its sign is fixed (imitation.py `compute_reward`, `reward_bound`):

    cost = c - max(0, max c seen)  <= 0,  or with favor_zero_expert_cost:  cost = c - min(0, min c seen)  >= 0     (9)

The first form (a non-negative reward) suits tasks that end early on failure, the second (zero cost for expert-like
pairs; the code's `favor_zero_expert_reward`) tasks that end early on success: the pipelines pass
`--favor_zero_expert_reward {cuts_off_on_success}`, true for Mountain Car and Acrobot only. The code updates the bound
on every cost evaluation (twice per iteration: for the advantages, and for the value function after the fit).

Choices where the paper and code are silent or do not fit this interface (each listed with its reason):
- BC trains in epochs (each training pair once per epoch, in minibatches of 128, shuffled), validates after each
  epoch and stops after `patience` epochs without a strictly lower validation criterion; the code instead draws
  minibatches with replacement for a fixed number of steps (1001 classic, 20001 MuJoCo) and validates every 100 or
  1000 steps, keeping the best snapshot. Keeping the best epoch is the same rule; stopping after `patience` epochs
  without improvement can miss a later, better epoch that the code's fixed budget would reach. The defaults,
  max_epochs 1000 and patience 100, are this module's (neither the paper nor the code has a patience): the classic
  tasks' datasets (1-10 trajectories subsampled every 5 or 10 steps: some 20-200 pairs, one or two minibatches an
  epoch) make 1000 epochs 1000-2000 steps, near the code's 1001; the MuJoCo datasets (about 50 pairs a trajectory,
  200-12,000 pairs) have 2-66 minibatches an epoch.
- The paper's numbers come from the chosen policy acting deterministically, for BC, FEM, GTAL and GAIL alike
  (im_pipeline.py `phase2_eval`: `eval_snapshot(..., deterministic=True)`): `BCPolicy.act(..., deterministic=True)`
  when the run's `eval_deterministic` is set, as Tables 2-3's experiments set it.
- The initial cost weights are random, as in the code (`LinearReward.__init__`: a Gaussian direction for FEM, a
  uniform feature index for GTAL), drawn from `seed` here.
- Adam is common/rl/npmlp.py's (torch's epsilon placement); the code's Theano Adam adds epsilon to sqrt(v) before
  bias correction (policyopt/thutil.py `adam`), a difference of order 1e-8.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from common.rl.npmlp import Adam, Params, mlp_backward, mlp_forward, mlp_shapes

KINDS = ("fem", "gtal")
STANDARDIZE_EPS = 1e-6  # nn.py Standardizer: eps=1e-6 added to the standard deviation
SQUARED_FEATURE_SCALE = 0.01  # imitation.py LinearReward: sqscale=.01 (continuous), .01 literal (discrete)
FEM_NORM_EPS = 1e-8  # imitation.py LinearReward.fit: self.w /= l2 + 1e-8


# ----------------------------------------------------------------------------------------------------------------
# Input checks


def _as_obs(obs, name: str, n_obs: int | None = None) -> np.ndarray:
    obs = np.asarray(obs, dtype=np.float64)
    if obs.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (pairs x observation dimensions), got shape {obs.shape}")
    if obs.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one state-action pair is needed")
    if n_obs is not None and obs.shape[1] != n_obs:
        raise ValueError(f"{name} has {obs.shape[1]} observation dimensions, expected {n_obs}")
    if not np.isfinite(obs).all():
        raise ValueError(f"{name} holds non-finite values")
    return obs


def _as_acts(acts, name: str, n_pairs: int, *, discrete: bool, n_out: int) -> np.ndarray:
    """Discrete: integer actions in [0, n_out), shape (N,) or (N, 1), returned as (N,) int64.
    Continuous: shape (N, n_out), returned as float64."""
    acts = np.asarray(acts)
    if discrete:
        if acts.ndim == 2 and acts.shape[1] == 1:
            acts = acts[:, 0]
        if acts.ndim != 1:
            raise ValueError(f"{name}: discrete actions must have shape (N,) or (N, 1), got {acts.shape}")
        if acts.dtype.kind == "f":
            if not np.all(np.isfinite(acts)) or not np.all(acts == np.round(acts)):
                raise ValueError(f"{name}: discrete actions must be integers 0..{n_out - 1}")
        elif acts.dtype.kind not in "iub":
            raise ValueError(f"{name}: discrete actions must be integers 0..{n_out - 1}, got dtype {acts.dtype}")
        acts = acts.astype(np.int64)
        if acts.size and (acts.min() < 0 or acts.max() >= n_out):
            raise ValueError(f"{name}: discrete actions must lie in 0..{n_out - 1} (n_out={n_out}), "
                             f"got values in {acts.min()}..{acts.max()}")
    else:
        acts = np.asarray(acts, dtype=np.float64)
        if acts.ndim != 2 or acts.shape[1] != n_out:
            raise ValueError(f"{name}: continuous actions must have shape (N, n_out={n_out}), got {acts.shape}")
        if not np.isfinite(acts).all():
            raise ValueError(f"{name} holds non-finite values")
    if acts.shape[0] != n_pairs:
        raise ValueError(f"{name} has {acts.shape[0]} pairs but the observations have {n_pairs}")
    return acts


def _as_times(t, name: str, n_pairs: int) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != n_pairs:
        raise ValueError(f"{name} must have shape ({n_pairs},) (one time step per pair), got {t.shape}")
    if not np.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"{name} must hold finite non-negative time steps")
    return t


def _check_n_out(n_out) -> int:
    if isinstance(n_out, bool) or not isinstance(n_out, (int, np.integer)) or n_out < 1:
        raise ValueError(f"n_out must be a positive integer (number of actions or action dimension), got {n_out!r}")
    return int(n_out)


# ----------------------------------------------------------------------------------------------------------------
# Behavioral cloning


class BCPolicy:
    """pi_theta(a|s): observations standardized with the expert data's statistics (imitate_mj.py
    `obsnorm_mode='expertdata'`, nn.py `Standardizer`), tanh hidden layers, a linear output layer: logits (discrete,
    rl.py `GibbsPolicy`) or the Gaussian mean with a state-independent log standard deviation (rl.py
    `GaussianPolicy`, `min_stdev=0`, `init_logstdev=0`)."""

    def __init__(self, *, discrete: bool, obs_dim: int, n_out: int, hidden: tuple[int, ...],
                 obs_mean: np.ndarray, obs_std: np.ndarray):
        self.discrete = bool(discrete)
        self.obs_dim, self.n_out, self.hidden = int(obs_dim), _check_n_out(n_out), tuple(int(h) for h in hidden)
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden must hold positive layer widths, got {hidden!r}")
        self.sizes = [self.obs_dim, *self.hidden, self.n_out]
        self.n_layers = len(self.sizes) - 1
        shapes = mlp_shapes("pi", self.sizes)
        if not self.discrete:
            shapes["log_std"] = (self.n_out,)
        self.params = Params(shapes)
        self.obs_mean = np.asarray(obs_mean, dtype=np.float64).reshape(self.obs_dim)
        self.obs_std = np.asarray(obs_std, dtype=np.float64).reshape(self.obs_dim)

    def init_params(self, rng: np.random.Generator) -> None:
        """Glorot-uniform hidden layers and a zero output layer (nn.py `AffineLayer`; rl.py's output layers pass
        `initializer=np.zeros(...)`), zero biases, log std 0."""
        for i in range(self.n_layers):
            w = self.params[f"pi.{i}.w"]
            if i < self.n_layers - 1:
                s = math.sqrt(6.0 / (w.shape[0] + w.shape[1]))
                w[...] = rng.uniform(-s, s, size=w.shape)
            else:
                w[...] = 0.0
            self.params[f"pi.{i}.b"][...] = 0.0
        if not self.discrete:
            self.params["log_std"][...] = 0.0

    def _forward(self, obs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        x = (obs - self.obs_mean) / (self.obs_std + STANDARDIZE_EPS)
        return mlp_forward(self.params, "pi", self.n_layers, x)

    def log_prob(self, obs, acts) -> np.ndarray:
        """log pi_theta(a|s) of each pair."""
        obs = _as_obs(obs, "obs", self.obs_dim)
        acts = _as_acts(acts, "acts", obs.shape[0], discrete=self.discrete, n_out=self.n_out)
        return self._nll_and_grad(obs, acts, grad=False)[1]

    def act(self, obs, rng: np.random.Generator, deterministic: bool) -> np.ndarray:
        """A batch of actions for a batch of observations (N, obs_dim): discrete (N,) int64 (argmax or a sample),
        continuous (N, n_out) (the mean or a Gaussian sample)."""
        obs = _as_obs(obs, "obs", self.obs_dim)
        out, _ = self._forward(obs)
        if self.discrete:
            if deterministic:
                return out.argmax(axis=1).astype(np.int64)
            p = np.exp(out - out.max(axis=1, keepdims=True))
            cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
            u = rng.random(obs.shape[0])
            return np.minimum((cdf < u[:, None]).sum(axis=1), self.n_out - 1).astype(np.int64)
        if deterministic:
            return out
        return out + np.exp(self.params["log_std"]) * rng.standard_normal(out.shape)

    def _nll_and_grad(self, obs: np.ndarray, acts: np.ndarray, grad: bool) -> tuple[float, np.ndarray]:
        """Eq. (1) on a batch; with grad=True writes d L_BC / d theta into self.params.grad. Returns the loss and
        each pair's log-likelihood."""
        out, inputs = self._forward(obs)
        n = obs.shape[0]
        if self.discrete:
            shifted = out - out.max(axis=1, keepdims=True)
            logp_all = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            logp = logp_all[np.arange(n), acts]
            if grad:
                d_out = np.exp(logp_all)
                d_out[np.arange(n), acts] -= 1.0
                mlp_backward(self.params, "pi", self.n_layers, inputs, d_out / n)
        else:
            log_std = self.params["log_std"]
            z = (acts - out) * np.exp(-log_std)
            logp = (-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(axis=1)
            if grad:
                # d(-log N)/d mean = -z / std;  d(-log N)/d log_std = 1 - z^2
                mlp_backward(self.params, "pi", self.n_layers, inputs, -z * np.exp(-log_std) / n)
                self.params.g("log_std")[...] = (1.0 - z ** 2).sum(axis=0) / n
        return float(-logp.mean()), logp

    def mean_sq_error(self, obs: np.ndarray, acts: np.ndarray) -> float:
        """Eq. (2): mean over pairs of the squared distance between the mean action and the expert's action."""
        out, _ = self._forward(obs)
        return float(((out - acts) ** 2).sum(axis=1).mean())

    def arrays(self) -> dict[str, np.ndarray]:
        return {"flat": self.params.flat.copy(), "obs_mean": self.obs_mean.copy(), "obs_std": self.obs_std.copy(),
                "sizes": np.asarray(self.sizes, dtype=np.int64), "discrete": np.asarray(self.discrete)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "BCPolicy":
        missing = {"flat", "obs_mean", "obs_std", "sizes", "discrete"} - set(arrays)
        if missing:
            raise ValueError(f"BCPolicy arrays lack {sorted(missing)}; expected the keys of BCPolicy.arrays()")
        sizes = [int(s) for s in np.asarray(arrays["sizes"])]
        policy = cls(discrete=bool(np.asarray(arrays["discrete"])), obs_dim=sizes[0], n_out=sizes[-1],
                     hidden=tuple(sizes[1:-1]), obs_mean=arrays["obs_mean"], obs_std=arrays["obs_std"])
        flat = np.asarray(arrays["flat"], dtype=np.float64)
        if flat.shape != policy.params.flat.shape:
            raise ValueError(f"BCPolicy arrays: 'flat' has {flat.size} parameters, layer sizes {sizes} need "
                             f"{policy.params.flat.size}")
        policy.params.flat[...] = flat
        return policy


def train_bc(obs, acts, *, discrete: bool, n_out: int, hidden=(100, 100), seed: int, batch_size: int = 128,
             learning_rate: float = 1e-3, max_epochs: int = 1000, patience: int = 100,
             validation_fraction: float = 0.3) -> tuple[BCPolicy, pd.DataFrame]:
    """Behavioral cloning, eq. (1), with early stopping on the validation set.

    obs (N, obs_dim); acts (N,) integers in [0, n_out) when `discrete`, else (N, n_out). The pairs are split at
    random into int((1 - validation_fraction) N) training pairs and the rest for validation (imitation.py
    `BehavioralCloningOptimizer`: `num_train = int(train_frac * num_examples)`, train_frac .7; both parts
    non-empty). Adam (learning rate 1e-3, minibatch 128: imitate_mj.py `--bclone_lr`, `--bclone_batch_size`).
    After each epoch the validation criterion (negative log-likelihood, discrete; eq. (2), continuous) is computed;
    the returned policy holds the parameters of the epoch with the lowest criterion (the earliest if tied), and
    training stops after `patience` epochs without a lower one, or after `max_epochs`.

    Returns the policy and the history, one row per epoch: epoch (from 1), train_loss (mean of eq. (1) over the
    epoch's minibatches), validation_loss (eq. (1) on the validation pairs), validation_mean_sq_error (eq. (2); NaN
    for discrete actions), chosen (True on the returned epoch only).
    """
    n_out = _check_n_out(n_out)
    obs = _as_obs(obs, "obs")
    acts = _as_acts(acts, "acts", obs.shape[0], discrete=discrete, n_out=n_out)
    for name, value in (("batch_size", batch_size), ("max_epochs", max_epochs), ("patience", patience)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {validation_fraction!r}")
    if not learning_rate > 0.0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    n = obs.shape[0]
    n_train = int((1.0 - validation_fraction) * n)
    if n_train < 1 or n - n_train < 1:
        raise ValueError(f"{n} pairs with validation_fraction={validation_fraction} leave {n_train} training and "
                         f"{n - n_train} validation pairs; both need at least one")

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    tr, va = order[:n_train], order[n_train:]
    # nn.py Standardizer over all the expert observations: std = sqrt(max(E[x^2] - E[x]^2, 0))
    mean = obs.mean(axis=0)
    std = np.sqrt(np.maximum((obs ** 2).mean(axis=0) - mean ** 2, 0.0))
    policy = BCPolicy(discrete=discrete, obs_dim=obs.shape[1], n_out=n_out, hidden=hidden, obs_mean=mean, obs_std=std)
    policy.init_params(rng)
    adam = Adam(policy.params.flat.size)

    def criterion() -> tuple[float, float, float]:
        val_loss = policy._nll_and_grad(obs[va], acts[va], grad=False)[0]
        mse = math.nan if discrete else policy.mean_sq_error(obs[va], acts[va])
        return val_loss, mse, (val_loss if discrete else mse)

    rows, best_flat, best_epoch, best_score = [], None, 0, math.inf
    for epoch in range(1, max_epochs + 1):
        perm = tr[rng.permutation(n_train)]
        losses = []
        for start in range(0, n_train, batch_size):
            idx = perm[start:start + batch_size]
            loss, _ = policy._nll_and_grad(obs[idx], acts[idx], grad=True)
            adam.step(policy.params.flat, policy.params.grad, learning_rate)
            losses.append(loss)
        val_loss, mse, score = criterion()
        if not (np.isfinite(policy.params.flat).all() and math.isfinite(val_loss)):
            raise FloatingPointError(f"behavioral cloning diverged at epoch {epoch} (validation loss {val_loss})")
        rows.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "validation_loss": val_loss,
                     "validation_mean_sq_error": mse})
        if score < best_score:
            best_score, best_epoch, best_flat = score, epoch, policy.params.flat.copy()
        elif epoch - best_epoch >= patience:
            break
    policy.params.flat[...] = best_flat
    history = pd.DataFrame(rows)
    history["chosen"] = history["epoch"] == best_epoch
    return policy, history


# ----------------------------------------------------------------------------------------------------------------
# Apprenticeship learning: FEM (C_linear) and GTAL (C_convex)


class LinearCost:
    """The adversary's linear cost of FEM (`kind="fem"`, eq. (5)) or GTAL (`kind="gtal"`, eq. (6)) on the features
    of eq. (7), with the expert data fixed at construction.

    expert_obs (N, obs_dim), expert_acts ((N,) integers in [0, n_out) when `discrete`, else (N, n_out)), expert_t
    (N,) the time step of each pair within its episode, horizon the task's maximal episode length (tau = t /
    horizon). `include_time` adds the time features (off in the paper's runs); `favor_zero_expert_cost` picks the
    sign convention of eq. (9); `seed` draws the initial weights.
    """

    def __init__(self, kind: str, expert_obs, expert_acts, expert_t, *, discrete: bool, n_out: int, horizon: int,
                 include_time: bool = False, favor_zero_expert_cost: bool = False, seed: int = 0):
        if kind not in KINDS:
            raise ValueError(f"unknown LinearCost kind {kind!r}; valid kinds: {', '.join(KINDS)} "
                             "(fem: C_linear, the unit L2 ball; gtal: C_convex, the simplex)")
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer, float)) or not horizon > 0:
            raise ValueError(f"horizon must be a positive episode length, got {horizon!r}")
        self.kind, self.discrete, self.n_out = kind, bool(discrete), _check_n_out(n_out)
        self.horizon, self.include_time = float(horizon), bool(include_time)
        self.favor_zero_expert_cost = bool(favor_zero_expert_cost)
        obs = _as_obs(expert_obs, "expert_obs")
        acts = _as_acts(expert_acts, "expert_acts", obs.shape[0], discrete=self.discrete, n_out=self.n_out)
        t = _as_times(expert_t, "expert_t", obs.shape[0])
        self.obs_dim = obs.shape[1]
        # nn.py Standardizer fitted on the expert data: observations and actions (continuous) or observations only
        x = obs if self.discrete else np.concatenate([obs, acts], axis=1)
        self.input_mean = x.mean(axis=0)
        self.input_std = np.sqrt(np.maximum((x ** 2).mean(axis=0) - self.input_mean ** 2, 0.0))
        self.expert_feature_mean = self.features(obs, acts, t).mean(axis=0)  # mu_E, eq. (4)
        self.n_features = self.expert_feature_mean.shape[0]
        rng = np.random.default_rng(seed)
        self.weights = np.zeros(self.n_features)
        if kind == "fem":  # imitation.py LinearReward.__init__: a random unit direction
            w = rng.standard_normal(self.n_features)
            self.weights[...] = w / (np.linalg.norm(w) + FEM_NORM_EPS)
        else:  # a random vertex of the simplex
            self.weights[rng.integers(self.n_features)] = 1.0
        self.cost_bound = 0.0  # eq. (9): the most extreme cost produced so far (starts at 0)

    def features(self, obs, acts, t) -> np.ndarray:
        """f(s,a,t) of eq. (7) for each pair (doubled to [f, -f] for GTAL), shape (N, d)."""
        obs = _as_obs(obs, "obs", self.obs_dim)
        acts = _as_acts(acts, "acts", obs.shape[0], discrete=self.discrete, n_out=self.n_out)
        t = _as_times(t, "t", obs.shape[0])
        n = obs.shape[0]
        tau = (t / self.horizon)[:, None]
        time_cols = [tau, tau ** 2, tau ** 3] if self.include_time else []
        if self.discrete:
            z = (obs - self.input_mean) / (self.input_std + STANDARDIZE_EPS)
            g = np.concatenate([z, (SQUARED_FEATURE_SCALE * z) ** 2, *time_cols], axis=1)
            blocks = np.zeros((n, g.shape[1] * self.n_out))
            for a in range(self.n_out):  # one block of g per action, zero elsewhere
                rows = acts == a
                blocks[rows, a * g.shape[1]:(a + 1) * g.shape[1]] = g[rows]
            f = np.concatenate([blocks, np.ones((n, 1))], axis=1)
        else:
            z = (np.concatenate([obs, acts], axis=1) - self.input_mean) / (self.input_std + STANDARDIZE_EPS)
            z_s, z_a = z[:, :self.obs_dim], z[:, self.obs_dim:]
            f = np.concatenate([z_s, z_a, (SQUARED_FEATURE_SCALE * z_s) ** 2, (SQUARED_FEATURE_SCALE * z_a) ** 2,
                                *time_cols, np.ones((n, 1))], axis=1)
        if self.kind == "gtal":
            f = np.concatenate([f, -f], axis=1)
        return f

    def update(self, policy_obs, policy_acts, policy_t) -> dict[str, float]:
        """The adversary's best response to this iteration's policy samples: eq. (5) (fem) or eq. (6) (gtal).
        Returns the gaps between the feature expectations (L2 norm and largest entry of mu_pi - mu_E, over the
        doubled features for gtal) and the new cost's gap E_pi[c] - E_piE[c] (eq. (3) with eq. (8)'s 1/d)."""
        mu_pi = self.features(policy_obs, policy_acts, policy_t).mean(axis=0)  # eq. (4)
        gap = mu_pi - self.expert_feature_mean
        l2 = float(np.linalg.norm(gap))
        if self.kind == "fem":
            self.weights = gap / (l2 + FEM_NORM_EPS)  # eq. (5)
        else:
            # eq. (6) as the code computes it: the reward feature is argmin(mu_pi - mu_E) over [f, -f], and the
            # cost, its negation, is the partner feature (index +- d/2); the same j* but the code's tie-breaking
            half = self.n_features // 2
            j_reward = int(np.argmin(gap))
            self.weights = np.zeros(self.n_features)
            self.weights[(j_reward + half) % self.n_features] = 1.0
        return {"feature_gap_l2": l2, "feature_gap_max": float(gap.max()),
                "cost_gap": float(gap @ self.weights) / self.n_features}

    def raw_cost(self, obs, acts, t) -> np.ndarray:
        """c(s,a,t) = w . f(s,a,t) / d, eq. (8), without the shift of eq. (9); changes nothing."""
        return self.features(obs, acts, t) @ self.weights / self.n_features

    def cost(self, obs, acts, t) -> np.ndarray:
        """Each pair's cost, eq. (8) shifted by eq. (9) (<= 0 by default, >= 0 with favor_zero_expert_cost);
        updates the running bound of eq. (9) as the code does on every cost evaluation. The policy step maximizes
        the reward -cost; expert-like pairs have the lower cost."""
        c = self.raw_cost(obs, acts, t)
        if self.favor_zero_expert_cost:
            self.cost_bound = min(self.cost_bound, float(c.min()))
        else:
            self.cost_bound = max(self.cost_bound, float(c.max()))
        return c - self.cost_bound

    def state(self) -> dict:
        """What changes during training (the weights, the bound of eq. (9)) and what identifies the setup."""
        return {"kind": self.kind, "weights": self.weights.copy(), "cost_bound": self.cost_bound,
                "expert_feature_mean": self.expert_feature_mean.copy()}

    def load(self, state: dict) -> None:
        missing = {"kind", "weights", "cost_bound", "expert_feature_mean"} - set(state)
        if missing:
            raise ValueError(f"LinearCost state lacks {sorted(missing)}; expected the keys of LinearCost.state()")
        if state["kind"] != self.kind:
            raise ValueError(f"LinearCost state is for kind {state['kind']!r}, this cost is {self.kind!r}")
        weights = np.asarray(state["weights"], dtype=np.float64)
        if weights.shape != (self.n_features,):
            raise ValueError(f"LinearCost state has {weights.size} weights, this cost has {self.n_features} features")
        if not np.allclose(np.asarray(state["expert_feature_mean"]), self.expert_feature_mean, rtol=0, atol=1e-12):
            raise ValueError("LinearCost state was made with other expert data or settings (expert feature means "
                             "differ)")
        self.weights = weights.copy()
        self.cost_bound = float(state["cost_bound"])
