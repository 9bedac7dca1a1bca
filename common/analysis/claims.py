"""Claims and the one rule that gives them verdicts.

A claim (papers/<paper>/claims.yaml) names the experiment it is checked on, its source (table or figure, page),
the paper's statement, the metric's definition, a `statistic` computed per independent run (or seed) from the
recorded per-run table, and a `rule`:
  - a number the paper reports:  rule: {paper_value: V, tolerance: TOL}
  - a checkable statement:       rule: {op: "<" | ">", threshold: X | {computed: NAME}}
Statistics: {column: C, variant: V} (mean of C), {column: C, difference: [A, B]} (mean_A - mean_B, two-sample),
{ratio: [C1, C2], variant: V} (mean C1 / mean C2, paired).

A claim may also name a `reference:` comparison (claims.yaml `reference_comparisons`): its runs against the per-seed
learning curves of reference implementations at the budget the runs used (common/analysis/reference_data/), a second verdict
beside the paper's from `reference_verdict` below.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from common.platform import schema
from common.platform.errors import ReproError
from common.analysis.stats import difference_ci, mean_ci, ratio_ci

RULE_TEXT = """\
Verdicts come from one rule (`common/analysis/claims.py: verdict`), applied to the 95% percentile-bootstrap
confidence interval [lo, hi] of the regenerated statistic over independent runs (2,000 resamples, pinned seed):

- A number the paper reports, value V with tolerance TOL stated in the claim before the runs:
  **consistent** if lo - TOL <= V <= hi + TOL; **lower** if hi + TOL < V; **higher** if lo - TOL > V.
- A checkable statement "statistic < X" (or "> X"), X fixed or computed in closed form from the config:
  **consistent** if the whole interval satisfies it; **inconsistent** if the whole interval violates it;
  **inconclusive** otherwise.
- **reduced budget** replaces the verdict whenever the runs used less than the paper's budget (fewer seeds or
  runs, fewer periods, steps or frames), or when a statistic normalized over all of an experiment's variants
  (Table 1 of PPO: best setting = 1 per task) has runs of only some of them; the verdict at that budget is
  still shown beside it.
- A run whose training went non-finite is a recorded outcome (its DIVERGED record): it counts as a seed run, has no
  value, and is named beside the budget of every claim over its variant, whose estimate is then over the runs that
  finished. A claim that takes the best of several settings never takes one with a diverged run while another has
  none (a setting that diverges has no final performance to be the best).
- **too few runs** when a statistic rests on a single run (no interval).
- **not run** when no complete run exists.

