"""Configs and bad input, run records, determinism, resume after a crash or kill -9, sweeps, status."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from common.platform.errors import ReproError
from common.platform.records import RunRecord
from common.platform.runs import RunSpec, execute, plan, resolve
from common.platform.sweep import run_local
from conftest import REPO, Crash, execute_in, repro, run_with_crashes, table_bytes

PAPER = "russo2017_thompson"


_bytes = table_bytes


# ---- bad input -----------------------------------------------------------------------------------------------
def test_unknown_paper_experiment_variant_key_and_type_are_clear_errors(results_root):
    cases = [
        # every paper folder, in order (the registry reads papers/*/)
        (["sweep", "nopaper", "fig3_1"], "unknown paper 'nopaper'; valid papers: " + ", ".join(
            sorted(p.name for p in (REPO / "papers").iterdir() if (p / "experiments.yaml").is_file()))),
        (["sweep", PAPER, "fig9"], "unknown experiment of russo2017_thompson 'fig9'; valid"),
        (["run", PAPER, "fig3_1", "--variant", "ucb"], "valid variants of russo2017_thompson/fig3_1: greedy, ts"),
        (["run", PAPER, "fig3_1", "--variant", "ts", "horizon=5"], "unknown config key 'horizon'"),
        (["run", PAPER, "fig3_1", "--variant", "ts", "n_periods=many"], "'n_periods' (from command line) expects int"),
        (["sweep", PAPER, "fig3_1", "--seeds", "0"], "--seeds must be at least 1"),
        (["run", PAPER, "fig3_1"], "choose one with --variant: greedy, ts"),
    ]
    for args, message in cases:
        proc = repro(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not results_root.exists()  # nothing was started


def test_unknown_key_lists_valid_keys(results_root):
    proc = repro("run", PAPER, "fig4_1", "--variant", "ts", "n_stage=4")
    assert "valid keys:" in proc.stderr and "n_stages" in proc.stderr and "sigma_tilde" in proc.stderr


def test_bad_input_leaves_recorded_runs_untouched(results_root):
    spec = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    execute(spec, show_progress=False)
    before = {p: p.read_bytes() for p in spec.run_dir.rglob("*") if p.is_file()}
    assert repro("sweep", PAPER, "fig3_1", "--budget", "quick", "n_periods=x").returncode == 2
    assert repro("report", "nopaper").returncode == 2
    after = {p: p.read_bytes() for p in spec.run_dir.rglob("*") if p.is_file()}
    assert before == after


def test_a_different_config_in_an_existing_run_folder_is_refused(results_root):
    spec = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    record = RunRecord(spec.run_dir)
    record.path.mkdir(parents=True)
    record.ensure_config("seed: 0\nsomething: else\n")
    with pytest.raises(ReproError, match="different config"):
        execute(spec, show_progress=False)
    assert not record.is_complete()


def test_resolution_layers_and_struct_mode():
    cfg = resolve(RunSpec(PAPER, "fig6_2", "paper", "informed_prior", 3))
    assert cfg.seed == 3 and cfg.n_periods == 1000 and list(cfg.agent_prior_failures) == [100, 100, 100]
    assert list(cfg.env_prior_failures) == [50, 100, 200]
    cfg = resolve(RunSpec(PAPER, "fig6_2", "quick", "uniform_prior", 0, (("n_periods", 7),)))
    assert cfg.n_periods == 7 and list(cfg.agent_prior_failures) == [1, 1, 1]
    with pytest.raises(Exception):
        cfg.n_periods = 8  # resolved configs are read-only


# ---- run records ---------------------------------------------------------------------------------------------
def test_run_record_contents_and_provenance(results_root):
    spec = RunSpec(PAPER, "fig3_1", "quick", "greedy", 1)
    assert execute(spec, show_progress=False) == "done"
    rec = RunRecord(spec.run_dir)
    assert rec.status() == "done" and rec.tables() == ["curves", "replications"]
    prov = rec.read_json("provenance.json")
    for key in ("git", "packages", "machine", "start", "end", "throughput", "seed", "env_version"):
        assert key in prov
    assert prov["seed"] == 1 and prov["packages"]["numpy"] and prov["throughput"]["unit"] == "agent-periods"
    assert {"commit", "dirty"} <= set(prov["git"])
    reps = rec.read_table("replications")
    assert set(reps["seed"]) == {1} and len(reps) == 50  # long form, with its seed column
    assert "n_periods: 100" in (spec.run_dir / "config.yaml").read_text()
    assert execute(spec, show_progress=False) == "skipped"  # complete runs are never redone


def test_same_seed_same_metrics_other_seed_other_metrics(tmp_path, monkeypatch):
    dirs = [execute_in(tmp_path / root, monkeypatch, PAPER, "fig4_3", "quick", "coherent_ts", seed)
            for root, seed in (("a", 0), ("b", 0), ("c", 1))]
    assert _bytes(dirs[0]) == _bytes(dirs[1])
    assert _bytes(dirs[0]) != _bytes(dirs[2])


@pytest.mark.parametrize("experiment,variant", [("fig3_1", "ts"), ("fig6_3", "nonstationary_ts"),
                                                ("fig4_1", "eps_0.1"), ("fig4_3", "coherent_ts")])
def test_resume_after_crash_equals_uninterrupted(tmp_path, monkeypatch, experiment, variant):
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")  # checkpoint every period
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "whole"))
    whole = RunSpec(PAPER, experiment, "quick", variant, 0)
    execute(whole, show_progress=False)
    whole_dir = whole.run_dir  # read now: run_dir follows REPRO_RESULTS, which changes below

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(PAPER, experiment, "quick", variant, 0)
    rec = run_with_crashes(spec, monkeypatch, (3, 8, 16))  # interrupted three times, at different points
    assert len(rec.attempts()) == 4 and rec.read_json("provenance.json")["attempts"] == 4
    prov = rec.read_json("provenance.json")  # every attempt names the code it ran
    assert [a["git"] for a in rec.attempts()] == prov["git_per_attempt"] == [prov["git"]] * 4
    # and the machine and packages it computed with
    assert [a["machine"] for a in rec.attempts()] == prov["machine_per_attempt"]
    assert prov["machine_per_attempt"][0]["host"] == prov["machine"]["host"] and len(prov["machine_per_attempt"]) == 4
    assert all(m["device"] == "cpu" and m["cpu_count"] == prov["machine"]["cpu_count"] for m in prov["machine_per_attempt"])
    assert prov["packages_per_attempt"] == [prov["packages"]] * 4 and "numpy" in prov["packages"]
    assert not (spec.run_dir / "checkpoint.pkl").exists() and not (spec.run_dir / "FAILED").exists()
    assert spec.run_dir != whole_dir and _bytes(spec.run_dir) == _bytes(whole_dir)
    # the cost of the kept work adds up over the attempts: the same units as the uninterrupted run, and at least
    # the last attempt's time
    whole_prov = RunRecord(whole_dir).read_json("provenance.json")
    assert prov["throughput"]["units_all_attempts"] == whole_prov["throughput"]["units_last_attempt"] > 0
    assert prov["throughput"]["units_last_attempt"] < whole_prov["throughput"]["units_last_attempt"]
    assert prov["wall_s_all_attempts"] >= prov["wall_s_last_attempt"] > 0
    assert whole_prov["wall_s_all_attempts"] == whole_prov["wall_s_last_attempt"]


def test_checkpoint_carries_its_cost_and_a_bare_one_still_resumes(tmp_path):
    import pickle

    from common.platform.records import RunContext

    record = RunRecord(tmp_path / "run")
    record.path.mkdir()
    first = RunContext(record)
    assert first.restore() is None and first.wall_s_total(2.0) == 2.0 and first.units_total() == 0
    first.count(30, "steps")
    record.save_checkpoint({"step": 30}, wall_s=12.5, units=30)
    second = RunContext(record)
    assert second.restore() == {"step": 30}
    second.count(20, "steps")
    assert second.wall_s_total(4.0) == 16.5 and second.units_total() == 50 and second.units == 20
    # a checkpoint holding the bare state (as written before checkpoints carried their cost): it resumes, and
    # the totals are unknown rather than counted from zero
    (record.path / "checkpoint.pkl").write_bytes(pickle.dumps({"step": 30}))
    third = RunContext(record)
    assert third.restore() == {"step": 30}
    assert third.wall_s_total(4.0) is None and third.units_total() is None


def test_kill_9_then_resume_equals_uninterrupted(tmp_path):
    """A real `repro run` process killed with SIGKILL mid-run, then run again, records the same metrics."""
    args = ["run", PAPER, "fig4_1", "--variant", "ts", "--budget", "paper", "n_periods=400", "n_replications=200"]
    env_whole = {"REPRO_RESULTS": str(tmp_path / "whole")}
    repro(*args, env=env_whole, check=True)
    root = tmp_path / "killed"
    env = {**os.environ, "REPRO_RESULTS": str(root), "REPRO_CHECKPOINT_EVERY_S": "0.2", "REPRO_PROGRESS_EVERY_S": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "common.platform.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = list(root.rglob("checkpoint.pkl"))
    deadline = time.time() + 120
    while not ckpts and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        ckpts = list(root.rglob("checkpoint.pkl"))
    assert ckpts, "the run never wrote a checkpoint"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = ckpts[0].parent
    assert not RunRecord(run_dir).is_complete() and RunRecord(run_dir).status() == "interrupted"
    status = repro("status", PAPER, env={"REPRO_RESULTS": str(root)}, check=True).stdout  # how far it came
    assert re.search(r"interrupted .*fig4_1.*: [0-9,]+/400 periods \(\d+%\) at .* \(last seen", status), status
    repro(*args, env={"REPRO_RESULTS": str(root)}, check=True)
    whole_dir = next((tmp_path / "whole").rglob("DONE")).parent
    assert RunRecord(run_dir).read_json("provenance.json")["attempts"] == 2
    assert _bytes(run_dir) == _bytes(whole_dir)


def test_sweep_is_idempotent_and_status_counts(results_root):
    specs = plan(PAPER, "fig3_2b", "quick")
    assert len(specs) == 4  # 2 variants x 2 seeds
    c1 = run_local(specs, jobs=1, out=open(os.devnull, "w"))
    assert c1["done"] == 4
    c2 = run_local(specs, jobs=1, out=open(os.devnull, "w"))
    assert c2["skipped"] == 4 and c2["done"] == 0
    out = repro("status", PAPER).stdout
    assert re.search(r"^  fig3_2b +quick +done 4 ", out, re.M) and re.search(r"^  fig3_1 +paper +done 0 ", out, re.M), out
    repro("run", PAPER, "fig3_2b", "--variant", "ts", "--budget", "quick", "n_periods=20", check=True)  # a budget "quick-custom-<hash>"
    out = repro("status", PAPER).stdout
    assert re.search(r"^  fig3_2b +quick-custom-\w+ done 1 ", out, re.M), out
    columns = {line.index(" done ") for line in out.splitlines() if " done " in line}
    assert len(columns) == 1, out  # the columns line up, however long the experiment and budget names


def test_failed_runs_show_in_status_with_their_last_lines(results_root, monkeypatch):
    spec = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    RunRecord(spec.run_dir).path.mkdir(parents=True)
    RunRecord(spec.run_dir).fail("Traceback (most recent call last):\nValueError: boom at period 17\n")
    out = repro("status", PAPER).stdout
    assert "failed 1" in out and "ValueError: boom at period 17" in out


def test_a_run_marked_running_on_another_host_says_so_and_resumes_here_once_its_marker_goes(tmp_path, monkeypatch):
    """A run folder copied from another machine mid-run: status cannot tell whether that process lives, says which
    host holds it and how to take it over; without the marker the run resumes here from its checkpoint, and its
    provenance names both machines."""
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "whole"))
    whole = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    execute(whole, show_progress=False)
    whole_dir = whole.run_dir
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "moved"))
    spec = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    original, calls = RunRecord.save_checkpoint, []

    def crash_at_the_third(self, *args, **kwargs):  # the other machine's process ends after its 3rd checkpoint
        original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            raise Crash

    monkeypatch.setattr(RunRecord, "save_checkpoint", crash_at_the_third)
    with pytest.raises(Crash):
        execute(spec, show_progress=False)
    monkeypatch.setattr(RunRecord, "save_checkpoint", original)
    (spec.run_dir / "FAILED").unlink()  # a process killed with its machine writes no FAILED: its RUNNING stays
    record = RunRecord(spec.run_dir)
    first = json.loads((spec.run_dir / "attempts.jsonl").read_text())
    elsewhere = {**first, "host": "gpu-node-7", "machine": {**first["machine"], "host": "gpu-node-7", "cpu_count": 16}}
    (spec.run_dir / "attempts.jsonl").write_text(json.dumps(elsewhere) + "\n")
    record.write_json("RUNNING", {**elsewhere, "progress": {"done": 3, "total": 10, "unit": "periods",
                                                          "at": "2026-01-01T10:01:40+00:00"}})
    assert record.status() == "running"
    out = repro("status", PAPER, env={"REPRO_RESULTS": str(tmp_path / "moved")}).stdout
    assert "running 1" in out and "on host gpu-node-7, not this one" in out and "delete the folder's RUNNING" in out
    (spec.run_dir / "RUNNING").unlink()
    assert record.status() == "interrupted" and record.has_checkpoint()
    assert execute(spec, show_progress=False) == "done"
    prov = record.read_json("provenance.json")
    assert [m["host"] for m in prov["machine_per_attempt"]] == ["gpu-node-7", socket.gethostname()]
    assert _bytes(spec.run_dir) == _bytes(whole_dir)


def test_parallel_sweep_matches_serial(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "serial"))
    serial = plan(PAPER, "fig6_2", "quick")
    run_local(serial, jobs=1, out=open(os.devnull, "w"))
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "parallel"))
    parallel = plan(PAPER, "fig6_2", "quick")
    run_local(parallel, jobs=2, out=open(os.devnull, "w"))
    for a, b in zip(serial, parallel):
        assert _bytes(a.run_dir) == _bytes(b.run_dir)


def test_local_dry_run_lists_pending_runs_and_runs_nothing(results_root):
    done = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    execute(done, show_progress=False)
    before = {p: p.read_bytes() for p in results_root.rglob("*") if p.is_file()}
    out = repro("sweep", PAPER, "fig3_1", "--budget", "quick", "--dry-run", check=True).stdout
    assert "dry run: nothing runs" in out
    assert f"would run {PAPER}/fig3_1/quick/greedy/seed_0" in out
    assert f"would run {done.label}" not in out  # complete runs are not listed
    after = {p: p.read_bytes() for p in results_root.rglob("*") if p.is_file()}
    assert before == after  # nothing started, nothing written


def test_figure_and_summary_names_in_experiments_yaml_are_checked():
    """experiments.yaml names an experiment's figure and summary; an unknown name is an error naming the valid ones,
    "none" means no figure; every registered experiment's names resolve to a function of its paper."""
    from types import SimpleNamespace

    from common.platform.registry import hook, papers

    module = SimpleNamespace(FIGURES={"default": print, "q_divergence": print})
    with pytest.raises(ReproError, match="unknown figure of p/e 'curves'; valid figures of p/e: default, q_divergence"):
        hook(module, "FIGURES", "curves", "p/e")
    with pytest.raises(ReproError, match="unknown summary of p/e 'x'; valid summaries of p/e: \\(none\\)"):
        hook(module, "SUMMARIES", "x", "p/e")
    assert hook(module, "FIGURES", "none", "p/e") is None and hook(module, "SUMMARIES", None, "p/e") is None
    for paper in papers().values():
        for exp in paper.experiments.values():
            assert exp.figure is None or callable(paper.module.FIGURES[exp.figure])
            assert exp.summary is None or callable(paper.module.SUMMARIES[exp.summary])
    assert papers()["schulman2017_ppo"].experiment("random_policy").figure is None


