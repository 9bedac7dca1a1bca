"""DDPG: the Ornstein-Uhlenbeck process's statistics, the target and the soft update on hand values, the critic's
action-at-the-second-layer wiring, the numpy actor and the saved agent against the torch actor, the claims'
statistics on hand values; determinism; resume equal to an uninterrupted run; learning Pendulum to a threshold."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from common.offpolicy import Replay, evaluate, polyak_update
from common.offpolicy.policies import deterministic_actor
from common.platform.records import RunContext, RunRecord
from common.platform.runs import RunSpec
from common.rl.agents import load_agent
from conftest import execute_in, run_with_crashes, table_bytes
from papers.lillicrap2016_ddpg.ddpg import (DDPG, Critic, DDPGConfig, OrnsteinUhlenbeck, actor_arrays, run_ddpg,
                                            save_ddpg_agent, td_target, validate_ddpg)

PAPER = "lillicrap2016_ddpg"


# ---- exploration -----------------------------------------------------------------------------------------------
def test_ou_process_reverts_to_its_mean_at_rate_theta():
    """E[x_{t+k} | x_0] = m + (1 - theta dt)^k (x_0 - m): 100,000 independent processes started at x_0 = 1."""
    ou = OrnsteinUhlenbeck(100_000, theta=0.15, sigma=0.2, dt=1.0)
    ou.x[:] = 1.0
    rng = np.random.default_rng(0)
    for k in range(1, 11):
        x = ou.sample(rng)
        sd_of_mean = math.sqrt(ou.sigma ** 2 * (1 - 0.85 ** (2 * k)) / (1 - 0.85 ** 2) / len(x))
        assert x.mean() == pytest.approx(0.85 ** k, abs=5 * sd_of_mean)
    ou.reset()
    assert np.all(ou.x == 0.0)  # a new process per episode starts at its mean


@pytest.mark.parametrize("dt", [1.0, 0.01])
def test_ou_stationary_variance(dt):
    """Var x = sigma^2 dt / (1 - (1 - theta dt)^2): 0.04 / 0.2775 = 0.1441 at dt = 1 (the discrete process run here),
    approaching the continuous process's sigma^2 / (2 theta) = 0.1333 as dt -> 0."""
    ou = OrnsteinUhlenbeck(20_000, theta=0.15, sigma=0.2, dt=dt)
    rng = np.random.default_rng(1)
    burn_in = int(6 / (0.15 * dt))  # (1 - theta dt)^(2 n) < e^-12: the start (0) is forgotten
    for _ in range(burn_in):
        ou.sample(rng)
    x = ou.sample(rng)
    expected = 0.2 ** 2 * dt / (1 - (1 - 0.15 * dt) ** 2)
    assert ou.stationary_variance() == pytest.approx(expected)
    assert x.var() == pytest.approx(expected, rel=0.05)  # sd of a variance of 20,000 draws: 1%
    assert x.mean() == pytest.approx(0.0, abs=5 * math.sqrt(expected / len(x)))
    if dt == 1.0:
        assert expected == pytest.approx(0.14414, abs=1e-5)
    else:
        assert expected == pytest.approx(0.2 ** 2 / (2 * 0.15), rel=0.01)


# ---- the update ----------------------------------------------------------------------------------------------
def test_td_target_hand_values():
    y = td_target(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.tensor([10.0, 50.0]), gamma=0.99)
    torch.testing.assert_close(y, torch.tensor([1.0 + 0.99 * 10.0, 2.0]))  # a terminal transition keeps r only


def test_polyak_update_hand_values():
    target, source = [torch.zeros(2), torch.tensor([4.0])], [torch.tensor([10.0, -10.0]), torch.tensor([8.0])]
    polyak_update(target, source, 0.001)  # theta' <- 0.001 theta + 0.999 theta'
    torch.testing.assert_close(target[0], torch.tensor([0.01, -0.01]))
    torch.testing.assert_close(target[1], torch.tensor([4.004]))
    polyak_update(target, source, 1.0)  # tau = 1 copies
    torch.testing.assert_close(target[0], source[0])


