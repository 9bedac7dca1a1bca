"""PPO Figure 3's comparison methods (A2C, A2C + trust region, vanilla PG with adaptive stepsize, TRPO, CEM) and the
annealing ablation: hand-computed losses, the stepsize rule and the trust-region projection, CEM's refit to its
elites, learning a small task, determinism, resume after a crash, the claims' statistics on hand-made scores."""
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from common.platform.records import RunContext, RunRecord
from common.platform.runs import RunSpec
from papers.schulman2017_ppo.a2c import a2c_gradient, trust_region_projection
from papers.schulman2017_ppo.fig3_baselines import Fig3BaselineConfig, run_fig3_baseline
from papers.schulman2017_ppo.onpolicy_loop import PolicyValueNets
from papers.schulman2017_ppo.vanilla_pg import adapt_stepsize

from conftest import execute_in, run_with_crashes, table_bytes  # noqa: E402

PAPER = "schulman2017_ppo"
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _zero_nets(obs_dim=3, act_dim=1, hidden=4):
    """Networks with every parameter 0: the policy mean is 0 and sigma = 1 in every state, and V = 0."""
    nets = PolicyValueNets(obs_dim, act_dim, hidden, np.random.default_rng(0))
    nets.pi.flat[...] = 0.0
    nets.v.flat[...] = 0.0
    return nets


def test_a2c_loss_and_gradient_on_hand_computed_values():
    """Two samples, mean 0, sigma 1, actions (1, -2), advantages (1, 2), returns (3, -1), c_ent 0.01, c_v 0.5:
        log pi = -a^2/2 - log sqrt(2 pi)  = (-1.41894, -2.91894)
        L^pi   = -mean(A log pi) - c_ent H = 3.62841 - 0.01 * 1.41894 = 3.61422     (H = log sqrt(2 pi e))
        dL/d log_std = -mean(A (z^2 - 1) + c_ent) = -(0.01 + 6.01) / 2 = -3.01
        dL/d mu (the output bias) = -sum A z / N = -(1 - 4) / 2 = 1.5
        L^V = mean (V - R)^2 = 5;  d(c_v L^V)/dV (the value output bias) = 0.5 * 2 * (-3 + 1) / 2 = -1."""
    nets = _zero_nets()
    x = np.random.default_rng(1).standard_normal((2, 3))
    act, adv, ret = np.array([[1.0], [-2.0]]), np.array([1.0, 2.0]), np.array([3.0, -1.0])
    loss_pi, loss_v, mean = a2c_gradient(nets, x, act, adv, ret, ent_coef=0.01, vf_coef=0.5)
    log_pi = np.array([-0.5, -2.0]) - HALF_LOG_2PI
    assert loss_pi == pytest.approx(-(log_pi * adv).mean() - 0.01 * (HALF_LOG_2PI + 0.5))
    assert loss_pi == pytest.approx(3.61422, abs=1e-5)
    assert loss_v == pytest.approx(5.0) and not mean.any()
    assert nets.pi.g("log_std")[0] == pytest.approx(-3.01)
    assert nets.pi.g("pi.2.b")[0] == pytest.approx(1.5)
    assert nets.v.g("v.2.b")[0] == pytest.approx(-1.0)


def test_a2c_gradient_matches_finite_differences_of_its_loss():
    """The hand-derived gradient of L = L^pi + c_v L^V equals central differences of the loss on a random network."""
    rng = np.random.default_rng(3)
    nets = PolicyValueNets(3, 2, 5, rng)
    nets.pi.flat[...] += 0.3 * rng.standard_normal(len(nets.pi.flat))
    x, act = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    adv, ret = rng.standard_normal(6), rng.standard_normal(6)

    def loss() -> float:
        lp, lv, _ = a2c_gradient(nets, x, act, adv, ret, 0.01, 0.5)
        return lp + 0.5 * lv

    loss()
    analytic = np.concatenate([nets.pi.grad, nets.v.grad])
    numeric = []
    for flat in (nets.pi.flat, nets.v.flat):
        for i in range(len(flat)):
            flat[i] += 1e-6
            up = loss()
            flat[i] -= 2e-6
            down = loss()
            flat[i] += 1e-6
            numeric.append((up - down) / 2e-6)
    np.testing.assert_allclose(analytic, numeric, atol=1e-6)


