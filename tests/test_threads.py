"""A run's BLAS thread count: one thread unless REPRO_BLAS_THREADS asks otherwise, whatever OMP_NUM_THREADS says,
and recorded in provenance.json (common/platform/threads.py)."""
import os
import subprocess
import sys

import pytest

from common import REPO_ROOT
from common.platform.errors import ReproError
from common.platform.records import RunRecord
from common.platform.runs import RunSpec, execute

# GAE's quick 3D run: its numpy products are large enough that two BLAS threads change its metrics' last bits
RUN = ("schulman2016_gae", "fig3_biped", "quick", "gamma0.995__lambda0.98", 0)


def run_in_process(root, **env_changes) -> RunRecord:
    """`repro run` of RUN in a fresh process (numpy loads there with the given environment)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "REPRO_BLAS_THREADS")}
    env.update(REPRO_RESULTS=str(root), PYTHONPATH=str(REPO_ROOT), **env_changes)
    paper, experiment, budget, variant, seed = RUN
    subprocess.run([sys.executable, "-m", "common.platform.cli", "run", paper, experiment, "--budget", budget,
                    "--variant", variant, "--seed", str(seed)], env=env, check=True, capture_output=True)
    spec = RunSpec(paper, experiment, budget, variant, seed, root=str(root))
    return RunRecord(spec.run_dir)


def blas_counts(prov: dict) -> list[int]:
    return [lib["num_threads"] for lib in prov["threads"]["blas"]]


def test_one_blas_thread_unless_asked(tmp_path):
    unset = run_in_process(tmp_path / "unset")
    omp1 = run_in_process(tmp_path / "omp1", OMP_NUM_THREADS="1")
    two = run_in_process(tmp_path / "two", REPRO_BLAS_THREADS="2")
    for name in ("iterations", "episodes"):  # OMP_NUM_THREADS unset: the same bytes as with one thread asked for
        assert (unset.path / f"{name}.csv.gz").read_bytes() == (omp1.path / f"{name}.csv.gz").read_bytes()
    for record, n in ((unset, 1), (omp1, 1), (two, 2)):
        prov = record.read_json("provenance.json")
        assert blas_counts(prov) and set(blas_counts(prov)) == {n}
        assert prov["threads"]["blas"][0]["internal_api"] and prov["threads"]["blas"][0]["version"]
        assert [set(lib["num_threads"] for lib in a["blas"]) for a in prov["threads_per_attempt"]] == [{n}]
        assert f"BLAS {n} thread" in prov["deterministic_reason"]


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_thread_count_is_an_error_before_any_run_folder(tmp_path, monkeypatch, value):
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    monkeypatch.setenv("REPRO_BLAS_THREADS", value)
    with pytest.raises(ReproError, match="REPRO_BLAS_THREADS.*valid: a whole number >= 1"):
        execute(RunSpec(*RUN), show_progress=False)
    assert not any(tmp_path.iterdir())


def test_slurm_tasks_get_the_requested_count_and_a_bad_one_submits_nothing(tmp_path, monkeypatch, capsys):
    """A Slurm task runs execute() (one thread by default); REPRO_BLAS_THREADS travels to it in the sbatch script,
    and a bad value (here or in a profile's `env`) is refused before anything is submitted."""
    import common.platform.slurm as slurm
    from common.platform.runs import plan

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("REPRO_SLURM_LOGS", str(tmp_path / "logs"))
    specs = plan("russo2017_thompson", "fig3_1", "quick")
    monkeypatch.setenv("REPRO_BLAS_THREADS", "2")
    slurm.submit_sweep(specs, profile="local", dry_run=True)
    assert "export REPRO_BLAS_THREADS=2" in capsys.readouterr().out
    monkeypatch.setenv("REPRO_BLAS_THREADS", "0")
    with pytest.raises(ReproError, match="REPRO_BLAS_THREADS='0' is not a thread count"):
        slurm.submit_sweep(specs, profile="local", dry_run=True)
    assert not (tmp_path / "results").exists()


def test_a_torch_run_records_torch_threads_too(tmp_path, monkeypatch):
    from conftest import execute_in

    small = (("total_env_steps", 300), ("learning_starts", 200), ("eval_every_steps", 100), ("batch_size", 32),
             ("hidden_units", 32))
    run_dir = execute_in(tmp_path, monkeypatch, "haarnoja2018_sac", "fig1_hopper", "quick", "v2", 0, small)
    prov = RunRecord(run_dir).read_json("provenance.json")
    assert prov["threads"]["torch"] == 1 and set(blas_counts(prov)) == {1}  # the loop's torch_threads: 1
    assert "torch 1 thread" in prov["deterministic_reason"] and "BLAS 1 thread" in prov["deterministic_reason"]
