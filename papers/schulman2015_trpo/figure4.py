"""Figure 4's methods on one config: TRPO (trpo.py) and the comparisons that do not share its step, CEM, CMA and RWR
(Sec. 8.1: "cross-entropy method (CEM), a gradient-free method (Szita & Lorincz, 2006), covariance matrix
adaption (CMA), another gradient-free method (Hansen & Ostermeier, 1996)"; RWR appears only in Figure 4's legends).
The searches themselves are shared (`common/rl/derivative_free.py`: CEM and CMA-ES; `common/onpolicy/rwr.py`:
reward-weighted regression); this file wires them to Figure 4's tasks, budgets and policies.

Same as TRPO's runs of the task: the policy (`trpo.GaussianPolicy`: the linear policy of six parameters on
cart-pole, one tanh hidden layer of Table 2's size elsewhere, a state-independent log std), the observation filter
(running mean/std, clipped to [-5, 5], updated after each iteration's batch), the path length and the budget: each
policy iteration runs whole episodes until it holds at least `batch_steps` environment steps, for `iterations`
iterations (Figure 4's x axis), and records the mean return of its episodes (training episodes, as TRPO's curves).

  - CEM (noisy cross-entropy method): each candidate theta ~ N(mu, diag(sigma^2 + Z_t)) over the policy's whole
    parameter vector (log std included: the six parameters of cart-pole are searched, as rllab's CEM searches its
    stochastic policy's parameters) plays one episode with its stochastic policy; candidates are drawn until the
    iteration holds `batch_steps` steps (rllab's `batch_size` mode), then mu and sigma^2 are refit to the best
    `cem_elite_frac` of them.
  - CMA: `cma`'s CMA-ES, one episode per candidate; an iteration runs whole generations of `popsize` candidates
    until it holds `batch_steps` steps.
  - RWR: single-path sampling as TRPO's (`trpo.Sampler`), Q = the discounted return from each step (Sec. 5.1), then
    the policy refit by weighted maximum likelihood (`common/onpolicy/rwr.py`).

The paper states none of their settings (`trpo2015_details.yaml`: "population size, elite fraction, noise schedule,
initial std NOT STATED"; RWR: "no settings"); each default below names the authors' code it comes from.
Each run keeps its final policy (`common/rl/agents.py`, kind `gaussian_mlp`): CEM's and CMA's distribution mean, RWR's
last fit.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.onpolicy import discounted_returns, gaussian_entropy, gaussian_kl, rwr_weights, weighted_gaussian_mle
from common.platform import validate as check
from common.platform.finite import check_finite, finite_mean
from common.rl.derivative_free import CMAES, NoisyCEM, default_popsize
from common.rl.envs import CLASSIC, MUJOCO_V5, RunningMeanStd, make_env, restore_env_state, save_env_state

from .trpo import GaussianPolicy, Sampler, TRPOConfig, run_trpo, save_trpo_agent, validate_trpo

TRPO_METHODS = ("single_path", "vine")
COMPARISONS = ("cem", "cma", "rwr")
LABELS = {"cem": "CEM", "cma": "CMA", "rwr": "RWR"}


@dataclass
class Figure4Config(TRPOConfig):
    """TRPOConfig (its keys keep their meaning and defaults) with `method` also cem | cma | rwr and their settings.
    The TRPO step's keys (max_kl, cg_*, backtrack_*, step_rule, fisher, kl_constraint, vine_*) are unused by them."""

    # CEM: modular_rl's cem.py and run_cem.py (the first author's; its MuJoCo battery, experiments/battery-cem.yaml)
    cem_elite_frac: float = 0.2  # modular_rl CEM_OPTIONS elite_frac (Szita and Lorincz 2006: 0.1; rllab 0.05)
    cem_initial_std: float = 1.0  # modular_rl initial_std and rllab init_std: theta ~ N(theta_0, 1) at first
    cem_extra_std: float = 0.01  # modular_rl battery-cem.yaml extra_std (rllab: 1.0)
    cem_extra_decay_iterations: int = 0  # Z_t reaches 0 after this many updates; 0: half the run's iterations
    #                                      (modular_rl: "negative => n_iter/2"; rllab: 100)
    # CMA: rllab's cma_es.py (sigma0 = 1.0) on the cma package's defaults
    cma_sigma0: float = 1.0  # initial step size (rllab CMAES sigma0)
    cma_popsize: int = 0  # candidates per generation; 0: the package's default 4 + floor(3 ln n), or the
    #                       full-length episodes one batch holds (batch_steps // path_length) if that is more
    # RWR: rllab's ERWR (L-BFGS on the weighted log-likelihood, LbfgsOptimizer's max_opt_itr)
    rwr_lbfgs_iters: int = 20


