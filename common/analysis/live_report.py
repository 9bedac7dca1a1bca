"""`repro report PAPER --live`: the partial curves of runs still training (or interrupted), from their live metrics
(common/platform/live.py), drawn by the experiment's own figure into `results/<paper>/live/` (git-ignored): every
image is stamped "IN PROGRESS", its caption says the runs are partial, and `live/README.md` lists each run's
progress. Nothing here enters the claims, their verdicts, `claims.csv`, the summaries or the paper's README: those
come only from complete runs (common/analysis/report.py), and a run with DONE has no live metrics.
"""
from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.platform import live
from common.platform.records import RunRecord, atomic_write_text
from common.platform.runs import plan, results_root, seed_of_run

STAMP = "IN PROGRESS: partial runs"
WARNING = ("Runs in progress: the metrics each unfinished run had at its last checkpoint (live, partial). These are "
           "not results: no claim, verdict, summary or the paper's README uses them; they change at every checkpoint "
           "and are removed when a run completes.")


@contextlib.contextmanager
def _stamped():
    """Every figure saved inside is stamped "IN PROGRESS" across its middle."""
    from matplotlib.figure import Figure

    original = Figure.savefig

    def savefig(fig, *args, **kwargs):
        if not getattr(fig, "_repro_live_stamp", False):
            fig.text(0.5, 0.5, STAMP, transform=fig.transFigure, ha="center", va="center", rotation=25,
                     fontsize=28, color="tab:red", alpha=0.25, zorder=1000)
            fig._repro_live_stamp = True
        return original(fig, *args, **kwargs)

    Figure.savefig = savefig
    try:
        yield
    finally:
        Figure.savefig = original


@dataclass
class LiveRun:
    label: str
    variant: str
    seed: int
    record: RunRecord
    tables: dict


def live_runs(exp) -> dict[str, list[LiveRun]]:
    """budget -> the experiment's runs at that budget (named ones in experiments.yaml's order, then custom ones found
    on disk) that have live metrics and no DONE."""
    from common.platform.status import _custom_budgets

    out: dict[str, list[LiveRun]] = {}
    order = ["paper"] + [b for b in exp.budgets if b not in ("paper", "quick")] + ["quick"]
    for budget_name in order:
        for s in plan(exp.paper.name, exp.name, budget_name, check=False):
            record = RunRecord(s.run_dir)
            if tables := live.read(record):
                out.setdefault(budget_name, []).append(LiveRun(s.label, s.variant, s.seed, record, tables))
    for budget_name, runs in _custom_budgets(exp).items():
        for s, record in runs:
            if tables := live.read(record):
                variant, seed = s.run_dir.parent.name, seed_of_run(s.run_dir)
                out.setdefault(budget_name, []).append(LiveRun(s.label, variant, seed, record, tables))
    return out


def live_data(exp, budget_name: str, runs: list[LiveRun]):
    """The partial runs as the ExperimentData the paper's figures take (tables with a variant column; each variant's
    config as its runs recorded it)."""
    import yaml

    from common.analysis.claims import Budget
    from common.analysis.report import ExperimentData, _budget_of

    frames: dict[str, list[pd.DataFrame]] = {}
    configs: dict[str, dict] = {}
    for r in runs:
        for name, df in r.tables.items():
            frames.setdefault(name, []).append(df.assign(variant=r.variant))
        configs.setdefault(r.variant, yaml.safe_load((r.record.path / "config.yaml").read_text()) or {})
    seeds_by_variant = {v: len({r.seed for r in runs if r.variant == v}) for v in configs}
    first = next(iter(configs.values()))
    return ExperimentData(
        budget_name=budget_name,
        budget=Budget(min(seeds_by_variant.values()), {k: first.get(k) for k in exp.budget_keys}),
        paper_budget=_budget_of(exp, "paper", exp.seeds("paper")),
        tables={k: pd.concat(v, ignore_index=True) for k, v in frames.items()},
        configs=configs, commits=[], seeds_by_variant=seeds_by_variant, runs_done=0,
        runs_planned=exp.seeds(budget_name) * len(exp.variants) if budget_name in exp.budgets else len(runs))


