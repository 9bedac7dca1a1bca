"""Claims and the one rule that gives them verdicts.

A claim (papers/<paper>/claims.yaml) names the experiment it is checked on, its source (table or figure, page),
the paper's statement, the metric's definition, a `statistic` computed per independent run (or seed) from the
recorded per-run table, and a `rule`:
  - a number the paper reports:  rule: {paper_value: V, tolerance: TOL}
  - a checkable statement:       rule: {op: "<" | ">", threshold: X | {computed: NAME}}
Statistics: {column: C, variant: V} (mean of C), {column: C, difference: [A, B]} (mean_A - mean_B, two-sample),
{ratio: [C1, C2], variant: V} (mean C1 / mean C2, paired).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import schema
from .errors import ReproError
from .stats import difference_ci, mean_ci, ratio_ci

RULE_TEXT = """\
Verdicts come from one rule (`common/claims.py: verdict`), applied to the 95% percentile-bootstrap
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
- **too few runs** when a statistic rests on a single run (no interval).
- **not run** when no complete run exists.
"""

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
    """claims.yaml checked against its schema (common/schema.py: keys, required fields, types), or None if the paper
    has none."""
    if not paper.claims_path.exists():
        return None
    return schema.load(paper.claims_path, schema.CLAIMS_FILE)


def load_claims(paper) -> list[Claim]:
    """The claims of claims.yaml, checked: the schema, then the experiment, variants and statistics each names."""
    doc = read_claims_file(paper)
    if doc is None:
        return []
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
        claims.append(claim)
    return claims


def compute_statistic(claim: Claim, table, custom_values=None) -> tuple[float, float, float, int]:
    """(estimate, lo, hi, n runs) from the per-run table (a `variant` column plus the statistic's columns), or from
    the per-run values a paper's custom statistic computed."""
    s = claim.statistic
    if "custom" in s:
        return (*mean_ci(custom_values), len(custom_values))

    def col(variant: str, column: str):
        values = table.loc[table["variant"] == variant, column].to_numpy()
        if len(values) == 0:
            raise ReproError(f"claim {claim.id}: no runs of variant '{variant}' with column '{column}'")
        return values

    if "difference" in s:
        a, b = (col(v, s["column"]) for v in s["difference"])
        return (*difference_ci(a, b), min(len(a), len(b)))
    if "ratio" in s:
        num, den = (col(s["variant"], c) for c in s["ratio"])
        return (*ratio_ci(num, den), len(num))
    values = col(s["variant"], s["column"])
    return (*mean_ci(values), len(values))


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
