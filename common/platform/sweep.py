"""Sweeps: every run of a figure or table. Idempotent: complete runs are skipped, interrupted runs resume."""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from common.platform.errors import ReproError, RunningElsewhere
from common.platform.finite import RunFailure
from common.platform.records import RunRecord
from common.platform.runs import RunSpec, execute, still_to_run
from common.platform.threads import requested_blas_threads


def _run_one(spec: RunSpec, show_progress: bool) -> tuple[str, str, str]:
    try:
        return spec.label, execute(spec, "local", show_progress), ""
    except RunningElsewhere:  # another sweep holds it: not a failure, and never run twice
        return spec.label, "running elsewhere", ""
    except ReproError as exc:
        return spec.label, "error", str(exc)
    except RunFailure as exc:  # one line: what went wrong, where, and the settings that differ from the paper's
        return spec.label, "failed", exc.without_run()
    except Exception as exc:  # noqa: BLE001 - recorded in the run's FAILED file
        return spec.label, "failed", f"{type(exc).__name__}: {exc}"


def run_local(specs: list[RunSpec], jobs: int = 1, dry_run: bool = False, out=None) -> dict[str, int]:
    """Execute pending runs on this machine, `jobs` processes at a time (each with REPRO_BLAS_THREADS BLAS threads,
    1 unless set: common/platform/threads.py); with `dry_run`, only list the runs that would run."""
    from tqdm.auto import tqdm

    out = out or sys.stdout  # looked up per call: the stream in force now, not at import
    diverged, pending = still_to_run(specs)
    damaged = {s.label: RunRecord(s.run_dir).damage() for s in pending if RunRecord(s.run_dir).is_damaged()}
    counts = {"skipped": len(specs) - len(pending) - len(diverged), "done": 0, "failed": 0, "error": 0,
              "running elsewhere": 0}
    recorded = (f", {len(diverged)} diverged (recorded outcomes, not run again; move a folder aside to retry it)"
                if diverged else "")
    print(f"{len(specs)} runs: {counts['skipped']} complete{recorded}, {len(pending)} to run"
          f"{f' ({len(damaged)} of them damaged: set aside, then run again)' if damaged else ''} "
          f"({jobs} at a time, local launcher{'; dry run: nothing runs' if dry_run else ''})", file=out, flush=True)
    for label, problems in damaged.items():
        print(f"damaged {label}: {'; '.join(problems)}", file=out)
    if dry_run:
        for s in pending:
            print(f"would run {s.label}", file=out)
        return counts
    if not pending:
        return counts
    bar = tqdm(total=len(pending), desc="runs", disable=not sys.stderr.isatty())
    failures = []
    if jobs <= 1:
        results = (_run_one(s, True) for s in pending)
        for label, status, msg in results:
            counts[status] = counts.get(status, 0) + 1
            bar.update(1)
            if msg:
                failures.append((label, msg))
    else:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # the pools the workers start
            os.environ[var] = str(requested_blas_threads())  # with; execute() limits them again at run time
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_run_one, s, False) for s in pending]
            for fut in as_completed(futures):
                label, status, msg = fut.result()
                counts[status] = counts.get(status, 0) + 1
                bar.update(1)
                if msg:
                    failures.append((label, msg))
    bar.close()
    for label, msg in failures:
        print(f"FAILED {label}: {msg}", file=out)
    print(f"done {counts['done']}, skipped {counts['skipped']}, failed {counts['failed'] + counts['error']}"
          + (f", running elsewhere {counts['running elsewhere']} (held by another sweep; not run here)"
             if counts["running elsewhere"] else ""), file=out, flush=True)
    return counts
