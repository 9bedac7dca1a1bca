"""The CUDA path of every torch algorithm that takes REPRO_DEVICE=cuda (DQN, SAC, DDPG, CQL), on a real GPU: the same
seed gives the same metrics bit for bit (the deterministic kernels common/platform/device.py asks for), a run killed
after a checkpoint and resumed on the GPU equals one left alone (checkpoints hold CPU tensors), and provenance.json
says the run computed on the GPU, deterministically, and names the card.

These tests need a GPU that torch sees; on a machine without one they are skipped (test_device.py covers what such a
machine can check: the errors, and the settings made before CUDA starts). The READMEs' Speed sections say when and
where they last ran."""
import pytest
import torch

from common.platform.records import RunRecord
from common.platform.runs import RunSpec
from conftest import execute_in, run_with_crashes, table_bytes
from test_ddpg import SMALL as DDPG_SMALL
from test_sac import SMALL as SAC_SMALL

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU that torch sees on this machine")

# (paper, experiment, variant, small overrides, checkpoints after which the resumed run is killed): each algorithm's
# smallest whole run, the one its own CPU determinism test uses. DQN has no resume check: its emulator states cannot be
# saved, so a resumed DQN run is not byte-equal to an uninterrupted one on any device (test_dqn.py says what holds)
RUNS = {
    "dqn": ("mnih2013_dqn", "toy", "nips2013", (), None),
    "sac": ("haarnoja2018_sac", "fig1_hopper", "v2", SAC_SMALL, (2, 5)),
    "ddpg": ("lillicrap2016_ddpg", "pendulum", "ddpg", DDPG_SMALL, (1, 4)),
    "cql_h": ("kumar2020_cql", "sanity", "cql_h", (("gradient_steps", 60),), (1, 2)),
}


@pytest.fixture
def on_cuda(monkeypatch):
    monkeypatch.setenv("REPRO_DEVICE", "cuda")
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")  # a checkpoint at every chance, for the resumed run


@pytest.mark.parametrize("name", sorted(RUNS))
def test_same_seed_same_metrics_on_the_gpu_and_resume_equals_uninterrupted(name, tmp_path, monkeypatch, on_cuda):
    paper, experiment, variant, small, crashes = RUNS[name]
    dirs = {k: execute_in(tmp_path / k, monkeypatch, paper, experiment, "quick", variant, 0, small) for k in "ab"}
    assert table_bytes(dirs["a"]) and table_bytes(dirs["a"]) == table_bytes(dirs["b"])
    prov = RunRecord(dirs["a"]).read_json("provenance.json")
    assert prov["device"] == "cuda" and prov["deterministic"] is True, prov
    assert prov["machine"]["gpu"] == torch.cuda.get_device_name(0)
    if crashes is None:
        return
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(paper, experiment, "quick", variant, 0, small)
    run_with_crashes(spec, monkeypatch, crashes)
    assert RunRecord(spec.run_dir).read_json("provenance.json")["attempts"] == len(crashes) + 1
    assert table_bytes(spec.run_dir) == table_bytes(dirs["a"])


def test_the_gpus_numbers_differ_from_the_cpus_only_in_the_last_bits_at_the_first_update(monkeypatch):
    """One CQL(H) update (the Lagrange variant, the paper's Gym setting) from the same weights and minibatch on both
    devices: the losses it returns agree to float32's rounding over a few hundred operations, not exactly."""
    import numpy as np

    from papers.kumar2020_cql.cql import CQLConfig, OfflineLearner

    cfg = CQLConfig(env_id="Hopper-v5", method="cql_h", lagrange=True, hidden_units=64, batch_size=32,
                    n_action_samples=4)
    gen = torch.Generator().manual_seed(0)
    b, n, obs_dim, act_dim = cfg.batch_size, cfg.n_action_samples, 11, 3
    batch = (torch.randn((b, obs_dim), generator=gen), torch.rand((b, act_dim), generator=gen) * 2 - 1,
             torch.randn(b, generator=gen), torch.randn((b, obs_dim), generator=gen), torch.zeros(b),
             torch.randn((b, act_dim), generator=gen), torch.randn((b, act_dim), generator=gen),
             (torch.randn((b * n, act_dim), generator=gen), torch.rand((b * n, act_dim), generator=gen)))
    losses = {}
    for device in ("cpu", "cuda"):
        monkeypatch.setenv("REPRO_DEVICE", device)
        torch.manual_seed(0)
        learner = OfflineLearner(cfg, obs_dim, act_dim, -np.ones(act_dim), np.ones(act_dim)).to(device)
        moved = [x.to(device) for x in batch[:7]] + [tuple(x.to(device) for x in batch[7])]
        losses[device] = learner.update(*moved, True).cpu().numpy()
    assert np.all(np.isfinite(losses["cpu"]))
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-4, atol=1e-5)
