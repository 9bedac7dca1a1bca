"""`repro bench PAPER EXPERIMENT --kept-memory`: what keeping freed memory (common/platform/memory.py) does to one
whole run's time, measured in fresh processes, with the setting off and on in turn.

Each process is one `repro run` of seed 0 of the experiment's variant at the chosen budget (with any `key=value`
overrides, e.g. `iterations=1` for one iteration), into its own temporary results folder (the stored datasets are
linked in), with REPRO_KEEP_FREED_MEMORY=0 (the loop's call does nothing) or 1. The processes alternate off, on, off,
on, ... for `rounds` rounds, one at a time. For each: wall seconds, its user and system CPU seconds and peak resident
memory (its own rusage, from wait4), and the share of the machine other processes used meanwhile (/proc/stat, as
`repro bench`). Both processes of a round must leave the same tables, byte for byte (the setting changes no number);
a difference is an error. The result goes to results/<paper>/kept_memory.json under "experiment/variant budget
[key=value ...]", which the paper's report shows.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.platform.bench import _context, other_load_share, read_proc_stat
from common.platform.errors import ReproError
from common.platform.records import atomic_write_text
from common.platform.runs import RunSpec, check_inputs, resolve, results_root

FILE = "kept_memory.json"
SETTINGS = ("off", "on")  # REPRO_KEEP_FREED_MEMORY 0, 1


def _one_process(spec: RunSpec, keep: bool, folder: Path) -> dict:
    """`repro run` of `spec` in a fresh process into `folder`: its times, peak memory and tables' bytes."""
    folder.mkdir(parents=True)
    datasets = results_root() / "datasets"
    if datasets.exists():
        (folder / "datasets").symlink_to(datasets.resolve(), target_is_directory=True)
    env = {**os.environ, "REPRO_RESULTS": str(folder), "REPRO_KEEP_FREED_MEMORY": "1" if keep else "0"}
    command = [sys.executable, "-m", "common.platform.cli", "run", spec.paper, spec.experiment, "--budget",
               spec.budget, "--variant", spec.variant, "--seed", str(spec.seed),
               *(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in spec.overrides)]
    with open(folder / "output.txt", "wb") as out:
        stat0, t0 = read_proc_stat(), time.perf_counter()
        proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds, stat1 = time.perf_counter() - t0, read_proc_stat()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = (folder / "output.txt").read_text(errors="replace")[-2000:]
        raise ReproError(f"the run with kept memory {'on' if keep else 'off'} failed (exit {proc.returncode}): {tail}")
    run_dir = RunSpec(spec.paper, spec.experiment, spec.budget, spec.variant, spec.seed, spec.overrides,
                      root=str(folder)).run_dir
    tables = {p.name: p.read_bytes() for p in sorted(run_dir.glob("*.csv.gz"))}
    cpu_s = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "user_s": usage.ru_utime, "system_s": usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "other_load": other_load_share(stat0, stat1, cpu_s),
            "tables": tables}


def run_kept_memory(paper_name: str, experiment: str, variant: str | None, budget: str, overrides: dict | None,
                    rounds: int = 2, save: bool = True) -> dict:
    """Time one whole run with keep_freed_memory off and on, alternating, in fresh processes (module docstring)."""
    from common.platform.registry import get_paper

    if rounds < 1:
        raise ReproError(f"--rounds must be at least 1 (got {rounds})")
    exp = get_paper(paper_name).experiment(experiment)
    variant = variant or next(iter(exp.variants))
    exp.variant(variant)  # an unknown variant is an error naming the valid ones
    ov = tuple(sorted((overrides or {}).items()))
    spec = RunSpec(paper_name, exp.run_experiment, budget, variant, 0, ov)
    resolve(spec)  # unknown budget, keys or bad values: errors before any process starts
    check_inputs([spec])
    processes: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="kept-memory-") as scratch:
        for i in range(rounds):
            pair = {name: _one_process(spec, name == "on", Path(scratch) / f"{i}-{name}") for name in SETTINGS}
            if not pair["off"]["tables"] or pair["off"]["tables"] != pair["on"]["tables"]:
                differ = sorted(n for n in set(pair["off"]["tables"]) | set(pair["on"]["tables"])
                                if pair["off"]["tables"].get(n) != pair["on"]["tables"].get(n))
                raise ReproError(f"round {i + 1}: the run's tables differ with kept memory off and on "
                                 f"({', '.join(differ) or 'no tables written'}); keeping freed memory must change "
                                 "no number")
            for name in SETTINGS:
                processes[name].append({k: v for k, v in pair[name].items() if k != "tables"})
    ratios = [off["seconds"] / on["seconds"] for off, on in zip(processes["off"], processes["on"])]
    result = {
        "note": f"one whole `repro run` (seed 0, budget {budget}) per process, kept memory off then on, "
                f"{rounds} round{'s' if rounds > 1 else ''}; tables equal byte for byte in every round",
        "budget": budget, "rounds": rounds, "processes": processes,
        "speedup_median": statistics.median(ratios), "speedup_range": [min(ratios), max(ratios)],
        **_context(paper_name, exp.run_experiment, variant, ov),
    }
    if save:
        out = results_root() / paper_name / FILE
        existing = json.loads(out.read_text()) if out.exists() else {}
        key = f"{exp.run_experiment}/{variant} {budget}" + "".join(f" {k}={v}" for k, v in ov)
        existing[key] = result
        atomic_write_text(out, json.dumps(existing, indent=2, sort_keys=True, default=str) + "\n")
    return result


def format_kept_memory(r: dict) -> list[str]:
    """The lines `repro bench --kept-memory` prints: one per process, then the speedup."""
    lines = [f"{r['paper']}/{r['experiment']}/{r['variant']} ({r['note']})",
             "setting  round  wall s   user s  system s  peak MB  other load"]
    for i in range(r["rounds"]):
        for name in SETTINGS:
            p = r["processes"][name][i]
            lines.append(f"{name:<8} {i + 1:>5}  {p['seconds']:7.1f}  {p['user_s']:7.1f}  {p['system_s']:8.1f}  "
                         f"{p['peak_rss_mb']:7.0f}  {p['other_load']:.0%}")
    lo, hi = r["speedup_range"]
    lines.append(f"wall time off / on: median {r['speedup_median']:.2f} [{lo:.2f}-{hi:.2f}]")
    return lines
