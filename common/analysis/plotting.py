"""Figures: seaborn style, PNG and SVG written without timestamps. A line over runs draws the claims' interval:
the 95% percentile bootstrap over runs (common/analysis/stats.py, the claims' own function) where it has 3 or more
runs, the min-max range where it has 2, and no band for a single run; the caption says which (`band_text`)."""
from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from common.analysis.stats import N_RESAMPLES, mean_ci_columns, t_interval  # noqa: E402

MIN_RUNS_FOR_CI = 3  # below this a band is the range of the runs, never called an interval


def setup() -> None:
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams["svg.hashsalt"] = "repro"  # stable SVG ids
    plt.rcParams["figure.dpi"] = 100


def pool_curves(df: pd.DataFrame, by: list[str], mean: str, sd: str | None = None, n: str = "n") -> pd.DataFrame:
    """Pool per-seed curves (each a mean over n runs, with its sd) into one mean per `by` group, with the 95%
    Student-t interval of the pooled mean (N - 1 degrees of freedom over the N pooled runs) when `sd` is given."""
    d = df.assign(_w=df[n] * df[mean])
    if sd is not None:
        d = d.assign(_ss=(df[n] - 1) * df[sd] ** 2 + df[n] * df[mean] ** 2)
    g = d.groupby(by, sort=False)
    out = pd.DataFrame({"N": g[n].sum(), "mean": g["_w"].sum() / g[n].sum()})
    if sd is not None:
        N = out["N"]
        var = (g["_ss"].sum() - N * out["mean"] ** 2) / (N - 1).clip(lower=1)
        out["lo"], out["hi"] = t_interval(out["mean"], np.sqrt(var.clip(lower=0)), N)
    return out.reset_index()


def line_with_band(ax, x, y, lo=None, hi=None, label=None, color=None, **kw):
    (line,) = ax.plot(x, y, label=label, color=color, lw=1.4, **kw)
    if lo is not None and hi is not None:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25, lw=0)
    return line


BAND_TEXT = {
    "ci": f"band: 95% percentile-bootstrap interval of the mean over runs ({N_RESAMPLES:,} resamples, the claims' "
          f"interval), for lines of {MIN_RUNS_FOR_CI} or more runs",
    "range": f"band: min-max range of the runs (fewer than {MIN_RUNS_FOR_CI} runs: no interval), for lines of 2 runs",
    "none": "no band for lines of a single run",
}


def band_text(kinds) -> str:
    """What a figure's lines and bands show, for its caption, from the kinds `runs_with_band` drew."""
    kinds = [k for k in ("ci", "range", "none") if k in set(kinds)]
    return "; ".join(["line: mean over runs (n in the legend)"] + [BAND_TEXT[k] for k in kinds])


def run_matrix(df: pd.DataFrame, x: str, y: str, run: str | list[str] = "seed") -> tuple[np.ndarray, np.ndarray]:
    """A long table's `y` as a (runs x points) array over the sorted values of `x` (NaN where a run has none)."""
    wide = df.pivot_table(index=run, columns=x, values=y, aggfunc="mean", dropna=False).sort_index(axis=1)
    return wide.columns.to_numpy(), wide.to_numpy(dtype=float)


