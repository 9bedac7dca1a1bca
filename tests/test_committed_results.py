"""The committed claims tables and READMEs regenerate byte for byte from the committed run records."""
import shutil

import pytest

from common import REPO_ROOT
from common.platform.registry import papers
from common.analysis.report import report_index, report_paper


def test_committed_tables_regenerate_byte_for_byte(tmp_path, monkeypatch):
    committed = REPO_ROOT / "results"
    copy = tmp_path / "results"
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("figures"))
    monkeypatch.setenv("REPRO_RESULTS", str(copy))
    for paper in papers().values():
        report_paper(paper)
    report_index()
    generated = sorted(p.relative_to(copy) for p in copy.rglob("*") if p.suffix in (".md", ".csv"))
    assert generated, "no tables were generated"
    for rel in generated:
        assert (committed / rel).exists(), f"results/{rel} is generated but not committed (run `repro report --all`)"
        assert (committed / rel).read_bytes() == (copy / rel).read_bytes(), f"results/{rel} differs from its data"
    for paper in papers():
        assert (committed / paper / "claims.csv").exists(), f"results/{paper}/claims.csv is missing"


def test_catalog_readme_regenerates_and_names_every_requested_paper(monkeypatch, capsys):
    """papers/README.md comes from papers/catalog.csv and the committed runs; each of the 195 titles has a status."""
    from common.platform.catalog import catalog_markdown, load_catalog, statuses

    monkeypatch.setenv("REPRO_RESULTS", str(REPO_ROOT / "results"))
    rows = load_catalog()
    assert len(rows) == 195 and len({r["n"] for r in rows}) == 195
    text = catalog_markdown(rows)
    assert (REPO_ROOT / "papers" / "README.md").read_text() == text, "papers/README.md differs: `repro report --all`"
    status = dict(zip((r["folder"] for r in rows), statuses(rows)))
    # a paper's status follows from its runs: Thompson sampling's 6 experiments, each complete at the paper's budget
    # or not (Figure 4.3's as-run coherent agent still lacks seeds), counted from the records
    from common.platform.records import RunRecord
    from common.platform.registry import get_paper
    from common.platform.runs import plan

    ts = get_paper("russo2017_thompson")
    complete = sum(all(RunRecord(s.run_dir).is_complete() for s in plan(ts.name, e.name, "paper"))
                   for e in ts.experiments.values() if not e.runs_of)
    expected = ("reproduced at the paper's budget (6 of 6" if complete == 6 else
                f"partly at the paper's budget ({complete} of 6 experiments complete")
    assert status["russo2017_thompson"].startswith(expected), status["russo2017_thompson"]
    assert status["schulman2016_gae"].startswith("runnable") or "budget" in status["schulman2016_gae"]
    assert status["schulman2015_trpo"].startswith("runnable") or "budget" in status["schulman2015_trpo"]
    for r, s in zip(rows, statuses(rows)):
        assert f"| {r['n']} | " in text and s
        if r["scope_here"].startswith("out of scope"):
            assert s == r["scope_here"] and "here:" in s  # every exclusion says why

    from common.platform import cli

    capsys.readouterr()
    assert cli.main(["list", "--all"]) == 0
    listed = capsys.readouterr().out
    assert all(r["title"] in listed for r in rows) and "(papers/schulman2017_ppo)" in listed


def test_every_committed_run_passes_the_end_of_run_finite_check():
    """What `execute` checks before a run counts as complete (common.platform.finite.check_tables) holds for every committed
    run: the NaN its runner declares by design stays allowed, and nothing else is NaN, infinite or empty."""
    import pandas as pd
    from omegaconf import OmegaConf

    from common.platform.finite import check_tables
    from common.platform.registry import get_paper

    checked = 0
    for done in sorted((REPO_ROOT / "results").glob("*/runs/*/*/*/seed_*/DONE")):
        run_dir = done.parent
        paper, experiment = run_dir.parts[-6], run_dir.parts[-4]
        runner = get_paper(paper).experiment(experiment).runner
        tables = {p.name[: -len(".csv.gz")]: pd.read_csv(p) for p in sorted(run_dir.glob("*.csv.gz"))}
        check_tables(tables, OmegaConf.load(run_dir / "config.yaml"), runner.tables)
        checked += 1
    assert checked > 100


