"""`repro bench`: an algorithm's throughput next to environment-only stepping, measured in one process and one run,
saved to results/<paper>/bench.json (the report shows it).

With a peer (a paper's BENCH entry names one: stable-baselines3's PPO, SAC or DQN built with the same settings,
common/rl/peers.py), the training loop (A) and the peer (B) run alternately in the same invocation, A B A B for
`rounds` rounds; each round gives one ratio A / B, and the bench reports their median and range, the thread counts,
and the share of the machine that other processes used during each timed run (from /proc/stat and this process's
own CPU time around it): on a shared machine a ratio taken while another process held a core means little.

An offline method has no environment in its loop: its bench (papers/kumar2020_cql/bench.py) times several updates
in turn for `rounds` rounds instead, and reports per update its gradient steps/s, ms per update, FLOPs, its time over
a yardstick update's in the same round (SAC's online update) and the other processes' share in each round.

`repro bench --profile`: where one update's time goes (milliseconds per update in each arithmetic mode, its FLOPs
counted by torch, the machine's matmul rate, profiler time shares, and the floor of its own matrix products recorded
as torch dispatched them and timed bare at their shapes, in turn with the update), saved to
results/<paper>/profile.json. An on-policy loop's profile (PPO) takes one iteration apart instead: the milliseconds
of each phase (environment, acting, the observation filter, GAE, gradients, Adam), timed in the real loop by
`PhaseTimer`, their shares and the ratios to environment-only stepping they imply. These are the numbers a paper
README cites when it explains a speed limit.
"""
from __future__ import annotations

import inspect
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.platform.config import to_dict
from common.platform.errors import ReproError
from common.platform.records import RunContext, atomic_write_text, git_state, machine, now, package_versions
from common.platform.registry import get_paper, resolved
from common.platform.runs import RunSpec, resolve, results_root


def _bench_target(paper_name: str, experiment: str, variant: str | None, overrides: dict | None, table: str):
    """The paper's `table` entry (BENCH: (runner, bench[, peer]); PROFILE: (runner, profile)) for this experiment's
    runner, the variant, the overrides and the config at the paper's budget; a clear error names the experiments
    that have one."""
    paper = get_paper(paper_name)
    exp = paper.experiment(experiment)
    entries = getattr(paper.module, table, None) or {}
    if exp.runner not in [b[0] for b in entries.values()]:
        valid = [name for name, e in paper.experiments.items() if any(e.runner is b[0] for b in entries.values())]
        what = "benchmark" if table == "BENCH" else "profile"
        raise ReproError(f"no {what} for {paper_name}/{experiment}; experiments with one: {', '.join(valid) or '(none)'}")
    entry = next(b for b in entries.values() if b[0] is exp.runner)
    variant = variant or next(iter(exp.variants))
    exp.variant(variant)
    ov = tuple(sorted((overrides or {}).items()))
    cfg = exp.runner.schema(**to_dict(resolve(RunSpec(paper_name, exp.run_experiment, "paper", variant, 0, ov))))
    return entry, variant, ov, cfg


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


@dataclass
class LearningPhaseContext(RunContext):
    """A run context that notes the times when the run's count of units first reaches `start_at` (the end of the
    warm-up before learning starts) and `stop_at` (the end of training, before any final evaluation and the
    writing of the record): a bench times the learning phase inside the run, so that first-use costs fall in the
    warm-up of the run it measures instead of in a separate, earlier run."""

    start_at: int = 0
    stop_at: int | None = None
    started: float | None = None
    stopped: float | None = None

    def count(self, n: int, unit: str) -> None:
        super().count(n, unit)
        if self.started is None and self.units >= self.start_at:
            self.started = time.perf_counter()
        if self.stopped is None and self.stop_at is not None and self.units >= self.stop_at:
            self.stopped = time.perf_counter()

    def learning_rate(self) -> float:
        """Units per second between the start of the learning phase and `stop_at`."""
        if self.started is None or self.stopped is None:
            raise ReproError(f"the run never reached the end of its learning phase (units {self.start_at:,} to "
                             f"{self.stop_at or 0:,})")
        return (self.stop_at - self.start_at) / max(self.stopped - self.started, 1e-9)


