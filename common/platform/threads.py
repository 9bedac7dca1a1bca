"""The BLAS thread count of a run: one thread unless REPRO_BLAS_THREADS asks for another, whoever launches it.

numpy's matrix products go to its BLAS (OpenBLAS in the pinned wheels), which splits a product over threads. The
split changes the order of the additions, so the thread count changes results in the last bits: GAE's 3D tasks
(papers/schulman2016_gae) differ already in their first iterations between one and two threads. The thread count is
therefore part of what makes a run reproducible, like the seed; every committed run was made with one BLAS thread.

The rule: a run computes with `REPRO_BLAS_THREADS` BLAS threads, 1 when it is unset. OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS do not choose a run's count (a shell's leftover setting would otherwise change the bits
silently); they still set the pool OpenBLAS starts with when numpy loads, which `limit_blas` then limits.

`limit_blas()` sets the limit at run time through threadpoolctl, whatever was imported before, and is called at the
start of `common.platform.runs.execute`, which every launcher (`repro run`, `repro sweep` with any --jobs, Slurm
tasks) goes through. provenance.json records what was in force (`in_force()`): each BLAS library's internal API,
thread count and version, at the start of every attempt and at the end of the run, and torch's thread count at the end
where the run loaded torch (its loop sets it, e.g. `torch_threads`, after the run starts).
"""
from __future__ import annotations

import sys

from threadpoolctl import threadpool_info, threadpool_limits

from common.platform.validate import env_setting

DEFAULT_BLAS_THREADS = 1


def requested_blas_threads() -> int:
    """REPRO_BLAS_THREADS (a positive integer; checked, an error naming what is valid), else 1."""
    return env_setting("REPRO_BLAS_THREADS", DEFAULT_BLAS_THREADS)


def limit_blas() -> int:
    """Limit every BLAS library loaded in this process to the requested thread count; returns the count."""
    n = requested_blas_threads()
    threadpool_limits(limits=n, user_api="blas")  # applied on construction, kept for the rest of the process
    return n


def in_force(torch: bool = True) -> dict:
    """{"blas": [{"internal_api", "num_threads", "version"}, ...], "torch": n or None}: the thread counts now in
    force (torch's only where asked and this process loaded torch: a run's loop may set it after the run starts)."""
    blas = [{k: lib.get(k) for k in ("internal_api", "num_threads", "version")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    module = sys.modules.get("torch") if torch else None
    return {"blas": blas, "torch": module.get_num_threads() if module is not None else None}


def describe(threads: dict) -> str:
    """'BLAS 1 thread (openblas 0.3.30); torch 1 thread', for provenance's deterministic_reason."""
    def n(k: int) -> str:
        return f"{k} thread{'s' if k != 1 else ''}"

    blas = ", ".join(f"{n(lib['num_threads'])} ({lib['internal_api']} {lib['version']})" for lib in threads["blas"])
    text = f"BLAS {blas or 'none loaded'}"
    return text + (f"; torch {n(threads['torch'])}" if threads.get("torch") is not None else "")