def test_critic_takes_the_action_at_its_second_layer():
    """Section 7: "actions were not included until the 2nd hidden layer of Q". The first layer sees the state only;
    with the action's columns of the second layer zeroed, Q no longer depends on the action."""
    torch.manual_seed(0)
    critic = Critic(3, 2, [400, 300], action_layer=2, batch_norm=True, final_init=3e-3)
    assert critic.l1.in_features == 3 and critic.l2.in_features == 400 + 2
    assert len(critic.bns) == 2  # state input and first layer: the layers before the action
    assert critic.l3.weight.abs().max() <= 3e-3 and critic.l3.bias.abs().max() <= 3e-3  # final layer +-3e-3
    bound = 1 / math.sqrt(3)
    assert critic.l1.weight.abs().max() <= bound and critic.l1.weight.abs().max() > 0.9 * bound  # +-1/sqrt(f)
    obs, act = torch.randn(8, 3), torch.randn(8, 2, requires_grad=True)
    q = critic(obs, act, train=False)
    (grad,) = torch.autograd.grad(q.sum(), act)
    assert grad.abs().sum() > 0
    with torch.no_grad():
        critic.l2.weight[:, 400:] = 0
    torch.testing.assert_close(critic(obs, act, train=False), critic(obs, torch.randn(8, 2), train=False))
    first = Critic(3, 2, [400, 300], action_layer=1, batch_norm=False, final_init=0.0)  # TD3's Our DDPG
    assert first.l1.in_features == 5 and first.l2.in_features == 400 and first.bns is None


@pytest.mark.parametrize("target_network", [True, False])
def test_update_targets_lag_by_tau_and_without_targets_y_uses_the_online_networks(target_network):
    torch.manual_seed(0)
    cfg = DDPGConfig(hidden_units=[32, 16], target_network=target_network, batch_norm=True)
    agent = DDPG(cfg, 4, 2)
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    batch = (torch.randn(16, 4), torch.rand(16, 2) * 2 - 1, torch.randn(16), torch.randn(16, 4), torch.zeros(16))
    if not target_network:  # y from the online networks (Figure 2's "without target network")
        actor_t, critic_t = agent.targets()
        assert actor_t is agent.actor and critic_t is agent.critic and not hasattr(agent, "critic_target")
    losses = agent.update(*batch)
    assert torch.isfinite(losses).all()
    after = agent.state_dict()
    assert not torch.equal(before["critic.l2.weight"], after["critic.l2.weight"])
    assert not torch.equal(before["actor.l3.weight"], after["actor.l3.weight"])
    if target_network:
        for name in ("critic_target.l2.weight", "actor_target.l1.weight", "critic_target.bns.0.weight"):
            src = name.replace("_target", "")
            torch.testing.assert_close(after[name], before[name] + 0.001 * (after[src] - before[name]))


def test_critic_l2_decays_weights_not_biases():
    """Section 7: L2 weight decay 1e-2 on Q; with zero gradient, Adam's first step moves a decayed weight by lr."""
    torch.manual_seed(0)
    agent = DDPG(DDPGConfig(hidden_units=[8, 8], batch_norm=False), 3, 1)
    groups = agent.critic_opt.param_groups
    assert groups[0]["weight_decay"] == 0.01 and groups[1]["weight_decay"] == 0.0
    assert {id(p) for p in groups[0]["params"]} == {id(agent.critic.l1.weight), id(agent.critic.l2.weight),
                                                    id(agent.critic.l3.weight)}


def test_numpy_actor_and_saved_agent_act_as_the_torch_actor(tmp_path):
    torch.manual_seed(0)
    cfg = DDPGConfig(env_id="Pendulum-v1", hidden_units=[32, 16], batch_norm=True)
    agent = DDPG(cfg, 3, 1)
    for _ in range(3):  # running statistics away from their initial values
        agent.actor(torch.randn(64, 3) * 3 + 1)
    obs = np.random.default_rng(0).standard_normal((5, 3))
    with torch.no_grad():
        expected = agent.actor(torch.as_tensor(obs, dtype=torch.float32), train=False).numpy()
    np.testing.assert_allclose(deterministic_actor(actor_arrays(agent.actor), obs), expected, rtol=1e-5, atol=1e-6)
    scale, center = np.array([2.0]), np.array([0.0])
    save_ddpg_agent(tmp_path, cfg, agent, 100, scale, center)
    saved = load_agent(tmp_path)
    for o in obs:
        assert np.array_equal(saved.act(o, deterministic=True), center + scale * deterministic_actor(
            actor_arrays(agent.actor), o))
    assert "critic_target.l1.weight" in load_agent(tmp_path, with_large=True).large
    assert saved.meta["batch_norm"] and saved.meta["default_deterministic"]