# ---- the share of the machine other processes use ----------------------------------------------------------------
def read_proc_stat(text: str | None = None) -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs together from /proc/stat's first line ("cpu  user nice system idle
    iowait irq softirq steal ..."); idle and iowait are not busy; guest time is already inside user and nice."""
    if text is None:
        text = Path("/proc/stat").read_text()
    fields = [int(x) for x in text.splitlines()[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return total - idle, total


def other_load_share(before: tuple[int, int], after: tuple[int, int], own_cpu_s: float,
                     ticks_per_s: float | None = None) -> float:
    """The share of the whole machine (all cores; 0 to 1) that processes other than this one kept busy between two
    /proc/stat readings, given this process's own CPU seconds (all its threads) in the same interval."""
    ticks_per_s = ticks_per_s or os.sysconf("SC_CLK_TCK")
    busy, total = after[0] - before[0], after[1] - before[1]
    if total <= 0:
        return 0.0
    return min(1.0, max(0.0, (busy - own_cpu_s * ticks_per_s) / total))


def measured(fn: Callable[[], dict | None], stat: Callable[[], tuple[int, int]] = read_proc_stat,
             cpu: Callable[[], float] = time.process_time) -> tuple[dict | None, dict]:
    """fn()'s result and what the machine did meanwhile: seconds, this process's CPU seconds and the other
    processes' share of the machine. The readings are swappable so that tests can hand-make them."""
    s0, c0, t0 = stat(), cpu(), time.perf_counter()
    out = fn()
    s1, c1, t1 = stat(), cpu(), time.perf_counter()
    return out, {"seconds": t1 - t0, "own_cpu_s": c1 - c0, "other_load": other_load_share(s0, s1, c1 - c0)}


def alternate(train: Callable[[int], dict], peer: Callable[[int], dict | None], rounds: int,
              measure: Callable = measured) -> dict:
    """Run the training loop (A) and the peer (B) alternately, A B A B, `rounds` times; each call returns a dict with
    steps_per_s (A also "training"). The ratio A / B of each round, their median and range, and per run the
    speed, threads and other processes' load. No peer (B returns None): A's runs alone."""
    runs, ratios = [], []
    for i in range(rounds):
        a, a_load = measure(lambda i=i: train(i))
        runs.append({"round": i, "who": "this repository", "steps_per_s": a["training"],
                     "threads": a.get("threads"), **a_load})
        b, b_load = measure(lambda: peer(i))
        if b is None:
            continue
        runs.append({"round": i, "who": b["peer"], "steps_per_s": b["steps_per_s"], "threads": b.get("threads"),
                     **b_load})
        ratios.append(a["training"] / b["steps_per_s"])
    ours = [r["steps_per_s"] for r in runs if r["who"] == "this repository"]
    out = {"training": statistics.median(ours), "training_runs": ours, "runs": runs}
    if ratios:
        theirs = [r for r in runs if r["who"] != "this repository"]
        out["peer"] = {"name": theirs[0]["who"], "rounds": len(ratios), "ratios": ratios,
                       "median_ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)],
                       "steps_per_s": statistics.median(r["steps_per_s"] for r in theirs),
                       "threads": {"this repository": runs[0]["threads"], "peer": theirs[0]["threads"]},
                       "other_load": [r["other_load"] for r in runs]}
    return out


#: Environment steps (or periods) a bench times when none are given and its function names no default of its own.
DEFAULT_STEPS = 20480


def run_bench(paper_name: str, experiment: str, variant: str | None, n_steps: int | None, save: bool = True,
              overrides: dict | None = None, rounds: int = 2, peer: bool = True) -> dict:
    """Environment-only stepping, then the training loop alternating with the paper's peer for `rounds` rounds
    (A B A B; `peer` False, or a paper without a peer or a setting it cannot match: the loop alone, `rounds`
    times). A peer that is not installed is an error naming the extra to install, unless `peer` is False.

    An update bench (an offline method: no environment in its loop) times several updates alternating among
    themselves, its `rounds` passed on, and returns them under "updates" instead of the environment-only / training
    pair. `n_steps` None: the bench function's own default count, else DEFAULT_STEPS."""
    if rounds < 1:
        raise ReproError(f"--rounds must be at least 1 (2 or more give a range), got {rounds}")
    entry, variant, ov, cfg = _bench_target(paper_name, experiment, variant, overrides, "BENCH")
    fn, peer_fn = entry[1], (entry[2] if len(entry) > 2 and peer else None)
    params = list(inspect.signature(resolved(fn)).parameters.values())
    if n_steps is None:
        n_steps = params[1].default if params[1].default is not inspect.Parameter.empty else DEFAULT_STEPS
    extra = {"rounds": rounds} if any(p.name == "rounds" for p in params) else {}
    if peer_fn is not None:
        from common.rl import peers

        module, package = getattr(peer_fn, "requires", ("stable_baselines3", peers.PACKAGE))
        if not peers.available(module):
            raise ReproError(f"this benchmark's peer cannot run: {peers.missing_reason(package)}; "
                             f"or time the loop alone with --no-peer")
    with tempfile.TemporaryDirectory() as scratch:
        if len(entry) == 2:  # a bench without the environment/training split: one run, as measured before
            result = fn(cfg, n_steps, Path(scratch), **extra)
        else:
            result = fn(cfg, n_steps, Path(scratch) / "env", training=False)
            result.update(alternate(lambda i: fn(cfg, n_steps, Path(scratch) / f"a{i}", environment=False),
                                    (lambda i: peer_fn(cfg, n_steps)) if peer_fn else (lambda i: None), rounds))
    if "environment_only" in result:
        result["ratio"] = result["training"] / result["environment_only"]
    result.update({"steps": n_steps, **_context(paper_name, experiment, variant, ov)})
    if save:
        _save("bench.json", result)
    return result


def run_profile(paper_name: str, experiment: str, variant: str | None, save: bool = True,
                overrides: dict | None = None) -> dict:
    """The paper's PROFILE function on this experiment's config: {"note": ..., "measures": {name_with_unit: value}}."""
    entry, variant, ov, cfg = _bench_target(paper_name, experiment, variant, overrides, "PROFILE")
    result = {**entry[1](cfg), **_context(paper_name, experiment, variant, ov)}
    if save:
        _save("profile.json", result)
    return result


def format_profile(r: dict) -> list[str]:
    lines = [f"profile {r['paper']}/{r['experiment']} {r['variant']} ({r['note']})"]
    lines += [f"  {name:<52} {value:>12,.3f}" for name, value in r["measures"].items()]
    return lines


# ---- measuring tools for PROFILE functions ---------------------------------------------------------------------
def blas_threads() -> int:
    """Threads of numpy's BLAS, which the numpy networks' matrix products use: OPENBLAS_NUM_THREADS or
    OMP_NUM_THREADS as set when the process started (`OMP_NUM_THREADS=1 repro bench ...`), else one per core."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


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


class PhaseTimer:
    """Wall seconds spent inside callables, added up by phase name: `wrap(name, fn)` returns fn with a
    `time.perf_counter()` read before and after each call (well under a microsecond per call here, where cProfile
    would add several to every Python call and distort a loop of small calls). Phases may nest: a phase's seconds
    include those of the phases it calls."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable) -> Callable:
        seconds = self.seconds
        seconds.setdefault(name, 0.0)
        clock = time.perf_counter

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[name] += clock() - t0
        return timed


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


#: The operators whose time is the floor of an update: matrix products and convolutions, forward and backward.
FLOOR_OPERATORS = ("mm", "addmm", "bmm", "baddbmm", "convolution", "convolution_backward")


def recorded_matmuls(fn: Callable[[], object]) -> list[tuple]:
    """The matrix products and convolutions of one call of `fn` as torch dispatched them (after autograd and
    autocast), in order: (operator, arguments), each tensor argument as ("tensor", sizes, strides, dtype)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    wanted = {getattr(torch.ops.aten, name).default for name in FLOOR_OPERATORS}
    calls = []

    def spec(x):
        return ("tensor", tuple(x.shape), x.stride(), x.dtype) if isinstance(x, torch.Tensor) else x

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in wanted:
                calls.append((func, tuple(spec(a) for a in args)))
            return func(*args, **(kwargs or {}))

    with Recorder():
        fn()
    return calls


def alternating_ms(fns: dict[str, Callable[[], object]], calls: int = 10, rounds: int = 15,
                   warmup: int = 5) -> dict[str, list[float]]:
    """Milliseconds per call of each of `fns`, timed in turn, `calls` calls each, for `rounds` rounds (after `warmup`
    untimed calls each): per function the list of its rounds. On a shared machine, quotients of the same round
    compare two functions under the same load, where medians taken apart need not."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            out[name].append((time.perf_counter() - t0) / calls * 1e3)
    return out


def matmul_floor_call(calls: list[tuple]) -> Callable[[], object]:
    """A function that runs the bare operators of `calls` (from `recorded_matmuls`) once each, on random tensors of
    the same sizes, strides (transposed and broadcast operands included) and dtypes: an update with nothing but its
    matrix products, at the rates this machine reaches on its own shapes."""
    import torch

    def make(a):
        if not (isinstance(a, tuple) and a and a[0] == "tensor"):
            return a
        _, sizes, strides, dtype = a
        storage = 1 + sum((n - 1) * st for n, st in zip(sizes, strides)) if all(sizes) else 0
        return torch.randn(storage).to(dtype).as_strided(sizes, strides)

    ops = [(func, tuple(make(a) for a in args)) for func, args in calls]
    return lambda: [func(*args) for func, args in ops]


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
    if "updates" in r:
        return format_update_bench(r)
    unit = r["unit"]
    lines = [f"bench {r['paper']}/{r['experiment']} {r['variant']} ({r['note']})",
             f"  environment only:   {r['environment_only']:>10,.0f} {unit}",
             f"  full training loop: {r['training']:>10,.0f} {unit}",
             f"  ratio training / environment only: {r['ratio']:.2f}"]
    if "training_loop" in r:
        lines.append(f"  the loop's iterations alone (no set-up, no evaluation): {r['training_loop']:>10,.0f} {unit}")
    if "phases_ms_per_iteration" in r:  # common/onpolicy/phases.py
        ms = r["phases_ms_per_iteration"]
        lines.append("  ms per iteration: " + ", ".join(f"{k} {v:,.1f}" for k, v in ms.items() if k != "env_steps")
                     + f" ({ms['env_steps']:,.0f} env steps)")
    if "environment_only_gym_wrappers" in r:
        g = r["environment_only_gym_wrappers"]
        lines.append(f"  environment only through CleanRL's gymnasium wrapper stack: {g:,.0f} {unit}; "
                     f"training / that: {r['training'] / g:.2f}")
    p = r.get("peer")
    if p:
        lo, hi = p["ratio_range"]
        lines.append(f"  peer {p['name']} (same invocation, {p['rounds']} alternating rounds): "
                     f"{p['steps_per_s']:,.0f} {unit}; ratio this / peer: median {p['median_ratio']:.2f} "
                     f"[{lo:.2f}-{hi:.2f}]")
        lines.append(f"  threads: {threads_text(p['threads'])}; other processes' share of the machine during each "
                     f"run: {load_text(p['other_load'])}")
    elif "runs" in r:
        lines.append(f"  training runs: {', '.join(f'{x:,.0f}' for x in r['training_runs'])} {unit}; other processes' "
                     f"share of the machine: {load_text([x['other_load'] for x in r['runs']])}")
    when = r.get("references_measured")
    for name, (lo, hi) in sorted(r.get("references", {}).items()):
        where = f"measured {when['when']}, {when['machine']}" if when else "measured on another day"
        lines.append(f"  context: {name} ({where}): {lo:,}-{hi:,} {unit}")
    return lines


def format_update_bench(r: dict) -> list[str]:
    """An update bench's lines: per update its rate and ms per update (median [range]), its time over the yardstick's
    update (median [range] of the rounds' quotients) and the other processes' share of the machine in each round."""
    lines = [f"bench {r['paper']}/{r['experiment']} {r['variant']} ({r['note']})"]
    for name, u in r["updates"].items():
        lo, hi = u["steps_per_s_range"]
        c_lo, c_hi = u["time_over_sac_update_range"]
        lines.append(f"  {name:<16} {u['steps_per_s']:>8,.1f} {r['unit']} [{lo:,.1f}-{hi:,.1f}], "
                     f"{u['ms_per_update']:>7.2f} ms/update, {u['gflop_per_update']:.2f} GFLOP; time / "
                     f"{r['yardstick']}'s: {u['time_over_sac_update']:.2f} [{c_lo:.2f}-{c_hi:.2f}]; other load "
                     f"{load_text(u['other_load'])}")
    lines.append(f"  threads: {r['threads']}; peer: {r.get('peer_note', 'none')}")
    if "peer_ratio" in r:
        p = r["peer_ratio"]
        lines.append(f"  {p['peer']}'s time / {p['update']}'s, same rounds: median {p['median']:.2f} "
                     f"[{p['range'][0]:.2f}-{p['range'][1]:.2f}]")
    return lines


def threads_text(threads: dict) -> str:
    """'this repository N, peer M' (this repository first, whatever order a JSON file kept)."""
    order = sorted(threads, key=lambda who: who != "this repository")
    return ", ".join(f"{who} {threads[who]}" for who in order)


def load_text(shares: list[float]) -> str:
    return " ".join(f"{x:.0%}" for x in shares)
