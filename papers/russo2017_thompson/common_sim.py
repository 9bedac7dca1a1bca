"""Book-keeping shared by this paper's simulators: random streams, tie-breaking, per-period and per-run statistics."""
from __future__ import annotations

import numpy as np
import pandas as pd

from common.platform.finite import check_finite

THETA_STREAM, SIM_STREAM = 0, 1


def rng_pair(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent streams per seed: one draws the environment (the same for every agent under a seed,
    so agents are compared on the same problem instances), one drives the simulation."""
    return (np.random.default_rng(np.random.SeedSequence([seed, THETA_STREAM])),
            np.random.default_rng(np.random.SeedSequence([seed, SIM_STREAM])))


def random_argmax(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax with ties broken uniformly at random."""
    best = scores.max(axis=1, keepdims=True)
    jitter = rng.random(scores.shape) * (scores == best)
    return jitter.argmax(axis=1)


class PeriodStats:
    """Sums over replications per period (mean and standard deviation of regret, means of extra quantities),
    and per-replication sums over the first and last tenth of the horizon and over all periods."""

    def __init__(self, n_periods: int, n_replications: int, extra: list[str] = ()):
        self.T, self.R = n_periods, n_replications
        self.regret_sum = np.zeros(n_periods)
        self.regret_sq = np.zeros(n_periods)
        self.extra = {name: np.zeros(n_periods) for name in extra}
        self.window = max(1, n_periods // 10)
        self.rep_cumulative = np.zeros(n_replications)
        self.rep_early = np.zeros(n_replications)
        self.rep_late = np.zeros(n_replications)
        self.rep_extra_late = {name: np.zeros(n_replications) for name in extra}

    def add(self, t: int, regret: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> None:
        # one scalar a period (about 0.1% of a run): a NaN or infinity in any replication shows in the sum
        self.regret_sum[t] = check_finite("regret (summed over replications)", regret.sum(), f"period {t + 1}")
        self.regret_sq[t] = np.square(regret).sum()
        self.rep_cumulative += regret
        if t < self.window:
            self.rep_early += regret
        late = t >= self.T - self.window
        if late:
            self.rep_late += regret
        for name, values in (extra or {}).items():
            self.extra[name][t] = values.sum()  # recorded: checked with the run's tables at its end
            if late:
                self.rep_extra_late[name] += values

    def curve_frame(self, seed: int) -> pd.DataFrame:
        mean = self.regret_sum / self.R
        var = np.maximum(self.regret_sq / self.R - mean**2, 0.0) * self.R / max(self.R - 1, 1)
        cols = {"seed": seed, "t": np.arange(1, self.T + 1), "n": self.R, "regret_mean": mean, "regret_sd": np.sqrt(var)}
        cols.update({f"{k}_mean": v / self.R for k, v in self.extra.items()})
        return pd.DataFrame(cols)


def summary_frame(stats: PeriodStats, seed: int, **extra_columns: np.ndarray) -> pd.DataFrame:
    """One row per replication: the per-run statistics that claims bootstrap over."""
    w = stats.window
    cols = {
        "seed": seed,
        "replication": np.arange(stats.R),
        "cumulative_regret": stats.rep_cumulative,
        "regret_early": stats.rep_early / w,  # mean per-period regret over periods 1..T/10
        "regret_late": stats.rep_late / w,  # mean per-period regret over the last T/10 periods
    }
    cols.update({f"{k}_late": v / w for k, v in stats.rep_extra_late.items() if k.startswith("action_prob")})
    cols.update(extra_columns)
    return pd.DataFrame(cols)