def test_replay_overwrites_the_oldest_and_evaluate_sums_discounted_returns():
    replay = Replay(3, 1, 1)
    for i in range(5):
        replay.add([i], [0.0], float(i), [i + 1], False)
    assert replay.size == 3 and sorted(replay.obs[:, 0]) == [2.0, 3.0, 4.0]

    class Steps:  # three steps of reward 1 then the end
        def reset(self, seed=None):
            self.t = 0
            return np.zeros(1), {}

        def step(self, action):
            self.t += 1
            return np.zeros(1), 1.0, self.t == 3, False, {}

    ev = evaluate(Steps(), lambda o: o, episodes=2, seed=0, gamma=0.5)
    assert ev.mean_return == 3.0 and ev.discounted_returns == [1.75, 1.75]  # 1 + 0.5 + 0.25


def test_invalid_settings_are_rejected_before_any_work():
    from common.platform.validate import ConfigValueError

    for bad in (dict(hidden_units=[400]), dict(action_layer=3), dict(exploration="param"), dict(tau=0.0)):
        with pytest.raises(ConfigValueError):
            validate_ddpg(DDPGConfig(**bad))


# ---- the claims' statistics ------------------------------------------------------------------------------------
def test_paired_gain_and_q_bias_hand_values():
    from common.analysis.claims import Claim
    from papers.lillicrap2016_ddpg.analysis import paired_gain_values, q_bias_values

    rows = []
    for variant, offset in (("target_bn__Pendulum-v1", 100.0), ("bn__Pendulum-v1", 0.0)):
        for seed in ((0, 1) if variant.startswith("target") else (1, 2)):
            for i in range(20):  # last 10: returns i = 10..19, mean 14.5 (+ offset + seed)
                rows.append({"variant": variant, "seed": seed, "env_step": 100 * (i + 1),
                             "eval_return": i + offset + seed, "eval_discounted_return": -100.0,
                             "q_estimate": -100.0 + (10.0 if i >= 10 else 999.0)})
    ev = pd.DataFrame(rows)
    data = {"fig2_ablation": type("D", (), {"tables": {"evaluations": ev, "episodes": pd.DataFrame(
        columns=["variant", "seed", "env_step", "episode_return"])}})()}
    gain = Claim("c", "fig2_ablation", {}, "", "", {"custom": "paired_gain",
                                                   "variants": ["target_bn__Pendulum-v1", "bn__Pendulum-v1"]}, {})
    np.testing.assert_allclose(paired_gain_values(gain, data), [100.0])  # seed 1 only: (114.5 + 1) - (14.5 + 1)
    bias = Claim("c", "fig2_ablation", {}, "", "", {"custom": "q_bias", "variant": "bn__Pendulum-v1"}, {})
    np.testing.assert_allclose(q_bias_values(bias, data), [0.1, 0.1])  # |+10| / 100 over the last 10


# ---- whole runs ------------------------------------------------------------------------------------------------
SMALL = (("total_env_steps", 600), ("learning_starts", 150), ("eval_every_steps", 100), ("eval_episodes", 1),
         ("batch_size", 16), ("hidden_units", [32, 16]))


@pytest.mark.parametrize("variant", ["ddpg", "our_ddpg"])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch, variant):
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    small = SMALL + ((("random_steps", 250), ("learning_starts", 250)) if variant == "our_ddpg" else ())
    dirs = {name: execute_in(tmp_path / name, monkeypatch, PAPER, "pendulum", "quick", variant, 0, small)
            for name in ("a", "b")}
    assert table_bytes(dirs["a"]) == table_bytes(dirs["b"])
    evals = pd.read_csv(dirs["a"] / "evaluations.csv.gz")
    assert len(evals) == 6 and evals["critic_loss"].iloc[-1] > 0

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(PAPER, "pendulum", "quick", variant, 0, small)
    run_with_crashes(spec, monkeypatch, (1, 4))  # once before learning starts, once while learning
    assert RunRecord(spec.run_dir).read_json("provenance.json")["attempts"] == 3
    assert table_bytes(spec.run_dir) == table_bytes(dirs["a"])


