"""`repro compare DIR_A DIR_B [PAPER]`: two results folders (two commits' runs, two machines) claim by claim.

For each claim with complete runs in both folders: its statistic in each, and the change B - A with a 95%
percentile-bootstrap interval (runs of each folder resampled on their own, pinned seed; `common/analysis/stats.py:
change_ci`). Each side names its budget; a change between different budgets is flagged, since it compares
unlike things.
"""
from __future__ import annotations

from pathlib import Path

from common.analysis.claims import load_claims, statistic_samples
from common.platform.errors import ReproError
from common.analysis.stats import change_ci, statistic


def claim_samples(paper, claim, data_by_exp) -> tuple[tuple, str, str] | None:
    """(samples, kind, budget text) of one claim from one folder's data; None when it has no complete run."""
    exp = paper.experiment(claim.experiment)
    data = data_by_exp.get(claim.experiment)
    if data is None:
        return None
    budget = data.budget_for(claim.variants(exp))
    custom = None
    if "custom" in claim.statistic:
        custom = paper.module.STATISTICS[claim.statistic["custom"]](claim, data_by_exp)
    if budget.seeds == 0 or (custom is not None and len(custom) == 0):
        return None
    samples, kind = statistic_samples(claim, data.tables.get("replications"), custom)
    return samples, kind, f"{data.budget_name}: {budget.text()}"


def _fmt(x: float) -> str:
    return "" if x != x else f"{x:.4g}"


def compare(root_a: Path, root_b: Path, paper_names: list[str]) -> list[str]:
    from common.platform.registry import get_paper
    from common.analysis.report import load_experiment

    for root in (root_a, root_b):
        if not Path(root).is_dir():
            raise ReproError(f"results folder {root} does not exist")
    lines = [f"A = {root_a}", f"B = {root_b}",
             "claim | A: statistic (runs; budget) | B: statistic (runs; budget) | B - A [95% bootstrap CI]"]
    for name in paper_names:
        paper = get_paper(name)
        data = {root: {n: load_experiment(e, Path(root)) for n, e in paper.experiments.items()}
                for root in (root_a, root_b)}
        lines.append(f"## {name}")
        for claim in load_claims(paper):
            a, b = (claim_samples(paper, claim, data[root]) for root in (root_a, root_b))
            if a is None or b is None:
                missing = " and ".join(side for side, x in (("A", a), ("B", b)) if x is None)
                lines.append(f"{claim.id} | not run in {missing}")
                continue
            (sa, kind, budget_a), (sb, _, budget_b) = a, b
            point, lo, hi = change_ci(kind, sa, sb)
            interval = f"[{_fmt(lo)}, {_fmt(hi)}]" if lo == lo else "(fewer than 2 runs: no interval)"
            flag = "" if budget_a == budget_b else " (budgets differ)"
            lines.append(f"{claim.id} | {_fmt(statistic(kind, sa))} ({len(sa[0])}; {budget_a}) | "
                         f"{_fmt(statistic(kind, sb))} ({len(sb[0])}; {budget_b}) | {_fmt(point)} {interval}{flag}")
    return lines