def test_summary_wall_time_covers_every_attempt_and_is_empty_when_unknown():
    from common.analysis.report import _run_row

    spec = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    three = {"attempts": 3, "wall_s_last_attempt": 600.0, "wall_s_all_attempts": 1500.0,
             "throughput": {"unit": "env-steps", "per_second": 80.0}}
    row = _run_row(spec, three, "abc")
    assert (row["wall time (min)"], row["last attempt (min)"], row["speed (per s)"]) == (25.0, 10.0, "80.0 env-steps")
    # recorded before all attempts' time was kept: one attempt is its own total; several are unknown, not guessed
    old = {"attempts": 1, "wall_s_last_attempt": 90.0}
    assert _run_row(spec, old, "abc")["wall time (min)"] == 1.5
    assert _run_row(spec, {**old, "attempts": 2}, "abc")["wall time (min)"] is None
    # resumed from a checkpoint without its cost: recorded as unknown
    assert _run_row(spec, {**three, "wall_s_all_attempts": None}, "abc")["wall time (min)"] is None


def test_progress_text_gives_this_attempts_speed_and_the_time_left(tmp_path):
    from common.platform.records import Progress

    record = RunRecord(tmp_path / "run")
    record.path.mkdir()
    start = {"pid": os.getpid(), "start": "2026-01-01T10:00:00+00:00"}
    # resumed at 200,000 of 1,000,000; 100 s later at 210,000: 100 env-steps/s, 790,000 left = 7,900 s = 2.2 h
    record.write_json("RUNNING", {**start, "progress": {"done": 210_000, "total": 1_000_000, "unit": "env-steps",
                                                        "initial": 200_000, "at": "2026-01-01T10:01:40+00:00"}})
    assert record.progress_text() == ("210,000/1,000,000 env-steps (21%) at 2026-01-01T10:01:40+00:00; "
                                      "this attempt 100.0 env-steps/s, about 2.2 h to go")
    assert record.progress_text(time_left=False).endswith("this attempt 100.0 env-steps/s")
    # under an hour left: minutes (9,000 left at 100/s = 90 s: 2 min), never "0.0 h"
    record.write_json("RUNNING", {**start, "progress": {"done": 991_000, "total": 1_000_000, "unit": "env-steps",
                                                        "initial": 981_000, "at": "2026-01-01T10:01:40+00:00"}})
    assert record.progress_text().endswith("this attempt 100.0 env-steps/s, about 2 min to go")
    # a marker written before progress kept its starting point: the count alone
    record.write_json("RUNNING", {**start, "progress": {"done": 5, "total": 10, "unit": "periods",
                                                        "at": "2026-01-01T10:01:40+00:00"}})
    assert record.progress_text() == "5/10 periods (50%) at 2026-01-01T10:01:40+00:00"
    # the real marker: Progress records where this attempt started
    record.write_json("RUNNING", start)
    bar = type("Bar", (), {"update": lambda self, n: None, "close": lambda self: None})()
    progress = Progress(bar, record, total=10, done=4, unit="periods", every_s=0)
    progress.update(2)
    assert record.read_json("RUNNING")["progress"]["initial"] == 4
    assert record.read_json("RUNNING")["progress"]["done"] == 6


