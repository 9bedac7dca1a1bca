"""SAC: the squashed log-probability, the soft Bellman target and the temperature loss against hand-computed
values; determinism; resume equal to an uninterrupted run; learning Pendulum to a threshold."""
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from common.platform.records import RunContext, RunRecord
from common.platform.runs import RunSpec
from conftest import execute_in, run_with_crashes, table_bytes
from papers.haarnoja2018_sac.sac import (SAC, Actor, SACConfig, run_sac, soft_bellman_target, squashed_log_prob,
                                         temperature_loss)

PAPER = "haarnoja2018_sac"


def test_squashed_log_prob_hand_values_and_torch_distribution():
    # at u = 0 with mean 0, std 1: log N(0) = -0.5 log(2 pi) per dimension, and log(1 - tanh(0)^2) = 0
    u = torch.zeros(1, 2)
    assert squashed_log_prob(u, torch.zeros(1, 2), torch.zeros(1, 2)).item() == pytest.approx(-math.log(2 * math.pi))
    # u = 1: log(1 - tanh(1)^2) = log(0.419974...) per dimension
    u1 = torch.ones(1, 1)
    expected = -0.5 - 0.5 * math.log(2 * math.pi) - math.log(1 - math.tanh(1.0) ** 2)
    assert squashed_log_prob(u1, torch.zeros(1, 1), torch.zeros(1, 1)).item() == pytest.approx(expected, rel=1e-6)
    # against torch's own change of variables, for random inputs (large |u| included)
    g = torch.Generator().manual_seed(0)
    mean, log_std = torch.randn(64, 3, generator=g), torch.randn(64, 3, generator=g) * 0.5
    u = mean + log_std.exp() * torch.randn(64, 3, generator=g) * 3
    dist = torch.distributions.TransformedDistribution(torch.distributions.Normal(mean, log_std.exp()),
                                                       [torch.distributions.TanhTransform()])
    ref = dist.log_prob(torch.tanh(u).clamp(-1 + 1e-6, 1 - 1e-6)).sum(-1)
    ours = squashed_log_prob(u, mean, log_std)
    ok = torch.tanh(u).abs().max(-1).values < 0.999  # torch's reference loses precision near |a| = 1
    torch.testing.assert_close(ours[ok], ref[ok], rtol=1e-4, atol=1e-4)


def test_log_prob_in_normalized_action_units_as_the_authors_code():
    """log pi is the density of the action rescaled to [-1, 1] (softlearning, rllab). On tasks bounded by +-1
    (Hopper, Walker2d, HalfCheetah, Ant) both units agree; on Humanoid-v5's +-0.4 bounds in 17 dimensions the
    task's units add -17 log 0.4 = 15.58 nats to every log pi."""
    g = torch.Generator().manual_seed(1)
    obs, eps = torch.randn(5, 4, generator=g), torch.randn(5, 17, generator=g)
    for bound, shift in ((1.0, 0.0), (0.4, -17 * math.log(0.4))):
        low, high = np.full(17, -bound), np.full(17, bound)
        torch.manual_seed(0)
        normalized = Actor(4, 17, 8, low, high, "normalized")
        torch.manual_seed(0)
        env_units = Actor(4, 17, 8, low, high, "env")
        a_n, logp_n = normalized(obs, eps)
        a_e, logp_e = env_units(obs, eps)
        torch.testing.assert_close(a_n, a_e)  # the same actions, in the task's units, either way
        assert a_n.abs().max().item() <= bound
        torch.testing.assert_close(logp_e - logp_n, torch.full((5,), shift), rtol=0, atol=1e-4)
    assert shift == pytest.approx(15.58, abs=0.01)
    assert SACConfig().log_prob_units == "normalized"


def test_soft_bellman_target_hand_values():
    rew = torch.tensor([1.0, 2.0])
    done = torch.tensor([0.0, 1.0])
    q_next_min = torch.tensor([10.0, 50.0])
    logp_next = torch.tensor([-1.0, 3.0])
    y = soft_bellman_target(rew, done, q_next_min, logp_next, alpha=0.2, gamma=0.9)
    # 1 + 0.9 (10 + 0.2) = 10.18; the terminal transition keeps only its reward
    torch.testing.assert_close(y, torch.tensor([10.18, 2.0]))