def validate_figure4(cfg: Figure4Config) -> None:
    """TRPO's checks for its methods; for CEM, CMA and RWR: a known task, positive sizes and scales, an elite
    fraction in (0, 1], a discount in [0, 1], and no value baseline (none of them uses one here)."""
    check.one_of(cfg, "method", TRPO_METHODS + COMPARISONS)
    if cfg.method in TRPO_METHODS:
        validate_trpo(cfg)
        return
    check.seed(cfg)
    check.one_of(cfg, "env_id", MUJOCO_V5 + CLASSIC)
    check.one_of(cfg, "baseline", ("none",))
    check.at_least(cfg, 1, "iterations", "batch_steps", "path_length", "rwr_lbfgs_iters")
    check.at_least(cfg, 0, "hidden_units", "cem_extra_decay_iterations", "cma_popsize")
    check.positive(cfg, "obs_clip", "cem_initial_std", "cma_sigma0")
    check.at_least(cfg, 0.0, "cem_extra_std")
    check.between(cfg, 0, 1, "gamma")
    check.between(cfg, 0, 1, "cem_elite_frac", lo_open=True)
    check.finite(cfg, "init_log_std")
    check.require(cfg.cma_popsize != 1, "cma_popsize", cfg.cma_popsize, "0 (automatic) or at least 2")


#: The columns of the tables CEM, CMA and RWR runs write (TRPO's methods write trpo.py's).
EPISODE_COLUMNS = ["iteration", "env_step", "episode_return", "episode_length"]
SEARCH_COLUMNS = ["iteration", "env_step", "mean_return", "episodes", "max_return", "generations", "search_std",
                  "entropy"]
RWR_COLUMNS = ["iteration", "env_step", "mean_return", "episodes", "log_likelihood_gain", "kl", "entropy"]


def live_tables(state, cfg: Figure4Config) -> dict[str, pd.DataFrame]:
    """The metrics so far in a checkpoint's state (common/platform/live.py), the first rows of the final tables."""
    if not isinstance(state, dict):
        return {}
    if cfg.method in TRPO_METHODS:
        from . import RUNNERS  # the trpo runner's own declaration
        return RUNNERS["trpo"].live.frames(state, cfg)
    columns = RWR_COLUMNS if cfg.method == "rwr" else SEARCH_COLUMNS
    return {"episodes": pd.DataFrame(list(state.get("episodes") or []), columns=EPISODE_COLUMNS).assign(seed=cfg.seed),
            "iterations": pd.DataFrame(list(state.get("iterations") or []), columns=columns).assign(seed=cfg.seed)}


def run_figure4(cfg: Figure4Config, ctx) -> dict[str, pd.DataFrame]:
    """One run of one of Figure 4's methods."""
    validate_figure4(cfg)
    if cfg.method in TRPO_METHODS:
        return run_trpo(cfg, ctx)
    if cfg.method == "rwr":
        return run_rwr(cfg, ctx)
    return run_population_search(cfg, ctx)


# ---- what every comparison shares: the task, the policy, the filter, the checkpoint, the saved agent ------------
class Setup:
    """The environment, the policy (TRPO's for the task), the observation filter and the run's random stream,
    restored from the checkpoint when there is one; `fresh_state(setup)` adds a method's own state to a fresh run's."""

    def __init__(self, cfg: Figure4Config, ctx, fresh_state=lambda run: {}):
        self.cfg, self.ctx = cfg, ctx
        self.env = make_env(cfg.env_id, cfg.seed)
        self.obs_dim, self.act_dim = self.env.observation_space.shape[0], self.env.action_space.shape[0]
        self.policy = GaussianPolicy(self.obs_dim, self.act_dim, cfg.hidden_units, cfg.init_log_std,
                                     np.random.default_rng(np.random.SeedSequence([cfg.seed, 5])))
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7]))
        self.rms = RunningMeanStd((self.obs_dim,))
        state = ctx.restore()
        if state is None:
            state = {"iteration": 0, "steps": 0, "episodes": [], "iterations": [], **fresh_state(self)}
        else:
            self.policy.p.flat[...] = state["policy"]
            self.rms.__dict__.update(state["rms"])
            self.rng.bit_generator.state = state["rng"]
            restore_env_state(self.env, state["env"])
        self.state = state

    def checkpoint(self) -> None:
        self.ctx.maybe_checkpoint(lambda: {
            **self.state, "policy": self.policy.p.flat.copy(), "rms": dict(self.rms.__dict__),
            "rng": self.rng.bit_generator.state, "env": save_env_state(self.env)})

    def normalizer(self):
        """The filter as it stands (frozen within an iteration)."""
        if not self.cfg.normalize_obs:
            return lambda o: o
        mean, std, clip = self.rms.mean, np.sqrt(self.rms.var + 1e-8), self.cfg.obs_clip
        return lambda o: np.minimum(np.maximum((o - mean) / std, -clip), clip)

    def finish(self, algorithm: str, columns: list[str]) -> dict[str, pd.DataFrame]:
        """Save the final policy (common/rl/agents.py) and return the run's tables."""
        self.env.close()
        save_trpo_agent(self.ctx, self.cfg, self.policy, self.rms, self.state["steps"], algorithm)
        episodes = pd.DataFrame(self.state["episodes"], columns=EPISODE_COLUMNS)
        iterations = pd.DataFrame(self.state["iterations"], columns=columns)
        return {"episodes": episodes.assign(seed=self.cfg.seed), "iterations": iterations.assign(seed=self.cfg.seed)}


