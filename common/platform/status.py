"""`repro status`: per experiment and budget, how many runs are done, running, failed, interrupted or pending;
for runs sent to Slurm, their job state (from sacct through submitit) and, for failed ones, their last lines;
with `--curves`, each unfinished run's learning curve so far, from its live metrics (common/platform/live.py)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from common.platform.errors import ReproError
from common.platform.records import RunRecord
from common.platform.registry import get_paper, papers
from common.platform.runs import plan, results_root

STATES = ("done", "running", "failed", "interrupted", "pending")
#: a finished run whose files no longer match its DONE checksums; counted only where there is one
DAMAGED = "damaged"
#: a run whose training went non-finite, recorded as such (RunRecord.diverge); counted only where there is one
DIVERGED = "diverged"
SLURM_FAILED = {"FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def experiment_counts(exp, budget: str) -> dict[str, int]:
    specs = plan(exp.paper.name, exp.name, budget, check=False)
    c = Counter(RunRecord(s.run_dir).status() for s in specs)
    return {k: c.get(k, 0) for k in STATES + tuple(k for k in (DIVERGED, DAMAGED) if c.get(k))}


def _slurm_lines(records) -> list[str]:
    from common.platform.slurm import ledger, slurm_states, stderr_tail

    tracked = {s.label: e for s, r in records if not r.is_complete() and (e := ledger(s.run_dir))}
    if not tracked:
        return []
    try:
        states = slurm_states(tracked)
    except ReproError as exc:
        return [f"    slurm: {len(tracked)} submitted runs, state unavailable: {exc}"]
    counts = Counter(state.split()[0] for state in states.values())
    lines = ["    slurm: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))]
    for label, state in sorted(states.items()):
        lines.append(f"    {state.split()[0].lower():<10} {label} (job {tracked[label]['job_id']})")
        if state.split()[0] in SLURM_FAILED:
            tail = stderr_tail(tracked[label])
            lines += [f"      {t}" for t in tail.splitlines()]
    return lines


@dataclass(frozen=True)
class _OnDisk:
    label: str
    run_dir: Path


def _custom_budgets(exp) -> dict[str, list]:
    """Runs recorded under budgets other than paper/quick (command-line overrides), found on disk."""
    if exp.runs_of:  # its runs are listed under the experiment that holds them
        return {}
    base = results_root() / exp.paper.name / "runs" / exp.name
    out: dict[str, list] = {}
    for budget_dir in sorted(p for p in base.glob("*") if p.is_dir() and p.name not in exp.budgets):
        for run_dir in sorted(budget_dir.glob("*/seed_*")):
            label = f"{exp.paper.name}/{exp.name}/{budget_dir.name}/{run_dir.parent.name}/{run_dir.name}"
            out.setdefault(budget_dir.name, []).append((_OnDisk(label, run_dir), RunRecord(run_dir)))
    return out


def _curve_line(record: RunRecord, curve) -> str | None:
    """'      so far (live, ...): eval_return 1,234 at env_step 230,000 (...) ▁▃▅▇', or None."""
    from common.platform import live

    text = live.curve_text(record, curve) if curve else None
    return f"      so far (live, in progress, not a result): {text}" if text else None


def _print_group(exp_name: str, budget: str, records, widths: tuple[int, int], curve=None) -> None:
    """One experiment and budget: its counts, then a line for each run that needs one (`curve`: the runner's
    (table, step, value) of `Live`, to show each unfinished run's curve so far; None: not asked for)."""
    c = Counter(r.status() for _, r in records)
    shown = STATES + tuple(k for k in (DIVERGED, DAMAGED) if c.get(k))
    print(f"  {exp_name:<{widths[0]}} {budget:<{widths[1]}} " + "  ".join(f"{k} {c.get(k, 0)}" for k in shown),
          flush=True)
    from common.platform.slurm import ledger

    for s, r in records:
        status = r.status()
        if status == DAMAGED:
            print(f"    damaged {s.label} ({r.path}): " + "; ".join(r.damage())
                  + " (left out of reports; the next sweep sets it aside and runs it again)")
        if status == DIVERGED:
            print(f"    diverged {s.label}: {r.divergence()['error']} (a recorded outcome; not run again)")
        if status == "interrupted":
            after = ("resumes from its checkpoint" if r.has_checkpoint()
                     else "no checkpoint: the next sweep starts it from the beginning")
            text = r.progress_text(time_left=False)
            print(f"    interrupted {s.label}: " + (f"{text} (last seen; {after})" if text else after))
        if status == "running":
            text = r.progress_text(time_left=True)
            host = r.running_elsewhere()
            if host and not ledger(s.run_dir):  # Slurm runs: the scheduler says, below
                print(f"    running {s.label} on host {host}, not this one, which cannot tell whether it is still "
                      f"alive: {text or 'no progress recorded'}. If that process is gone (a machine given back, "
                      "files copied from it), delete the folder's RUNNING marker: the next sweep resumes the run "
                      "here from its checkpoint, and attempts.jsonl keeps both machines")
            elif text or curve:  # with --curves, every running run gets its line
                print(f"    running {s.label}: {text or 'no progress recorded yet'}")
        if status == "failed" and not ledger(s.run_dir):  # Slurm runs show their stderr below instead
            print(f"    failed {s.label}:")
            for tail in r.failure_tail().splitlines():
                print(f"      {tail}")
        elif status == "failed" and curve:
            print(f"    failed {s.label} (Slurm: its stderr below)")
        if curve and status in ("running", "interrupted", "failed") and (line := _curve_line(r, curve)):
            print(line)
    copies = [(s.label, source) for s, r in records if r.status() == "done"
              and (source := (r.read_json("provenance.json") or {}).get("reused_from", {}).get("run"))]
    if copies:
        print(f"    copied {len(copies)} of the done runs: identical runs another experiment recorded "
              "(provenance.json: reused_from)")
        for label, source in copies:
            print(f"      {label} <- {source}")
    for line in _slurm_lines(records):
        print(line)


def print_status(paper_name: str | None = None, curves: bool = False) -> int:
    """Print the status of every paper (or one); `curves`: also each unfinished run's curve so far."""
    targets = [get_paper(paper_name)] if paper_name else list(papers().values())
    root = results_root()
    print(f"results folder: {root}" + ("" if root.is_dir() else " (does not exist yet: no run recorded)"))
    for paper in targets:
        print(paper.name)
        groups = []  # (experiment, budget, records): the paper's budget always, others once they hold a run
        for exp in paper.experiments.values():
            for budget in exp.budgets:
                records = [(s, RunRecord(s.run_dir)) for s in plan(paper.name, exp.name, budget, check=False)]
                if budget == "paper" or any(r.status() != "pending" for _, r in records):
                    groups.append((exp.name, budget, records))
            groups += [(exp.name, budget, records) for budget, records in _custom_budgets(exp).items()]
        widths = (max(len(g[0]) for g in groups), max(len(g[1]) for g in groups)) if groups else (0, 0)
        for exp_name, budget, records in groups:
            runner_live = paper.experiments[exp_name].runner.live
            _print_group(exp_name, budget, records, widths, runner_live.curve if curves and runner_live else None)
    return 0
