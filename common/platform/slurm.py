"""The Slurm launcher: pending runs of a sweep go to a cluster as one submitit job array.

- One array task per run, or `runs_per_task` runs packed per task; at most `max_parallel` tasks at once.
- Each submitted run gets a ledger entry (`slurm.json` in its run folder: job id, log folder), so a re-submitted
  sweep skips runs that are complete, queued or running, and submits only the rest.
- Tasks are `submitit.helpers.Checkpointable`: on a time-out or preemption signal submitit requeues them, and each
  run resumes from its own last checkpoint (`checkpoint.pkl`, written every REPRO_CHECKPOINT_EVERY_S seconds).
  `scontrol requeue` and a new `repro sweep` after a crash resume the same way.
- Job states come from sacct through submitit's `SlurmInfoWatcher`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import submitit
import yaml

from common import REPO_ROOT
from common.platform.config import merge, to_dict
from common.platform.errors import ReproError, unknown
from common.platform.records import RunRecord, atomic_write_text, now
from common.platform.runs import RunSpec, check_inputs, execute, resolve, results_root, still_to_run
from common.platform.validate import check_environment

PROFILES_DIR = REPO_ROOT / "slurm" / "profiles"
ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED",
                 "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT"}


@dataclass
class SlurmProfile:
    """A cluster profile (slurm/profiles/<name>.yaml). Unknown keys are errors."""

    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    time_min: int = 60  # wall-clock limit of one array task, minutes
    cpus_per_task: int = 1
    mem_gb: float = 4.0
    gpus_per_node: int = 0
    constraint: Optional[str] = None
    max_parallel: int = 64  # array tasks running at once (sbatch --array=...%N)
    signal_delay_s: int = 90  # USR2 this many seconds before the time limit: requeue, then resume
    max_requeues: int = 3  # time-outs after which submitit stops requeueing
    extra_sbatch: Dict[str, str] = field(default_factory=dict)  # more sbatch options, e.g. {exclude: "node[1-2]"}
    setup: List[str] = field(default_factory=list)  # shell lines before the task (module load, venv activation)
    env: Dict[str, str] = field(default_factory=dict)  # environment variables of the tasks
    python: Optional[str] = None  # interpreter on the compute nodes (default: the submitting one)


def profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name: str | None) -> SlurmProfile:
    name = name or os.environ.get("REPRO_SLURM_PROFILE")
    if not name:
        raise ReproError(f"the slurm launcher needs --profile (or REPRO_SLURM_PROFILE); profiles: {', '.join(profiles())}")
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.exists():
        raise unknown("slurm profile", name, profiles())
    values = yaml.safe_load(path.read_text()) or {}
    cfg = merge(SlurmProfile, [(f"profile {name}", values)], where=f"slurm profile '{name}'")
    return SlurmProfile(**to_dict(cfg))


def logs_root() -> Path:
    return Path(os.environ.get("REPRO_SLURM_LOGS", results_root().parent / ".submitit"))


class SlurmTask(submitit.helpers.Checkpointable):
    """One array task: its runs in order. Requeued by submitit on time-out or preemption (see `checkpoint`)."""

    def __init__(self, specs: list[RunSpec]):
        self.specs = specs

    def __call__(self) -> list[str]:
        # submitit only logs SIGTERM and requeues on USR2. Ignored here instead, so that the processes this task
        # starts inherit it ignored: the `scontrol requeue` that submitit runs on USR2 is then not killed by a
        # preemption's SIGTERM delivered while it runs (which would fail the run instead of requeueing it).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return [execute(spec, launcher="slurm", show_progress=False) for spec in self.specs]

    def checkpoint(self, *args, **kwargs):
        """Called by submitit on USR2 (time-out or preemption): requeue the same task. Each run's progress is in
        its own checkpoint file, so the requeued task resumes every run where it stopped."""
        return submitit.helpers.DelayedSubmission(SlurmTask(self.specs))


def _parameters(profile: SlurmProfile, max_parallel: int | None, setup_env: dict) -> dict:
    params = {
        "time": profile.time_min,
        "cpus_per_task": profile.cpus_per_task,
        "mem": f"{int(profile.mem_gb * 1024)}MB",
        "signal_delay_s": profile.signal_delay_s,
        "array_parallelism": max_parallel or profile.max_parallel,
        "job_name": "repro",
        "setup": [f"export {k}={shlex.quote(str(v))}" for k, v in sorted(setup_env.items())] + list(profile.setup),
    }
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(profile, key):
            params[key] = getattr(profile, key)
    if profile.gpus_per_node:
        params["gpus_per_node"] = profile.gpus_per_node
    if profile.extra_sbatch:
        params["additional_parameters"] = dict(profile.extra_sbatch)
    return params


def _task_env(profile: SlurmProfile) -> dict:
    env = {"REPRO_RESULTS": str(results_root())}
    for key in ("REPRO_CHECKPOINT_EVERY_S", "REPRO_DEVICE", "REPRO_TENSORBOARD", "REPRO_BLAS_THREADS",
                "REPRO_KERNELS"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(profile.env)
    return env


def sbatch_script(params: dict, n_tasks: int, folder: Path, python: str) -> str:
    from submitit.slurm.slurm import _make_sbatch_string

    command = " ".join([python, "-u -m submitit.core._submit", shlex.quote(str(folder))])
    extra = {"map_count": n_tasks} if n_tasks > 1 else {}
    return _make_sbatch_string(command=command, folder=folder, **params, **extra)


def ledger(run_dir: Path) -> dict | None:
    return RunRecord(run_dir).read_json("slurm.json")


def slurm_states(entries: dict[str, dict]) -> dict[str, str]:
    """{label: ledger entry} -> {label: Slurm state}, from one sacct call through submitit's watcher."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    watcher = SlurmInfoWatcher(delay_s=0)
    for e in entries.values():
        watcher.register_job(e["job_id"])
    try:
        watcher.update()
    except Exception as exc:  # noqa: BLE001 - a cluster that is down
        raise ReproError(f"cannot read job states from Slurm (sacct): {exc}") from None
    states = {label: watcher.get_state(e["job_id"], mode="cache") for label, e in entries.items()}
    if any(state.split()[0] == "UNKNOWN" for state in states.values()):
        # sacct learns of a job only once the accounting daemon has recorded it, seconds after sbatch returns;
        # the controller's queue (squeue) knows it at once
        queue = squeue_states()
        states = {label: queue.get(entries[label]["job_id"], state) if state.split()[0] == "UNKNOWN" else state
                  for label, state in states.items()}
    return states


