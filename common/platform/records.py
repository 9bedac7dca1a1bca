"""Run records: one folder per run.

    config.yaml        resolved config (written first; a different config in the same folder is an error)
    attempts.jsonl     one line per start: host, pid, launcher, time, git commit, the machine (CPU, Python, platform,
                       device) and package versions (a resumed run has several, perhaps on other machines)
    <table>.csv.gz     long-form metrics with a seed column (deterministic gzip: same data, same bytes)
    provenance.json    git commit and dirty flag, package versions, Python, CPU/GPU, host, seed, times, throughput
    DONE               completion marker, written last, with the SHA-256 of every file it vouches for: only a run
                       whose DONE is there and whose files still match it counts as complete; a mismatch is a
                       "damaged" run (named by `repro status` and `repro verify`, set aside and rerun by a sweep)
    FAILED             traceback of the last failed attempt
    DIVERGED           a run whose training went non-finite (common/platform/finite.py: NonFiniteError): the recorded
                       outcome, written beside FAILED, with the error's line, the code, packages and machine, and the
                       SHA-256 of every file the folder held then. Never a complete run; committed like DONE, so that
                       claims count the seed as run and name the divergence (common/analysis/report.py); a sweep does
                       not run it again (the same code diverges the same way: move the folder aside to try again)
    RUNNING            live marker (host, pid, and progress: units done of the total, updated every 30 s), ignored by git
    checkpoint.pkl     state to resume from, with the wall time and units the work in it took, ignored by git
    live/              the metrics so far, written at each checkpoint (common/platform/live.py): ignored by git, never
                       vouched for by DONE, removed once DONE is written
    tensorboard/       with REPRO_TENSORBOARD=1, the same metrics as TensorBoard scalars (kept; ignored by git)
    agent.json, agent.npz   the trained agent (common/rl/agents.py): what it needs to act and its small policy, vouched
                       for by DONE and committed
    *.large.npz        an agent's large arrays (Atari networks, critics): kept beside the run, ignored by git and not
                       vouched for by DONE (a clone without them is intact); agent.json records their checksum

Every file is written atomically (temporary file, then rename), so a crash never leaves a half-written file and
never a half-run that looks whole.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import gzip
import hashlib
import io
import json
import os
import pickle
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from common import REPO_ROOT
from common.platform.errors import ReproError, RunningElsewhere

TRACKED_PACKAGES = ("numpy", "scipy", "pandas", "omegaconf", "torch", "gymnasium", "mujoco", "ale-py", "submitit", "cma")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`; on any failure (a full disk, a
    read-only folder) the temporary file is removed and the error raised, `path` left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def table_to_bytes(df: pd.DataFrame) -> bytes:
    """CSV, gzip with a fixed header timestamp: identical data gives identical bytes."""
    text = df.to_csv(index=False, float_format="%.8g", lineterminator="\n")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(text.encode())
    return buf.getvalue()


# A copy of the code without its git history (rsynced to a cluster or another machine) carries this manifest:
# the commit and the git blob hash of every tracked file, so a run there still records which commit it ran and
# whether the copy differs from it (each file is hashed here, as git would).
TREE_MANIFEST = ".repro-tree.json"


def _git(*args: str, root: Path) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def git_blob_sha1(data: bytes) -> str:
    """The object id git gives a file's content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_tree_manifest(root: Path = REPO_ROOT) -> Path:
    """Write TREE_MANIFEST for HEAD (refused when tracked code differs from HEAD: the copy would not be HEAD)."""
    state = {"commit": _git("rev-parse", "HEAD", root=root),
             "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results", root=root))}
    if state["dirty"]:
        raise ReproError(f"tracked files in {root} differ from HEAD: commit them before writing {TREE_MANIFEST}")
    blobs = {}
    for line in _git("ls-tree", "-r", "HEAD", root=root).splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob" and mode in ("100644", "100755") and not path.startswith("results/"):
            blobs[path] = sha
    target = root / TREE_MANIFEST
    atomic_write_text(target, json.dumps({"commit": state["commit"], "blobs": blobs}, indent=0, sort_keys=True))
    return target


