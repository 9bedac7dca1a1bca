"""Aggregate scores over the tasks of a multi-task result, as Agarwal et al. 2021 recommend ("Deep RL at the edge of
the statistical precipice", NeurIPS): the mean, the median and the interquartile mean (IQM) of normalized scores,
each with a 95% stratified-bootstrap interval (runs resampled within each task), and a performance profile (the
fraction of runs scoring above each threshold) with its bootstrap band.

A paper declares its multi-task results in `AGGREGATES` (name -> function(paper, data_by_exp) -> Aggregate or None);
each function reads the recorded runs, normalizes them as the paper defines it and says so; this module computes,
tabulates (the paper's results README) and draws (figures/aggregate_<name>_profile.*).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.analysis import plotting
from common.analysis.stats import AGGREGATES, N_RESAMPLES, performance_profile_band, stratified_ci


@dataclass
class Group:
    """One method, setting or version: its runs' normalized scores per task (an empty array: that task not run)."""
    label: str
    scores: dict[str, np.ndarray]
    budget: str = ""       # the budget its runs used (shown when the groups' budgets differ)
    reference: bool = False  # numbers quoted from the paper (one per task), not runs: no interval, not drawn

    def runs_per_task(self) -> list[int]:
        return [len(v) for v in self.scores.values()]

    def missing(self) -> list[str]:
        return [t for t, v in self.scores.items() if len(v) == 0]

    def complete(self) -> bool:
        return bool(self.scores) and not self.missing()


@dataclass
class Aggregate:
    """A multi-task result: its tasks, its groups, and the words its caption needs."""
    name: str
    title: str
    tasks: list[str]
    groups: list[Group]
    score: str          # what one run's score is (e.g. "mean total reward of its last 100 training episodes")
    normalization: str  # how a score is normalized (e.g. "(score - random) / (human - random)")
    budget: str         # the budget(s) used, with "REDUCED" where below the paper's
    paper_values: dict[str, float] = field(default_factory=dict)  # group label -> the paper's aggregate (its mean)
    paper_value_text: str = "paper's value"
    note: str = ""


def budget_text(data) -> str:
    """The budget of an experiment's runs without seeds (runs per task are listed apart), marked REDUCED where any
    budget key is below the paper's."""
    reduced = any(data.budget.values[k] < data.paper_budget.values[k] for k in data.paper_budget.values)
    text = f"{data.budget_name} budget, {data.budget.text(with_seeds=False)} per run"
    return text + (f" (REDUCED: the paper uses {data.paper_budget.text(with_seeds=False)})" if reduced
                   else " (the paper's)")


def _interval(lo: float, hi: float) -> str:
    return f"[{lo:.3g}, {hi:.3g}]" if not np.isnan(lo) else "(no interval)"


def _runs_text(counts: list[int]) -> str:
    return f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"


def statistics(group: Group) -> dict[str, tuple[float, float, float]] | None:
    """Mean, median and IQM with their stratified-bootstrap intervals; None unless every task has a run."""
    if not group.complete():
        return None
    scores = [np.asarray(group.scores[t], float) for t in group.scores]
    return {name: stratified_ci(scores, fn) for name, fn in AGGREGATES.items()}


def markdown(agg: Aggregate, figure: str | None) -> str:
    """The aggregate table, the per-task table of normalized scores and the profile figure, with their caption."""
    budgets = {g.budget for g in agg.groups if not g.reference}
    per_group_budget = len(budgets) > 1
    run_counts = sorted({n for g in agg.groups if not g.reference for n in g.runs_per_task() if n})
    runs_text = _runs_text(run_counts) if run_counts else "none yet"
    caption = (f"Budget: {agg.budget}. Runs per task: {runs_text} (per group below). "
               f"Score of a run: {agg.score}. Normalization: {agg.normalization}. Mean: the mean over tasks of each "
               "task's mean normalized score; median: the median of those task means; IQM: the mean of the middle "
               "50% of all runs' normalized scores. Intervals: 95% stratified percentile bootstrap (runs resampled "
               f"within each task, {N_RESAMPLES:,} resamples, pinned seed); none where a task has a single run. "
               "A group with a task not run is listed as not run or partial, never scored as zero."
               + (f" {agg.note}" if agg.note else ""))
    head = ["group", "tasks run", "runs per task"] + (["budget"] if per_group_budget else []) + \
        ["mean [95% CI]", "median [95% CI]", "IQM [95% CI]"] + ([agg.paper_value_text] if agg.paper_values else [])
    rows = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for g in agg.groups:
        counts = g.runs_per_task()
        ran = sum(n > 0 for n in counts)
        stats = None if g.reference else statistics(g)
        if g.reference:
            cells = [f"{fn([np.asarray(g.scores[t], float) for t in g.scores]):.3g} (the paper's numbers)"
                     for fn in AGGREGATES.values()]
            runs = "the paper's number"
        elif ran == 0:
            cells, runs = ["not run"] * 3, "0"
        elif stats is None:
            cells = [f"partial: not aggregated (not run: {', '.join(g.missing())})"] + ["—"] * 2
            runs = _runs_text([n for n in counts if n])
        else:
            cells = [f"{est:.3g} {_interval(lo, hi)}" for est, lo, hi in stats.values()]
            runs = _runs_text(counts)
        paper = [f"{agg.paper_values[g.label]:.3g}" if g.label in agg.paper_values else "—"] if agg.paper_values else []
        budget = [g.budget or "—"] if per_group_budget else []
        rows.append("| " + " | ".join([_esc(g.label), f"{ran} of {len(agg.tasks)}", runs] + [_esc(b) for b in budget]
                                       + cells + paper) + " |")
    per_task = ["| group | " + " | ".join(_esc(t) for t in agg.tasks) + " |", "|---" * (len(agg.tasks) + 1) + "|"]
    for g in agg.groups:
        cells = []
        for t in agg.tasks:
            v = np.asarray(g.scores.get(t, []), float)
            cells.append("not run" if len(v) == 0 else f"{v.mean():.3g}" + ("" if g.reference else f" ({len(v)})"))
        per_task.append(f"| {_esc(g.label)} | " + " | ".join(cells) + " |")
    parts = [f"### {agg.title}\n", caption + "\n", "\n".join(rows) + "\n",
             "Per task: the mean normalized score over its runs (number of runs in parentheses).\n",
             "\n".join(per_task) + "\n"]
    if figure:
        parts.append(f"![{Path(figure).stem}]({figure})\n")
    return "\n".join(parts)


