"""Confidence intervals: percentile bootstrap (scipy.stats.bootstrap) with a pinned generator, and the aggregate
statistics of Agarwal et al. 2021 ("Deep RL at the edge of the statistical precipice", NeurIPS): mean, median and
interquartile mean (IQM) over tasks, with stratified bootstrap intervals (runs resampled within each task), and
performance profiles with their bootstrap bands. These are written here on numpy/scipy: rliable 1.2.0 does not work
with the pinned pandas 3.1 (its dependency `arch` either fails to import, 7.x, is built for numpy 1, 6.x, or rejects
rliable's `random_state` argument, 8.0).
"""
from __future__ import annotations

import numpy as np


class _LazyScipyStats:
    """scipy.stats, imported on first use (0.5 s): `repro list`, `status` and `show` load the claims without it."""

    def __getattr__(self, name):
        from scipy import stats

        return getattr(stats, name)


sps = _LazyScipyStats()

N_RESAMPLES = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 20171707

#: What the claims' and the figures' intervals are, in words (captions, READMEs).
INTERVAL_TEXT = (f"{CONFIDENCE:.0%} percentile-bootstrap interval over runs ({N_RESAMPLES:,} resamples, "
                 "pinned seed)")


def _ci(data, statistic, paired: bool, axis: int = -1) -> tuple:
    """Point estimate and interval; the interval is (nan, nan) when a sample has fewer than two runs."""
    point = statistic(*data, axis=axis)
    if min(d.shape[axis] for d in data) < 2:
        nan = np.full(np.shape(point), np.nan)
        return (float(point), float("nan"), float("nan")) if np.ndim(point) == 0 else (point, nan, nan.copy())
    res = sps.bootstrap(data, statistic, n_resamples=N_RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
                        paired=paired, vectorized=True, batch=200, axis=axis,
                        rng=np.random.default_rng(BOOTSTRAP_SEED))
    lo, hi = res.confidence_interval.low, res.confidence_interval.high
    if np.ndim(point) == 0:
        return float(point), float(lo), float(hi)
    return np.asarray(point, float), np.asarray(lo, float), np.asarray(hi, float)


def mean_ci(x) -> tuple[float, float, float]:
    """Mean of `x` and its 95% bootstrap interval."""
    x = np.asarray(x, float)
    return _ci((x,), lambda a, axis=-1: np.mean(a, axis=axis), paired=False)


