"""`repro compare` (two results folders, claim by claim, with the interval of the change) and `repro report
--format latex|csv` (tables for a manuscript)."""
import math
import shutil

import numpy as np
import pytest

from common.platform import cli
from common.platform.runs import RunSpec, execute
from common.analysis.stats import change_ci

PAPER = "russo2017_thompson"


def test_change_interval_hand_values():
    # constant runs: every resample gives the same means, so the interval is the point itself
    assert change_ci("mean", [np.array([1.0, 1.0, 1.0])], [np.array([3.0, 3.0])]) == (2.0, 2.0, 2.0)
    point, lo, hi = change_ci("difference", [np.array([5.0, 5.0]), np.array([1.0, 1.0])],
                              [np.array([4.0, 4.0]), np.array([1.0, 1.0])])
    assert (point, lo, hi) == (-1.0, -1.0, -1.0)
    # a ratio's two samples are paired: with b = 2a in every run, every resample's ratio is 2
    a = np.array([1.0, 2.0, 5.0])
    assert change_ci("ratio", [a, a], [2 * a, a]) == pytest.approx((1.0, 1.0, 1.0))
    # one run on a side: a point, no interval
    point, lo, hi = change_ci("mean", [np.array([1.0])], [np.array([2.0, 4.0])])
    assert point == 2.0 and math.isnan(lo) and math.isnan(hi)
    # the interval of a spread sample covers the point and lies within the extremes of the resampled means
    point, lo, hi = change_ci("mean", [np.array([0.0, 10.0])], [np.array([0.0, 10.0])])
    assert point == 0.0 and -10.0 <= lo < 0.0 < hi <= 10.0


@pytest.fixture
def two_folders(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("REPRO_RESULTS", str(a))
    for variant in ("ts", "greedy"):
        execute(RunSpec(PAPER, "fig3_1", "quick", variant, 0), show_progress=False)
    shutil.copytree(a, b)
    monkeypatch.setenv("REPRO_RESULTS", str(b))
    execute(RunSpec(PAPER, "fig4_1", "quick", "ts", 0), show_progress=False)  # a run only B has
    return a, b


def test_compare_names_each_claim_its_change_and_what_is_missing(two_folders, capsys):
    a, b = two_folders
    assert cli.main(["compare", str(a), str(b), PAPER]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.startswith("fig3_1_ts_plays_best_arm_more |"))
    assert "| 0 [" in row  # the same runs in both: a change of 0, with the interval of two independent resamplings
    assert "quick: 1 seed" in row
    fig4 = [line for line in out if line.startswith("fig4_1")]
    assert fig4 and all("not run in A" in line for line in fig4)
    assert cli.main(["compare", str(a), str(a / "nowhere"), PAPER]) == 2


def test_latex_and_csv_exports(two_folders, capsys):
    _, b = two_folders
    assert cli.main(["report", PAPER, "--format", "latex"]) == 0
    tex = (b / PAPER / "exports" / "claims.tex").read_text()
    assert r"\begin{tabular}" in tex and r"fig3\_1\_ts\_plays\_best\_arm\_more" in tex and r"\bottomrule" in tex
    assert "reduced budget" in tex  # every row names its verdict, the reduced budget included
    assert cli.main(["report", PAPER, "--format", "csv"]) == 0
    import pandas as pd

    claims = pd.read_csv(b / PAPER / "exports" / "claims.csv")
    assert len(claims) == len(pd.read_csv(b / PAPER / "claims.csv")) and "budget used" in claims.columns


def test_an_unknown_format_is_refused():
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", PAPER, "--format", "pdf"])
    assert exc.value.code == 2
