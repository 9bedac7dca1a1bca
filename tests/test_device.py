"""REPRO_DEVICE: a bad value, or cuda where torch sees none, is a clear error before any work starts; checkpoints
hold CPU tensors only; a CUDA run turns deterministic kernels on (or says in provenance that it is not
deterministic). (Runs on a GPU are not part of the suite: CI has none.)"""
import pytest
import torch

from common.platform.device import to_cpu
from conftest import repro


@pytest.mark.parametrize("value,message", [
    ("tpu", "REPRO_DEVICE='tpu' is not a device; valid: cpu, cuda"),
    pytest.param("cuda", "REPRO_DEVICE=cuda, but torch sees no CUDA device here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
])
def test_bad_device_is_a_clear_error_before_any_work(results_root, value, message):
    for args in (["run", "haarnoja2018_sac", "fig1_hopper", "--variant", "v2", "--budget", "quick"],
                 ["sweep", "mnih2013_dqn", "toy", "--budget", "quick"]):
        proc = repro(*args, env={"REPRO_DEVICE": value})
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not results_root.exists()  # nothing was started


def test_to_cpu_copies_nested_tensors_and_keeps_the_rest():
    state = {"w": torch.ones(2, requires_grad=True), "opt": [{"step": torch.tensor(3.0)}, (1, "a")], "n": 5}
    out = to_cpu(state)
    assert out["w"].device.type == "cpu" and not out["w"].requires_grad and torch.equal(out["w"], torch.ones(2))
    assert out["opt"][0]["step"].item() == 3.0 and out["opt"][1] == (1, "a") and out["n"] == 5


# ---- determinism on CUDA (no GPU here: torch's CUDA state is stubbed; the settings and provenance are real) ----

@pytest.fixture
def fake_cuda(monkeypatch):
    """A process in which torch sees a GPU that has not started yet; records what determinism settings were made."""
    import common.platform.device as device

    calls = []
    monkeypatch.setenv("REPRO_DEVICE", "cuda")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.delenv("REPRO_DETERMINISTIC", raising=False)
    monkeypatch.setattr(device, "_cuda_determinism", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch, "use_deterministic_algorithms",
                        lambda mode, **kw: calls.append(("use_deterministic_algorithms", mode)))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    return calls


def test_cuda_run_turns_determinism_on_before_cuda_starts_and_says_so(fake_cuda):
    import os

    from common.platform.device import determinism, torch_device

    assert torch_device().type == "cuda"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert fake_cuda == [("use_deterministic_algorithms", True)] and torch.backends.cudnn.benchmark is False
    record = determinism()
    assert record["deterministic"] is True and "CUBLAS_WORKSPACE_CONFIG=:4096:8" in record["deterministic_reason"]


def test_cuda_opt_out_is_recorded_as_not_deterministic(fake_cuda, monkeypatch):
    import os

    from common.platform.device import determinism, torch_device

    monkeypatch.setenv("REPRO_DETERMINISTIC", "0")
    torch_device()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ and fake_cuda == [("use_deterministic_algorithms", False)]
    record = determinism()
    assert record["deterministic"] is False and "REPRO_DETERMINISTIC=0" in record["deterministic_reason"]


def test_cuda_started_before_the_workspace_was_set_is_not_deterministic(fake_cuda, monkeypatch):
    from common.platform.device import determinism, torch_device

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    torch_device()
    assert determinism()["deterministic"] is False and "before" in determinism()["deterministic_reason"]
    # a deterministic workspace already in the environment when CUDA started is kept, and is enough
    import common.platform.device as device
    monkeypatch.setattr(device, "_cuda_determinism", None)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    torch_device()
    assert determinism()["deterministic"] is True and "CUBLAS_WORKSPACE_CONFIG=:16:8" in \
        determinism()["deterministic_reason"]


def test_bad_deterministic_switch_is_a_clear_error(fake_cuda, monkeypatch):
    from common.platform.device import torch_device
    from common.platform.errors import ReproError

    monkeypatch.setenv("REPRO_DETERMINISTIC", "yes")
    with pytest.raises(ReproError, match="REPRO_DETERMINISTIC='yes' is not valid"):
        torch_device()
    assert fake_cuda == []


def test_provenance_records_determinism_on_cpu(results_root):
    import json

    proc = repro("run", "russo2017_thompson", "fig3_1", "--variant", "ts", "--budget", "quick")
    assert proc.returncode == 0, proc.stderr
    prov = json.loads(next(results_root.rglob("provenance.json")).read_text())
    assert prov["device"] == "cpu" and prov["deterministic"] is True and prov["deterministic_reason"].startswith("cpu")