def curve_figure(exp, budget_name: str, runs, curve: tuple[str, str, str], folder: Path, caption: str) -> Path | None:
    """One line per unfinished run: the runner's curve (`Live.curve`) so far, a rolling mean over 10 rows where a
    table has many (episodes); drawn for every experiment whatever its paper figure needs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.analysis import plotting

    table, step, value = curve
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = 0
    for r in runs:
        df = r.tables.get(table)
        if df is None or value not in df.columns or not len(df):
            continue
        y = df[value].rolling(10, min_periods=1).mean() if len(df) > 50 else df[value]
        x = df[step] if step in df.columns else range(len(df))
        ax.plot(x, y, label=f"{r.variant} seed {r.seed}", lw=1.2)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    smoothing = " (rolling mean over 10 rows where a run has over 50)" if any(len(r.tables.get(table, ())) > 50
                                                                            for r in runs) else ""
    ax.set(xlabel=step, ylabel=value + smoothing, title=f"{exp.name} ({budget_name}): {value} so far, {STAMP}")
    if drawn <= 12:
        ax.legend(frameon=False, fontsize=7)
    plotting.budget_caption(fig, caption, f"lines: each unfinished run's {table}.{value} at its last checkpoint")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{exp.name}_live_curve.png"
    with _stamped():
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def report_live(paper, experiment: str | None = None, root: Path | None = None) -> list[str]:
    """Draw each experiment's unfinished runs (per budget that has any) into results/<paper>/live/; returns
    printable lines, each saying the runs are in progress."""
    out = paper.results_dir(root or results_root()) / "live"
    shutil.rmtree(out, ignore_errors=True)  # generated afresh: no figure of a run that has finished since
    lines, parts = [], [f"# {paper.title}: runs in progress (live, partial)\n", f"**{WARNING}**\n",
                        f"Generated by `repro report {paper.name} --live`; regenerate it to refresh (git-ignored).\n"]
    found = False
    for name, exp in paper.experiments.items():
        if experiment and name != experiment:
            continue
        for budget_name, runs in live_runs(exp).items():
            found = True
            parts.append(f"## {name} ({budget_name} budget): {len(runs)} runs in progress\n")
            curve = exp.runner.live.curve if exp.runner.live else None
            for r in runs:
                status = r.record.status()
                progress = r.record.progress_text(time_left=status == "running") or "no progress recorded"
                text = live.curve_text(r.record, curve) if curve else None
                parts.append(f"- `{r.label}` ({status}): {progress}" + (f"; so far: {text}" if text else ""))
            parts.append("")
            data = live_data(exp, budget_name, runs)
            caption = (f"{STAMP} ({len(runs)} of {data.runs_planned} runs, each at its last checkpoint; not results, "
                       f"in no claim or verdict); {budget_name} budget: {data.budget.text(with_seeds=False)}; "
                       f"{exp.env_version}")
            folder = out / "figures" / budget_name
            paths = [p for p in [curve_figure(exp, budget_name, runs, curve, folder, caption)] if p] if curve else []
            if exp.figure:  # the paper's own figure, where it can draw partial runs
                try:
                    with _stamped():
                        paths += paper.module.FIGURES[exp.figure](exp, data, folder, caption)
                except Exception as exc:  # noqa: BLE001 - a figure made for complete runs may not draw a partial one
                    lines.append(f"{paper.name}/{name} ({budget_name}, IN PROGRESS): the paper's figure could not be "
                                 f"drawn from these partial runs ({type(exc).__name__}: {exc})")
                    parts.append(f"(The paper's figure could not be drawn from these partial runs: "
                                 f"{type(exc).__name__}.)\n")
            for p in paths:
                parts.append(f"![{p.stem} (in progress)]({p.relative_to(out)})\n")
            shown = ", ".join(str(p) for p in paths) or "no figure"
            lines.append(f"{paper.name}/{name} ({budget_name}, IN PROGRESS: {len(runs)} partial runs): {shown}")
    if not found:
        lines.append(f"{paper.name}: no run in progress with live metrics"
                     + (f" in {experiment}" if experiment else ""))
        parts.append("No run in progress has live metrics.\n")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "README.md", "\n".join(parts) + "\n")
    lines.append(f"{paper.name}: runs in progress (live, partial) -> {out / 'README.md'}")
    return lines
