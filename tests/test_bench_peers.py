"""`repro bench` with a peer: the loop and the peer alternate A B A B, the ratio's median and range, the other
processes' share of the machine from /proc/stat, the Speed table's peer column. The mechanism is tested on fakes
(no stable-baselines3 needed); the real peers run only where stable-baselines3 is installed (`make peers`)."""
import json

import pytest

from common.rl import peers
from common.platform.bench import alternate, measured, other_load_share, read_proc_stat
from common.platform.errors import ReproError
from tests.conftest import repro

needs_sb3 = pytest.mark.skipif(not peers.available(), reason=peers.missing_reason())
needs_contrib = pytest.mark.skipif(not peers.available(peers.CONTRIB[0]), reason=peers.missing_reason(peers.CONTRIB[1]))


def fake_measure(loads):
    """A `measure` that hands out the given other-load shares in turn, with no clock or /proc reading."""
    it = iter(loads)

    def measure(fn):
        return fn(), {"seconds": 1.0, "own_cpu_s": 1.0, "other_load": next(it)}

    return measure


def test_alternation_order_median_and_range_on_a_fake_loop_and_peer():
    order = []
    a_speeds, b_speeds = [100.0, 300.0, 200.0], [50.0, 60.0, 100.0]  # ratios 2, 5, 2

    def train(i):
        order.append(f"A{i}")
        return {"training": a_speeds[i], "threads": 1}

    def peer(i):
        order.append(f"B{i}")
        return {"peer": "fake peer 1.0 PPO", "steps_per_s": b_speeds[i], "threads": 1}

    out = alternate(train, peer, rounds=3, measure=fake_measure([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    assert order == ["A0", "B0", "A1", "B1", "A2", "B2"]
    p = out["peer"]
    assert p["ratios"] == [2.0, 5.0, 2.0] and p["median_ratio"] == 2.0 and p["ratio_range"] == [2.0, 5.0]
    assert p["rounds"] == 3 and p["name"] == "fake peer 1.0 PPO" and p["steps_per_s"] == 60.0
    assert p["threads"] == {"this repository": 1, "peer": 1}
    assert p["other_load"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # A, B, A, B, A, B
    assert out["training"] == 200.0 and [r["who"] for r in out["runs"]][:2] == ["this repository", "fake peer 1.0 PPO"]


def test_two_rounds_give_the_mean_as_median_and_no_peer_times_the_loop_alone():
    out = alternate(lambda i: {"training": [100.0, 200.0][i]}, lambda i: {"peer": "p", "steps_per_s": 50.0},
                    rounds=2, measure=fake_measure([0.0] * 4))
    assert out["peer"]["median_ratio"] == 3.0 and out["peer"]["ratio_range"] == [2.0, 4.0]
    alone = alternate(lambda i: {"training": 10.0 * (i + 1)}, lambda i: None, rounds=2,
                      measure=fake_measure([0.0] * 4))
    assert "peer" not in alone and alone["training_runs"] == [10.0, 20.0] and len(alone["runs"]) == 2


def test_other_load_from_hand_made_proc_stat_readings():
    before = read_proc_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n")
    after = read_proc_stat("cpu  300 0 100 1350 50 0 0 0 0 0\ncpu0 150 0 50 675 25 0 0 0 0 0\n")
    assert before == (150, 1000) and after == (400, 1800)  # busy = all but idle and iowait
    # 250 busy ticks of 800; this process used 1 s = 100 ticks of them: others 150 / 800
    assert other_load_share(before, after, own_cpu_s=1.0, ticks_per_s=100) == pytest.approx(0.1875)
    assert other_load_share(before, after, own_cpu_s=5.0, ticks_per_s=100) == 0.0  # clipped, never negative
    assert other_load_share(before, before, own_cpu_s=0.0, ticks_per_s=100) == 0.0  # no time passed
    readings = iter([before, after])
    cpu = iter([10.0, 11.0])
    out, load = measured(lambda: "done", stat=lambda: next(readings), cpu=lambda: next(cpu))
    assert out == "done" and load["own_cpu_s"] == 1.0 and load["other_load"] == pytest.approx(
        other_load_share(before, after, 1.0))
    busy, total = read_proc_stat()  # this machine's own /proc/stat parses
    assert 0 <= busy <= total


def test_speed_table_shows_the_peer_column_and_labels_old_references_as_context(tmp_path):
    from common.analysis.report import _speed_markdown

    base = {"environment_only": 4000.0, "training": 2000.0, "ratio": 0.5, "unit": "env-steps/s", "note": "PPO",
            "machine": {"cpu": "Test CPU", "cpu_count": 2}, "git": {"commit": "abcdef1234567"},
            "when": "2026-11-27T12:00:00+00:00", "references": {"CleanRL ppo": [500, 600]}}
    bench = {
        "table1/new": {**base, "references_measured": {"when": "2026-11-21", "machine": "another host"},
                       "runs": [], "training_runs": [2000.0],
                       "peer": {"name": "stable-baselines3 2.9.2 PPO", "rounds": 2, "ratios": [3.0, 5.0],
                                "median_ratio": 4.0, "ratio_range": [3.0, 5.0], "steps_per_s": 500.0,
                                "threads": {"this repository": 1, "peer": 1}, "other_load": [0.5, 0.6, 0.55, 0.7]}},
        "table1/old": base}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    md = _speed_markdown(tmp_path)
    assert "measured peer (same invocation): median ratio [range], threads, other load" in md
    new = next(line for line in md.splitlines() if line.startswith("| table1/new"))
    assert "stable-baselines3 2.9.2 PPO 500 env-steps/s: 4.00x [3.00-5.00], 2 rounds" in new
    assert "threads this repository 1, peer 1" in new and "other load 50% 60% 55% 70%" in new
    assert "CleanRL ppo: 500-600 (measured 2026-11-21, another host)" in new and "2026-11-27" in new
    old = next(line for line in md.splitlines() if line.startswith("| table1/old"))
    assert "not measured (recorded before" in old and "(measured on another day, same machine class)" in old


def test_a_missing_peer_is_a_clear_error_before_any_work(results_root, monkeypatch):
    from common.platform.bench import run_bench

    monkeypatch.setattr(peers, "available", lambda module="stable_baselines3": False)
    with pytest.raises(ReproError, match="stable-baselines3 is not installed.*make peers"):
        run_bench("schulman2017_ppo", "table1", "clip0.2__Hopper-v5", 2048)
    # TRPO's peer is sb3-contrib's: its own package is named
    monkeypatch.setattr(peers, "available", lambda module="stable_baselines3": module != "sb3_contrib")
    with pytest.raises(ReproError, match="sb3-contrib is not installed.*make peers"):
        run_bench("schulman2015_trpo", "fig4_swimmer", "single_path", 2048)
    assert not (results_root / "schulman2015_trpo" / "bench.json").exists()
    with pytest.raises(ReproError, match="--rounds"):
        run_bench("schulman2017_ppo", "table1", "clip0.2__Hopper-v5", 2048, rounds=0)
    assert not (results_root / "schulman2017_ppo" / "bench.json").exists()


def test_cli_rejects_zero_rounds():
    proc = repro("bench", "schulman2017_ppo", "table1", "--rounds", "0", "--no-save")
    assert proc.returncode == 2 and "--rounds" in proc.stderr + proc.stdout


# ---- the real peers (stable-baselines3), tiny step counts ------------------------------------------------------------
@needs_sb3
def test_sb3_ppo_is_built_with_this_repositorys_settings():
    import torch

    model = peers.ppo_model("InvertedPendulum-v5", horizon=64, minibatch_size=32, epochs=2, hidden_units=16,
                            obs_clip=5.0, threads=1)
    pi = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    vf = [m for m in model.policy.mlp_extractor.value_net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in pi] == [16, 16] and [m.out_features for m in vf] == [16, 16]
    assert isinstance(model.policy.mlp_extractor.policy_net[1], torch.nn.Tanh)
    assert (model.n_steps, model.batch_size, model.n_epochs, model.ent_coef) == (64, 32, 2, 0.0)
    assert model.lr_schedule(1.0) == pytest.approx(3e-4) and model.lr_schedule(0.5) == pytest.approx(1.5e-4)
    env = model.get_env()
    assert env.norm_obs and not env.norm_reward and env.clip_obs == 5.0
    assert model.policy.optimizer.defaults["eps"] == 1e-5


@needs_sb3
def test_sb3_peers_time_a_few_steps():
    r = peers.ppo("InvertedPendulum-v5", 128, horizon=64, minibatch_size=32, epochs=1)
    assert r["peer"].startswith("stable-baselines3 ") and r["peer"].endswith(" PPO") and r["steps_per_s"] > 0
    r = peers.sac("InvertedPendulum-v5", 8, learning_starts=16, hidden_units=16, batch_size=8, replay_size=64)
    assert r["peer"].endswith(" SAC") and r["steps"] == 8 and r["steps_per_s"] > 0 and r["threads"] == 1
    r = peers.dqn("Breakout", 8, learning_starts=16, replay_size=64, num_envs=2, variant="nips2013",
                  target_update_every_agent_steps=0, threads=1)
    assert "DQN (nips2013 network)" in r["peer"] and r["steps_per_s"] > 0
    r = peers.ddpg("Pendulum-v1", 8, learning_starts=16, hidden_units=[16, 16], batch_size=8, replay_size=64)
    assert r["peer"].endswith(" DDPG") and r["steps"] == 8 and r["steps_per_s"] > 0


@needs_sb3
def test_sb3_ddpg_peer_says_when_its_settings_are_only_the_nearest(monkeypatch):
    """stable-baselines3's critic takes the action at its input with one learning rate: TD3's Our DDPG it builds
    exactly, the paper's DDPG (action at layer 2, batch norm, two rates, L2) only approximately, and says so."""
    from papers.lillicrap2016_ddpg.bench import peer
    from papers.lillicrap2016_ddpg.ddpg import DDPGConfig

    calls = []
    monkeypatch.setattr(peers, "ddpg", lambda env_id, n, **kw: calls.append(kw) or {"peer": "sb3 DDPG"})
    assert peer(DDPGConfig(), 10)["peer"].startswith("sb3 DDPG (nearest settings")
    our = DDPGConfig(actor_lr=1e-3, critic_l2=0.0, action_layer=1, batch_norm=False, exploration="gaussian")
    assert peer(our, 10)["peer"] == "sb3 DDPG"
    assert calls[0]["noise"] == "ou" and calls[0]["sigma"] == 0.2 and calls[1]["sigma"] == 0.1
    assert calls[0]["hidden_units"] == [400, 300] and calls[0]["batch_size"] == 64 and calls[0]["tau"] == 0.001


@needs_sb3
def test_bench_alternates_the_ppo_loop_with_its_peer(results_root):
    from common.platform.bench import run_bench

    r = run_bench("schulman2017_ppo", "table1", "clip0.2__InvertedPendulum-v5", 2048, rounds=2,
                  overrides={"horizon": 512, "epochs": 2})
    p = r["peer"]
    assert p["rounds"] == 2 and len(p["other_load"]) == 4 and all(0 <= x <= 1 for x in p["other_load"])
    assert p["ratio_range"][0] <= p["median_ratio"] <= p["ratio_range"][1] and "PPO" in p["name"]
    assert [x["who"] == "this repository" for x in r["runs"]] == [True, False, True, False]
    saved = json.loads((results_root / "schulman2017_ppo" / "bench.json").read_text())
    assert next(iter(saved.values()))["peer"]["ratios"] == p["ratios"]


@needs_contrib
def test_sb3_contrib_trpo_is_built_with_this_repositorys_settings():
    import torch

    model = peers.trpo_model("Swimmer-v5", batch_steps=256, hidden_units=30, obs_clip=5.0, threads=1)
    pi = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in pi] == [30] and isinstance(model.policy.mlp_extractor.policy_net[1], torch.nn.Tanh)
    assert not list(model.policy.mlp_extractor.value_net)  # a linear critic, never fitted: the paper has none
    assert (model.n_steps, model.n_critic_updates, model.normalize_advantage, model.gae_lambda) == (256, 0, False, 1.0)
    assert (model.cg_max_steps, model.cg_damping, model.target_kl) == (10, 1e-3, 0.01)
    assert (model.line_search_shrinking_factor, model.line_search_max_iter, model.sub_sampling_factor) == (0.5, 10, 1)
    assert float(model.policy.log_std.detach().abs().max()) == 0.0  # sigma = 1 at the start, as here
    env = model.get_env()
    assert env.norm_obs and not env.norm_reward and env.clip_obs == 5.0
    linear = peers.trpo_model("InvertedPendulum-v5", batch_steps=64, hidden_units=0)  # cart-pole's linear policy
    assert not list(linear.policy.mlp_extractor.policy_net)


@needs_contrib
def test_bench_alternates_the_trpo_loop_with_sb3_contrib(results_root):
    from common.platform.bench import format_bench, run_bench

    r = run_bench("schulman2015_trpo", "fig4_cartpole", "single_path", 1000, rounds=2, overrides={"batch_steps": 500})
    p = r["peer"]
    assert p["name"].startswith("sb3-contrib ") and p["name"].endswith(" TRPO") and p["rounds"] == 2
    assert [x["who"] == "this repository" for x in r["runs"]] == [True, False, True, False]
    assert r["environment_only"] > 0 and r["training"] > 0 and "2 iteration(s) of 500 steps" in r["note"]
    assert any("sb3-contrib" in line for line in format_bench(r))
    # the vine has no counterpart in sb3-contrib: the loop alone
    assert "peer" not in run_bench("schulman2015_trpo", "fig4_cartpole", "vine", 100, rounds=1, save=False,
                                   overrides={"vine_trunks": 2, "vine_trunk_length": 100, "vine_states": 5,
                                              "vine_rollout_length": 5})


def test_learning_phase_is_timed_inside_the_run_from_the_end_of_the_warm_up(tmp_path, monkeypatch):
    import common.platform.bench as bench
    from common.platform.records import RunRecord

    clock = iter([10.0, 11.0, 12.0, 15.0])
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    ctx = bench.LearningPhaseContext(RunRecord(tmp_path), 1e9, False, start_at=8, stop_at=16)
    ctx.count(4, "agent-steps")
    assert ctx.started is None
    ctx.count(4, "agent-steps")  # reaches the end of the warm-up: the clock starts (10.0)
    ctx.count(4, "agent-steps")
    ctx.count(4, "agent-steps")  # reaches the end of training (11.0); later counts leave both
    ctx.count(4, "agent-steps")
    assert (ctx.started, ctx.stopped) == (10.0, 11.0) and ctx.learning_rate() == 8 / (11.0 - 10.0)
    never = bench.LearningPhaseContext(RunRecord(tmp_path / "b"), 1e9, False, start_at=100, stop_at=200)
    with pytest.raises(ReproError, match="never reached"):
        never.learning_rate()
