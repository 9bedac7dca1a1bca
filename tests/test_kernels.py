"""The SIMD kernels of a run: AVX2's wherever the CPU has AVX2, so that the same run gives the same bytes on an
AVX-512 machine and an AVX2 one; recorded in provenance.json; a process that loaded numpy before the pin is stopped
before any run folder is made (common/platform/kernels.py)."""
import json
import os
import subprocess
import sys

import pytest

from common import REPO_ROOT
from common.platform import kernels
from common.platform.errors import ReproError
from common.platform.runs import RunSpec, execute

needs_avx2 = pytest.mark.skipif(not kernels.cpu_has_avx2(), reason="the pin applies to x86-64 CPUs with AVX2")

PROBE = ("import json, numpy, torch; from common.platform import kernels; print(json.dumps(kernels.in_force()))")


def probe(first: str, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in kernels.AVX2_ENV and k != "REPRO_KERNELS"}
    env.update(PYTHONPATH=str(REPO_ROOT), **env_changes)
    return subprocess.run([sys.executable, "-c", f"{first}; {PROBE}"], env=env, capture_output=True, text=True)


@needs_avx2
def test_importing_common_first_holds_numpy_and_torch_to_avx2_kernels_whatever_the_shell_set():
    out = probe("import common", OPENBLAS_CORETYPE="SkylakeX", ATEN_CPU_CAPABILITY="avx512")
    state = json.loads(out.stdout)
    assert state["pinned"] and set(state["openblas"]) == {"Haswell"} and state["torch_cpu_capability"] == "AVX2"
    assert state["env"] == kernels.AVX2_ENV


@needs_avx2
def test_native_leaves_the_choice_to_the_libraries():
    state = json.loads(probe("import common", REPRO_KERNELS="native").stdout)
    assert not state["pinned"] and state["rule"] == "native"
    assert all(v is None for v in state["env"].values())


def test_a_bad_rule_is_an_error_naming_what_is_valid(monkeypatch):
    monkeypatch.setenv("REPRO_KERNELS", "avx512")
    with pytest.raises(ReproError, match="REPRO_KERNELS='avx512' is not valid; valid: avx2, native"):
        kernels.requested()


def test_a_run_on_unpinned_kernels_stops_before_its_folder_is_made(tmp_path, monkeypatch):
    """numpy loaded before the pin (here: OpenBLAS reports SkylakeX kernels) is refused with what to do."""
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    monkeypatch.setattr(kernels, "pinned", lambda: True)
    monkeypatch.setattr(kernels, "openblas_architectures", lambda: ["SkylakeX"])
    with pytest.raises(ReproError, match="kernels SkylakeX, not AVX2's.*import `common` first.*REPRO_KERNELS=native"):
        execute(RunSpec("russo2017_thompson", "fig3_1", "quick", "ts", 0, (("n_periods", 2),)), show_progress=False)
    assert not any(tmp_path.iterdir())


def test_provenance_records_the_kernels(tmp_path, monkeypatch):
    from common.platform.records import RunRecord

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    spec = RunSpec("russo2017_thompson", "fig3_1", "quick", "ts", 0, (("n_periods", 2),))
    execute(spec, show_progress=False)
    recorded = RunRecord(spec.run_dir).read_json("provenance.json")["machine"]["kernels"]
    assert recorded["rule"] == "avx2" and recorded["pinned"] == kernels.cpu_has_avx2()
    if recorded["pinned"]:
        assert set(recorded["openblas"]) == {"Haswell"}  # numpy's OpenBLAS, and scipy's where loaded