def test_temperature_loss_moves_alpha_toward_the_entropy_target():
    for logp, direction in ((2.0, +1), (-3.0, -1)):  # entropy -2 < target -1: alpha rises; entropy 3 > -1: falls
        log_alpha = torch.nn.Parameter(torch.tensor(0.0))
        loss = temperature_loss(log_alpha, torch.full((8,), logp), target_entropy=-1.0)
        assert loss.item() == pytest.approx(0.0)  # log alpha = 0
        loss.backward()
        assert log_alpha.grad.item() == pytest.approx(-(logp - 1.0))  # dJ/dlog(alpha) = -(E[log pi] + Hbar)
        opt = torch.optim.SGD([log_alpha], lr=0.1)
        opt.step()
        assert np.sign(log_alpha.item()) == direction


def test_temperature_drift_statistic_hand_values():
    """|ln(mean alpha, last 10% / mean alpha, the 10% before)| per run."""
    import pandas as pd

    from common.analysis.claims import Claim
    from papers.haarnoja2018_sac.analysis import alpha_drift_values

    rows = []
    for seed, tail in ((0, [0.5, 0.5]), (1, [1.0, 1.0])):
        alpha = [3.0] * 16 + [1.0, 1.0] + tail  # 20 evaluations: the last 10% is 2 of them
        rows += [{"variant": "v2", "seed": seed, "env_step": 1000 * (i + 1), "alpha": a, "eval_return": 0.0}
                 for i, a in enumerate(alpha)]
    episodes = pd.DataFrame(columns=["variant", "seed", "env_step", "episode_return"])
    data = type("D", (), {"tables": {"evaluations": pd.DataFrame(rows), "episodes": episodes},
                          "configs": {"v2": {"version": "v2"}}})()
    claim = Claim("c", "fig1_hopper", {}, "", "", {"custom": "alpha_drift", "variant": "v2"}, {})
    np.testing.assert_allclose(alpha_drift_values(claim, {"fig1_hopper": data}), [math.log(2), 0.0])


def test_reference_statistics_hand_values():
    """The reference-implementation comparisons: the last k training episodes, and the last 10 evaluations, that
    end within the first max_step steps; later ones and other variants are ignored."""
    import pandas as pd

    from common.analysis.claims import Claim
    from papers.haarnoja2018_sac.analysis import final_eval_values, final_train_values

    episodes = pd.DataFrame([{"variant": v, "seed": 0, "env_step": step, "episode_return": ret}
                             for v, step, ret in (("v2", 100, 1.0), ("v2", 200, 2.0), ("v2", 300, 4.0), ("v2", 400, 100.0),
                                                  ("v1", 300, 50.0))])
    evaluations = pd.DataFrame([{"variant": "v2", "seed": 0, "env_step": 10 * (i + 1), "eval_return": float(i),
                                 "alpha": 0.1} for i in range(30)])
    data = {"fig1_hopper": type("D", (), {"tables": {"episodes": episodes, "evaluations": evaluations},
                                          "configs": {"v1": {"version": "v1"}, "v2": {"version": "v2"}}})()}
    train = Claim("c", "fig1_hopper", {}, "", "", {"custom": "final_train", "variant": "v2", "max_step": 300,
                                                   "episodes": 2}, {})
    np.testing.assert_allclose(final_train_values(train, data), [3.0])  # (2 + 4) / 2; the episode at 400 is late
    ev = Claim("c", "fig1_hopper", {}, "", "", {"custom": "final_eval", "variant": "v2", "max_step": 200}, {})
    np.testing.assert_allclose(final_eval_values(ev, data), [14.5])  # evaluations 10..19 (steps 110..200)


