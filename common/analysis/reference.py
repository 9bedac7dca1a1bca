"""Reference implementations' learning curves (common/analysis/reference_data/) and the claims' second verdict.

sources.yaml describes each source (repository, commit, path, licence, what its values are, its protocol);
curves.csv holds the per-seed values kept from ../shared/reference/ (see common/analysis/reference_data/README.md). A claim's
`reference:` block in claims.yaml names a comparison of `reference_comparisons` (unit, window, the runs' table and
columns, the sources, the runs' protocol), the variant whose runs are compared and the task; `compare_claim` gathers
the runs' and the sources' curves and applies the rule, `common.analysis.claims.reference_verdict`.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from common.analysis.claims import ReferenceSource, ReferenceVerdict, reference_verdict
from common.platform.errors import ReproError

DATA_DIR = Path(__file__).parent / "reference_data"


@lru_cache(maxsize=None)
def load_sources() -> dict[str, dict]:
    """sources.yaml: key -> source description (label, source, algo, metric, kind, task, commit, path, licence,
    protocol)."""
    return yaml.safe_load((DATA_DIR / "sources.yaml").read_text())


@lru_cache(maxsize=None)
def load_curves() -> pd.DataFrame:
    """curves.csv: key, source, algo, metric, task, seed, unit, x_start, x_end, value (one row per value kept)."""
    return pd.read_csv(DATA_DIR / "curves.csv")


def task_name(spec: dict, task: str) -> str:
    """The source's name of a task ('Hopper' -> 'Hopper-v3' for Tianshou)."""
    return (spec.get("task_overrides") or {}).get(task) or spec["task"].format(task=task)


def source_curves(key: str, task: str, unit: str) -> ReferenceSource:
    """One source on one task, its curves in `unit` (an error if the data holds them in another unit)."""
    spec = load_sources()[key]
    curves = load_curves()
    c = curves[(curves["key"] == key) & (curves["task"] == task_name(spec, task))]
    if len(c) and set(c["unit"]) != {unit}:
        raise ReproError(f"reference {key} on {task}: its steps are {sorted(set(c['unit']))}, the comparison's {unit}")
    return ReferenceSource(label=spec["label"], kind=spec["kind"], protocol=dict(spec.get("protocol") or {}),
                           curves=c[["seed", "x_start", "x_end", "value"]].reset_index(drop=True))


def run_curves(data, comparison: dict, variant: str) -> pd.DataFrame:
    """The runs of one variant as curves: seed, x, value (from the run table and columns the comparison names)."""
    run = comparison["run"]
    table = data.tables.get(run["table"])
    if table is None:
        raise ReproError(f"reference comparison: the runs record no table '{run['table']}'")
    t = table[table["variant"] == variant]
    return pd.DataFrame({"seed": t["seed"].to_numpy(), "x": t[run["x"]].to_numpy(), "value": t[run["y"]].to_numpy()})


def compare_claim(claim, comparison: dict, data) -> ReferenceVerdict:
    """The claim's reference verdict: its variant's runs against the comparison's sources, over the window
    [B - W, B] where B is the runs' budget (the comparison's `budget_key` of the variant's config)."""
    ref = claim.reference
    budget = int(data.configs[ref["variant"]][comparison["budget_key"]])
    window = (budget - int(comparison["window"]), budget)
    protocol = {**(comparison.get("protocol") or {}), **(ref.get("protocol") or {})}
    sources = [source_curves(k, ref["task"], comparison["unit"]) for k in comparison["sources"]]
    return reference_verdict(run_curves(data, comparison, ref["variant"]), sources, window, comparison["unit"],
                             comparison["kind"], protocol)
