"""`repro bench`: an algorithm's throughput next to environment-only stepping, measured in one process and one run,
saved to results/<paper>/bench.json (the report shows it).

`repro bench --profile`: where one update's time goes (milliseconds per update in each arithmetic mode, its FLOPs
counted by torch, the machine's matmul rate, profiler time shares), saved to results/<paper>/profile.json. These are
the numbers a paper README cites when it explains a speed limit.
"""
from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .config import to_dict
from .errors import ReproError
from .records import atomic_write_text, git_state, machine, now, package_versions
from .registry import get_paper
from .runs import RunSpec, resolve, results_root


def _bench_target(paper_name: str, experiment: str, variant: str | None, overrides: dict | None, table: str):
    """The paper's `table` function (BENCH or PROFILE) for this experiment's runner, the variant, the overrides
    and the config at the paper's budget; a clear error names the experiments that have one."""
    paper = get_paper(paper_name)
    exp = paper.experiment(experiment)
    entries = getattr(paper.module, table, None) or {}
    if exp.runner not in [b[0] for b in entries.values()]:
        valid = [name for name, e in paper.experiments.items() if any(e.runner is b[0] for b in entries.values())]
        what = "benchmark" if table == "BENCH" else "profile"
        raise ReproError(f"no {what} for {paper_name}/{experiment}; experiments with one: {', '.join(valid) or '(none)'}")
    fn = next(b[1] for b in entries.values() if b[0] is exp.runner)
    variant = variant or next(iter(exp.variants))
    exp.variant(variant)
    ov = tuple(sorted((overrides or {}).items()))
    cfg = exp.runner.schema(**to_dict(resolve(RunSpec(paper_name, exp.run_experiment, "paper", variant, 0, ov))))
    return fn, variant, ov, cfg


def _save(filename: str, result: dict) -> None:
    """Add `result` to results/<paper>/<filename> under "experiment/variant [key=value ...]"."""
    out = results_root() / result["paper"] / filename
    existing = json.loads(out.read_text()) if out.exists() else {}
    key = f"{result['experiment']}/{result['variant']}" + "".join(f" {k}={v}" for k, v in result["overrides"].items())
    existing[key] = result
    atomic_write_text(out, json.dumps(existing, indent=2, sort_keys=True, default=str) + "\n")


def _context(paper_name: str, experiment: str, variant: str, ov: tuple) -> dict:
    return {"paper": paper_name, "experiment": experiment, "variant": variant, "overrides": dict(ov), "when": now(),
            "git": git_state(), "machine": machine(), "packages": package_versions(), "python": platform.python_version()}


def run_bench(paper_name: str, experiment: str, variant: str | None, n_steps: int, save: bool = True,
              overrides: dict | None = None) -> dict:
    fn, variant, ov, cfg = _bench_target(paper_name, experiment, variant, overrides, "BENCH")
    with tempfile.TemporaryDirectory() as scratch:
        result = fn(cfg, n_steps, Path(scratch))
    result.update({"steps": n_steps, "ratio": result["training"] / result["environment_only"],
                   **_context(paper_name, experiment, variant, ov)})
    if save:
        _save("bench.json", result)
    return result


def run_profile(paper_name: str, experiment: str, variant: str | None, save: bool = True,
                overrides: dict | None = None) -> dict:
    """The paper's PROFILE function on this experiment's config: {"note": ..., "measures": {name_with_unit: value}}."""
    fn, variant, ov, cfg = _bench_target(paper_name, experiment, variant, overrides, "PROFILE")
    result = {**fn(cfg), **_context(paper_name, experiment, variant, ov)}
    if save:
        _save("profile.json", result)
    return result


def format_profile(r: dict) -> list[str]:
    lines = [f"profile {r['paper']}/{r['experiment']} {r['variant']} ({r['note']})"]
    lines += [f"  {name:<52} {value:>12,.3f}" for name, value in r["measures"].items()]
    return lines


# ---- measuring tools for PROFILE functions ---------------------------------------------------------------------
def ms_per_call(fn: Callable[[], object], calls: int, warmup: int = 10) -> float:
    """Median of 5 timings of `calls` calls, in milliseconds per call, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    timings = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        timings.append((time.perf_counter() - t0) / calls * 1e3)
    return sorted(timings)[2]


def counted_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of one call (matmuls and convolutions, forward and backward), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_gflops(batch: int, m: int, k: int, n: int, dtype: str, calls: int = 300) -> float:
    """Rate of a batched (batch, m, k) @ (batch, k, n) matrix product in `dtype`, GFLOP/s."""
    import torch

    a = torch.randn(batch, m, k).to(getattr(torch, dtype))
    b = torch.randn(batch, k, n).to(getattr(torch, dtype))
    ms = ms_per_call(lambda: torch.bmm(a, b), calls)
    return 2 * batch * m * k * n / (ms * 1e-3) / 1e9


def time_shares(fn: Callable[[], object], calls: int, groups: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Share of torch's self CPU time per group of operators (an operator belongs to the first group one of whose
    names it contains) over `calls` calls, under the profiler (whose own overhead inflates small operators)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    totals = dict.fromkeys(groups, 0.0)
    everything = 0.0
    for event in prof.key_averages():
        if not event.key.startswith("aten::"):
            continue  # autograd and profiler wrappers: their time is their children's
        everything += event.self_cpu_time_total
        for group, names in groups.items():
            if any(name in event.key for name in names):
                totals[group] += event.self_cpu_time_total
                break
    return {group: t / everything for group, t in totals.items()}


def format_bench(r: dict) -> list[str]:
    unit = r["unit"]
    lines = [f"bench {r['paper']}/{r['experiment']} {r['variant']} ({r['note']})",
             f"  environment only:   {r['environment_only']:>10,.0f} {unit}",
             f"  full training loop: {r['training']:>10,.0f} {unit}",
             f"  ratio training / environment only: {r['ratio']:.2f}"]
    if "environment_only_gym_wrappers" in r:
        g = r["environment_only_gym_wrappers"]
        lines.append(f"  environment only through CleanRL's gymnasium wrapper stack: {g:,.0f} {unit}; "
                     f"training / that: {r['training'] / g:.2f}")
    for name, (lo, hi) in sorted(r.get("references", {}).items()):
        lines.append(f"  reference {name} (measured on this machine class): {lo:,}-{hi:,} {unit}; "
                     f"this run is {r['training'] / hi:.1f}-{r['training'] / lo:.1f}x")
    return lines