def manifest_state(root: Path = REPO_ROOT) -> dict:
    """Commit and dirty flag of a copy without .git, from its TREE_MANIFEST (every listed file rehashed)."""
    manifest = json.loads((root / TREE_MANIFEST).read_text())
    dirty = False
    for path, sha in manifest["blobs"].items():
        file = root / path
        if not file.is_file() or git_blob_sha1(file.read_bytes()) != sha:
            dirty = True
            break
    return {"commit": manifest["commit"], "dirty": dirty, "checked_by": TREE_MANIFEST}


@functools.lru_cache(maxsize=1)
def git_state() -> dict:
    """Commit of the code and whether it differs from that commit (recorded results excluded)."""
    try:
        commit = _git("rev-parse", "HEAD", root=REPO_ROOT)
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results", root=REPO_ROOT))
        return {"commit": commit, "dirty": dirty}
    except (subprocess.CalledProcessError, FileNotFoundError):
        if (REPO_ROOT / TREE_MANIFEST).is_file():
            return manifest_state(REPO_ROOT)
        return {"commit": None, "dirty": None}


def machine() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = None
    if "torch" in sys.modules:  # only report a GPU if this run used torch
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    from common.platform import kernels

    return {"host": socket.gethostname(), "cpu": cpu, "cpu_count": os.cpu_count(), "gpu": gpu,
            "python": platform.python_version(), "platform": platform.platform(),
            "kernels": kernels.in_force()}  # the SIMD kernels numpy and torch computed with (kernels.py)


def attempt_machine() -> dict:
    """What one attempt computes on, known before it starts: CPU, core count, Python, platform and the requested
    device (`machine()` names the GPU at the end, once torch has looked)."""
    from common.platform.device import device_name

    full = machine()
    return {**{k: full[k] for k in ("host", "cpu", "cpu_count", "python", "platform")}, "device": device_name()}


def package_versions() -> dict:
    out = {}
    for name in TRACKED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


#: A run folder's folder of live metrics (common/platform/live.py): never vouched for by DONE (DONE vouches only for the
#: run folder's own files), removed when DONE is written.
LIVE_DIR = "live"
#: what a run read besides its config, while it runs (RunContext.record_input); provenance.json's `inputs` once DONE
INPUTS_FILE = "INPUTS"
#: Files of a run folder that its DONE marker does not vouch for: live state, locks, the Slurm ledger, temporaries.
UNVOUCHED = ("DONE", "DIVERGED", "RUNNING", "FAILED", "checkpoint.pkl", ".lock", "slurm.json", INPUTS_FILE)
#: Endings of files kept beside a run but never committed (git-ignored): an agent's large arrays (common/rl/agents.py).
#: DONE does not vouch for them, so a fresh clone without them is intact; the agent's .json (vouched) records their
#: checksum, checked when they are loaded.
UNVOUCHED_SUFFIXES = (".large.npz",)


def _vouched(name: str) -> bool:
    return not (name in UNVOUCHED or name.startswith(".") or name.endswith(".tmp") or name.startswith("checkpoint.pkl")
                or name.endswith(UNVOUCHED_SUFFIXES))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: run folder -> (the stat signature of its DONE and vouched files, the damage found then): a record is hashed
