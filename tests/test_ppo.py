"""PPO: determinism, resume after a crash equal to an uninterrupted run, and learning a small task to a threshold."""
import pytest

from common.platform.records import RunContext, RunRecord
from common.platform.runs import RunSpec
from papers.schulman2017_ppo.ppo import PPOConfig, run_ppo

PAPER = "schulman2017_ppo"
SMALL = (("total_env_steps", 3072), ("horizon", 512), ("epochs", 2))


from conftest import execute_in, run_with_crashes, table_bytes as _bytes  # noqa: E402


@pytest.mark.parametrize("variant", ["clip0.2__Hopper-v5", "adaptive_kl0.01__Swimmer-v5"])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch, variant):
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    roots = {name: execute_in(tmp_path / name, monkeypatch, PAPER, "table1", "quick", variant, 0, SMALL)
             for name in ("a", "b")}
    assert _bytes(roots["a"]) == _bytes(roots["b"])  # same seed, same config: identical metrics

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(PAPER, "table1", "quick", variant, 0, SMALL)
    run_with_crashes(spec, monkeypatch, (2, 5))
    assert RunRecord(spec.run_dir).read_json("provenance.json")["attempts"] == 3
    assert _bytes(spec.run_dir) == _bytes(roots["a"])


def test_ppo_learns_inverted_pendulum(tmp_path):
    cfg = PPOConfig(env_id="InvertedPendulum-v5", total_env_steps=24_576, seed=1)
    out = run_ppo(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    episodes = out["episodes"]
    # a random policy balances for about 5 steps (return ~5); seeds 0-3 reach 219-442 at this budget
    assert episodes["episode_return"].head(20).mean() < 50
    assert episodes["episode_return"].tail(10).mean() > 150


def test_quick_budget_end_to_end_with_report(results_root):
    from conftest import repro

    for experiment in ("random_policy", "fig3"):
        out = repro("sweep", PAPER, experiment, "--budget", "quick", check=True).stdout
        assert "failed 0" in out
    repro("report", PAPER, check=True)
    readme = (results_root / PAPER / "README.md").read_text()
    assert "fig3_hopper_vs_cleanrl" in readme and "reduced budget" in readme
    assert (results_root / PAPER / "figures" / "fig3_learning_curves.png").exists()


def test_bench_reports_training_next_to_environment_only(results_root):
    from common.platform.bench import run_bench

    r = run_bench(PAPER, "fig3", "clip0.2__InvertedPendulum-v5", 2048, save=True, rounds=1, peer=False)
    assert r["environment_only"] > r["training"] > 0 and 0 < r["ratio"] < 1
    assert r["environment_only_gym_wrappers"] > 0 and (results_root / PAPER / "bench.json").exists()


def test_ppo_atari_learns_the_toy_task_and_is_deterministic(tmp_path):
    from papers.schulman2017_ppo.ppo_atari import PPOAtariConfig, run_ppo_atari

    cfg = PPOAtariConfig(game="Toy", total_agent_steps=12_288, torch_threads=1)
    runs = [run_ppo_atari(cfg, RunContext(RunRecord(tmp_path / str(i)), checkpoint_every_s=1e9, show_progress=False))
            for i in range(2)]
    ep = runs[0]["episodes"]
    # random actions score 0 on average (8 steps of +1, -1 or 0); the best possible is 8
    assert ep["episode_return"].head(50).mean() < 1.5
    assert ep["episode_return"].tail(50).mean() > 5.0
    assert runs[0]["episodes"].equals(runs[1]["episodes"])


def test_ppo_atari_keys_the_paper_where_explicit_and_ppo2_where_silent():
    """c1 = 1 and A3C's network (Table 5, Sec. 6.4) by default, ppo2's orthogonal initialization (the paper is
    silent): gain sqrt(2) on the torso, 0.01 on the policy head, 1 on the value head, zero biases."""
    import torch

    from common.platform.config import to_dict
    from common.platform.runs import resolve
    from common.platform.runs import RunSpec
    from papers.schulman2017_ppo.ppo_atari import PolicyValueNet

    cfg = to_dict(resolve(RunSpec(PAPER, "atari", "reduced", "Pong", 0)))
    assert (cfg["vf_coef"], cfg["network"], cfg["init"]) == (1.0, "nips2013", "orthogonal")
    torch.manual_seed(0)
    net = PolicyValueNet(6, "nips2013", "orthogonal")
    for layer, gain in [(net.torso[0], 2 ** 0.5), (net.torso[5], 2 ** 0.5), (net.pi, 0.01), (net.v, 1.0)]:
        w = layer.weight.detach().reshape(layer.weight.shape[0], -1).double()  # rows orthogonal, norm = gain
        torch.testing.assert_close(w @ w.T, gain ** 2 * torch.eye(len(w), dtype=torch.float64), atol=1e-5, rtol=0)
        assert not layer.bias.detach().any()
    assert net.torso[0].bias.detach().abs().sum() == 0
    assert PolicyValueNet(6, "nips2013", "torch_default").pi.bias.detach().abs().sum() > 0


def test_ppo_atari_reduced_budget_is_the_papers_schedule_cut_short():
    """alpha anneals over the paper's 10M agent steps at every budget: a reduced run of 1M stops at alpha = 0.9, as
    the first tenth of a paper run; anneal_agent_steps = 0 (runs recorded before the key) compresses the schedule
    into the run's own steps. At the paper's budget both are the old formula 1 - t / iterations."""
    from common.platform.config import to_dict
    from common.platform.runs import RunSpec, resolve
    from papers.schulman2017_ppo.ppo_atari import PPOAtariConfig, alpha_at

    reduced = PPOAtariConfig(**{k: v for k, v in to_dict(resolve(RunSpec(PAPER, "atari", "reduced", "Pong", 0))).items()})
    n = -(-reduced.total_agent_steps // 1024)  # 977 iterations of 8 x 128
    assert reduced.anneal_agent_steps == 10_000_000
    assert alpha_at(reduced, 0) == 1.0 and alpha_at(reduced, n - 1) == pytest.approx(1 - 976 / 9766)
    compressed = PPOAtariConfig(total_agent_steps=1_000_000, anneal_agent_steps=0)
    assert alpha_at(compressed, n - 1) == pytest.approx(1 / 977)
    paper = PPOAtariConfig()
    for it in (0, 5000, 9765):
        assert alpha_at(paper, it) == pytest.approx(1 - it / 9766)


def test_ppo_atari_actor_seeds_are_independent_across_runs():
    from papers.schulman2017_ppo.ppo_atari import PPOAtariConfig, actor_seeds

    s0 = set(actor_seeds(PPOAtariConfig(seed=0), 0, 0).tolist() + actor_seeds(PPOAtariConfig(seed=0), 0, 3, 1).tolist())
    s1 = set(actor_seeds(PPOAtariConfig(seed=1), 1, 0).tolist() + actor_seeds(PPOAtariConfig(seed=1), 1, 3, 1).tolist())
    assert len(s0) == len(s1) == 16 and not s0 & s1
    assert actor_seeds(PPOAtariConfig(seed=1, env_seeding="offset"), 1, 0) == 1  # ale-py: 1 + i, shared with seed 0


def test_atari_keeping_freed_memory_changes_no_number(tmp_path):
    """`run_ppo_atari` keeps freed memory too: a Pong run of 2 iterations (8 actors x 128 steps; minibatches of 256
    frame stacks, 29 MB as float32) writes the same tables and saved agent, bit for bit, as without the setting."""
    from conftest import same_bytes_with_and_without_kept_memory

    same_bytes_with_and_without_kept_memory(tmp_path, "papers.schulman2017_ppo.ppo_atari", PAPER, "atari", "Pong",
                                            (("total_agent_steps", 2048),), agent_file="agent.large.npz")


def test_keeping_freed_memory_changes_no_number(tmp_path):
    """`run_ppo` sets glibc's malloc to keep freed memory (common/platform/memory.py): a Hopper run with the paper's
    horizon of 2,048 steps (batch temporaries of 1 MB) writes the same tables and saved agent, bit for bit, as the
    same run in a process where the call does nothing."""
    from conftest import same_bytes_with_and_without_kept_memory

    same_bytes_with_and_without_kept_memory(tmp_path, "papers.schulman2017_ppo.ppo", PAPER, "table1",
                                            "clip0.2__Hopper-v5", (("epochs", 2), ("horizon", 2048),
                                                                   ("total_env_steps", 4096)), agent_file="agent.npz")