A second verdict, **against reference implementations at the budget used** (`common/analysis/claims.py: reference_verdict`),
compares the runs with per-seed learning curves of trusted implementations (`common/analysis/reference_data/`, with their
sources and licences) over the same window of the same unit: the last W agent steps (Atari) or env steps (MuJoCo)
before the runs' budget B, [B - W, B]. Each run and each reference seed is reduced to one number, the mean of its
values in the window (a run: its training episodes ending there, or its evaluations there; a reference seed: its
points, or its per-iteration means, lying wholly inside it). Training returns are compared with training returns
and evaluation with evaluation wherever the reference records them; where it records only the other kind, that is
named as a difference. Several implementations differ as much as seeds do, so the reference is their envelope
[lo, hi]: the smallest and largest seed value over every source that covers the window (has a value in it and one
ending in its second half):
- **consistent** if the runs' range [min, max] over runs overlaps [lo, hi];
- **below** if every run is below every reference seed (max < lo); **above** if every run is above (min > hi);
- **inconclusive** if no run has a value in the window, or the sources covering it have fewer than 3 seeds in all.
Each protocol setting that differs between the runs and a source (sticky actions, exploration ε, frame skip,
environment version, evaluation policy, what a step counts) is named beside the verdict; the verdict does not
correct for them.
"""

#: The fewest reference seeds (over all sources covering the window) that a reference verdict rests on.
REFERENCE_MIN_SEEDS = 3



@dataclass
class Claim:
    id: str
    experiment: str
    source: dict
    statement: str
    metric: str
    statistic: dict
    rule: dict
    note: str = ""
    reference: dict | None = None  # {compare: NAME of reference_comparisons, variant, task[, protocol]}

    @property
    def source_text(self) -> str:
        where = self.source.get("figure") or self.source.get("table") or "?"
        page = self.source.get("page")
        return f"{where}, p. {page}" if page else f"{where} (page not recorded)"

    def variants(self, experiment=None) -> list[str]:
        """The variants whose runs the statistic uses."""
        s = self.statistic
        if "custom" in s and "variants" in s:
            return list(s["variants"])
        if "custom" in s and "variant" in s:
            return [s["variant"]]
        if "custom" in s:
            prefix = f"{s['setting']}__" if "setting" in s else ""
            return [v for v in (experiment.variants if experiment else []) if v.startswith(prefix)]
        return list(s.get("difference") or [s["variant"]])


def read_claims_file(paper):
    """claims.yaml checked against its schema (common/platform/schema.py: keys, required fields, types), or None if the paper
    has none."""
    if not paper.claims_path.exists():
        return None
    return schema.load(paper.claims_path, schema.CLAIMS_FILE)


def load_claims(paper) -> list[Claim]:
    """The claims of claims.yaml, checked: the schema, then the experiment, variants and statistics each names."""
    doc = read_claims_file(paper)
    if doc is None:
        return []
    comparisons = load_comparisons(paper, doc.data)
    claims, seen = [], {}
    for i, c in enumerate(doc.data["claims"]):
        where = f"{doc.where('claims', i)}: claim {c['id']}"
        at = lambda key: f"{doc.where('claims', i, key)}: claim {c['id']}"  # noqa: E731 - the line of one key
        if c["id"] in seen:
            raise ReproError(f"{where}: duplicate claim id (first at line {seen[c['id']]})")
        seen[c["id"]] = doc.line("claims", i)
        claim = Claim(**c)
        try:
            exp = paper.experiment(claim.experiment)
        except ReproError as exc:
            raise ReproError(f"{at('experiment')}: {exc}") from None
        try:
            for v in claim.variants(exp):
                exp.variant(v)
        except ReproError as exc:
            raise ReproError(f"{at('statistic')}: {exc}") from None
        if "custom" in claim.statistic and claim.statistic["custom"] not in getattr(paper.module, "STATISTICS", {}):
            raise ReproError(f"{at('statistic')}: unknown custom statistic '{claim.statistic['custom']}'; valid: "
                             f"{', '.join(sorted(getattr(paper.module, 'STATISTICS', {}))) or '(none)'}")
        if "custom" in claim.statistic and not claim.variants(exp):
            raise ReproError(f"{at('statistic')}: no variant of {claim.experiment} matches setting "
                             f"'{claim.statistic.get('setting')}'")
        computed = claim.rule.get("threshold")
        if isinstance(computed, dict) and computed["computed"] not in getattr(paper.module, "COMPUTED", {}):
            raise ReproError(f"{at('rule')}: unknown computed threshold '{computed['computed']}'; valid: "
                             f"{', '.join(sorted(getattr(paper.module, 'COMPUTED', {}))) or '(none)'}")
        if claim.reference is not None:
            r = claim.reference
            if set(r) - CLAIM_REFERENCE_KEYS or not {"compare", "variant", "task"} <= set(r):
                raise ReproError(f"{at('reference')}: reference needs compare, variant, task (valid keys: "
                                 f"{sorted(CLAIM_REFERENCE_KEYS)})")
            if r["compare"] not in comparisons:
                raise ReproError(f"{at('reference')}: unknown reference comparison '{r['compare']}'; "
                                 f"known: {sorted(comparisons)}")
            exp.variant(r["variant"])
        claims.append(claim)
    return claims


def statistic_samples(claim: Claim, table, custom_values=None) -> tuple[tuple, str]:
    """The independent per-run samples a claim's statistic is computed from, and how ("mean" of one sample,
    "difference" of two samples' means, or "ratio" of two paired samples' means): from the per-run table (a `variant`
    column plus the statistic's columns), or from the per-run values a paper's custom statistic computed."""
    s = claim.statistic
    if "custom" in s:
        return (np.asarray(custom_values, float),), "mean"

    def col(variant: str, column: str):
        values = table.loc[table["variant"] == variant, column].to_numpy()
        if len(values) == 0:
            raise ReproError(f"claim {claim.id}: no runs of variant '{variant}' with column '{column}'")
        return values

    if "difference" in s:
        return tuple(col(v, s["column"]) for v in s["difference"]), "difference"
    if "ratio" in s:
        return tuple(col(s["variant"], c) for c in s["ratio"]), "ratio"
    return (col(s["variant"], s["column"]),), "mean"


def compute_statistic(claim: Claim, table, custom_values=None) -> tuple[float, float, float, int]:
    """(estimate, lo, hi, n runs) of the claim's statistic with its 95% bootstrap interval over runs."""
    samples, kind = statistic_samples(claim, table, custom_values)
    if kind == "difference":
        return (*difference_ci(*samples), min(len(x) for x in samples))
    if kind == "ratio":
        return (*ratio_ci(*samples), len(samples[0]))
    return (*mean_ci(samples[0]), len(samples[0]))


def rule_outcome(rule: dict, est: float, lo: float, hi: float, threshold: float | None) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return "too few runs"  # one run gives no interval: no verdict either way
    if "paper_value" in rule:
        v, tol = float(rule["paper_value"]), float(rule.get("tolerance", 0.0))
        if lo - tol <= v <= hi + tol:
            return "consistent"
        return "lower" if hi + tol < v else "higher"
    op = rule["op"]
    if op == "<":
        return "consistent" if hi < threshold else "inconsistent" if lo >= threshold else "inconclusive"
    if op == ">":
        return "consistent" if lo > threshold else "inconsistent" if hi <= threshold else "inconclusive"
    raise ReproError(f"rule op must be '<' or '>', got {op!r}")


def verdict(outcome: str | None, reduced: bool) -> str:
    if outcome is None:
        return "not run"
    return "reduced budget" if reduced else outcome


@dataclass
class Budget:
    """What a set of runs used: seeds and the experiment's budget keys (periods, steps, frames, ...)."""

    seeds: int
    values: dict = field(default_factory=dict)

    def text(self, with_seeds: bool = True) -> str:
        seeds = [f"{self.seeds} seed{'' if self.seeds == 1 else 's'}"] if with_seeds else []
        return ", ".join(seeds + [f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in self.values.items()])

    def below(self, other: "Budget") -> bool:
        return self.seeds < other.seeds or any(self.values[k] < other.values[k] for k in other.values)


# ---- paper-shaped tables ---------------------------------------------------------------------------------------


@dataclass
class PaperTable:
    """A table laid out as the paper prints it (claims.yaml `tables:`). Its rows are either numbers quoted from the
    paper (`values`, one per column, with the table's `source`) or one claim per column (`claim`, an id template
    with `{column}`), showing the paper's value (`show: paper_value`) or the regenerated estimate (`show: estimate`)."""
    id: str
    title: str
    source: dict
    columns: dict  # column key (used in claim ids) -> header
    rows: list

    def claim_id(self, row: dict, column: str) -> str:
        return row["claim"].format(column=column)


def load_tables(paper, claim_ids: set[str]) -> list[PaperTable]:
    """The paper-shaped tables of claims.yaml, checked: the schema, one value per column, claims in `claim_ids`."""
    doc = read_claims_file(paper)
    if doc is None:
        return []
    tables = []
    for i, t in enumerate(doc.data.get("tables") or []):
        table = PaperTable(**t)
        for j, row in enumerate(table.rows):
            where = f"{doc.where('tables', i, 'rows', j)}: table {table.id}, row {row['label']}"
            if "values" in row and len(row["values"]) != len(table.columns):
                raise ReproError(f"{where}: {len(row['values'])} values for {len(table.columns)} columns")
            if "claim" in row:
                missing = [cid for cid in (table.claim_id(row, c) for c in table.columns) if cid not in claim_ids]
                if missing:
                    raise ReproError(f"{where}: unknown claims {missing}")
        tables.append(table)
    return tables


# ---- the second verdict: against reference implementations at the budget used ----------------------------------
COMPARISON_KEYS = {"kind", "what", "unit", "budget_key", "window", "run", "sources", "protocol"}
CLAIM_REFERENCE_KEYS = {"compare", "variant", "task", "protocol"}
RUN_KEYS = {"table", "x", "y"}
KINDS = ("training", "evaluation")
UNITS = ("agent_steps", "env_steps")


@dataclass
class ReferenceSource:
    """One reference implementation's curves on one task: `curves` has columns seed, x_start, x_end, value (x in the
    comparison's unit; a value summarizing a span of steps has x_start < x_end, a point has x_start = x_end)."""
    label: str
    kind: str  # training | evaluation
    protocol: dict
    curves: "object"  # pandas DataFrame


@dataclass
class ReferenceVerdict:
    outcome: str  # consistent | below | above | inconclusive
    reason: str  # why, in words (the envelope and the runs' range, or what is missing)
    window: tuple
    unit: str
    kind: str
    run_values: list
    envelope: tuple | None
    sources: list  # (label, seeds, min, max) of each source covering the window
    uncovered: list  # labels of sources not covering it
    differences: list  # each protocol difference, in words

    def text(self) -> str:
        """What the verdict rests on and each protocol difference, for a claims table cell (after the verdict)."""
        lo, hi = self.window
        parts = [f"{self.reason}; {self.kind} returns, {self.unit.replace('_', ' ')} "
                 f"{lo:,}-{hi:,}"]
        if self.uncovered:
            parts.append(f"not covering the window: {', '.join(self.uncovered)}")
        if self.differences:
            parts.append("differs: " + "; ".join(self.differences))
        return ". ".join(parts)


def window_mean(x_start, x_end, value, lo: float, hi: float) -> float:
    """Mean of the values whose span [x_start, x_end] lies wholly in [lo, hi]; NaN if none does."""
    import numpy as np

    x_start, x_end, value = (np.asarray(a, float) for a in (x_start, x_end, value))
    inside = (x_start >= lo) & (x_end <= hi)
    return float(value[inside].mean()) if inside.any() else float("nan")


def protocol_differences(here: dict, sources: list[ReferenceSource], kind: str) -> list[str]:
    """Each setting on which a source differs from the runs, in words ("sticky actions: here none; Dopamine DQN
    (TF, 2018): 0.25"); sources with the same value are named together. A source that records the other kind of
    return (evaluation for training) is named too."""
    out = []
    keys = list(dict.fromkeys(k for s in sources for k in s.protocol))
    for key in keys:
        if key not in here:
            raise ReproError(f"reference comparison: the runs' protocol does not state '{key}' "
                             f"(needed to name how {', '.join(s.label for s in sources if key in s.protocol)} differ)")
        by_value: dict[str, list[str]] = {}
        for s in sources:
            if key in s.protocol and str(s.protocol[key]) != str(here[key]):
                by_value.setdefault(str(s.protocol[key]), []).append(s.label)
        if by_value:
            out.append(f"{key.replace('_', ' ')}: here {here[key]}; {_there(by_value, sources)}")
    other = [s.label for s in sources if s.kind != kind]
    if other:
        kinds = {"evaluation" if kind == "training" else "training": other}
        out.append(f"kind of return: here {kind}; {_there(kinds, sources)} (the only kind recorded)")
    return out


def _there(by_value: dict[str, list[str]], sources: list[ReferenceSource]) -> str:
    """'every reference: V' when all sources share the differing value, else 'A, B: V; C: W'."""
    if len(by_value) == 1 and len(sources) > 1 and len(next(iter(by_value.values()))) == len(sources):
        return f"every reference: {next(iter(by_value))}"
    return "; ".join(f"{', '.join(labels)}: {value}" for value, labels in by_value.items())


def reference_verdict(runs, sources: list[ReferenceSource], window: tuple, unit: str, kind: str, protocol: dict,
                      min_seeds: int = REFERENCE_MIN_SEEDS) -> ReferenceVerdict:
    """The second verdict (RULE_TEXT): the runs against the envelope of reference implementations over one window.

    runs: per-run curves, columns seed, x, value (x: where a training episode ended or an evaluation was made, in
    `unit`). sources: the reference implementations on the same task, their curves in the same unit. window: (lo, hi),
    the last steps before the runs' budget. Each run and each reference seed becomes the mean of its values in the
    window (`window_mean`); a source covers the window if one of its seeds has a value in it and one of its values
    ends in the window's second half. Envelope: [min, max] over the covering sources' seeds. consistent: the runs'
    [min, max] overlaps it; below / above: wholly under / over it; inconclusive: no run value in the window, or fewer
    than `min_seeds` reference seeds. Protocol differences (`protocol_differences`) are listed, never corrected for."""
    import numpy as np

    lo, hi = window
    run_values = [window_mean(g["x"], g["x"], g["value"], lo, hi) for _, g in runs.groupby("seed", sort=True)]
    run_values = [v for v in run_values if not math.isnan(v)]
    covering, uncovered, seed_values = [], [], []
    for s in sources:
        c = s.curves
        values = [window_mean(g["x_start"], g["x_end"], g["value"], lo, hi) for _, g in c.groupby("seed", sort=True)]
        values = [v for v in values if not math.isnan(v)]
        inside = c[(c["x_start"] >= lo) & (c["x_end"] <= hi)]
        if not values or inside.empty or inside["x_end"].max() < (lo + hi) / 2:
            uncovered.append(s.label)
            continue
        covering.append((s.label, len(values), min(values), max(values)))
        seed_values += values
    differences = protocol_differences(protocol, [s for s in sources if s.label not in uncovered], kind)
    base = dict(window=(lo, hi), unit=unit, kind=kind, run_values=run_values, sources=covering, uncovered=uncovered,
                differences=differences)

    def fmt(x):
        return f"{x:.4g}"

    if not run_values:
        return ReferenceVerdict("inconclusive", "no run has a value in the window", envelope=None, **base)
    r_lo, r_hi = min(run_values), max(run_values)
    runs_text = (f"{len(run_values)} run{'' if len(run_values) == 1 else 's'} "
                 + (fmt(r_lo) if len(run_values) == 1 else f"{fmt(r_lo)} to {fmt(r_hi)}"))
    srcs = ", ".join(f"{label} {n} seed{'' if n == 1 else 's'} " + (fmt(a) if n == 1 else f"{fmt(a)} to {fmt(b)}")
                     for label, n, a, b in covering)
    if len(seed_values) < min_seeds:
        why = (f"{runs_text}; the references cover the window with {len(seed_values)} "
               f"seed{'' if len(seed_values) == 1 else 's'}, fewer than {min_seeds} ({srcs})"
               if seed_values else f"{runs_text}; no reference covers the window")
        return ReferenceVerdict("inconclusive", why, envelope=None, **base)
    env_lo, env_hi = float(np.min(seed_values)), float(np.max(seed_values))
    if r_hi < env_lo:
        outcome = "below"
    elif r_lo > env_hi:
        outcome = "above"
    else:
        outcome = "consistent"
    reason = (f"{runs_text} against the envelope [{fmt(env_lo)}, {fmt(env_hi)}] of {len(seed_values)} "
              f"reference seeds ({srcs})")
    return ReferenceVerdict(outcome, reason, envelope=(env_lo, env_hi), **base)


def load_comparisons(paper, raw: dict | None = None) -> dict[str, dict]:
    """claims.yaml `reference_comparisons`, checked: known keys, a kind and a unit, sources of sources.yaml."""
    from common.analysis.reference import load_sources

    if raw is None:
        doc = read_claims_file(paper)
        raw = doc.data if doc is not None else {}
    comparisons = raw.get("reference_comparisons") or {}
    known = load_sources()
    for name, c in comparisons.items():
        where = f"{paper.claims_path}: reference comparison {name}"
        if set(c) - COMPARISON_KEYS or not {"kind", "unit", "budget_key", "window", "run", "sources"} <= set(c):
            raise ReproError(f"{where}: keys {sorted(c)}; needs kind, unit, budget_key, window, run, sources "
                             f"(valid: {sorted(COMPARISON_KEYS)})")
        if c["kind"] not in KINDS or c["unit"] not in UNITS:
            raise ReproError(f"{where}: kind must be one of {KINDS}, unit one of {UNITS}")
        if set(c["run"]) != RUN_KEYS:
            raise ReproError(f"{where}: run needs exactly {sorted(RUN_KEYS)}")
        unknown = [s for s in c["sources"] if s not in known]
        if unknown:
            raise ReproError(f"{where}: unknown sources {unknown}; known: {sorted(known)}")
    return comparisons