def squeue_states() -> dict[str, str]:
    """{job id (array tasks as ID_TASK): state} of every job in the controller's queue."""
    import subprocess

    proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise ReproError(f"cannot read the Slurm queue (squeue): {proc.stderr.strip()}")
    return dict(line.split()[:2] for line in proc.stdout.splitlines() if len(line.split()) >= 2)


def check_cluster() -> None:
    import shutil
    import subprocess

    if not shutil.which("sbatch"):
        raise ReproError("the slurm launcher needs sbatch on PATH; none found (start one with `make slurm-up`)")
    proc = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0 or "UP" not in proc.stdout:
        raise ReproError(f"the Slurm controller does not answer (scontrol ping: {proc.stdout.strip() or proc.stderr.strip()}); "
                         "nothing was submitted")


def submit_sweep(specs: list[RunSpec], profile: str | None = None, runs_per_task: int = 1,
                 max_parallel: int | None = None, dry_run: bool = False, out=None) -> int:
    out = out or sys.stdout  # looked up per call: the stream in force now, not at import
    prof = load_profile(profile)
    check_environment(_task_env(prof))  # the REPRO_* settings the tasks will run with, the profile's `env` included
    if runs_per_task < 1:
        raise ReproError(f"--runs-per-task must be at least 1, got {runs_per_task}")
    if max_parallel is not None and max_parallel < 1:
        raise ReproError(f"--max-parallel must be at least 1, got {max_parallel}")
    diverged, incomplete = still_to_run(specs)  # diverged runs: recorded outcomes, never run again
    for spec in incomplete:  # every config to be submitted resolves and validates here, not on a compute node
        resolve(spec)
    check_inputs(incomplete)  # and what the runs read besides their configs (stored datasets) is there
    if not dry_run:
        check_cluster()
    queued = {}
    tracked = {s.label: e for s in incomplete if (e := ledger(s.run_dir))}
    if tracked and not dry_run:
        states = slurm_states(tracked)
        queued = {label for label, state in states.items() if state.split()[0] in ACTIVE_STATES}
    # a run that finished while the states were read left the queue with its DONE written: not submitted again
    pending = [s for s in incomplete if s.label not in queued and not RunRecord(s.run_dir).is_complete()]
    recorded = f", {len(diverged)} diverged (recorded outcomes, not run again)" if diverged else ""
    print(f"{len(specs)} runs: {len(specs) - len(queued) - len(pending) - len(diverged)} complete{recorded}, "
          f"{len(queued)} already queued or running, {len(pending)} to submit", file=out)
    if not pending:
        return 0
    chunks = [pending[i:i + runs_per_task] for i in range(0, len(pending), runs_per_task)]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = logs_root() / f"{pending[0].paper}" / f"{stamp}-{os.getpid()}"
    params = _parameters(prof, max_parallel, _task_env(prof))
    python = prof.python or sys.executable
    if dry_run:
        print(sbatch_script(params, len(chunks), folder / "%j", python), file=out)
        return 0
    executor = submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=prof.max_requeues, python=python)
    executor.update_parameters(**params)
    with executor.batch():
        jobs = [executor.submit(SlurmTask(chunk)) for chunk in chunks]
    for job, chunk in zip(jobs, chunks):
        for spec in chunk:
            RunRecord(spec.run_dir).path.mkdir(parents=True, exist_ok=True)
            atomic_write_text(spec.run_dir / "slurm.json", json.dumps(
                {"job_id": job.job_id, "folder": str(folder / "%j"), "submitted": now(), "spec": spec.to_json()},
                indent=2, sort_keys=True) + "\n")
    array_id = jobs[0].job_id.split("_")[0]
    print(f"submitted job {array_id}: {len(chunks)} array tasks ({runs_per_task} run(s) each, at most "
          f"{params['array_parallelism']} at once); logs in {folder}", file=out)
    return 0


def log_folder(entry: dict) -> Path:
    """The folder of a ledger entry's submitit logs (its `%j` filled with the job id)."""
    return Path(entry["folder"].replace("%j", entry["job_id"]))


def stderr_tail(entry: dict, lines: int = 8) -> str:
    errs = sorted(log_folder(entry).glob("*_log.err"))
    if not errs:
        return ""
    return "\n".join(errs[-1].read_text(errors="replace").rstrip().splitlines()[-lines:])


def spec_from_json(d: dict) -> RunSpec:
    d = dict(d)
    d["overrides"] = tuple(tuple(kv) for kv in d.get("overrides", []))
    return RunSpec(**{f.name: d[f.name] for f in dataclasses.fields(RunSpec)})
