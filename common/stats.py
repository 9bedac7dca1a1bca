"""Confidence intervals: percentile bootstrap (scipy.stats.bootstrap) with a pinned generator.

For aggregates over several tasks (interquartile mean, stratified bootstrap) use rliable's
`metrics.aggregate_iqm` and `library.get_interval_estimates` on a (runs x tasks) array.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

N_RESAMPLES = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 20171707


def _ci(data, statistic, paired: bool) -> tuple[float, float, float]:
    """Point estimate and interval; the interval is (nan, nan) when a sample has fewer than two runs."""
    point = float(statistic(*data))
    if min(len(d) for d in data) < 2:
        return point, float("nan"), float("nan")
    res = sps.bootstrap(data, statistic, n_resamples=N_RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
                        paired=paired, vectorized=True, batch=200, rng=np.random.default_rng(BOOTSTRAP_SEED))
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def mean_ci(x) -> tuple[float, float, float]:
    """Mean of `x` and its 95% bootstrap interval."""
    x = np.asarray(x, float)
    return _ci((x,), lambda a, axis=-1: np.mean(a, axis=axis), paired=False)


def difference_ci(a, b) -> tuple[float, float, float]:
    """mean(a) - mean(b) for independent samples, each resampled on its own."""
    return _ci((np.asarray(a, float), np.asarray(b, float)),
               lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis), paired=False)


def ratio_ci(a, b) -> tuple[float, float, float]:
    """mean(a) / mean(b) for paired samples (a_i and b_i from the same run)."""
    return _ci((np.asarray(a, float), np.asarray(b, float)),
               lambda x, y, axis=-1: np.mean(x, axis=axis) / np.mean(y, axis=axis), paired=True)