def mean_ci_columns(x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a (runs x points) array, each column's mean and 95% bootstrap interval over runs: column j's interval is
    the one `mean_ci(x[:, j])` gives (the same resamples of runs at every point); NaN with fewer than two runs."""
    x = np.asarray(x, float)
    return _ci((x,), lambda a, axis=-1: np.mean(a, axis=axis), paired=False, axis=0)


def difference_ci(a, b) -> tuple[float, float, float]:
    """mean(a) - mean(b) for independent samples, each resampled on its own."""
    return _ci((np.asarray(a, float), np.asarray(b, float)),
               lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis), paired=False)


def ratio_ci(a, b) -> tuple[float, float, float]:
    """mean(a) / mean(b) for paired samples (a_i and b_i from the same run)."""
    return _ci((np.asarray(a, float), np.asarray(b, float)),
               lambda x, y, axis=-1: np.mean(x, axis=axis) / np.mean(y, axis=axis), paired=True)


def t_interval(mean, sd, n) -> tuple[np.ndarray, np.ndarray]:
    """The 95% Student-t interval of a mean from its sample sd over n runs: mean -/+ t(0.975, n - 1) sd / sqrt(n);
    NaN where n < 2."""
    mean, sd, n = (np.asarray(v, float) for v in (mean, sd, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = sps.t.ppf(0.5 + CONFIDENCE / 2, np.where(n >= 2, n - 1, np.nan)) * sd / np.sqrt(n)
    return mean - half, mean + half


# ---- aggregates over tasks (Agarwal et al. 2021) ------------------------------------------------------------------
def iqm(x, axis=None):
    """Interquartile mean: the mean of the middle 50% of the values (25% trimmed from each end), over all of `x`
    (runs of every task pooled, as Agarwal et al. define it) unless an axis is given."""
    return sps.trim_mean(np.asarray(x, float), 0.25, axis=axis)


def _pooled(scores: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(s, float).ravel() for s in scores])


def aggregate_mean(scores: list[np.ndarray]) -> float:
    """The mean over tasks of each task's mean score (with equal runs per task: the mean of all runs)."""
    return float(np.mean([np.mean(s) for s in scores]))


def aggregate_median(scores: list[np.ndarray]) -> float:
    """The median over tasks of each task's mean score (Agarwal et al.: median of the per-task mean scores)."""
    return float(np.median([np.mean(s) for s in scores]))


def aggregate_iqm(scores: list[np.ndarray]) -> float:
    """The interquartile mean of all runs of all tasks pooled."""
    return float(iqm(_pooled(scores)))


AGGREGATES = {"mean": aggregate_mean, "median": aggregate_median, "IQM": aggregate_iqm}


def stratified_resamples(scores: list[np.ndarray], n_resamples: int = N_RESAMPLES,
                         seed: int = BOOTSTRAP_SEED) -> list[np.ndarray]:
    """Stratified bootstrap: per task, an (n_resamples x runs of that task) array of its runs drawn with replacement
    (runs are resampled within each task; the set of tasks stays fixed)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in scores:
        s = np.asarray(s, float).ravel()
        out.append(s[rng.integers(0, len(s), size=(n_resamples, len(s)))])
    return out


def stratified_ci(scores: list[np.ndarray], statistic) -> tuple[float, float, float]:
    """An aggregate `statistic(list of per-task arrays)` and its 95% percentile interval under the stratified
    bootstrap; the interval is (nan, nan) when some task has fewer than two runs (its spread is unknown)."""
    scores = [np.asarray(s, float).ravel() for s in scores]
    point = float(statistic(scores))
    if min(len(s) for s in scores) < 2:
        return point, float("nan"), float("nan")
    resampled = stratified_resamples(scores)
    dist = np.array([statistic([r[i] for r in resampled]) for i in range(N_RESAMPLES)])
    alpha = (1 - CONFIDENCE) / 2
    return point, float(np.percentile(dist, 100 * alpha)), float(np.percentile(dist, 100 * (1 - alpha)))


def performance_profile(scores: list[np.ndarray], taus) -> np.ndarray:
    """The run-score distribution: for each threshold tau, the fraction of runs scoring above tau, averaged over
    tasks (each task weighs the same whatever its number of runs)."""
    taus = np.asarray(taus, float)
    return np.mean([np.mean(np.asarray(s, float).ravel()[:, None] > taus[None, :], axis=0) for s in scores], axis=0)


def performance_profile_band(scores: list[np.ndarray], taus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The performance profile and its pointwise 95% stratified-bootstrap band; NaN band when a task has fewer than
    two runs."""
    taus = np.asarray(taus, float)
    scores = [np.asarray(s, float).ravel() for s in scores]
    point = performance_profile(scores, taus)
    if min(len(s) for s in scores) < 2:
        return point, np.full_like(point, np.nan), np.full_like(point, np.nan)
    resampled = stratified_resamples(scores)  # per task (resamples x runs)
    fractions = np.mean([np.mean(r[:, :, None] > taus[None, None, :], axis=1) for r in resampled], axis=0)
    alpha = (1 - CONFIDENCE) / 2
    return point, np.percentile(fractions, 100 * alpha, axis=0), np.percentile(fractions, 100 * (1 - alpha), axis=0)


def statistic(kind: str, samples) -> float:
    """A claim's statistic on its samples: the "mean" of one, the "difference" or "ratio" of two samples' means."""
    if kind == "mean":
        return float(np.mean(samples[0]))
    if kind == "difference":
        return float(np.mean(samples[0]) - np.mean(samples[1]))
    return float(np.mean(samples[0]) / np.mean(samples[1]))


def change_ci(kind: str, before, after) -> tuple[float, float, float]:
    """statistic(after) - statistic(before) for two independent sets of runs (e.g. two results folders), with its
    95% percentile-bootstrap interval: each sample resampled on its own (a ratio's two samples jointly, they are
    paired), the pinned seed; (nan, nan) when a sample has fewer than two runs."""
    before = [np.asarray(x, float) for x in before]
    after = [np.asarray(x, float) for x in after]
    point = statistic(kind, after) - statistic(kind, before)
    if min(len(x) for x in before + after) < 2:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(BOOTSTRAP_SEED)

    def resampled_means(samples):
        if kind == "ratio":  # paired: one index draw for both
            idx = rng.integers(0, len(samples[0]), size=(N_RESAMPLES, len(samples[0])))
            return [x[idx].mean(axis=1) for x in samples]
        return [x[rng.integers(0, len(x), size=(N_RESAMPLES, len(x)))].mean(axis=1) for x in samples]

    def stat(means):
        return means[0] if kind == "mean" else means[0] - means[1] if kind == "difference" else means[0] / means[1]

    draws = stat(resampled_means(after)) - stat(resampled_means(before))
    lo, hi = np.percentile(draws, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return point, float(lo), float(hi)
