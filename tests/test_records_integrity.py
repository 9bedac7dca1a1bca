"""Run records that cannot lie: damaged records, storage errors and runs held by another sweep.

Each case asserts the exit status, what the message names, and that nothing already recorded changed."""
import errno
import fcntl
import gzip
import json
import os
import shutil

import pytest

from common.platform.errors import ReproError
from common.platform.records import RunRecord, atomic_write_bytes
from common.platform.runs import RunSpec, execute
from conftest import table_bytes

PAPER = "russo2017_thompson"


class Proc:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def repro(capsys, monkeypatch):
    """The `repro` command line, called in this process (the subprocess start-up would dominate these tests)."""
    from common.platform import cli

    def call(*args, env=None):
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return Proc(code, out, err)

    return call


def _files(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture
def two_runs(results_root):
    """Two complete quick runs of two experiments: one to damage, one that must stay reported."""
    specs = [RunSpec(PAPER, "fig3_1", "quick", "ts", 0), RunSpec(PAPER, "fig4_1", "quick", "ts", 0)]
    for spec in specs:
        assert execute(spec, show_progress=False) == "done"
    return specs


def test_done_vouches_for_every_file_with_its_checksum(two_runs):
    record = RunRecord(two_runs[0].run_dir)
    sums = json.loads((record.path / "DONE").read_text())["sha256"]
    assert set(sums) == {"attempts.jsonl", "config.yaml", "provenance.json", "curves.csv.gz", "replications.csv.gz",
                         "agent.json", "agent.npz"}  # the bandit's posteriors: its agent (common/rl/agents.py)
    assert record.status() == "done" and record.damage() == ()


@pytest.mark.parametrize("damage, named", [
    (lambda d: (d / "replications.csv.gz").write_bytes((d / "replications.csv.gz").read_bytes()[:-40]),
     "replications.csv.gz: contents differ"),
    (lambda d: (d / "curves.csv.gz").unlink(), "curves.csv.gz: missing"),
    (lambda d: (d / "extra.csv.gz").write_bytes(gzip.compress(b"seed,x\n0,1\n")), "extra.csv.gz: not vouched for"),
    (lambda d: (d / "DONE").write_text("{not json"), "DONE: not readable as JSON"),
])
def test_a_damaged_record_is_named_left_out_and_rerun_never_deleted(two_runs, results_root, damage, named, repro):
    spec, other = two_runs
    damage(spec.run_dir)
    damaged_files = _files(spec.run_dir)
    assert RunRecord(spec.run_dir).status() == "damaged" and not RunRecord(spec.run_dir).is_complete()

    status = repro("status", PAPER)
    assert status.returncode == 0 and f"damaged {spec.label} ({spec.run_dir})" in status.stdout and named in status.stdout
    assert "damaged 1" in status.stdout

    verify = repro("verify", PAPER)
    assert verify.returncode == 1 and str(spec.run_dir) in verify.stdout and named in verify.stdout

    # the report names the damaged run, leaves it out, and still writes everything else (the other experiment too)
    report = repro("report", PAPER)
    assert report.returncode == 0, report.stderr
    assert f"DAMAGED {spec.label}" in report.stdout and named in report.stdout
    readme = (results_root / PAPER / "README.md").read_text()
    assert f"Left out, damaged record**: `{spec.label}`" in readme
    assert list((results_root / PAPER / "figures").glob("fig4_1*.png"))
    assert _files(spec.run_dir) == damaged_files  # reading and reporting changed nothing

    # the sweep moves the damaged record aside (kept, byte for byte) and makes the run again
    sweep = repro("sweep", PAPER, "fig3_1", "--budget", "quick", "--variant", "ts", "--seeds", "1")
    assert sweep.returncode == 0, sweep.stderr
    assert f"damaged {spec.label}" in sweep.stdout and "moved to" in sweep.stderr
    (aside,) = list(spec.set_aside_dir.glob("seed_0.*"))
    assert {p.name: b for p, b in _files(aside).items()} == {p.name: b for p, b in damaged_files.items()}
    assert RunRecord(spec.run_dir).status() == "done"
    assert repro("verify", PAPER).returncode == 0


def test_a_rerun_after_damage_has_the_metrics_of_the_original(two_runs):
    spec = two_runs[0]
    before = table_bytes(spec.run_dir)
    (spec.run_dir / "curves.csv.gz").write_bytes(b"garbage")
    assert execute(spec, show_progress=False) == "done"
    assert table_bytes(spec.run_dir) == before


def test_seal_adds_checksums_only_to_records_that_read_in_full(two_runs, results_root, repro):
    good, bad = two_runs
    for spec in two_runs:  # as recorded before DONE carried checksums
        done = json.loads((spec.run_dir / "DONE").read_text())
        (spec.run_dir / "DONE").write_text(json.dumps({"end": done["end"], "tables": done["tables"]}))
    blob = (bad.run_dir / "replications.csv.gz").read_bytes()
    (bad.run_dir / "replications.csv.gz").write_bytes(blob[: len(blob) // 2])  # a truncated gzip
    assert "records no checksums" in repro("verify").stdout
    bad_before = _files(bad.run_dir)

    proc = repro("verify", "--seal")
    assert proc.returncode == 1
    assert f"damaged {bad.run_dir}: replications.csv.gz: cannot be read in full" in proc.stdout
    assert "2 finished run records" in proc.stdout and "1 intact, 1 damaged (1 sealed now)" in proc.stdout
    assert RunRecord(good.run_dir).status() == "done"
    assert RunRecord(bad.run_dir).status() == "damaged" and _files(bad.run_dir) == bad_before


def test_seal_refuses_a_truncated_table_by_name(two_runs):
    from common.platform.errors import ReproError
    from common.platform.verify import read_in_full

    spec = two_runs[0]
    blob = (spec.run_dir / "curves.csv.gz").read_bytes()
    (spec.run_dir / "curves.csv.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ReproError, match=r"curves\.csv\.gz: cannot be read in full"):
        read_in_full(RunRecord(spec.run_dir))


# ---- storage errors ------------------------------------------------------------------------------------------
def test_an_unwritable_results_folder_is_an_error_before_any_work(tmp_path, repro):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for args in (["run", PAPER, "fig3_1", "--variant", "ts"], ["sweep", PAPER, "fig3_1", "--budget", "quick"]):
        proc = repro(*args, env={"REPRO_RESULTS": str(blocker / "results")})
        assert proc.returncode == 2, proc.stderr
        assert f"the results folder {blocker / 'results'} is not writable" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_report_of_a_missing_results_folder_is_an_error_and_status_names_the_folder(tmp_path, repro):
    missing = tmp_path / "nowhere"
    proc = repro("report", PAPER, env={"REPRO_RESULTS": str(missing)})
    assert proc.returncode == 2 and f"results folder {missing} does not exist" in proc.stderr
    assert not missing.exists()
    status = repro("status", PAPER, env={"REPRO_RESULTS": str(missing)})
    assert status.returncode == 0 and f"results folder: {missing} (does not exist yet" in status.stdout


def test_a_failed_atomic_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    target.write_text("old")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"] and target.read_text() == "old"


def test_a_run_that_fails_writing_its_final_record_is_failed_not_done(results_root, monkeypatch):
    spec = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)

    def full_disk(self, name, df):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path / f"{name}.csv.gz"))

    monkeypatch.setattr(RunRecord, "write_table", full_disk)
    with pytest.raises(OSError):
        execute(spec, show_progress=False)
    record = RunRecord(spec.run_dir)
    assert record.status() == "failed" and "No space left on device" in record.failure_tail()
    assert not (spec.run_dir / "DONE").exists() and not list(spec.run_dir.glob(".*.tmp"))


def test_a_run_that_cannot_even_write_failed_shows_as_dead_without_checkpoint(results_root, monkeypatch, repro):
    import common.platform.records as records

    spec = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    real = records.atomic_write_bytes

    def full_disk_for_tables_and_failed(path, data):
        if path.name.endswith(".csv.gz") or path.name == "FAILED":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(records, "atomic_write_bytes", full_disk_for_tables_and_failed)
    with pytest.raises(OSError):
        execute(spec, show_progress=False)
    monkeypatch.setattr(records, "atomic_write_bytes", real)
    record = RunRecord(spec.run_dir)
    assert record.status() == "interrupted" and not record.has_checkpoint()
    status = repro("status", PAPER)
    assert f"interrupted {spec.label}: no checkpoint: the next sweep starts it from the beginning" in status.stdout
    assert "resumes from its checkpoint" not in status.stdout


def test_storage_errors_reach_the_user_as_one_line(results_root, monkeypatch, capsys):
    """An OSError in any command is one line with the path and exit status 1; REPRO_DEBUG=1 shows the traceback."""
    from common.platform import cli

    monkeypatch.setattr(cli, "_cmd_status", lambda args: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system", "/results/x/DONE")))
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "repro: error: Read-only file system: /results/x/DONE (REPRO_DEBUG=1 shows the traceback)"
    monkeypatch.setenv("REPRO_DEBUG", "1")
    with pytest.raises(OSError):
        cli.main(["status"])


# ---- concurrency ---------------------------------------------------------------------------------------------
def test_a_run_held_by_another_sweep_is_running_elsewhere_not_failed(results_root, repro):
    spec = RunSpec(PAPER, "fig3_1", "quick", "ts", 0)
    spec.run_dir.mkdir(parents=True)
    with open(spec.run_dir / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another sweep's claim on this run
        proc = repro("sweep", PAPER, "fig3_1", "--budget", "quick", "--variant", "ts", "--seeds", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "running elsewhere 1" in proc.stdout and "FAILED" not in proc.stdout
    assert not (spec.run_dir / "FAILED").exists() and not (spec.run_dir / "DONE").exists()


def test_a_copy_without_git_records_its_commit_from_the_tree_manifest(tmp_path):
    """A tree copied without .git (to a cluster or another machine) still records which commit it runs, and a
    copy whose code was changed after the manifest was written is recorded as dirty."""
    import subprocess

    from common.platform.records import git_blob_sha1, manifest_state, write_tree_manifest

    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of "hello\n"
    repo = tmp_path / "repo"
    (repo / "common").mkdir(parents=True)
    (repo / "common" / "a.py").write_text("x = 1\n")
    (repo / "results").mkdir()
    (repo / "results" / "r.txt").write_text("recorded\n")
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    head = git("rev-parse", "HEAD")
    write_tree_manifest(repo)

    copy = tmp_path / "copy"
    copy.mkdir()
    for path in ("common/a.py", "results/r.txt", ".repro-tree.json"):
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_bytes((repo / path).read_bytes())
    assert manifest_state(copy) == {"commit": head, "dirty": False, "checked_by": ".repro-tree.json"}
    (copy / "results" / "r.txt").write_text("new results do not make the code dirty\n")
    assert manifest_state(copy)["dirty"] is False
    (copy / "common" / "a.py").write_text("x = 2\n")
    assert manifest_state(copy) == {"commit": head, "dirty": True, "checked_by": ".repro-tree.json"}
    (repo / "common" / "a.py").write_text("x = 3\n")
    with pytest.raises(ReproError, match="differ from HEAD"):
        write_tree_manifest(repo)


def test_a_run_recorded_by_another_experiment_with_the_same_config_is_copied_not_made_again(results_root,
                                                                                            monkeypatch, capsys):
    """The tutorial's offline SAC on medium data is CQL Table 1's offline SAC on Hopper's medium data: the same
    runner and config. The second is a copy of the first (tables byte for byte, provenance naming its source); a
    run that differs in its seed, or whose source is not deterministic, is computed."""
    from common.platform.registry import get_paper
    from common.platform.status import print_status

    source = RunSpec("kumar2020_cql", "table1", "quick", "Hopper-v5__medium__sac", 0)
    assert execute(source, show_progress=False) == "done"
    runner = get_paper("kumar2020_cql").experiment("table1").runner
    assert get_paper("levine2020_offline").experiment("shift").runner is runner

    def computed(cfg, ctx):
        raise RuntimeError("computed")

    monkeypatch.setattr(runner, "fn", computed)  # from here on, a run that is computed fails
    copy = RunSpec("levine2020_offline", "shift", "quick", "medium__sac", 0)
    assert execute(copy, show_progress=False) == "done"
    record = RunRecord(copy.run_dir)
    assert record.is_complete() and table_bytes(copy.run_dir) == table_bytes(source.run_dir)
    provenance = record.read_json("provenance.json")
    assert provenance["reused_from"]["run"] == "kumar2020_cql/runs/table1/quick/Hopper-v5__medium__sac/seed_0"
    assert provenance["spec"]["paper"] == "levine2020_offline" and provenance["spec"]["variant"] == "medium__sac"
    assert provenance["git"] == RunRecord(source.run_dir).read_json("provenance.json")["git"]
    capsys.readouterr()
    print_status("levine2020_offline")  # status names the copy and its source
    assert ("copied 1 of the done runs" in (out := capsys.readouterr().out)
            and "levine2020_offline/shift/quick/medium__sac/seed_0 <- kumar2020_cql/runs/table1/quick/" in out)
    with pytest.raises(RuntimeError, match="computed"):  # another seed: not recorded anywhere
        execute(RunSpec("levine2020_offline", "shift", "quick", "medium__sac", 1), show_progress=False)
    # the same run once more, from a source that is not deterministic: computed
    shutil.rmtree(copy.run_dir)
    src = RunRecord(source.run_dir)
    src.write_json("provenance.json", {**src.read_json("provenance.json"), "deterministic": False})
    src.seal(None)
    with pytest.raises(RuntimeError, match="computed"):
        execute(copy, show_progress=False)


def test_changed_inputs_reads_a_diverged_runs_record_too(tmp_path):
    """A diverged run keeps its provenance in DIVERGED: the inputs it read are compared with their records as a
    finished run's are (common/platform/verify.py)."""
    from common.platform.records import INPUTS_FILE, RunContext, RunRecord
    from common.platform.verify import changed_inputs

    run = RunRecord(tmp_path / "p" / "runs" / "e" / "b" / "v" / "seed_0")
    ctx = RunContext(run)
    ctx.record_input("dataset", {"record": "rec.json", "sha256": {"a.npz": "1"}})
    run.diverge("x", {"inputs": ctx.inputs})
    assert not (run.path / INPUTS_FILE).exists()  # kept in DIVERGED now, like provenance.json's at DONE
    (tmp_path / "rec.json").write_text(json.dumps({"files": {"a.npz": {"sha256": "1"}}}))
    assert changed_inputs(run, tmp_path) == []
    (tmp_path / "rec.json").write_text(json.dumps({"files": {"a.npz": {"sha256": "2"}}}))
    assert changed_inputs(run, tmp_path) == [f"inputs: dataset was read with other checksums than its record "
                                             f"{tmp_path / 'rec.json'} holds now (a.npz): rebuilt since the run"]
    (tmp_path / "rec.json").unlink()
    assert changed_inputs(run, tmp_path)[0].startswith("inputs: dataset's record ")