def _esc(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("*", "\\*")


def plot_profile(agg: Aggregate, out_dir: Path) -> list[Path]:
    """The performance profile of every group with a run on every task: the fraction of runs (averaged over tasks)
    whose normalized score exceeds tau, with its 95% stratified-bootstrap band where every task has 2 or more runs."""
    groups = [g for g in agg.groups if not g.reference and g.complete()]
    if not groups:
        return []
    plotting.setup()
    import matplotlib.pyplot as plt

    values = np.concatenate([np.asarray(v, float) for g in groups for v in g.scores.values()])
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    taus = np.linspace(lo - pad, hi + pad, 201)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    banded = unbanded = False
    for g in groups:
        scores = [np.asarray(g.scores[t], float) for t in agg.tasks if t in g.scores]
        point, band_lo, band_hi = performance_profile_band(scores, taus)
        has_band = not np.isnan(band_lo).all()
        text = "band: 95% CI" if has_band else "a task has 1 run: no band"
        (line,) = ax.plot(taus, point, label=f"{g.label} (runs per task: {_runs_text(g.runs_per_task())}; {text})",
                          lw=1.4)
        if has_band:
            band = ax.fill_between(taus, band_lo, band_hi, color=line.get_color(), alpha=0.2, lw=0)
            band.set_gid("band-95ci-stratified-bootstrap")
        banded, unbanded = banded or has_band, unbanded or not has_band
    ax.set(xlabel="normalized score threshold τ", ylabel="fraction of runs with score > τ", ylim=(-0.02, 1.02),
           title=f"Performance profile: {agg.title}")
    ax.title.set_fontsize(9)
    ax.legend(frameon=False, fontsize=7)
    statistic = "; ".join(
        ["line: fraction of runs above τ, averaged over tasks"]
        + ([f"band: 95% stratified percentile-bootstrap interval ({N_RESAMPLES:,} resamples)"] if banded else [])
        + (["no band for a group with a task of a single run"] if unbanded else []))
    plotting.budget_caption(fig, f"{agg.budget}; normalization: {agg.normalization}", statistic)
    return plotting.save(fig, out_dir, f"aggregate_{agg.name}_profile")


def report(paper, data_by_exp, out: Path) -> str:
    """Every aggregate of a paper: tables (returned as the README section) and profile figures (written)."""
    makers = getattr(paper.module, "AGGREGATES", {})
    parts = []
    for name, make in makers.items():
        agg = make(paper, data_by_exp)
        if agg is None:
            parts.append(f"### {name}\n\nNo complete run yet.\n")
            continue
        paths = plot_profile(agg, out / "figures")
        png = next((p for p in paths if p.suffix == ".png"), None)
        parts.append(markdown(agg, f"figures/{png.name}" if png else None))
    if not parts:
        return ""
    return ("## Aggregate scores over tasks (Agarwal et al. 2021)\n\n"
            "Mean, median and interquartile mean (IQM) of normalized scores over the tasks of each multi-task "
            "result, with stratified bootstrap intervals, and performance profiles (Agarwal, Schwarzer, Castro, "
            "Courville, Bellemare, \"Deep Reinforcement Learning at the Edge of the Statistical Precipice\", "
            "NeurIPS 2021), computed by `common/analysis/aggregate.py` and `common/analysis/stats.py`.\n\n" + "\n".join(parts) + "\n")
