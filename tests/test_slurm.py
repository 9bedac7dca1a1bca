"""The Slurm launcher: profiles, the generated sbatch script (golden file), errors when no cluster answers, and,
marked `slurm`, the real local cluster of slurm/local/ (make slurm-up): arrays, failures, requeue, cancellation."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.platform.errors import ReproError
from common.platform.records import RunRecord
from common.platform.runs import plan
from common.platform.slurm import load_profile, log_folder, slurm_states, squeue_states
from conftest import repro

PAPER = "russo2017_thompson"
GOLDEN = Path(__file__).parent / "golden" / "sbatch_local_fig3_1_quick.txt"


def _cluster_up() -> bool:
    if not shutil.which("scontrol"):
        return False
    proc = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    return proc.returncode == 0 and "UP" in proc.stdout


@pytest.fixture
def cluster():
    if not _cluster_up():
        if os.environ.get("REPRO_REQUIRE_SLURM") == "1":
            pytest.fail("the local Slurm cluster is not up (REPRO_REQUIRE_SLURM=1): start it with `make slurm-up`")
        pytest.skip("no local Slurm cluster (start one with `make slurm-up`)")


def _tables(run_dir):
    return {p.name: p.read_bytes() for p in sorted(Path(run_dir).glob("*.csv.gz"))}


def _wait(predicate, timeout_s=180, what="condition", story=None):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{story()}" if story else ""))


def _ended_incomplete(run_dir, since: dict, grace_s: float = 30.0) -> bool:
    """True once the run's Slurm job has been in an ended state for `grace_s` without the run being complete;
    `since` keeps, between calls of one wait, when the job was first seen ended."""
    entry = RunRecord(run_dir).read_json("slurm.json")
    state = slurm_states({"run": entry})["run"] if entry else "UNKNOWN"
    ended = state.split()[0] in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}
    if not ended or (entry and entry["job_id"] in squeue_states()):  # still queued (a requeue) or running
        since.pop("ended", None)
        return False
    return time.time() - since.setdefault("ended", time.time()) > grace_s and not RunRecord(run_dir).is_complete()


def _story(run_dir) -> str:
    """What a run and its Slurm job did, for a failure message: run status, attempts, Slurm state, log tails."""
    record = RunRecord(run_dir)
    entry = record.read_json("slurm.json") or {}
    lines = [f"run status: {record.status()}; attempts: {len(record.attempts())}; ledger: {entry}"]
    if entry.get("job_id"):
        try:
            lines.append(f"slurm state: {slurm_states({'run': entry})}")
        except ReproError as exc:  # the story of a failure must not hide it behind its own error
            lines.append(f"slurm state: unknown ({exc})")
    if (Path(run_dir) / "FAILED").exists():
        lines.append("FAILED:\n" + (Path(run_dir) / "FAILED").read_text()[-2000:])
    folder = log_folder(entry) if entry else Path(run_dir)
    for log in sorted(folder.glob("*_log.*")):
        lines.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-25:]))
    ctld = Path(os.environ.get("REPRO_SLURM_DIR", "/tmp/repro-slurm")) / "log" / "slurmctld.log"
    if entry.get("job_id") and ctld.exists():
        job = entry["job_id"].split("_")[0]
        mine = [ln for ln in ctld.read_text(errors="replace").splitlines() if re.search(rf"JobId={job}\b", ln)]
        lines.append("--- slurmctld.log\n" + "\n".join(mine[-15:]))
    return "\n".join(lines)


# ---- no cluster needed ---------------------------------------------------------------------------------------
def test_profiles_load_and_unknown_keys_are_errors(tmp_path, monkeypatch):
    local = load_profile("local")
    assert local.partition == "debug" and local.max_parallel == 2 and local.env["OMP_NUM_THREADS"] == "1"
    gpu = load_profile("example_gpu")
    assert gpu.gpus_per_node == 1 and gpu.extra_sbatch["exclude"] == "node-bad-01"
    import common.platform.slurm as slurm

    monkeypatch.setattr(slurm, "PROFILES_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text("partition: gpu\ngpu_count: 2\n")
    with pytest.raises(ReproError, match="unknown config key 'gpu_count'.*valid keys: partition"):
        load_profile("bad")
    (tmp_path / "badtype.yaml").write_text("time_min: soon\n")
    with pytest.raises(ReproError, match="'time_min'.*expects int"):
        load_profile("badtype")
    with pytest.raises(ReproError, match="unknown slurm profile 'nope'; valid slurm profiles: bad, badtype"):
        load_profile("nope")


def test_dry_run_prints_the_golden_sbatch_script(results_root, monkeypatch):
    monkeypatch.setenv("REPRO_SLURM_LOGS", "/LOGS")
    proc = repro("sweep", PAPER, "fig3_1", "--budget", "quick", "--launcher", "slurm", "--profile", "local",
                 "--dry-run", "--runs-per-task", "2", check=True)
    text = re.sub(r"/LOGS/russo2017_thompson/[0-9-]+/", "/LOGS/<sweep>/", proc.stdout)
    text = text.replace(sys.executable, "<python>").replace(str(results_root), "<results>")
    if os.environ.get("REPRO_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    assert not results_root.exists()  # a dry run writes nothing


def test_launcher_is_explicit_and_a_missing_cluster_is_a_clear_error(results_root, tmp_path):
    env = {"PATH": str(tmp_path), "REPRO_LAUNCHER": "slurm"}  # no sbatch on PATH
    proc = repro("sweep", PAPER, "fig3_1", "--budget", "quick", "--profile", "local", env=env)
    assert proc.returncode == 2 and "needs sbatch on PATH" in proc.stderr and "nothing" not in proc.stdout
    assert not results_root.exists() or not any(results_root.rglob("DONE"))  # nothing ran
    proc = repro("sweep", PAPER, "fig3_1", "--budget", "quick", "--launcher", "slurm")
    assert proc.returncode == 2 and "needs --profile" in proc.stderr and "local" in proc.stderr
    proc = repro("sweep", PAPER, "fig3_1", "--budget", "quick", env={"REPRO_LAUNCHER": "cluster"})
    assert proc.returncode == 2 and "REPRO_LAUNCHER must be local or slurm" in proc.stderr


def test_a_job_sacct_does_not_know_yet_takes_its_state_from_the_queue(monkeypatch):
    """Right after sbatch, sacct may not list the job: the controller's queue decides, so it is not resubmitted."""
    from submitit.slurm import slurm as submitit_slurm

    import common.platform.slurm as cs

    monkeypatch.setattr(submitit_slurm.SlurmInfoWatcher, "update", lambda self: None)
    monkeypatch.setattr(submitit_slurm.SlurmInfoWatcher, "get_state",
                        lambda self, job_id, mode="standard": "UNKNOWN" if job_id != "7_1" else "COMPLETED")
    monkeypatch.setattr(cs, "squeue_states", lambda: {"7_0": "PENDING"})
    states = cs.slurm_states({"a": {"job_id": "7_0"}, "b": {"job_id": "7_1"}, "c": {"job_id": "8_0"}})
    assert states == {"a": "PENDING", "b": "COMPLETED", "c": "UNKNOWN"}


