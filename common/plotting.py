"""Figures: seaborn style, mean with 95% confidence bands, PNG and SVG written without timestamps."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

Z95 = 1.959963984540054


def setup() -> None:
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams["svg.hashsalt"] = "repro"  # stable SVG ids
    plt.rcParams["figure.dpi"] = 100


def pool_curves(df: pd.DataFrame, by: list[str], mean: str, sd: str | None = None, n: str = "n") -> pd.DataFrame:
    """Pool per-seed curves (each a mean over n runs, with its sd) into one mean per `by` group, with the
    normal-approximation 95% interval of the pooled mean when `sd` is given."""
    d = df.assign(_w=df[n] * df[mean])
    if sd is not None:
        d = d.assign(_ss=(df[n] - 1) * df[sd] ** 2 + df[n] * df[mean] ** 2)
    g = d.groupby(by, sort=False)
    out = pd.DataFrame({"N": g[n].sum(), "mean": g["_w"].sum() / g[n].sum()})
    if sd is not None:
        N = out["N"]
        var = (g["_ss"].sum() - N * out["mean"] ** 2) / (N - 1).clip(lower=1)
        half = Z95 * np.sqrt(var.clip(lower=0) / N)
        out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out.reset_index()


def line_with_band(ax, x, y, lo=None, hi=None, label=None, color=None, **kw):
    (line,) = ax.plot(x, y, label=label, color=color, lw=1.4, **kw)
    if lo is not None and hi is not None:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25, lw=0)
    return line


def save(fig, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.savefig(paths[0], metadata={"Software": None}, bbox_inches="tight")
    fig.savefig(paths[1], metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return paths


def budget_caption(fig, text: str, statistic: str = "mean with 95% CI") -> None:
    """The budget line under a figure, then what its lines and bands show, wrapped to the figure's width (about 16
    characters per inch at 8 pt)."""
    import textwrap

    text = f"{text}; {statistic}"
    fig.text(0.01, -0.02, textwrap.fill(text, width=max(60, int(fig.get_figwidth() * 16))), ha="left", va="top",
             fontsize=8, color="0.3")
