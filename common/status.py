"""`repro status`: per experiment and budget, how many runs are done, running, failed, interrupted or pending."""
from __future__ import annotations

from collections import Counter

from .records import RunRecord
from .registry import get_paper, papers
from .runs import plan

STATES = ("done", "running", "failed", "interrupted", "pending")


def experiment_counts(exp, budget: str) -> dict[str, int]:
    specs = plan(exp.paper.name, exp.name, budget)
    c = Counter(RunRecord(s.run_dir).status() for s in specs)
    return {k: c.get(k, 0) for k in STATES}


def print_status(paper_name: str | None = None) -> int:
    targets = [get_paper(paper_name)] if paper_name else list(papers().values())
    for paper in targets:
        print(paper.name)
        for exp in paper.experiments.values():
            for budget in ("paper", "quick"):
                specs = plan(paper.name, exp.name, budget)
                records = [(s, RunRecord(s.run_dir)) for s in specs]
                c = Counter(r.status() for _, r in records)
                if budget == "quick" and c.get("pending", 0) == len(specs):
                    continue
                line = "  ".join(f"{k} {c.get(k, 0)}" for k in STATES)
                print(f"  {exp.name:<10} {budget:<6} {line}")
                for s, r in records:
                    if r.status() == "failed":
                        print(f"    failed {s.label}:")
                        for tail in r.failure_tail().splitlines():
                            print(f"      {tail}")
    return 0