def test_adaptive_stepsize_rule_of_footnote_3():
    """hw4's rule: KL > 2 d_targ -> / 1.5; KL < d_targ / 2 -> x 1.5; otherwise (boundaries included) unchanged."""
    assert adapt_stepsize(1e-3, 0.005, 0.002) == pytest.approx(1e-3 / 1.5)
    assert adapt_stepsize(1e-3, 0.0009, 0.002) == pytest.approx(1.5e-3)
    for kl in (0.001, 0.002, 0.003, 0.004):
        assert adapt_stepsize(1e-3, kl, 0.002) == 1e-3


def test_trust_region_projection_on_hand_values():
    """ACER eq. 12, z* = g - max(0, (k^T g - delta) / |k|^2) k:
        g (1, 2),  k (1, 0), delta 0.5: k^T g = 1, excess 0.5, |k|^2 = 1  -> (0.5, 2)
        g (3, 4),  k (1, 2), delta 1:   k^T g = 11, excess 10, |k|^2 = 5  -> (3, 4) - 2 (1, 2) = (1, 0)
        g (0.2, 1), k (1, 0), delta 0.5: k^T g = 0.2 <= delta              -> g (inactive)
        k = 0 (policy = average policy)                                    -> g."""
    g = np.array([[1.0, 2.0], [3.0, 4.0], [0.2, 1.0], [5.0, -1.0]])
    k = np.array([[1.0, 0.0], [1.0, 2.0], [1.0, 0.0], [0.0, 0.0]])
    delta = np.array([0.5, 1.0, 0.5, 0.0])
    z = np.vstack([trust_region_projection(g[i:i + 1], k[i:i + 1], delta[i]) for i in range(4)])
    np.testing.assert_allclose(z, [[0.5, 2.0], [1.0, 0.0], [0.2, 1.0], [5.0, -1.0]])
    assert ((k * z).sum(1) <= np.maximum(delta, (k * g).sum(1)) + 1e-12).all()
    assert (k[:2] * z[:2]).sum(1) == pytest.approx(delta[:2])  # active constraints hold with equality


def test_trust_region_gradient_equals_a2c_when_the_average_is_the_policy():
    """With theta_a = theta every k is 0: the projected gradient is A2C's; with a distant average policy and a small
    delta it differs."""
    from common.rl.npmlp import Params

    rng = np.random.default_rng(4)
    nets = PolicyValueNets(3, 2, 5, rng)
    x, act, adv, ret = rng.standard_normal((8, 3)), rng.standard_normal((8, 2)), rng.standard_normal(8), np.zeros(8)
    a2c_gradient(nets, x, act, adv, ret, 0.01, 0.5)
    plain = nets.pi.grad.copy()
    average = Params(nets.pi.shapes)
    average.flat[...] = nets.pi.flat
    a2c_gradient(nets, x, act, adv, ret, 0.01, 0.5, average=average, delta=0.1)
    np.testing.assert_allclose(nets.pi.grad, plain)
    average.flat[...] += 0.5 * rng.standard_normal(len(average.flat))
    a2c_gradient(nets, x, act, adv, ret, 0.01, 0.5, average=average, delta=0.01)
    assert np.abs(nets.pi.grad - plain).max() > 1e-3


# InvertedPendulum-v5: a random policy balances for about 5 steps (return ~5); the budgets and thresholds below are
# measured with each method's Figure 3 settings: the mean return of the last 10 episodes of seeds 0, 1, 2 was
LEARNING = [
    ("a2c", 20_000, 25.0),  # 55, 61, 162
    ("a2c_trust_region", 20_000, 25.0),  # 52, 47, 105
    ("vanilla_pg_adaptive", 40_000, 25.0),  # 41, 64, 75
    ("trpo", 10_000, 60.0),  # 113, 137, 121
]