def test_committed_runs_made_under_an_older_protocol_are_labelled(monkeypatch, tmp_path):
    """Each committed DQN and PPO Atari run is compared with what its experiment resolves to now, from its recorded
    config.yaml (a key it lacks holds the runner's LEGACY value): the runs made before issue 17's protocol changes
    are labelled old protocol, with the keys that differ, in the per-run table and the claims' budget text."""
    from common.platform.records import RunRecord
    from common.platform.registry import get_paper
    from common.analysis.report import load_experiment, protocol_differences

    monkeypatch.setenv("REPRO_RESULTS", str(REPO_ROOT / "results"))
    dqn = get_paper("mnih2013_dqn")
    t1 = load_experiment(dqn.experiment("table1"))
    assert set(t1.old_protocol) == {(v, 0) for v in dqn.experiment("table1").variants}
    for diffs in t1.old_protocol.values():
        assert diffs["eval_protocol"] == ("window", "complete_started")
        assert diffs["env_seeding"] == ("offset", "sequence")
        assert diffs["frame_preprocess"] == ("resize84", "crop110")
    q = load_experiment(dqn.experiment("q_divergence"))
    assert len(q.old_protocol) == 10
    assert q.old_protocol[("target_network", 1)]["target_update_every_updates"] == (10_000, 0)
    assert q.old_protocol[("target_network", 1)]["target_update_every_agent_steps"] == (0, 10_000)
    assert "target_update_every_updates" not in q.old_protocol[("default", 0)]
    atari = load_experiment(get_paper("schulman2017_ppo").experiment("atari"))
    assert set(atari.old_protocol) == {("Pong", 0), ("Breakout", 0)}
    for diffs in atari.old_protocol.values():
        assert diffs["anneal_agent_steps"] == (0, 10_000_000) and diffs["init"] == ("torch_default", "orthogonal")
    assert (atari.runs["protocol"].str.startswith("old: ")).all()
    text = (REPO_ROOT / "results" / "mnih2013_dqn" / "README.md").read_text()
    assert "old protocol: 1 of 1 runs (env_seeding, eval_protocol" in text and "--launcher local`" in text

    record = RunRecord(tmp_path)  # a config as recorded now: nothing differs
    (tmp_path / "config.yaml").write_text("a: 1\nb: x\n")
    assert protocol_differences(record, {"a": 1, "b": "x"}, {}) == {}
    assert protocol_differences(record, {"a": 1, "b": "x", "c": 2}, {"c": 2}) == {}  # absent, and meant the same
    assert protocol_differences(record, {"a": 2, "b": "x", "c": 3}, {"c": 2}) == {"a": (1, 2), "c": (2, 3)}


def test_old_protocol_runs_move_aside_to_a_folder_that_holds_none_of_them(tmp_path, monkeypatch):
    """The rerun command's aside folder: the budget's name, or the next numbered one where an earlier move already
    holds one of the variants (`git mv` into an existing folder would nest the records inside the older ones)."""
    from types import SimpleNamespace

    from common.analysis.report import _aside_budget

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    paper, exp = SimpleNamespace(name="p"), SimpleNamespace(run_experiment="e")
    data = SimpleNamespace(budget_name="paper")
    assert _aside_budget(paper, exp, data, ["a", "b"]) == "paper"
    (tmp_path / "p" / "old_protocol" / "e" / "paper" / "b").mkdir(parents=True)
    assert _aside_budget(paper, exp, data, ["c"]) == "paper"  # a variant not moved before goes beside the others
    assert _aside_budget(paper, exp, data, ["a", "b"]) == "paper-2"
    (tmp_path / "p" / "old_protocol" / "e" / "paper-2" / "a").mkdir(parents=True)
    assert _aside_budget(paper, exp, data, ["a", "b"]) == "paper-3"


