"""Finite training: a loss, parameter or metric that is NaN or infinite fails the run, named in one line.

Runners check what their loop already holds, where it is cheap:
  - `check_finite(name, value, where)` on the scalars the loop already has on the host (a loss per iteration or
    per evaluation, an episode's return), and on parameters every iteration where they are a small numpy vector,
    else (torch networks) only at checkpoints and at the end: `torch.isfinite` on every tensor is a device sync;
  - `finite_mean(name, values, where)` for an average: an average of nothing is an error (`EmptyMetricError`),
    never a NaN cell in a complete run;
and `check_tables` (called by `common.platform.runs.execute` before a run's tables are written and DONE is) checks every
numeric column of every recorded table: any infinite value is an error, and NaN is an error except in the
columns a runner declares with `MayBeNaN` (a cell that is undefined by design, e.g. a loss before learning
starts), and only in the rows the declaration names; an empty table is an error unless the runner declares that
it may be empty (`TableRules.may_be_empty`: an event log in which no event happened in a short run).

The error says what (`non-finite policy loss (nan)`) and where (`at iteration 1 (env step 1,024)`); `execute`
adds the run and the settings that differ from the paper budget, `repro run` prints that one line and exits 1.

Cost, measured with time.perf_counter around every check of real short runs (2-core machine, a sweep running
beside; in-loop checks / whole run): PPO Hopper quick, 2,048 env steps, 0.35-0.53 ms of 0.57-0.69 s (under
0.08%); PPO at the paper's settings, 10 iterations (20,480 env steps), 1.7 ms of 5.3-5.6 s (0.03%); SAC v2 Hopper
quick, 1,500 env steps, about 1 ms of 5.7-7.3 s (0.02%); DQN toy quick, 1,600 agent steps, 1.5-5.7 ms of 5.7-6.1 s
(under 0.1%); Thompson sampling, 1,000 periods x 1,000 replications, 0.34-0.40 ms of 0.33-0.49 s (0.1%). The
end-of-run table check takes under 1 ms a run. The same runs with the checks replaced by no-ops took as long,
within their run-to-run noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np


class RunFailure(Exception):
    """A run that cannot yield valid numbers, for a reason one line names. `common.platform.runs.execute` adds which run
    and which settings differ from the paper budget; the run is marked FAILED and `repro run` exits with 1."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.run = ""  # the run's label
        self.settings = ""  # 'settings that differ from the paper budget: ...'

    def add_context(self, run: str, settings: str) -> None:
        self.run, self.settings = run, settings

    def without_run(self) -> str:
        """The line without the run's label (for a list of failures that names each run already)."""
        return "; ".join(x for x in (self.message, self.settings) if x)

    def __str__(self) -> str:
        return self.message + (f" of {self.run}" if self.run else "") + (f"; {self.settings}" if self.settings else "")


class NonFiniteError(RunFailure):
    """A loss, parameter or recorded metric is NaN or infinite."""


class EmptyMetricError(RunFailure):
    """A metric cannot be computed (an average of no values, an empty table)."""


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf") if math.isinf(x) else f"{x:.6g}"


def _array_problem(a: np.ndarray) -> str | None:
    """None when every value is finite, else '(nan in 12 of 4,096 values)'."""
    if a.dtype.kind not in "fc" or a.size == 0:
        return None
    ok = np.isfinite(a)
    if ok.all():
        return None
    bad = a[~ok]
    kinds = [k for k, m in (("nan", np.isnan(bad)), ("inf", np.isinf(bad))) if m.any()]
    return f"({' and '.join(kinds)} in {bad.size:,} of {a.size:,} values)"