def test_best_evaluation_and_paired_v2_minus_v1_hand_values():
    """TD3's "max average return" counts only evaluations within the first max_step steps; v2 minus v1 pairs runs of
    the same seed over whole runs, and a seed without both versions is left out."""
    from common.analysis.claims import Claim
    from papers.haarnoja2018_sac.analysis import max_eval_values, v2_minus_v1_values

    # v1: seeds 0 and 1, returns i + 100 * seed at steps 100 (i + 1); v2: seeds 0 and 2, twice v1's return of seed 0
    ev = pd.DataFrame([{"variant": f"{v}__Ant-v5", "seed": seed, "env_step": 100 * (i + 1), "alpha": 0.1,
                        "eval_return": float(i + 100 * seed) * (2 if v == "v2" else 1)}
                       for v, seeds in (("v1", (0, 1)), ("v2", (2, 0))) for seed in seeds for i in range(20)])
    episodes = pd.DataFrame(columns=["variant", "seed", "env_step", "episode_return"])
    configs = {"v1__Ant-v5": {"version": "v1"}, "v2__Ant-v5": {"version": "v2"}}
    data = {"fig1_3m": type("D", (), {"tables": {"evaluations": ev, "episodes": episodes}, "configs": configs})()}
    best = Claim("c", "fig1_3m", {}, "", "", {"custom": "max_eval", "variant": "v1__Ant-v5", "max_step": 500}, {})
    np.testing.assert_allclose(max_eval_values(best, data), [4.0, 104.0])  # steps 100..500: i = 0..4, by seed
    paired = Claim("c", "fig1_3m", {}, "", "", {"custom": "v2_minus_v1", "env": "Ant-v5"}, {})
    # seed 0 only: last 10 evaluations (i = 10..19) average 14.5 for v1 and 29 for v2
    np.testing.assert_allclose(v2_minus_v1_values(paired, data), [14.5])


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_update_changes_only_what_it_should_and_targets_lag(version):
    torch.manual_seed(0)
    agent = SAC(SACConfig(version=version, hidden_units=32, batch_size=16), 4, 2, -np.ones(2), np.ones(2))
    target_net = agent.v_target if version == "v1" else agent.q_target
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    batch = (torch.randn(16, 4), torch.rand(16, 2) * 2 - 1, torch.randn(16), torch.randn(16, 4), torch.zeros(16))
    losses = agent.update(*batch, torch.randn(16, 2), torch.randn(16, 2))
    assert torch.isfinite(losses).all()
    after = agent.state_dict()
    assert not torch.equal(before["q.weights.1"], after["q.weights.1"])  # critics learned
    assert not torch.equal(before["actor.net.2.weight"], after["actor.net.2.weight"])  # actor learned
    name = next(iter(k for k in after if k.startswith("v_target" if version == "v1" else "q_target")))
    src = name.replace("v_target", "v").replace("q_target", "q")
    # Polyak: theta_bar' = theta_bar + tau (theta' - theta_bar), and here theta_bar started equal to theta
    torch.testing.assert_close(after[name], before[name] + 0.005 * (after[src] - before[name]))
    assert all(not p.requires_grad for p in target_net.parameters())


SMALL = (("total_env_steps", 1200), ("learning_starts", 400), ("eval_every_steps", 200), ("batch_size", 32),
         ("hidden_units", 32))


@pytest.mark.parametrize("variant", ["v1", "v2"])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch, variant):
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    dirs = {name: execute_in(tmp_path / name, monkeypatch, PAPER, "fig1_hopper", "quick", variant, 0, SMALL)
            for name in ("a", "b")}
    tables = table_bytes
    assert tables(dirs["a"]) == tables(dirs["b"])

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(PAPER, "fig1_hopper", "quick", variant, 0, SMALL)
    run_with_crashes(spec, monkeypatch, (2, 5))  # once in the random phase, once while learning
    assert RunRecord(spec.run_dir).read_json("provenance.json")["attempts"] == 3
    assert tables(spec.run_dir) == tables(dirs["a"])


def test_sac_learns_pendulum(tmp_path):
    # a shrunk config (64 units, batch 128), the same code path; random policy: about -1,200 per episode
    cfg = SACConfig(env_id="Pendulum-v1", total_env_steps=7000, learning_starts=1000, hidden_units=64,
                    batch_size=128, eval_every_steps=1000, eval_episodes=3)
    evals = run_sac(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))["evaluations"]
    assert evals["eval_return"].iloc[0] < -700
    assert evals["eval_return"].tail(2).mean() > -400