def test_each_folder_of_runs_set_aside_holds_the_runs_its_readme_counts():
    """results/<paper>/old_protocol/README.md names each folder and how many runs it holds (the table's first number):
    every complete record there is in a listed folder, and each folder holds exactly that many."""
    import re

    readmes = sorted((REPO_ROOT / "results").glob("*/old_protocol/README.md"))
    assert readmes
    for readme in readmes:
        listed = dict(re.findall(r"^\| `([^`]+)/` \| (\d+) ", readme.read_text(), flags=re.M))
        assert listed, f"{readme}: no table rows of a folder and its number of runs"
        done = [p.parent for p in readme.parent.rglob("DONE")]
        for folder, n in listed.items():
            held = [d for d in done if (readme.parent / folder) in d.parents]
            assert len(held) == int(n), f"{readme}: {folder}/ holds {len(held)} complete runs, the README says {n}"
        assert sum(map(int, listed.values())) == len(done), f"{readme}: runs outside the folders it lists"


def test_every_other_committed_run_follows_its_experiment_as_it_resolves_now(monkeypatch):
    """Every runner's records are compared with their experiment as it resolves now (a runner without LEGACY reads
    an absent key as a difference): outside the runs labelled above, every committed run's config.yaml is what its
    experiment resolves to today, so a changed experiments.yaml or default cannot pass its old runs off as new."""
    from common.analysis.report import protocol_differences
    from common.platform.config import to_dict
    from common.platform.records import RunRecord
    from common.platform.registry import papers
    from common.platform.runs import plan, resolve

    monkeypatch.setenv("REPRO_RESULTS", str(REPO_ROOT / "results"))
    old, checked = set(), 0
    for paper in papers().values():
        for exp in paper.experiments.values():
            if exp.name != exp.run_experiment:  # an experiment over another's runs
                continue
            for budget in exp.budgets:
                for spec in plan(paper.name, exp.name, budget):
                    record = RunRecord(spec.run_dir)
                    if not record.is_complete():
                        continue
                    checked += 1
                    if protocol_differences(record, to_dict(resolve(spec)), exp.runner.legacy):
                        old.add((paper.name, exp.name, budget))
    assert checked > 600
    assert old == {("mnih2013_dqn", "table1", "reduced"), ("mnih2013_dqn", "q_divergence", "paper"),
                   ("schulman2017_ppo", "atari", "reduced")}


@pytest.mark.parametrize("data", ["medium", "expert"])
def test_offline_sacs_run_made_again_equals_its_set_aside_record_but_for_the_gap(data):
    """Offline SAC on Hopper medium and expert data (seed 0) was made again when it came to measure its diagnostic gap
    on every 10th gradient step (papers/kumar2020_cql/cql_config.py: sac_gap_every_steps), on another machine (AVX-512
    held to AVX2's kernels: common/platform/kernels.py): every recorded column but the gap equals the first record's."""
    import pandas as pd

    runs = REPO_ROOT / "results" / "levine2020_offline"
    new = pd.read_csv(runs / f"runs/shift/reduced/{data}__sac/seed_0/evaluations.csv.gz")
    old = pd.read_csv(runs / f"old_protocol/shift/reduced/{data}__sac/seed_0/evaluations.csv.gz")
    assert list(new.columns) == list(old.columns) and len(new) == len(old) == 100
    others = [c for c in new.columns if c != "cql_gap"]
    pd.testing.assert_frame_equal(new[others], old[others], check_exact=True)
    assert not new["cql_gap"].equals(old["cql_gap"])  # the gap: a mean over every 10th step now