# ---- the real local cluster ----------------------------------------------------------------------------------
@pytest.mark.slurm
def test_array_sweep_matches_the_local_launcher_and_is_not_resubmitted(cluster, tmp_path):
    local = {"REPRO_RESULTS": str(tmp_path / "local")}
    remote = {"REPRO_RESULTS": str(tmp_path / "slurm")}
    repro("sweep", PAPER, "fig3_2b", "--budget", "quick", env=local, check=True)
    out = repro("sweep", PAPER, "fig3_2b", "--budget", "quick", "--launcher", "slurm", "--profile", "local",
                "--runs-per-task", "3", env=remote, check=True).stdout
    assert "4 to submit" in out and "2 array tasks (3 run(s) each" in out
    again = repro("sweep", PAPER, "fig3_2b", "--budget", "quick", "--launcher", "slurm", "--profile", "local",
                  env=remote, check=True).stdout
    assert "0 to submit" in again  # queued, running or complete: never submitted twice
    specs = lambda root: plan(PAPER, "fig3_2b", "quick", root=root)  # noqa: E731
    _wait(lambda: all(RunRecord(s.run_dir).is_complete() for s in specs(str(tmp_path / "slurm"))), what="the array")
    for a, b in zip(specs(str(tmp_path / "local")), specs(str(tmp_path / "slurm"))):
        assert _tables(a.run_dir) == _tables(b.run_dir)
        attempt = RunRecord(b.run_dir).attempts()[0]
        assert attempt["launcher"] == "slurm" and attempt["slurm_job_id"]
    status = repro("status", PAPER, env=remote, check=True).stdout
    assert re.search(r"^  fig3_2b +quick +done 4 ", status, re.M), status


