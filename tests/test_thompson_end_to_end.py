"""Every experiment at the quick budget, end to end (sweep, report, claims); TS learning to a threshold."""
import re

import pandas as pd

from common.platform.records import RunContext, RunRecord
from common.platform.registry import get_paper
from common.analysis.report import report_index, report_paper
from common.platform.runs import plan
from common.platform.sweep import run_local
from conftest import repro
from papers.russo2017_thompson.bandits import FiniteArmConfig, run_finite_arm
from papers.russo2017_thompson.bridge import BridgeConfig, run_bridge

PAPER = "russo2017_thompson"


def test_quick_budget_of_every_experiment_end_to_end(results_root):
    proc = repro("sweep", PAPER, "all", "--budget", "quick", "--jobs", "2", check=True)
    assert "failed 0" in proc.stdout
    proc = repro("report", "--all", check=True)
    paper = get_paper(PAPER)
    out = results_root / PAPER
    claims = pd.read_csv(out / "claims.csv", keep_default_na=False)
    n_claims = len((paper.path / "claims.yaml").read_text().split("  - id: ")) - 1
    assert len(claims) == n_claims == 19
    # quick runs are below the paper's budget: every verdict says so, and the rule's outcome is kept beside it
    assert set(claims["verdict"]) == {"reduced budget"}
    assert set(claims["at_this_budget"]) <= {"consistent", "inconsistent", "inconclusive"}
    assert all("quick: 2 seeds" in b for b in claims["budget_used"])
    for exp in paper.experiments:
        assert list((out / "figures").glob(f"{exp}*.png")) and list((out / "figures").glob(f"{exp}*.svg"))
    readme = (out / "README.md").read_text()
    assert "reduced budget (at this budget:" in readme and "Paper's budget: 10 seeds" in readme
    index = (results_root / "README.md").read_text()
    assert index.count("| [russo2017_thompson]") == n_claims
    # each experiment names the command that reruns it; here every run is recorded, so it has nothing left to run
    rerun = re.findall(r"- Rerun: `repro (sweep [^`]+)`", readme)
    assert rerun == [f"sweep {PAPER} {exp} --budget quick" for exp in paper.experiments]
    for command in rerun:
        assert "would run" not in repro(*command.split(), "--dry-run", check=True).stdout


def test_report_is_offline_and_identical_when_regenerated(results_root):
    run_local(plan(PAPER, "fig3_1", "quick"), out=open("/dev/null", "w"))
    paper = get_paper(PAPER)
    report_paper(paper)
    report_index()
    first = {p: p.read_bytes() for p in results_root.rglob("*") if p.suffix in (".md", ".csv")}
    report_paper(paper)
    report_index()
    assert first == {p: p.read_bytes() for p in results_root.rglob("*") if p.suffix in (".md", ".csv")}


def _ctx(tmp_path):
    return RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False)


def test_thompson_sampling_learns_the_bernoulli_bandit(tmp_path):
    cfg = FiniteArmConfig(seed=0, agent="ts", theta=[0.9, 0.8, 0.7], n_periods=1000, n_replications=300)
    reps = run_finite_arm(cfg, _ctx(tmp_path))["replications"]
    # late per-period regret well below the uniform-random policy's (0.1) and greedy's lock-in floor (0.0467)
    assert reps["regret_late"].mean() < 0.02
    assert reps["action_prob_arm0_late"].mean() > 0.85


def test_thompson_sampling_learns_the_bridge(tmp_path):
    cfg = BridgeConfig(seed=0, agent="ts", n_periods=300, n_replications=40)
    curves = run_bridge(cfg, _ctx(tmp_path))["curves"]
    early, late = curves["regret_mean"][:30].mean(), curves["regret_mean"][-30:].mean()
    assert late < 0.25 * early