def test_ddpg_learns_pendulum(tmp_path):
    # the paper's algorithm (action at the critic's 2nd layer, OU noise) with a shrunk config (64 units, actor 1e-3,
    # no L2, tau 0.005, no batch normalization), the same code path; a random policy scores about -1,200 per
    # episode, a swung-up pendulum above -400
    cfg = DDPGConfig(env_id="Pendulum-v1", total_env_steps=7000, hidden_units=[64, 64], actor_lr=1e-3, critic_l2=0.0,
                     tau=0.005, batch_norm=False, eval_every_steps=1000, eval_episodes=3)
    evals = run_ddpg(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))["evaluations"]
    assert evals["eval_return"].iloc[0] < -700
    assert evals["eval_return"].tail(2).mean() > -400


def test_q_against_return_figure_draws_every_evaluation_of_its_variants(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from common.platform.registry import get_paper
    from papers.lillicrap2016_ddpg import analysis

    exp = get_paper(PAPER).experiment("fig3_q")
    rows = [dict(variant=v, seed=s, env_step=t, eval_discounted_return=-100.0 + t, q_estimate=-90.0 + t)
            for v in list(exp.variants) + ["bn__Pendulum-v1"] for s in (0, 1) for t in (1, 2, 3)]
    drawn = {}
    monkeypatch.setattr(plt, "close", lambda fig: drawn.setdefault("fig", fig))
    paths = analysis.plot_q_vs_return(exp, SimpleNamespace(tables={"evaluations": pd.DataFrame(rows)}), tmp_path, "c")
    assert [p.name for p in paths] == ["fig3_q_q_vs_return.png", "fig3_q_q_vs_return.svg"]
    panels = [ax for ax in drawn["fig"].axes if ax.get_title()]  # the colorbars have no title
    assert [ax.get_title() for ax in panels] == ["Pendulum-v1 (2 runs)", "InvertedPendulum-v5 (2 runs)",
                                                 "HalfCheetah-v5 (2 runs)"]
    points = panels[0].collections[0].get_offsets()  # 2 runs x 3 evaluations; the ablation's other runs left out
    assert len(points) == 6 and np.allclose(points[:, 1] - points[:, 0], 10.0)


def test_run_keeps_its_agent_and_eval_matches_its_own_evaluation(tmp_path):
    from common.rl.agents import evaluate as evaluate_agent

    cfg = DDPGConfig(env_id="Pendulum-v1", total_env_steps=400, learning_starts=100, eval_every_steps=200,
                     eval_episodes=1, batch_size=16, hidden_units=[16, 16])
    evals = run_ddpg(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))["evaluations"]
    agent = load_agent(tmp_path)
    assert agent.meta["env_steps"] == 400 and agent.meta["obs_dim"] == 3 and "bns.0.running_mean" in agent.policy
    # the loop evaluated the final actor on one episode reset with seed seed * 1,000,003 + step
    final = evaluate_agent(agent, [cfg.seed * 1_000_003 + 399], deterministic=True)
    assert final["returns"][0] == evals["eval_return"].iloc[-1]


def test_update_flops_against_a_hand_count():
    """One update of TD3's Our DDPG (action at the critic's input), counted by torch, against a hand count with
    A, C = one actor, one critic forward pass (2 B n_in n_out per layer): target actor and critic, critic, actor and
    the critic again for the actor's loss forward (2A + 3C); the critic's loss backward (weight and input gradients,
    no input gradient at the first layer: 2C - 2B(o+a)h1); the actor's loss back through the critic, input gradients
    only (C); the actor's backward (weights, and inputs but the first layer's: 2A - 2B o h1). Hopper's sizes with
    batch 100 and 400-300 networks give 249.32 MFLOP, the number `repro bench --profile` reports."""
    from common.platform.bench import counted_flops

    o, a, b, h1, h2 = 11, 3, 100, 400, 300
    cfg = DDPGConfig(batch_size=b, action_layer=1, batch_norm=False, final_layer_init=0.0)
    agent = DDPG(cfg, o, a)
    batch = (torch.randn(b, o), torch.rand(b, a), torch.randn(b), torch.randn(b, o), torch.zeros(b))
    actor = 2 * b * (o * h1 + h1 * h2 + h2 * a)
    critic = 2 * b * ((o + a) * h1 + h1 * h2 + h2)
    expected = 4 * actor + 6 * critic - 2 * b * (o + a) * h1 - 2 * b * o * h1
    assert counted_flops(lambda: agent.update(*batch)) == expected == 249_320_000