@pytest.mark.slurm
def test_a_failing_task_shows_as_failed_with_its_traceback(cluster, tmp_path):
    env = {"REPRO_RESULTS": str(tmp_path / "r")}
    # a valid config (bad values never reach the cluster: planning rejects them) that fails on the node: its
    # arrays (1e14 replications x 3 arms) exceed any address space
    repro("sweep", PAPER, "fig3_1", "--budget", "quick", "--variant", "ts", "--seeds", "1", "--launcher", "slurm",
          "--profile", "local", "n_replications=100000000000000", env=env, check=True)
    run_dir = next(iter((tmp_path / "r").rglob("slurm.json"))).parent
    _wait(lambda: RunRecord(run_dir).status() == "failed", what="the failure")
    _wait(lambda: "FAILED" in repro("status", PAPER, env=env).stdout, what="sacct to report FAILED")
    status = repro("status", PAPER, env=env).stdout
    assert "slurm: FAILED 1" in status and "MemoryError: Unable to allocate" in status


def _long_run_args():
    # about 15 s: well past KillWait (5 s), since submitit ignores the SIGTERM that precedes the kill of a requeue
    return ["--budget", "paper", "--variant", "ts", "--seeds", "1", "n_periods=6000", "n_replications=250"]


def _interrupted_run(tmp_path, interrupt) -> None:
    """A long run submitted to Slurm and interrupted by `interrupt(slurm ledger entry)` once it has checkpointed,
    then left to finish: it must end with the metrics of the same run done locally without interruption."""
    repro("sweep", PAPER, "fig4_1", *_long_run_args(), env={"REPRO_RESULTS": str(tmp_path / "whole")}, check=True)
    env = {"REPRO_RESULTS": str(tmp_path / "r"), "REPRO_CHECKPOINT_EVERY_S": "0.2"}
    repro("sweep", PAPER, "fig4_1", *_long_run_args(), "--launcher", "slurm", "--profile", "local", env=env, check=True)
    ckpt = []
    _wait(lambda: ckpt.extend((tmp_path / "r").rglob("checkpoint.pkl")) or ckpt, what="a checkpoint")
    run_dir = ckpt[0].parent
    interrupt(RunRecord(run_dir).read_json("slurm.json"))
    since = {}
    _wait(lambda: RunRecord(run_dir).is_complete() or _ended_incomplete(run_dir, since), timeout_s=600,
          what="the interrupted run", story=lambda: _story(run_dir))
    assert RunRecord(run_dir).is_complete(), _story(run_dir)
    assert len(RunRecord(run_dir).attempts()) >= 2
    whole = next((tmp_path / "whole").rglob("DONE")).parent
    assert _tables(run_dir) == _tables(whole)


@pytest.mark.slurm
def test_scontrol_requeue_resumes_from_the_checkpoint_with_identical_metrics(cluster, tmp_path):
    _interrupted_run(tmp_path, lambda entry: subprocess.run(["scontrol", "requeue", entry["job_id"].split("_")[0]],
                                                            check=True))


@pytest.mark.slurm
def test_preemption_signal_requeues_through_submitit_and_resumes(cluster, tmp_path):
    import submitit

    # SIGTERM then USR2, as a preemption: submitit's handler requeues the task
    _interrupted_run(tmp_path, lambda entry: submitit.SlurmJob(folder=entry["folder"], job_id=entry["job_id"])._interrupt())


