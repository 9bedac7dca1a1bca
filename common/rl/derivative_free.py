"""Derivative-free policy search: a distribution over a policy's flat parameter vector, improved from the returns of
whole episodes, with no gradient of the policy (TRPO 2015's Figure 4 comparisons CEM and CMA; PPO 2017's Figure 3
comparison CEM).

  - `NoisyCEM`: the noisy cross-entropy method (Szita and Lorincz 2006, "Learning Tetris using the noisy
    cross-entropy method"): theta ~ N(mu, diag(sigma^2 + Z_t)); the next mu and sigma^2 are the mean and variance of
    the elite samples (the best fraction by return), and Z_t is extra variance that decays linearly to 0
    (Z_t = extra_std^2 max(1 - t / decay, 0), the schedule of modular_rl's `cem.py`, by TRPO's first author);
  - `CMAES`: covariance matrix adaptation (Hansen and Ostermeier 1996), the `cma` package's CMA-ES with its own
    defaults, drawing its normal numbers from a seeded numpy Generator (not numpy's global state), so that a run is
    reproducible and its search state can be pickled into a checkpoint.

Both maximize a return: `tell(thetas, returns)`. A paper's runner evaluates each candidate theta (one episode of the
policy with those parameters, as modular_rl and rllab do) and decides how many candidates make an iteration.
"""
from __future__ import annotations

import math

import numpy as np


# ---- the noisy cross-entropy method ------------------------------------------------------------------------------
def elite_count(n_candidates: int, elite_frac: float, min_elites: int = 2) -> int:
    """How many of `n_candidates` are elite: round(elite_frac n) (half up), at least `min_elites` so that the
    elites' variance is defined, at most all of them."""
    return min(n_candidates, max(min_elites, int(math.floor(elite_frac * n_candidates + 0.5))))


def elite_indices(returns: np.ndarray, n_elite: int) -> np.ndarray:
    """The `n_elite` highest returns' indices, best first (ties: the earlier candidate)."""
    return np.argsort(-np.asarray(returns, float), kind="stable")[:n_elite]


def elite_update(thetas: np.ndarray, returns: np.ndarray, n_elite: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cross-entropy update: the `n_elite` candidates with the highest returns (ties: the earlier candidate),
    their mean and their per-coordinate variance (the maximum-likelihood diagonal Gaussian of the elites).
    Returns (mean, variance, elite indices, best first)."""
    thetas, returns = np.asarray(thetas, float), np.asarray(returns, float)
    if thetas.ndim != 2 or len(thetas) != len(returns):
        raise ValueError(f"thetas must be (n, dim) with one return each; got {thetas.shape} and {returns.shape}")
    if not 1 <= n_elite <= len(thetas):
        raise ValueError(f"n_elite must lie in 1..{len(thetas)}, got {n_elite}")
    elite = elite_indices(returns, n_elite)
    return thetas[elite].mean(0), thetas[elite].var(0), elite


class NoisyCEM:
    """theta ~ N(mean, diag(var + Z_t)), Z_t = extra_std^2 max(1 - t / extra_decay_iterations, 0) at update t;
    the initial variance is initial_std^2 in every coordinate (modular_rl `cem.py`)."""

    def __init__(self, theta0: np.ndarray, initial_std: float, extra_std: float, extra_decay_iterations: int,
                 elite_frac: float):
        self.mean = np.array(theta0, float)
        self.var = np.full_like(self.mean, float(initial_std) ** 2)
        self.extra_std, self.decay, self.elite_frac = float(extra_std), int(extra_decay_iterations), float(elite_frac)
        self.updates = 0

    def sample_std(self) -> np.ndarray:
        """The standard deviation candidates are drawn with before the next update: sqrt(var + Z_t)."""
        extra = self.extra_std ** 2 * max(1.0 - self.updates / self.decay, 0.0) if self.decay > 0 else 0.0
        return np.sqrt(self.var + extra)

    def sample(self, rng: np.random.Generator, std: np.ndarray | None = None) -> np.ndarray:
        """One candidate theta = mean + std * N(0, I)."""
        return self.mean + (self.sample_std() if std is None else std) * rng.standard_normal(self.mean.shape)

    def select(self, returns: np.ndarray) -> np.ndarray:
        """The elite candidates' indices (best first; ties: the earlier candidate): the best round(elite_frac n)."""
        return elite_indices(returns, elite_count(len(returns), self.elite_frac))

    def fit(self, elite_thetas: np.ndarray) -> None:
        """The next distribution: the elites' mean and per-coordinate variance."""
        elite_thetas = np.asarray(elite_thetas, float)
        self.mean, self.var = elite_thetas.mean(0), elite_thetas.var(0)
        self.updates += 1

    def tell(self, thetas: np.ndarray, returns: np.ndarray) -> np.ndarray:
        """`select` then `fit` on all candidates at hand; returns the elites' indices."""
        elite = self.select(returns)
        self.fit(np.asarray(thetas, float)[elite])
        return elite

    def state_dict(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.updates = state["mean"].copy(), state["var"].copy(), int(state["updates"])


# ---- CMA-ES --------------------------------------------------------------------------------------------------------
class SeededNormal:
    """`cma`'s `randn` option: N(0, 1) numbers of the requested shape from a numpy Generator of our own (picklable,
    so the search state goes into a checkpoint whole)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape):
        return self.rng.standard_normal(shape)


def default_popsize(dim: int) -> int:
    """CMA-ES's default population size for `dim` parameters, 4 + floor(3 ln dim) (the cma package's `popsize`
    option; Hansen 2016, "The CMA evolution strategy: a tutorial", Table 1)."""
    return 4 + int(math.floor(3 * math.log(dim)))


class CMAES:
    """The `cma` package's CMAEvolutionStrategy (pinned: cma==4.5.0) started at theta0 with step size sigma0, its
    population `popsize`, every other option at the package's default; it minimizes, so returns are negated. Its
    stopping criteria are not used: a run lasts its stated iterations (a flat fitness, e.g. every candidate
    balancing the cart-pole for the whole episode, only makes the package enlarge its step size)."""

    def __init__(self, theta0: np.ndarray, sigma0: float, popsize: int, seed):
        import cma

        self.es = cma.CMAEvolutionStrategy(np.array(theta0, float), float(sigma0), {
            "popsize": int(popsize), "randn": SeededNormal(seed), "seed": np.nan,  # nan: leave np.random alone
            "verbose": -9, "verb_log": 0, "verb_disp": 0})

    @property
    def mean(self) -> np.ndarray:
        return np.array(self.es.mean, float)

    @property
    def sigma(self) -> float:
        return float(self.es.sigma)

    @property
    def popsize(self) -> int:
        return int(self.es.popsize)

    def ask(self) -> np.ndarray:
        """One generation of candidates, (popsize, dim)."""
        return np.array(self.es.ask(), float)

    def tell(self, thetas: np.ndarray, returns: np.ndarray) -> None:
        self.es.tell(list(np.asarray(thetas, float)), list(-np.asarray(returns, float)))  # cma minimizes
