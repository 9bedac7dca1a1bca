"""PPO: determinism, resume after a crash equal to an uninterrupted run, and learning a small task to a threshold."""
import pytest

from common.records import RunContext, RunRecord
from common.runs import RunSpec
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
    from common.bench import run_bench

    r = run_bench(PAPER, "fig3", "clip0.2__InvertedPendulum-v5", 2048, save=True)
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
