"""How one offline run went, as the per-run summaries of the offline papers (papers/kumar2020_cql,
papers/levine2020_offline) record it beside their claims' numbers: its best evaluation and when, and, for a
conservative (CQL) run, the smallest weight α′ its regularizer had and when.

Input: one run's `evaluations` table (common/offline: a row per evaluation period, `grad_step`, `eval_return`, and
`cql_alpha`, empty for methods without the regularizer), sorted by gradient step.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

BEST = "best evaluation"
BEST_AT = "best evaluation at (gradient steps)"
ALPHA_MIN = "CQL alpha', smallest"
ALPHA_MIN_AT = "CQL alpha' smallest at (gradient steps)"
ALPHA_LAST = "CQL alpha', last"
COLUMNS = [BEST, BEST_AT, ALPHA_MIN, ALPHA_MIN_AT, ALPHA_LAST]


def course(evaluations: pd.DataFrame) -> dict:
    """{column: value} of COLUMNS for one run; the α′ columns NaN where the run has no CQL regularizer (BC, offline
    SAC). Ties go to the earliest gradient step."""
    ev = evaluations.sort_values("grad_step", kind="stable")
    best_row = ev["eval_return"].to_numpy().argmax()
    out = {BEST: float(ev["eval_return"].iloc[best_row]), BEST_AT: int(ev["grad_step"].iloc[best_row]),
           ALPHA_MIN: np.nan, ALPHA_MIN_AT: np.nan, ALPHA_LAST: np.nan}
    alpha = ev["cql_alpha"] if "cql_alpha" in ev else pd.Series(dtype=float)
    if alpha.notna().any():
        values = alpha.to_numpy(dtype=float)
        low = np.nanargmin(values)
        out.update({ALPHA_MIN: float(values[low]), ALPHA_MIN_AT: int(ev["grad_step"].iloc[low]),
                    ALPHA_LAST: float(alpha.dropna().iloc[-1])})
    return out