#: again only when one of its files changed size or modification time, so repeated checks in one process are cheap.
_VERIFIED: dict[str, tuple[tuple, tuple[str, ...]]] = {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def duration_text(seconds: float) -> str:
    """'3.7 h' from an hour on, '12 min' below it (a run a minute from its end does not read '0.0 h')."""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{max(1, round(seconds / 60))} min"


@dataclass
class RunRecord:
    path: Path

    # ---- state -------------------------------------------------------------------------------------------
    def is_complete(self) -> bool:
        """DONE is there and every file it vouches for still matches its checksum."""
        return (self.path / "DONE").exists() and not self.damage()

    def is_damaged(self) -> bool:
        return self._marker() is not None and bool(self.damage())

    def _marker(self) -> str | None:
        """DONE where the run finished, else DIVERGED where its training went non-finite, else None."""
        return next((m for m in ("DONE", "DIVERGED") if (self.path / m).exists()), None)

    def divergence(self) -> dict | None:
        """The DIVERGED record of an intact run whose training went non-finite (`error`: its line), else None."""
        if self._marker() != "DIVERGED" or self.damage():
            return None
        return self.read_json("DIVERGED")

    def damage(self) -> tuple[str, ...]:
        """What is wrong with a finished (or diverged) run's files, one 'FILE: problem' each (empty: intact, or not
        finished)."""
        marker = self._marker()
        if marker is None:
            return ()
        done = self.path / marker
        try:
            names = sorted(p.name for p in self.path.iterdir() if p.is_file() and _vouched(p.name))
            signature = tuple((n, st.st_size, st.st_mtime_ns) for n in [marker, *names]
                              for st in [(self.path / n).stat()])
        except FileNotFoundError:
            return ()
        cached = _VERIFIED.get(str(self.path))
        if cached and cached[0] == signature:
            return cached[1]
        problems = []
        try:
            sums = json.loads(done.read_text())["sha256"]
            if not isinstance(sums, dict):
                raise TypeError
        except (json.JSONDecodeError, UnicodeDecodeError):
            problems.append(f"{marker}: not readable as JSON")
            sums = None
        except (KeyError, TypeError):
            problems.append(f"{marker}: records no checksums (written before DONE carried them; `repro verify --seal` "
                            "adds them after reading the run's data in full)")
            sums = None
        if sums is not None:
            for name, digest in sorted(sums.items()):
                if not (self.path / name).is_file():
                    problems.append(f"{name}: missing")
                elif sha256_of(self.path / name) != digest:
                    problems.append(f"{name}: contents differ from the checksum {marker} recorded")
            ended = "finished" if marker == "DONE" else "diverged"
            problems += [f"{name}: not vouched for by {marker} (added after the run {ended})"
                         for name in names if name not in sums]
        _VERIFIED[str(self.path)] = (signature, tuple(problems))
        return tuple(problems)

    def set_aside(self, root: Path) -> Path:
        """Move this run's files (its lock aside) to `root/<UTC time>/...`, keeping the damaged record for
        inspection; the run's folder is then empty, ready to run again. Returns where the files went."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        dest = root / f"{self.path.name}.{stamp}.{os.getpid()}"
        dest.mkdir(parents=True, exist_ok=False)
        for p in sorted(self.path.iterdir()):
            if p.name != ".lock":
                os.replace(p, dest / p.name)
        _VERIFIED.pop(str(self.path), None)
        return dest

    def has_checkpoint(self) -> bool:
        return (self.path / "checkpoint.pkl").exists()

    def status(self) -> str:
        """done | diverged | damaged | running | failed | interrupted | pending (local view; the Slurm launcher
        refines it). An interrupted run resumes from its checkpoint if it has one (`has_checkpoint`), else starts
        over; a diverged one is a recorded outcome, not run again."""
        marker = self._marker()
        if marker is not None:
            return "damaged" if self.damage() else "done" if marker == "DONE" else "diverged"
        running = self.read_json("RUNNING")
        if running:
            if self.running_elsewhere() or _pid_alive(int(running.get("pid", -1))):
                return "running"
            return "interrupted"
        if (self.path / "FAILED").exists():
            return "failed"
        if self.has_checkpoint() or (self.path / "config.yaml").exists():
            return "interrupted"
        return "pending"

    def running_elsewhere(self) -> str | None:
        """The host named by a RUNNING marker written on another machine (whose process this one cannot see), or
        None."""
        host = (self.read_json("RUNNING") or {}).get("host")
        return host if host is not None and host != socket.gethostname() else None

    def failure_tail(self, lines: int = 6) -> str:
        p = self.path / "FAILED"
        return "\n".join(p.read_text().rstrip().splitlines()[-lines:]) if p.exists() else ""

    # ---- files -------------------------------------------------------------------------------------------
    def read_json(self, name: str) -> dict | None:
        p = self.path / name
        try:
            return json.loads(p.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

    def ensure_config(self, config_yaml: str, defaults: dict | None = None) -> None:
        """Write the run's config, or check that the folder's is the same. A folder started before a config key
        existed (its config.yaml lacks the key) is the same run when the new key is at its default (`defaults`):
        an interrupted run resumes under code that added, say, `save_agent_at_steps` (and keeps its config.yaml)."""
        p = self.path / "config.yaml"
        if p.exists():
            old_text = p.read_text()
            if old_text != config_yaml and not _same_but_new_defaults(old_text, config_yaml, defaults):
                raise ReproError(
                    f"{self.path} already holds a run with a different config; nothing was changed. "
                    "Use other overrides, another seed, or move that folder away."
                )
            return
        atomic_write_text(p, config_yaml)

    def write_table(self, name: str, df: pd.DataFrame) -> None:
        atomic_write_bytes(self.path / f"{name}.csv.gz", table_to_bytes(df))

    def read_table(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.path / f"{name}.csv.gz")

    def tables(self) -> list[str]:
        return sorted(p.name[: -len(".csv.gz")] for p in self.path.glob("*.csv.gz"))

    # ---- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(self, state: Any, wall_s: float | None = None, units: int | None = None) -> None:
        """Save the runner's `state`, with the wall time and units (over all attempts) that produced it."""
        checkpoint = Checkpoint(state, wall_s, units)
        atomic_write_bytes(self.path / "checkpoint.pkl", pickle.dumps(checkpoint, protocol=pickle.HIGHEST_PROTOCOL))

    def load_checkpoint(self) -> Checkpoint | None:
        p = self.path / "checkpoint.pkl"
        if not p.exists():
            return None
        with open(p, "rb") as fh:
            loaded = pickle.load(fh)
        # a checkpoint written before checkpoints carried their cost holds the bare state: its cost is unknown
        return loaded if isinstance(loaded, Checkpoint) else Checkpoint(loaded, None, None)

    # ---- lifecycle ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self):
        """Exclusive claim on this run for one process; a second claimant gets a clear error."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / ".lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise RunningElsewhere(f"{self.path} is being run by another process right now") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def start_attempt(self, launcher: str, git: dict | None = None, threads: dict | None = None) -> dict:
        """Append this start to attempts.jsonl; `git` (commit, dirty) says which code this attempt runs, `threads`
        the thread counts it starts with (common/platform/threads.py: in_force); the machine and the package
        versions it computes with, so that a run resumed elsewhere names every machine its numbers came from."""
        attempt = {"host": socket.gethostname(), "pid": os.getpid(), "launcher": launcher, "start": now(), "git": git,
                   "threads": threads, "machine": attempt_machine(), "packages": package_versions(),
                   "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
                   "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID")}
        with open(self.path / "attempts.jsonl", "a") as fh:
            fh.write(json.dumps(attempt, sort_keys=True) + "\n")
        (self.path / "FAILED").unlink(missing_ok=True)
        self.write_json("RUNNING", attempt)
        return attempt

    def update_progress(self, done: int, total: int, unit: str, initial: int = 0) -> None:
        """Record in the RUNNING marker how far this attempt has come from `initial` (what `repro status` shows)."""
        running = self.read_json("RUNNING")
        if running is None or running.get("pid") != os.getpid():
            return  # not this process's run (or already finished)
        self.write_json("RUNNING", {**running, "progress": {"done": int(done), "total": int(total), "unit": unit,
                                                            "initial": int(initial), "at": now()}})

    def progress_text(self, time_left: bool = True) -> str | None:
        """'230,000/1,000,000 env-steps (23%) at TIME; this attempt 57.3 env-steps/s, about 3.7 h to go' from the
        RUNNING marker (the time left only if `time_left`), or None when no progress was recorded."""
        running = self.read_json("RUNNING") or {}
        p = running.get("progress")
        if not p or not p.get("total"):
            return None
        text = f"{p['done']:,}/{p['total']:,} {p['unit']} ({100 * p['done'] / p['total']:.0f}%) at {p['at']}"
        if "initial" not in p or "start" not in running:
            return text
        seconds = (dt.datetime.fromisoformat(p["at"]) - dt.datetime.fromisoformat(running["start"])).total_seconds()
        if seconds <= 0 or p["done"] <= p["initial"]:
            return text
        rate = (p["done"] - p["initial"]) / seconds  # units per second of this attempt, from its start
        text += f"; this attempt {rate:,.1f} {p['unit']}/s"
        return text + (f", about {duration_text((p['total'] - p['done']) / rate)} to go" if time_left else "")

    def attempts(self) -> list[dict]:
        p = self.path / "attempts.jsonl"
        return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []

    def fail(self, text: str) -> None:
        """Mark the attempt FAILED. If even that cannot be written (a full disk), the RUNNING marker still goes, so
        that `repro status` shows a dead run (resumable only if it has a checkpoint), never a live one."""
        try:
            atomic_write_text(self.path / "FAILED", text)
        finally:
            with contextlib.suppress(OSError):
                (self.path / "RUNNING").unlink(missing_ok=True)

    def diverge(self, error: str, provenance: dict) -> None:
        """Record that the run's training went non-finite (`error`: the one line naming what and where), with
        `provenance` (the inputs it read included: the INPUTS file goes, as at DONE) and the checksum of every file
        the folder holds now; after `fail`."""
        names = sorted(p.name for p in self.path.iterdir() if p.is_file() and _vouched(p.name))
        self.write_json("DIVERGED", {**provenance, "error": error,
                                     "sha256": {n: sha256_of(self.path / n) for n in names}})
        (self.path / INPUTS_FILE).unlink(missing_ok=True)
        _VERIFIED.pop(str(self.path), None)

    def finish(self, provenance: dict) -> None:
        """Write provenance, then DONE with the checksum of every file it vouches for, then drop the live state."""
        self.write_json("provenance.json", provenance)
        self.seal(provenance.get("end"))
        for name in ("RUNNING", "checkpoint.pkl", INPUTS_FILE):
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.path / LIVE_DIR, ignore_errors=True)  # the metrics so far: the run's tables say it all now

    def seal(self, end: str | None) -> None:
        """Write DONE over the files the folder holds now (config, attempts, provenance, tables)."""
        names = sorted(p.name for p in self.path.iterdir() if p.is_file() and _vouched(p.name))
        self.write_json("DONE", {"end": end, "tables": self.tables(),
                                 "sha256": {n: sha256_of(self.path / n) for n in names}})


def _same_but_new_defaults(old_yaml: str, new_yaml: str, defaults: dict | None) -> bool:
    """Whether `new_yaml` is `old_yaml` plus keys that are at their defaults (keys added to a config since)."""
    import yaml

    if defaults is None:
        return False
    old, new = yaml.safe_load(old_yaml), yaml.safe_load(new_yaml)
    if not (isinstance(old, dict) and isinstance(new, dict)) or set(old) - set(new):
        return False
    added = set(new) - set(old)
    return bool(added) and all(k in defaults and new[k] == defaults[k] for k in added) and \
        all(old[k] == new[k] for k in old)


@dataclass
class Checkpoint:
    """A runner's state to resume from, and what producing it cost over all attempts so far: wall seconds and
    units (None: unknown, for a checkpoint written before checkpoints carried their cost)."""

    state: Any
    wall_s: float | None
    units: int | None


@dataclass
class RunContext:
    """What a runner gets beside its config: checkpoints, progress and a throughput counter.

    `units` counts this attempt's work. `wall_s_total()` and `units_total()` add what the checkpoint this attempt
    resumed from had cost: the time of the work the run kept. Work done after an attempt's last checkpoint is lost
    when that attempt dies, and is not counted."""

    record: RunRecord
    checkpoint_every_s: float = 60.0
    show_progress: bool = True
    units: int = 0
    unit_name: str = "steps"
    _start: float = field(default_factory=time.monotonic)
    _last_checkpoint: float = field(default_factory=time.monotonic)
    _carried_wall_s: float | None = 0.0  # the cost of the work this attempt resumed from (None: unknown)
    _carried_units: int | None = 0
    #: writes the metrics so far at each checkpoint (common/platform/live.py: Writer; None: the runner has none)
    live: Any = None
    #: what the run read besides its config (a stored dataset), name -> its checksums: provenance.json's `inputs`
    inputs: dict = field(default_factory=dict)

    def restore(self) -> Any | None:
        """The state of the run's checkpoint (None: start fresh); its cost is carried into the totals."""
        checkpoint = self.record.load_checkpoint()
        if checkpoint is None:
            return None
        self._carried_wall_s, self._carried_units = checkpoint.wall_s, checkpoint.units
        return checkpoint.state

    def wall_s(self) -> float:
        """Wall seconds of this attempt so far."""
        return time.monotonic() - self._start

    def wall_s_total(self, wall_s: float | None = None) -> float | None:
        """`wall_s` (default: this attempt's so far) plus the wall seconds of the work it resumed from (None:
        unknown)."""
        if self._carried_wall_s is None:
            return None
        return self._carried_wall_s + (self.wall_s() if wall_s is None else wall_s)

    def units_total(self) -> int | None:
        return None if self._carried_units is None else self._carried_units + self.units

    def maybe_checkpoint(self, make_state, force: bool = False) -> bool:
        """Save `make_state()` if `checkpoint_every_s` passed since the last one (or `force`); then the metrics
        that state holds so far, as the run's live tables (when its runner declares them)."""
        if force or time.monotonic() - self._last_checkpoint >= self.checkpoint_every_s:
            state = make_state()
            self.record.save_checkpoint(state, self.wall_s_total(), self.units_total())
            self._last_checkpoint = time.monotonic()
            if self.live is not None:
                self.live.checkpoint(state, self.units_total(), self.wall_s_total())
            return True
        return False

    def record_input(self, name: str, entry: dict) -> None:
        """Name, in the run's provenance (`inputs`), something the run read besides its config, by its checksums
        (a stored dataset: common/offline/datasets.py, input_entry): `sha256` maps its files to their digests and
        `record`, where it has one, is the JSON that records them (a path relative to the results folder, or
        absolute; its `files` map each name to {"sha256": ...}), which `repro verify` compares with the run's.
        Until the run finishes they are kept in its INPUTS file, so that a resumed attempt that read other bytes
        than the attempt before stops with an error instead of finishing a run made of two inputs."""
        before = self.record.read_json(INPUTS_FILE) or {}
        if name in before and before[name] != entry:
            raise ReproError(f"{self.record.path}: this attempt read {name} with other checksums than the attempt it "
                             f"resumes ({entry} against {before[name]}); a run cannot be made of both: move its folder "
                             "aside to make it again")
        self.inputs = {**before, **self.inputs, name: entry}
        self.record.write_json(INPUTS_FILE, self.inputs)

    def count(self, n: int, unit: str) -> None:
        self.units += int(n)
        self.unit_name = unit

    def progress(self, total: int, desc: str, initial: int = 0, unit: str = "steps") -> "Progress":
        """A progress bar (on a terminal) that also records its count, in `unit`, in the RUNNING marker every
        `REPRO_PROGRESS_EVERY_S` seconds (default 30)."""
        from tqdm.auto import tqdm

        from common.platform.validate import env_setting

        bar = tqdm(total=total, initial=initial, desc=desc, leave=False, mininterval=1.0,
                   disable=not (self.show_progress and sys.stderr.isatty()))
        return Progress(bar, self.record, total, initial, unit, env_setting("REPRO_PROGRESS_EVERY_S", 30.0))


@dataclass
class Progress:
    """tqdm's `update`/`close`, plus the count written to the run's RUNNING marker at most every `every_s`."""

    bar: Any
    record: RunRecord
    total: int
    done: int
    unit: str
    every_s: float
    _last: float = -float("inf")
    initial: int = field(init=False)  # where this attempt started (a resumed run starts at its checkpoint)

    def __post_init__(self) -> None:
        self.initial = self.done

    def update(self, n: int) -> None:
        self.bar.update(n)
        self.done += n
        if time.monotonic() - self._last >= self.every_s:
            self.record.update_progress(self.done, self.total, self.unit, self.initial)
            self._last = time.monotonic()

    def close(self) -> None:
        self.bar.close()