def runs_with_band(ax, x, runs, label: str | None = None, color=None, **kw):
    """The mean over runs of a (runs x points) array, with the claims' 95% bootstrap interval over runs where it has
    3 or more, the min-max range where 2, no band where 1; the legend label says how many runs and which band.
    Returns (line, kind) with kind "ci", "range" or "none" (for `band_text`)."""
    runs = np.atleast_2d(np.asarray(runs, float))
    runs = runs[~np.isnan(runs).all(axis=1)]
    n = len(runs)
    kind = "ci" if n >= MIN_RUNS_FOR_CI else "range" if n == 2 else "none"
    count = np.sum(~np.isnan(runs), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points (no run has reached them) stay NaN
        mean = np.nanmean(runs, axis=0) if n else np.full(runs.shape[1], np.nan)
        lo, hi = np.full_like(mean, np.nan), np.full_like(mean, np.nan)
        if kind == "ci":
            full = count == n
            if full.any():
                _, lo[full], hi[full] = mean_ci_columns(runs[:, full])
            for j in np.flatnonzero(~full & (count >= MIN_RUNS_FOR_CI)):  # points some runs have not reached
                _, lo[j:j + 1], hi[j:j + 1] = mean_ci_columns(runs[~np.isnan(runs[:, j]), j:j + 1])
        if kind in ("ci", "range"):
            few = count == 2
            lo[few], hi[few] = np.nanmin(runs[:, few], axis=0), np.nanmax(runs[:, few], axis=0)
    what = {"ci": "band: 95% CI", "range": "band: min-max", "none": "no band"}[kind]
    text = f"{n} run{'' if n == 1 else 's'}; {what}"
    (line,) = ax.plot(x, mean, label=f"{label} ({text})" if label else text, color=color, lw=1.4, **kw)
    if kind != "none":
        band = ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25, lw=0)
        band.set_gid({"ci": "band-95ci-bootstrap", "range": "band-min-max"}[kind])
    return line, kind


def fixed_colors(names) -> dict:
    """One colour per name, in the order given, from the seaborn palette: a setting or method keeps its colour in every
    panel of a figure, whichever of them a panel draws."""
    names = list(dict.fromkeys(names))
    return dict(zip(names, sns.color_palette(n_colors=len(names))))


#: a line whose values fall this many times the other lines' spread below their range leaves the panel's scale
OFF_SCALE_SPREADS = 3.0


def keep_in_view(ax, lines: dict[str, np.ndarray]) -> list[str]:
    """Where one line's values (`lines`: label -> its mean curve) fall more than OFF_SCALE_SPREADS times the other
    lines' spread below their range (CEM's first generations on HalfCheetah: -42,000 against the others' 0 to 3,000),
    the y axis shows the others' range (with a 10% margin) and the panel's legend says, in words, where that line
    went and how far (call it before drawing the legend). A line far above the others (a method far ahead) is never
    cut. Returns the labels of the lines cut; with fewer than 3 lines nothing is cut."""
    ranges = {k: (np.nanmin(v), np.nanmax(v)) for k, v in lines.items() if np.isfinite(v).any()}
    if len(ranges) < 3:
        return []
    cut = []
    for label, (lo, hi) in ranges.items():
        others = [r for k, r in ranges.items() if k != label]
        o_lo, o_hi = min(r[0] for r in others), max(r[1] for r in others)
        spread = max(o_hi - o_lo, 1e-9)
        if lo < o_lo - OFF_SCALE_SPREADS * spread:
            cut.append(label)
    kept = [r for k, r in ranges.items() if k not in cut]
    if not cut or not kept:
        return []
    k_lo, k_hi = min(r[0] for r in kept), max(r[1] for r in ranges.values())  # the top of every line stays in view
    margin = 0.1 * max(k_hi - k_lo, 1e-9)
    ax.set_ylim(k_lo - margin, k_hi + margin)
    for label in cut:  # an entry of the panel's legend (drawn after this), so that nothing covers it
        lo, hi = ranges[label]
        where = "below" if hi < k_lo else "partly below"
        ax.plot([], [], " ", label=f"{label}: {where} the panel ({lo:,.0f} to {hi:,.0f})")
    return cut


def save(fig, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.savefig(paths[0], metadata={"Software": None}, bbox_inches="tight")
    fig.savefig(paths[1], metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return paths


def budget_caption(fig, text: str, statistic: str) -> None:
    """The budget line under a figure, then what its lines and bands show, wrapped to the figure's width (about 16
    characters per inch at 8 pt)."""
    import textwrap

    text = f"{text}; {statistic}"
    fig.text(0.01, -0.02, textwrap.fill(text, width=max(60, int(fig.get_figwidth() * 16))), ha="left", va="top",
             fontsize=8, color="0.3")