def check_finite(name: str, value: Any, where: str):
    """Return `value` if it holds no NaN or infinity, else raise `NonFiniteError` naming `name` and `where`.

    `value`: a number, a numpy array, a torch tensor, or a mapping or sequence of them (e.g. a state dict; the
    message then names the entry). A Python or numpy scalar costs one `math.isfinite`."""
    if isinstance(value, (float, int, np.floating, np.integer)):
        if not math.isfinite(value):
            raise NonFiniteError(f"non-finite {name} ({_fmt(float(value))}) at {where}")
        return value
    if isinstance(value, Mapping):
        for key, v in value.items():
            check_finite(f"{name} ({key})", v, where)
        return value
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(name if len(value) == 1 else f"{name} [{i}]", v, where)
        return value
    if type(value).__module__.startswith("torch"):
        import torch

        if isinstance(value, torch.Tensor):
            if value.is_floating_point() or value.is_complex():
                if not bool(torch.isfinite(value).all()):
                    problem = _array_problem(value.detach().float().cpu().numpy())
                    raise NonFiniteError(f"non-finite {name} {problem} at {where}")
            return value
    problem = _array_problem(np.asarray(value))
    if problem:
        if np.ndim(value) == 0:
            raise NonFiniteError(f"non-finite {name} ({_fmt(float(np.asarray(value)))}) at {where}")
        raise NonFiniteError(f"non-finite {name} {problem} at {where}")
    return value


def finite_mean(name: str, values, where: str) -> float:
    """The mean of `values`, checked: an empty average is an `EmptyMetricError`, a non-finite one a
    `NonFiniteError`."""
    if len(values) == 0:
        raise EmptyMetricError(f"{name} cannot be computed (an average of no values) at {where}")
    return check_finite(name, float(np.mean(values)), where)


# ---- recorded tables, checked once at the end of a run -----------------------------------------------------------
@dataclass(frozen=True)
class MayBeNaN:
    """A column whose NaN cells are undefined by design, with the reason, and optionally the rows where
    (`rows(df, cfg)` -> boolean mask); NaN elsewhere in the column is still an error."""

    reason: str
    rows: Callable[[Any, Any], Any] | None = None


@dataclass(frozen=True)
class TableRules:
    """What a runner declares about one of its tables: the columns that may hold NaN, and whether the table may
    be empty (`may_be_empty(cfg)`: e.g. an episode log of a run too short for any episode to end)."""

    nan: Mapping[str, MayBeNaN] = field(default_factory=dict)
    may_be_empty: Callable[[Any], bool] | bool = False


def _row_label(df, i: int) -> str:
    """'row 3 (iteration=3, env_step=2,048)': the row's first two columns name where in the run it is."""
    cells = []
    for col in list(df.columns)[:2]:
        v = df[col].iloc[i]
        cells.append(f"{col}={v:,}" if isinstance(v, (int, np.integer)) else f"{col}={v}")
    return f"row {i} ({', '.join(cells)})"


def check_tables(tables: Mapping[str, Any], cfg: Any, rules: Mapping[str, TableRules] | None = None) -> None:
    """Every numeric column of every table: no infinity anywhere; NaN only where `rules` allow it; no empty
    table unless `rules` allow it. Raises `NonFiniteError` or `EmptyMetricError` naming the table and column."""
    rules = rules or {}
    for table, df in tables.items():
        rule = rules.get(table, TableRules())
        if len(df) == 0:
            may = rule.may_be_empty(cfg) if callable(rule.may_be_empty) else rule.may_be_empty
            if not may:
                raise EmptyMetricError(f"table '{table}' is empty (no rows were recorded)")
            continue
        for col in df.columns:
            values = df[col].to_numpy()
            if values.dtype.kind not in "fc":
                continue
            inf = np.isinf(values)
            nan = np.isnan(values)
            allowed = rule.nan.get(col)
            if allowed is not None:
                nan = nan & ~(np.ones(len(df), bool) if allowed.rows is None
                              else np.asarray(allowed.rows(df, cfg), bool))
            bad = inf | nan
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                what = "inf" if inf.any() and not nan.any() else "nan" if not inf.any() else "nan and inf"
                raise NonFiniteError(
                    f"non-finite value in table '{table}', column '{col}' ({what} in {int(bad.sum()):,} of "
                    f"{len(df):,} rows, first at {_row_label(df, i)})")
