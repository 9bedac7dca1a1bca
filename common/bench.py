"""`repro bench`: an algorithm's throughput next to environment-only stepping, measured in one process and one run,
saved to results/<paper>/bench.json (the report shows it)."""
from __future__ import annotations

import json
import platform
import tempfile
from pathlib import Path

from .config import to_dict
from .errors import ReproError
from .records import atomic_write_text, git_state, machine, now, package_versions
from .registry import get_paper
from .runs import RunSpec, resolve, results_root


def run_bench(paper_name: str, experiment: str, variant: str | None, n_steps: int, save: bool = True,
              overrides: dict | None = None) -> dict:
    paper = get_paper(paper_name)
    exp = paper.experiment(experiment)
    benches = getattr(paper.module, "BENCH", None)
    if not benches or exp.runner not in [b[0] for b in benches.values()]:
        valid = [name for name, e in paper.experiments.items() if benches and any(e.runner is b[0] for b in benches.values())]
        raise ReproError(f"no benchmark for {paper_name}/{experiment}; experiments with one: {', '.join(valid) or '(none)'}")
    fn = next(b[1] for b in benches.values() if b[0] is exp.runner)
    variant = variant or next(iter(exp.variants))
    exp.variant(variant)
    ov = tuple(sorted((overrides or {}).items()))
    cfg = exp.runner.schema(**to_dict(resolve(RunSpec(paper_name, exp.run_experiment, "paper", variant, 0, ov))))
    with tempfile.TemporaryDirectory() as scratch:
        result = fn(cfg, n_steps, Path(scratch))
    result.update({"paper": paper_name, "experiment": experiment, "variant": variant, "steps": n_steps,
                   "ratio": result["training"] / result["environment_only"], "when": now(), "git": git_state(),
                   "machine": machine(), "packages": package_versions(), "python": platform.python_version()})
    if save:
        out = results_root() / paper_name / "bench.json"
        existing = json.loads(out.read_text()) if out.exists() else {}
        key = f"{experiment}/{variant}" + "".join(f" {k}={v}" for k, v in ov)
        result["overrides"] = dict(ov)
        existing[key] = result
        atomic_write_text(out, json.dumps(existing, indent=2, sort_keys=True, default=str) + "\n")
    return result


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