def test_processes_a_task_starts_survive_a_preemption_sigterm():
    """Preemption sends SIGTERM to every process of the job, then USR2; submitit answers USR2 with `scontrol
    requeue`. A SIGTERM that reaches that child while it runs would fail the run instead of requeueing it, so a task
    starts its children with SIGTERM ignored."""
    code = ("from common.platform.slurm import SlurmTask; import subprocess; SlurmTask([])(); "
            "print(subprocess.run(['sh', '-c', 'kill -TERM $$; echo survived'], capture_output=True, text=True).stdout)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).parents[1], env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.stdout.strip() == "survived", proc.stdout + proc.stderr


@pytest.mark.slurm
def test_cancellation_is_reported(cluster, tmp_path):
    env = {"REPRO_RESULTS": str(tmp_path / "r"), "REPRO_CHECKPOINT_EVERY_S": "0.2"}
    # minutes of work, so it cannot finish within KillWait (submitit ignores the SIGTERM that precedes the kill)
    args = ["--budget", "paper", "--variant", "ts", "--seeds", "1", "n_periods=20000", "n_replications=250"]
    repro("sweep", PAPER, "fig4_1", *args, "--launcher", "slurm", "--profile", "local", env=env, check=True)
    run_dir = next(iter((tmp_path / "r").rglob("slurm.json"))).parent
    job_id = RunRecord(run_dir).read_json("slurm.json")["job_id"]
    _wait(lambda: slurm_states({"x": {"job_id": job_id}})["x"].startswith("RUNNING"), what="the job to start")
    subprocess.run(["scancel", job_id], check=True)
    _wait(lambda: "slurm: CANCELLED 1" in repro("status", PAPER, env=env).stdout, what="CANCELLED in status")
    assert not RunRecord(run_dir).is_complete()


def test_a_run_that_completes_while_the_states_are_read_is_not_submitted_again(monkeypatch, tmp_path):
    """The sweep lists the incomplete runs, then reads their job states; a run that writes DONE and leaves the queue
    in between (its task COMPLETED) counts complete, and nothing is submitted for it."""
    import io

    import common.platform.slurm as cs
    from common.platform.sweep import run_local

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    spec = plan(PAPER, "fig3_1", "quick")[0]
    spec.run_dir.mkdir(parents=True)
    (spec.run_dir / "slurm.json").write_text('{"job_id": "7_0", "folder": "%j"}\n')

    def finishes_meanwhile(entries):
        run_local([spec], out=io.StringIO())  # the run completes while sacct is asked
        return {label: "COMPLETED" for label in entries}

    monkeypatch.setattr(cs, "check_cluster", lambda: None)
    monkeypatch.setattr(cs, "slurm_states", finishes_meanwhile)
    monkeypatch.setattr(cs.submitit, "SlurmExecutor", lambda **_: pytest.fail("nothing should be submitted"))
    out = io.StringIO()
    assert cs.submit_sweep([spec], profile="local", out=out) == 0
    assert RunRecord(spec.run_dir).is_complete()
    assert "1 runs: 1 complete, 0 already queued or running, 0 to submit" in out.getvalue()


def test_a_diverged_run_is_not_submitted_again(monkeypatch, tmp_path):
    """A run whose training went non-finite (its DIVERGED record) is a recorded outcome: the Slurm launcher counts it
    and submits nothing for it, as the local one does."""
    import io

    import numpy as np
    import pandas as pd

    import common.platform.slurm as cs
    from common.platform.finite import NonFiniteError
    from common.platform.registry import Runner, get_paper
    from common.platform.runs import execute

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    exp = get_paper(PAPER).experiment("fig3_1")
    bad = pd.DataFrame({"seed": [0], "t": [1], "regret_mean": [np.nan]})
    monkeypatch.setattr(exp, "runner", Runner(exp.runner.schema, lambda cfg, ctx: {"curves": bad}))
    spec = plan(PAPER, "fig3_1", "quick")[0]
    with pytest.raises(NonFiniteError):
        execute(spec, show_progress=False)
    assert RunRecord(spec.run_dir).status() == "diverged"
    monkeypatch.setattr(cs, "check_cluster", lambda: None)
    monkeypatch.setattr(cs.submitit, "SlurmExecutor", lambda **_: pytest.fail("nothing should be submitted"))
    out = io.StringIO()
    assert cs.submit_sweep([spec], profile="local", out=out) == 0
    assert "1 runs: 0 complete, 1 diverged (recorded outcomes, not run again), 0 already queued or running, " \
           "0 to submit" in out.getvalue()