# ---- CEM and CMA: a distribution over the policy's parameters, one episode per candidate -------------------------
def cma_popsize(cfg: Figure4Config, n_params: int) -> int:
    """The generation size: cma_popsize, or (0) max(4 + floor(3 ln n), batch_steps // path_length): the package's
    default, or more where one batch holds more full-length episodes, so that on Swimmer (every episode 1,000
    steps) a generation is one batch. Fewer than the default failed: on cart-pole (6 parameters) generations of 5
    collapsed the step size within 3 iterations in 2 of 5 runs (README)."""
    return cfg.cma_popsize or max(default_popsize(n_params), cfg.batch_steps // cfg.path_length)


def run_population_search(cfg: Figure4Config, ctx) -> dict[str, pd.DataFrame]:
    def new_cem(theta0: np.ndarray) -> NoisyCEM:
        decay = cfg.cem_extra_decay_iterations or max(1, cfg.iterations // 2)
        return NoisyCEM(theta0, cfg.cem_initial_std, cfg.cem_extra_std, decay, cfg.cem_elite_frac)

    def fresh_search(run: Setup) -> dict:
        """The search starts at the policy's initialization (normc, log std init_log_std), as TRPO's runs do."""
        theta0 = run.policy.p.flat.copy()
        if cfg.method == "cem":
            return {"search": new_cem(theta0).state_dict()}
        cma = CMAES(theta0, cfg.cma_sigma0, cma_popsize(cfg, len(theta0)), np.random.SeedSequence([cfg.seed, 13]))
        return {"search": pickle.dumps(cma, protocol=pickle.HIGHEST_PROTOCOL)}

    run = Setup(cfg, ctx, fresh_search)
    state, policy, env, rng = run.state, run.policy, run.env, run.rng
    p, act_dim = policy.p, run.act_dim
    if cfg.method == "cem":
        cem = new_cem(p.flat)
        cem.load_state_dict(state["search"])  # the fresh run's or the checkpoint's
    else:
        cma = pickle.loads(state["search"])

    def episode(theta: np.ndarray, iteration: int, normalize) -> tuple[float, int, np.ndarray]:
        """One episode of the stochastic policy with parameters theta, at most path_length steps."""
        p.flat[...] = theta
        std = np.exp(p["log_std"])
        obs, _ = env.reset()
        total, obs_list = 0.0, []
        for _ in range(cfg.path_length):
            obs_list.append(obs)
            action = policy.mean(normalize(obs)) + std * rng.standard_normal(act_dim)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            if terminated or truncated:
                break
        length = len(obs_list)
        state["steps"] += length
        check_finite("episode return", total, f"env step {state['steps']:,}")
        state["episodes"].append((iteration, state["steps"], total, length))
        return total, length, np.array(obs_list)

    name = LABELS[cfg.method]
    bar = ctx.progress(cfg.iterations, f"{name} {cfg.env_id}", initial=state["iteration"], unit="iterations")
    for iteration in range(state["iteration"], cfg.iterations):
        steps_before, normalize = state["steps"], run.normalizer()
        where = f"iteration {iteration} (env step {steps_before:,})"
        returns, observations, generations = [], [], 0
        if cfg.method == "cem":
            std = cem.sample_std()

            def candidate(i: int) -> np.ndarray:  # its own stream: elites are redrawn, not stored (1M-step batches)
                return cem.sample(np.random.default_rng(np.random.SeedSequence([cfg.seed, 11, iteration, i])), std)

            while state["steps"] - steps_before < cfg.batch_steps:
                ret, _, obs = episode(candidate(len(returns)), iteration, normalize)
                returns.append(ret)
                observations.append(obs)
            elite = cem.select(np.array(returns))
            cem.fit(np.array([candidate(i) for i in elite]))  # the next N(mu, sigma^2): the elites' fit
            generations, search_std = 1, float(cem.sample_std().mean())
            state["search"] = cem.state_dict()
            p.flat[...] = cem.mean
        else:
            while state["steps"] - steps_before < cfg.batch_steps:
                thetas, gen_returns = cma.ask(), []
                for theta in thetas:
                    ret, _, obs = episode(theta, iteration, normalize)
                    gen_returns.append(ret)
                    observations.append(obs)
                cma.tell(thetas, np.array(gen_returns))
                returns += gen_returns
                generations += 1
            search_std = cma.sigma
            state["search"] = pickle.dumps(cma, protocol=pickle.HIGHEST_PROTOCOL)
            p.flat[...] = cma.mean
        if cfg.normalize_obs:  # the filter learns from the batch after the iteration (every candidate saw the same)
            run.rms.update(np.concatenate(observations))
        mean_return = finite_mean("mean episode return", returns, where)
        check_finite("parameters", p.flat, where)
        check_finite("search standard deviation", search_std, where)
        check_finite("observation statistics", {"mean": run.rms.mean, "variance": run.rms.var}, where)
        state["iterations"].append((iteration, state["steps"], mean_return, len(returns), float(np.max(returns)),
                                    generations, search_std, gaussian_entropy(p["log_std"])))
        state["iteration"] = iteration + 1
        ctx.count(state["steps"] - steps_before, "env-steps")
        bar.update(1)
        run.checkpoint()
    bar.close()
    # per iteration: the mean and best return of its episodes (one per candidate), its CMA generations (CEM: 1),
    # search_std (CEM: the sampling standard deviation averaged over coordinates; CMA: the step size sigma, each
    # coordinate's standard deviation being sigma sqrt(C_ii)) and the entropy of the distribution's mean policy
    return run.finish(name, SEARCH_COLUMNS)


# ---- RWR: TRPO's single-path batch, then a weighted maximum-likelihood refit --------------------------------------
def run_rwr(cfg: Figure4Config, ctx) -> dict[str, pd.DataFrame]:
    run = Setup(cfg, ctx)
    state, policy, p = run.state, run.policy, run.policy.p
    sampler = Sampler(cfg, run.env, policy, run.rng, run.rms, state)
    bar = ctx.progress(cfg.iterations, f"RWR {cfg.env_id}", initial=state["iteration"], unit="iterations")
    for iteration in range(state["iteration"], cfg.iterations):
        steps_before, first_episode = state["steps"], len(state["episodes"])
        batch = sampler.paths(iteration, cfg.batch_steps, 10 ** 12, cfg.path_length)  # as TRPO's single path
        where = f"iteration {iteration} (env step {state['steps']:,})"
        q = discounted_returns(batch["rew"], batch["end"], cfg.gamma)  # Q_t: discounted sum of future rewards
        if cfg.normalize_obs:  # as TRPO: update the filter with the batch, then learn on the same inputs
            run.rms.update(batch["obs"])
        x = run.normalizer()(batch["obs"])
        old_mean, old_log_std = policy.mean(x), p["log_std"].copy()
        weights = rwr_weights(q)
        _, before, after = weighted_gaussian_mle(p, "mean", policy.layers, "log_std", x, batch["act"], weights,
                                                 cfg.rwr_lbfgs_iters)
        kl = float(gaussian_kl(old_mean, old_log_std, policy.mean(x), p["log_std"]).mean())
        returns = [e[2] for e in state["episodes"][first_episode:]]
        mean_return = finite_mean("mean episode return", returns, where)
        check_finite("weighted log-likelihood", after, where)
        check_finite("KL", kl, where)
        check_finite("parameters", p.flat, where)
        check_finite("observation statistics", {"mean": run.rms.mean, "variance": run.rms.var}, where)
        state["iterations"].append((iteration, state["steps"], mean_return, len(returns), after - before, kl,
                                    gaussian_entropy(p["log_std"])))
        state["iteration"] = iteration + 1
        ctx.count(state["steps"] - steps_before, "env-steps")
        bar.update(1)
        run.checkpoint()
    bar.close()
    return run.finish("RWR", RWR_COLUMNS)


__all__ = ["Figure4Config", "validate_figure4", "run_figure4", "run_population_search", "run_rwr",
           "COMPARISONS", "LABELS"]