def test_learning_curve_figure_draws_returns_of_both_versions_and_v2_temperature(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from common.platform.registry import get_paper
    from papers.haarnoja2018_sac import analysis

    # v1's temperature is fixed at 1; v2's halves every 1,000 steps, seed 1 starting half as high as seed 0
    rows = [dict(variant=f"{v}__HalfCheetah-v5", seed=s, env_step=t, eval_return=r,
                 alpha=1.0 if v == "v1" else 0.5 ** (t / 1000 + s))
            for v in ("v1", "v2") for s in (0, 1) for t, r in ((1000, 1.0), (2000, 3.0))]
    rows += [dict(variant="v2__Walker2d-v5", seed=0, env_step=1000, eval_return=5.0, alpha=0.5)]  # v2 only
    drawn = {}
    monkeypatch.setattr(plt, "close", lambda fig: drawn.setdefault("fig", fig))
    exp = get_paper(PAPER).experiment("fig1_3m")
    data = SimpleNamespace(tables={"evaluations": pd.DataFrame(rows)})  # what the figure reads of the runs
    paths = analysis.plot(exp, data, tmp_path, "caption")
    assert [p.name for p in paths] == ["fig1_3m_learning_curves.png", "fig1_3m_learning_curves.svg"]
    (ax_return, ax_return_walker, ax_alpha, _) = drawn["fig"].axes  # 2 rows x 2 tasks
    # two seeds: the band is their range, not an interval, and the legend says so
    assert [line.get_label() for line in ax_return.get_lines()] == ["SAC v1 (2 runs; band: min-max)",
                                                                     "SAC v2 (2 runs; band: min-max)"]
    (walker_v2,) = ax_return_walker.get_lines()
    assert walker_v2.get_color() == ax_return.get_lines()[1].get_color()  # a version keeps its color on every task
    (alpha_line,) = ax_alpha.get_lines()  # v2 only: v1's temperature is fixed
    # mean over the two seeds at each step: (0.5 + 0.25) / 2 and (0.25 + 0.125) / 2
    np.testing.assert_allclose(alpha_line.get_ydata(), [0.375, 0.1875])
    assert ax_alpha.get_yscale() == "log"


def test_per_run_summary_hand_values():
    """Per run: best and last-10 evaluations, last 10 training episodes, and v2's temperature at the end and its
    drift; v1's fixed temperature is left blank."""
    from papers.haarnoja2018_sac.analysis import run_summary

    alpha = [3.0] * 16 + [1.0, 1.0, 0.5, 0.5]  # the last 10% (2 values) against the 10% before: ln 2
    ev = pd.DataFrame([{"variant": v, "seed": 0, "env_step": 1000 * (i + 1), "eval_return": float(i),
                        "alpha": alpha[i] if v == "v2" else 0.2} for v in ("v1", "v2") for i in range(20)])
    ep = pd.DataFrame([{"variant": v, "seed": 0, "env_step": 500 * (i + 1), "episode_return": float(10 * i)}
                       for v in ("v1", "v2") for i in range(12)])
    configs = {"v1": {"version": "v1"}, "v2": {"version": "v2"}}
    data = type("D", (), {"tables": {"evaluations": ev.iloc[::-1], "episodes": ep}, "configs": configs})()
    s = run_summary(None, data).set_index("variant")
    assert s["env steps"].tolist() == [20000, 20000] and s["evaluations"].tolist() == [20, 20]
    assert s["best evaluation return"].tolist() == [19.0, 19.0]
    assert s["last 10 evaluations, mean"].tolist() == [14.5, 14.5]  # evaluations 10..19, whatever the row order
    assert s["last 10 training episodes, mean"].tolist() == [65.0, 65.0]  # episodes 2..11: 10 x (2 + 11) / 2
    assert np.isnan(s.loc["v1", "alpha at the end (v2)"]) and s.loc["v2", "alpha at the end (v2)"] == 0.5
    assert np.isnan(s.loc["v1", "alpha drift, abs ln (v2)"])
    assert s.loc["v2", "alpha drift, abs ln (v2)"] == pytest.approx(math.log(2))


def test_keeping_freed_memory_changes_no_number(tmp_path):
    """`run_sac` sets glibc's malloc to keep freed memory (common/platform/memory.py): 200 updates on Hopper-v5 at
    the paper's batch of 256 and 256-unit layers write the same tables and saved agent, bit for bit, as the same run
    in a process where the call does nothing (torch's kernels read the same numbers wherever malloc puts them)."""
    from conftest import same_bytes_with_and_without_kept_memory

    same_bytes_with_and_without_kept_memory(tmp_path, "papers.haarnoja2018_sac.sac", PAPER, "fig1_hopper", "v2",
                                            (("batch_size", 256), ("eval_every_steps", 350),
                                             ("total_env_steps", 700)), agent_file="agent.npz")