@pytest.mark.parametrize("method,steps,threshold", LEARNING)
def test_each_method_learns_inverted_pendulum(tmp_path, method, steps, threshold):
    gae_lambda, hidden = {"a2c": (1.0, 64), "a2c_trust_region": (1.0, 64), "vanilla_pg_adaptive": (0.95, 64),
                          "trpo": (0.98, 32)}[method]
    cfg = Fig3BaselineConfig(method=method, env_id="InvertedPendulum-v5", total_env_steps=steps, seed=1,
                             gae_lambda=gae_lambda, hidden_units=hidden)
    out = run_fig3_baseline(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    returns = out["episodes"]["episode_return"]
    assert returns.head(20).mean() < 12
    assert returns.tail(10).mean() > threshold
    if method == "trpo":  # every accepted step within the line search's bound, 1.5 delta
        assert (out["iterations"]["kl"] <= 1.5 * cfg.trpo_max_kl + 1e-12).all()
    assert (tmp_path / "agent.npz").exists() and (tmp_path / "agent.json").exists()


def test_cem_learns_inverted_pendulum(tmp_path):
    """CEM with Figure 3's settings (200 candidates a generation, the best 40 refit N(mu, sigma^2)) on
    InvertedPendulum-v5, 40,000 env steps. Measured (seeds 0, 1, 2): the candidates' last 100 episodes 40, 40, 35;
    the distribution's mean policy (the saved agent) 169, 107, 171 over 20 episodes. Its search narrows: the
    sampling standard deviation falls from 1 and the lowest elite return rises."""
    from common.rl.agents import load_agent
    from common.rl.envs import make_env

    cfg = Fig3BaselineConfig(method="cem", env_id="InvertedPendulum-v5", total_env_steps=40_000, seed=1)
    out = run_fig3_baseline(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    returns, gens = out["episodes"]["episode_return"], out["iterations"]
    assert returns.head(20).mean() < 12
    assert returns.tail(100).mean() > 20
    assert (gens["candidates"] == 200).all() and len(gens) >= 10
    assert gens["sample_std"].iloc[-1] < 0.9 * gens["sample_std"].iloc[0]
    assert gens["elite_min_return"].iloc[-3:].mean() > 2 * gens["elite_min_return"].iloc[:3].mean()
    assert out["episodes"]["env_step"].iloc[-1] - 1000 < 40_000 <= out["episodes"]["env_step"].iloc[-1]
    agent, env, rng = load_agent(tmp_path), make_env("InvertedPendulum-v5", 99), np.random.default_rng(0)
    scores = []
    for episode in range(5):
        obs, _ = env.reset(seed=1_000 + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs, rng=rng))
            total, done = total + reward, terminated or truncated
        scores.append(total)
    assert np.mean(scores) > 50
    assert not (tmp_path / "agent.large.npz").exists()  # no value network: the policy only


def test_cem_refits_to_the_elite_candidates(tmp_path):
    """Generation 0 by hand: 6 candidates theta_i ~ N(theta_0, 1 + 0.01^2) (each from its own stream), one episode
    each; the next mean is the average of the 3 with the highest returns (ties: the earlier candidate), which is the
    policy kept at step 1 (the generation that reached it)."""
    from common.rl.derivative_free import NoisyCEM
    from papers.schulman2017_ppo.cem import candidate_theta

    cfg = Fig3BaselineConfig(method="cem", env_id="InvertedPendulum-v5", total_env_steps=300, seed=4,
                             cem_population=6, cem_elite_frac=0.5, save_agent_at_steps=[1])
    out = run_fig3_baseline(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    first = out["episodes"]["episode_return"].to_numpy()[:6]
    elites = sorted(range(6), key=lambda i: (-first[i], i))[:3]
    theta0 = PolicyValueNets(4, 1, 64, np.random.default_rng(np.random.SeedSequence([4, 5]))).pi.flat.copy()
    cem = NoisyCEM(theta0, 1.0, 0.01, 150, 0.5)
    std = np.sqrt(1.0 + 0.01 ** 2) * np.ones_like(theta0)
    expected = np.mean([candidate_theta(cem, std, 4, 0, i) for i in elites], axis=0)
    nets = PolicyValueNets(4, 1, 64, np.random.default_rng(0))
    kept = np.load(tmp_path / "agent_step1.npz")
    for name in nets.pi.names():
        nets.pi[name][...] = kept[name]
    np.testing.assert_allclose(nets.pi.flat, expected)
    assert out["iterations"]["elite_min_return"].iloc[0] == sorted(first)[-3]


@pytest.mark.parametrize("variant,small", [
    ("a2c_trust_region__Hopper-v5", (("total_env_steps", 300),)),
    ("vanilla_pg_adaptive__Swimmer-v5", (("total_env_steps", 2048),)),
    ("trpo__Hopper-v5", (("total_env_steps", 2048),)),
    ("cem__InvertedPendulum-v5", (("total_env_steps", 3000), ("cem_population", 10))),  # a checkpoint a generation
])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch, variant, small):
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    roots = {name: execute_in(tmp_path / name, monkeypatch, PAPER, "fig3_baselines", "quick", variant, 0, small)
             for name in ("a", "b")}
    assert table_bytes(roots["a"]) == table_bytes(roots["b"])  # same seed, same config: identical metrics
    assert (roots["a"] / "agent.npz").read_bytes() == (roots["b"] / "agent.npz").read_bytes()

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(PAPER, "fig3_baselines", "quick", variant, 0, small)
    run_with_crashes(spec, monkeypatch, (1, 3))
    assert RunRecord(spec.run_dir).read_json("provenance.json")["attempts"] == 3
    assert table_bytes(spec.run_dir) == table_bytes(roots["a"])
    assert (spec.run_dir / "agent.npz").read_bytes() == (roots["a"] / "agent.npz").read_bytes()


def test_saved_agent_acts_as_the_training_policy(tmp_path):
    from common.rl.agents import load_agent

    cfg = Fig3BaselineConfig(method="a2c", env_id="Hopper-v5", total_env_steps=50)
    run_fig3_baseline(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    agent = load_agent(tmp_path)
    obs = np.random.default_rng(0).standard_normal(11)
    pol = np.load(tmp_path / "agent.npz")
    nets = PolicyValueNets(11, 3, 64, np.random.default_rng(0))
    for name in nets.pi.names():
        nets.pi[name][...] = pol[name]
    x = np.clip((obs - pol["obs_mean"]) / np.sqrt(pol["obs_var"] + 1e-8), -5, 5)
    np.testing.assert_allclose(agent.act(obs, deterministic=True), nets.mean(x))


def test_bad_method_is_an_error_before_any_work(tmp_path):
    from common.platform.validate import ConfigValueError

    with pytest.raises(ConfigValueError, match="method"):
        run_fig3_baseline(Fig3BaselineConfig(method="cma"), RunContext(RunRecord(tmp_path)))
    with pytest.raises(ConfigValueError, match="cem_population"):  # the elites' variance needs two
        run_fig3_baseline(Fig3BaselineConfig(method="cem", cem_population=1), RunContext(RunRecord(tmp_path)))
    with pytest.raises(ConfigValueError, match="cem_elite_frac"):
        run_fig3_baseline(Fig3BaselineConfig(method="cem", cem_elite_frac=0.0), RunContext(RunRecord(tmp_path)))
    assert not any(tmp_path.iterdir())


def test_anneal_ablation_differs_from_table1_only_in_the_annealing():
    from common.platform.config import to_dict
    from common.platform.runs import resolve

    for setting, table1 in (("no_clip_constant_lr", "no_clip"), ("clip0.2_constant_lr", "clip0.2")):
        for budget in ("paper", "quick"):
            abl = to_dict(resolve(RunSpec(PAPER, "anneal_ablation", budget, f"{setting}__Walker2d-v5", 0)))
            ref = to_dict(resolve(RunSpec(PAPER, "table1", budget, f"{table1}__Walker2d-v5", 0)))
            assert {k for k in abl if abl[k] != ref[k]} == {"anneal"}
            assert abl["anneal"] is False and ref["anneal"] is True


def _episodes(rows):
    """One episode per run at env step 1000: rows of (variant, seed, return)."""
    return pd.DataFrame([(v, s, 1000, r) for v, s, r in rows], columns=["variant", "seed", "env_step", "episode_return"])


def test_ppo_margin_and_near_top_share_on_hand_made_scores():
    """One task, random policy 0. Scores by seed: PPO (100, 80), A2C (50, 90), TRPO (60, 70); best mean PPO's 90.
    Margins: seed 0 (100 - 60) / 90 = 0.444, seed 1 (80 - 90) / 90 = -0.111 (below -0.1: not near the top)."""
    from papers.schulman2017_ppo.analysis import ppo_margins, ppo_near_top_share_values

    t = "Hopper-v5"
    data = {"table1": SimpleNamespace(tables={"episodes": _episodes([(f"clip0.2__{t}", 0, 100.0),
                                                                     (f"clip0.2__{t}", 1, 80.0),
                                                                     (f"no_clip__{t}", 0, 500.0)])}),
            "fig3_baselines": SimpleNamespace(tables={"episodes": _episodes([
                (f"a2c__{t}", 0, 50.0), (f"a2c__{t}", 1, 90.0), (f"trpo__{t}", 0, 60.0), (f"trpo__{t}", 1, 70.0)])}),
            "random_policy": SimpleNamespace(tables={"episodes": _episodes([(t, 0, -5.0), (t, 0, 5.0)])})}
    m = ppo_margins(data)
    np.testing.assert_allclose(m.sort_values("seed")["margin"], [40 / 90, -10 / 90])
    np.testing.assert_allclose(ppo_near_top_share_values(None, data), [1.0, 0.0])


def test_anneal_gain_on_hand_made_scores():
    """Random 0; Table 1's best setting on the task scores 200 (clip0.2), so no_clip annealed (100, 120) normalizes
    to (0.5, 0.6) and no_clip at a constant stepsize (-40, 60) to (-0.2, 0.3): gains 0.7 and 0.3."""
    from papers.schulman2017_ppo.analysis import anneal_gain_values, anneal_normalized_values

    t = "Walker2d-v5"
    data = {"table1": SimpleNamespace(tables={"episodes": _episodes([
                (f"clip0.2__{t}", 0, 200.0), (f"clip0.2__{t}", 1, 200.0),
                (f"no_clip__{t}", 0, 100.0), (f"no_clip__{t}", 1, 120.0)])}),
            "anneal_ablation": SimpleNamespace(tables={"episodes": _episodes([
                (f"no_clip_constant_lr__{t}", 0, -40.0), (f"no_clip_constant_lr__{t}", 1, 60.0)])}),
            "random_policy": SimpleNamespace(tables={"episodes": _episodes([(t, 0, 0.0)])})}
    claim = SimpleNamespace(statistic={"setting": "no_clip_constant_lr"})
    np.testing.assert_allclose(anneal_normalized_values(claim, data), [-0.2, 0.3])
    np.testing.assert_allclose(sorted(anneal_gain_values(claim, data)), [0.3, 0.7])


def test_quick_budget_sweep_report_draws_the_methods_beside_ppo(results_root):
    """One task at the quick budget: the five comparison methods, PPO's clip 0.2 run (table1) and the random policy,
    then the report: the figure is drawn and each Figure 3 claim has a row (too few runs: one seed)."""
    from common.analysis.report import report_paper
    from common.platform.registry import get_paper
    from common.platform.runs import execute

    task = "InvertedPendulum-v5"
    for experiment, variant in [("fig3_baselines", f"{m}__{task}") for m in
                                ("a2c", "a2c_trust_region", "vanilla_pg_adaptive", "trpo", "cem")] + \
            [("table1", f"clip0.2__{task}"), ("random_policy", task)]:
        assert execute(RunSpec(PAPER, experiment, "quick", variant, 0), show_progress=False) == "done"
    report_paper(get_paper(PAPER))
    assert (results_root / PAPER / "figures" / "fig3_baselines_learning_curves.png").exists()
    claims = pd.read_csv(results_root / PAPER / "claims.csv").set_index("claim")
    assert claims.loc["fig3_ppo_near_top_invertedpendulum", "n_runs"] == 1
    assert claims.loc["fig3_ppo_near_top_invertedpendulum", "at_this_budget"] == "too few runs"
    assert claims.loc["fig3_ppo_near_top_hopper", "verdict"] == "not run"


def test_each_near_top_claim_compares_ppo_with_all_five_methods():
    """The per-task claims of Figure 3 take the best of every comparison method the runner has, CEM included."""
    from common.analysis.claims import load_claims
    from common.platform.registry import get_paper
    from papers.schulman2017_ppo.fig3_baselines import METHODS

    claims = [c for c in load_claims(get_paper(PAPER)) if c.statistic.get("custom") == "ppo_margin"]
    assert len(claims) == 7
    for c in claims:
        env = c.statistic["env"]
        assert sorted(c.variants()) == sorted(f"{m}__{env}" for m in METHODS)
        assert "CEM" in c.statement
