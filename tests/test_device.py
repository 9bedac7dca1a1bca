"""REPRO_DEVICE: a bad value, or cuda where torch sees none, is a clear error before any work starts; checkpoints
hold CPU tensors only. (Runs on a GPU are not part of the suite: CI has none.)"""
import pytest
import torch

from common.device import to_cpu
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