def test_a_report_shows_each_experiments_own_figures_and_drops_what_its_runs_no_longer_hold(tmp_path):
    """`fig3_x.png` belongs to an experiment named fig3_x where there is one, not to fig3; an experiment whose
    runs were all moved aside loses the summary and figures an earlier report wrote, and no other's."""
    from types import SimpleNamespace

    from common.analysis.report import _remove_stale_figures, figures_of

    paper = SimpleNamespace(experiments={"fig3": None, "fig3_baselines": None, "table1": None})
    out = tmp_path / "results"
    (out / "figures").mkdir(parents=True)
    (out / "summaries").mkdir()
    names = ["fig3_learning_curves", "fig3_baselines_learning_curves", "fig3", "fig3extra", "table1_figure1"]
    for stem in names:
        for suffix in (".png", ".svg"):
            (out / "figures" / f"{stem}{suffix}").write_text("x")
    for name in ("fig3", "fig3_baselines"):
        (out / "summaries" / f"{name}.csv").write_text("x")
    assert [f.name for f in figures_of(paper, "fig3", out / "figures")] == ["fig3.png", "fig3_learning_curves.png"]
    assert [f.name for f in figures_of(paper, "fig3_baselines", out / "figures", ".svg")] == [
        "fig3_baselines_learning_curves.svg"]
    assert sorted(_remove_stale_figures(paper, "fig3", out)) == [
        "figures/fig3.png", "figures/fig3.svg", "figures/fig3_learning_curves.png", "figures/fig3_learning_curves.svg"]
    left = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert left == sorted(["fig3.csv", "fig3_baselines.csv", "fig3_baselines_learning_curves.png",
                           "fig3_baselines_learning_curves.svg", "fig3extra.png", "fig3extra.svg",
                           "table1_figure1.png", "table1_figure1.svg"])
    assert _remove_stale_figures(paper, "fig3", out) == []  # nothing left to remove


def test_a_report_drops_the_summary_of_an_experiment_whose_runs_moved_away(tmp_path, monkeypatch):
    """report_paper removes a summaries/<name>.csv an earlier report wrote once the experiment has no summary (no
    complete run, or no `summary:`), and says so."""
    from common.analysis.report import report_paper
    from common.platform.registry import get_paper

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    execute_in(tmp_path, monkeypatch, PAPER, "fig4_1", "quick", "greedy", 0)
    paper = get_paper(PAPER)
    out = paper.results_dir(tmp_path)
    stale = out / "summaries" / "fig4_3.csv"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("variant,seed\nx,0\n")
    lines = report_paper(paper)
    assert not stale.exists() and any("removed the earlier summaries/fig4_3.csv" in line for line in lines)
