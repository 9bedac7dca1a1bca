import os
import subprocess
import sys
from pathlib import Path

import pytest

import common  # noqa: F401  (before any test module loads numpy or torch: AVX2 kernels, common/platform/kernels.py)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """Run records go to a temporary folder, never to the repository's results/."""
    root = tmp_path / "results"
    monkeypatch.setenv("REPRO_RESULTS", str(root))
    return root


def repro(*args, env=None, check=False):
    """Run the installed `repro` command line in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "common.platform.cli", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"repro {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def table_bytes(run_dir):
    """A run's metric tables, as bytes: equal bytes mean identical metrics."""
    return {p.name: p.read_bytes() for p in sorted(Path(run_dir).glob("*.csv.gz"))}


class Crash(Exception):
    """Raised right after a checkpoint is written: a run dying there must resume to the same metrics."""


def run_with_crashes(spec, monkeypatch, crash_at_checkpoints):
    """Execute `spec`, crashing right after each listed checkpoint (counted over all attempts), then to completion."""
    from common.platform.records import RunRecord
    from common.platform.runs import execute

    original = RunRecord.save_checkpoint
    calls = {"n": 0}

    def crashing(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] in crash_at_checkpoints:
            raise Crash

    monkeypatch.setattr(RunRecord, "save_checkpoint", crashing)
    for _ in crash_at_checkpoints:
        with pytest.raises(Crash):
            execute(spec, show_progress=False)
        assert RunRecord(spec.run_dir).status() == "failed"
        assert "Crash" in RunRecord(spec.run_dir).failure_tail()  # the traceback is recorded
    monkeypatch.setattr(RunRecord, "save_checkpoint", original)
    assert execute(spec, show_progress=False) == "done"
    return RunRecord(spec.run_dir)


def execute_in(root, monkeypatch, *spec_args):
    """Execute RunSpec(*spec_args) with its run records under `root`; returns the run's folder."""
    from common.platform.runs import RunSpec, execute

    monkeypatch.setenv("REPRO_RESULTS", str(root))
    spec = RunSpec(*spec_args)
    execute(spec, show_progress=False)
    return spec.run_dir


def same_seed_and_resume_equal(tmp_path, monkeypatch, paper, experiment, variant, overrides, crash_at_checkpoints,
                               agent_file=None):
    """Run one quick-budget config (seed 0, a checkpoint after every iteration) twice, and a third time crashed right
    after each of `crash_at_checkpoints` and resumed to the end: the metric tables of all three must be
    byte-identical (same seed, same metrics; resumed equals uninterrupted), and so must `agent_file` if named.
    Returns the first run's folder."""
    from common.platform.records import RunRecord
    from common.platform.runs import RunSpec

    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")  # a checkpoint after every iteration
    first, second = (execute_in(tmp_path / name, monkeypatch, paper, experiment, "quick", variant, 0, overrides)
                     for name in ("a", "b"))
    assert table_bytes(first) == table_bytes(second)
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(paper, experiment, "quick", variant, 0, overrides)
    run_with_crashes(spec, monkeypatch, crash_at_checkpoints)
    assert RunRecord(spec.run_dir).read_json("provenance.json")["attempts"] == len(crash_at_checkpoints) + 1
    assert table_bytes(spec.run_dir) == table_bytes(first)
    if agent_file is not None:
        for other in (second, spec.run_dir):
            assert (other / agent_file).read_bytes() == (first / agent_file).read_bytes()
    return first


def slurm_dry_run(paper, experiment, runs, capsys, budget="paper"):
    """`repro sweep PAPER EXPERIMENT --budget BUDGET --launcher slurm --profile local --dry-run` (a README's Slurm
    line with `--profile local` for NAME): it succeeds and plans `runs` runs as one job array (nothing is submitted
    or written). Returns its output."""
    from common.platform import cli

    assert cli.main(["sweep", paper, experiment, "--budget", budget, "--launcher", "slurm", "--profile", "local",
                     "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{runs} runs" in out and f"#SBATCH --array=0-{runs - 1}" in out, out[-2000:]
    return out


_RUN_WITH_OR_WITHOUT_KEPT_MEMORY = """
import importlib, json, sys
from pathlib import Path
from common.platform.runs import RunSpec, execute
module_name, keep, spec_args = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3])
module = importlib.import_module(module_name)
assert hasattr(module, "keep_freed_memory"), module_name + " does not call keep_freed_memory"
# REPRO_KEEP_FREED_MEMORY (set by the caller) is 0 where the loop's call must do nothing, as `repro bench --kept-memory`
spec = RunSpec(*spec_args[:5], tuple(tuple(kv) for kv in spec_args[5]))
execute(spec, show_progress=False)
from common.platform import memory
assert memory._applied == keep  # the setting is on in one process only
print(spec.run_dir)
"""


def same_bytes_with_and_without_kept_memory(tmp_path, module, paper, experiment, variant, overrides,
                                            agent_file=None):
    """Run one quick-budget config (seed 0) in two processes, one where `module`'s call of `keep_freed_memory`
    (common/platform/memory.py) sets glibc's malloc to keep freed memory and one where REPRO_KEEP_FREED_MEMORY=0 makes
    the call do nothing, one BLAS thread each: their metric tables (and `agent_file` if named) must be byte-identical."""
    import json

    runs = []
    for keep in ("0", "1"):
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "REPRO_KEEP_FREED_MEMORY": keep,
               "REPRO_RESULTS": str(tmp_path / f"keep{keep}")}
        args = json.dumps([paper, experiment, "quick", variant, 0, [list(kv) for kv in overrides]])
        proc = subprocess.run([sys.executable, "-c", _RUN_WITH_OR_WITHOUT_KEPT_MEMORY, module, keep, args], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs.append(Path(proc.stdout.strip().splitlines()[-1]))
    without, with_kept = runs
    assert table_bytes(without) and table_bytes(without) == table_bytes(with_kept)
    if agent_file is not None:
        assert (without / agent_file).read_bytes() == (with_kept / agent_file).read_bytes()
    return without
