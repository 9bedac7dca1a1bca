"""The verdict rule and the bootstrap intervals, against hand-computed cases."""
import numpy as np
import pytest

from common.analysis.claims import Budget, rule_outcome, verdict
from common.analysis.stats import difference_ci, mean_ci, ratio_ci


@pytest.mark.parametrize("lo,hi,expected", [(9.0, 11.0, "consistent"), (11.5, 13.0, "higher"), (7.0, 9.4, "lower"),
                                            (10.2, 12.0, "consistent"), (7.0, 9.6, "consistent")])
def test_paper_value_rule_with_tolerance(lo, hi, expected):
    # paper reports 10 with tolerance 0.5: consistent iff lo - 0.5 <= 10 <= hi + 0.5
    assert rule_outcome({"paper_value": 10, "tolerance": 0.5}, (lo + hi) / 2, lo, hi, None) == expected


@pytest.mark.parametrize("op,lo,hi,expected", [("<", -2, -1, "consistent"), ("<", 0.1, 2, "inconsistent"),
                                               ("<", -1, 1, "inconclusive"), (">", 0.5, 1, "consistent"),
                                               (">", -1, 0, "inconsistent"), (">", -1, 1, "inconclusive")])
def test_bound_rule(op, lo, hi, expected):
    assert rule_outcome({"op": op}, (lo + hi) / 2, lo, hi, 0.0) == expected


def test_a_single_run_gives_no_interval_and_no_verdict():
    est, lo, hi = mean_ci([3.0])
    assert est == 3.0 and np.isnan(lo) and np.isnan(hi)
    assert rule_outcome({"paper_value": 3.0}, est, lo, hi, None) == "too few runs"
    assert rule_outcome({"op": "<"}, est, lo, hi, 10.0) == "too few runs"


def test_verdict_reduced_budget_and_not_run():
    assert verdict("consistent", reduced=True) == "reduced budget"
    assert verdict("lower", reduced=False) == "lower"
    assert verdict(None, reduced=False) == "not run"


def test_budget_comparison():
    paper = Budget(10, {"n_periods": 1000, "n_replications": 1000})
    assert Budget(2, {"n_periods": 1000, "n_replications": 1000}).below(paper)
    assert Budget(10, {"n_periods": 100, "n_replications": 1000}).below(paper)
    assert not Budget(10, {"n_periods": 1000, "n_replications": 1000}).below(paper)
    assert not Budget(12, {"n_periods": 1000, "n_replications": 1000}).below(paper)


def test_bootstrap_intervals():
    assert mean_ci(np.full(50, 3.0)) == (3.0, 3.0, 3.0)
    x = np.random.default_rng(0).normal(1.0, 1.0, size=2000)
    est, lo, hi = mean_ci(x)
    assert lo < est < hi and lo < 1.0 < hi
    half = 1.96 / np.sqrt(2000)  # normal theory half-width for sd 1
    assert abs((hi - lo) / 2 - half) < 0.2 * half
    assert mean_ci(x) == mean_ci(x)  # pinned bootstrap seed: same data, same interval
    est, lo, hi = difference_ci(x, x + 5.0)
    assert est == pytest.approx(-5.0) and hi < -4.5
    est, lo, hi = ratio_ci(2 * np.abs(x) + 1, np.abs(x) + 0.5)
    assert est == pytest.approx(2.0) and lo == pytest.approx(2.0) and hi == pytest.approx(2.0)


def _paper_with_tables(tmp_path, tables_yaml: str):
    from types import SimpleNamespace
    path = tmp_path / "claims.yaml"
    path.write_text(tables_yaml)
    return SimpleNamespace(claims_path=path)


TABLE_YAML = """
claims: []
tables:
  - id: t1
    title: "Table 1: returns"
    source: {table: "Table 1", page: 8}
    columns: {pong: Pong, qbert: Q*bert}
    rows:
      - {label: "Random (paper)", values: [-20.4, 18900]}
      - {label: "DQN (paper)", claim: "t1_{column}", show: paper_value}
      - {label: "DQN (regenerated)", claim: "t1_{column}", show: estimate}
"""


def test_paper_table_lays_out_quoted_and_regenerated_rows(tmp_path):
    import pandas as pd

    from common.analysis.report import _tables_markdown
    paper = _paper_with_tables(tmp_path, TABLE_YAML)
    claims = pd.DataFrame([
        {"claim": "t1_pong", "paper_value": "20", "estimate": "-20.92", "budget_used": "reduced: 1 seed",
         "verdict": "reduced budget"},
        {"claim": "t1_qbert", "paper_value": "1952", "estimate": "", "budget_used": "", "verdict": "not run"}])
    md = _tables_markdown(paper, claims)
    assert "| | Pong | Q\\*bert |" in md
    assert "| Random (paper) | -20.4 | 18900 |" in md  # quoted values as printed, not rounded
    assert "| DQN (paper) | 20 | 1952 |" in md
    assert "| DQN (regenerated) | -20.92 | — |" in md  # a claim with no run shows a dash, never a number
    assert "- Pong: reduced: 1 seed (verdicts: reduced budget)" in md
    assert "Q\\*bert:" not in md and "Q*bert:" not in md  # no budget line for a column with no run


@pytest.mark.parametrize("bad,message", [
    ("values: [-20.4, 18900]", None),
    ("values: [-20.4]", "1 values for 2 columns"),
    ('claim: "t9_{column}", show: estimate', "unknown claims"),
    ('claim: "t1_{column}", show: median', "show must be paper_value or estimate"),
    ('values: [1, 2], claim: "t1_{column}"', "either values or claim"),
])
def test_paper_table_errors_name_what_is_wrong(tmp_path, bad, message):
    from common.analysis.claims import load_tables
    from common.platform.errors import ReproError
    yaml_text = TABLE_YAML.replace('values: [-20.4, 18900]', bad)
    paper = _paper_with_tables(tmp_path, yaml_text)
    ids = {"t1_pong", "t1_qbert"}
    if message is None:
        assert [t.id for t in load_tables(paper, ids)] == ["t1"]
    else:
        with pytest.raises(ReproError, match=message):
            load_tables(paper, ids)


@pytest.mark.parametrize("doc, expected", [
    ("Per run: task, method.", "Per run (reduced budget; also in `summaries/x.csv`): task, method."),
    ("Per run (one run holds `k` seeds): gamma.", "Per run (reduced budget; also in `summaries/x.csv`; one run holds `k` seeds): gamma."),
    ("Per task and seed: a gain.", "Per run (reduced budget; also in `summaries/x.csv`). Per task and seed: a gain."),
])
def test_summary_caption_names_the_budget_and_file_once(doc, expected):
    from common.analysis.report import _summary_caption
    assert _summary_caption(doc, "reduced", "x") == expected
