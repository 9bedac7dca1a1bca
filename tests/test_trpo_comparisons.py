"""Figure 4's comparisons CEM, CMA and RWR (papers/schulman2015_trpo/figure4.py on common/rl/derivative_free.py and
common/onpolicy/rwr.py): the cross-entropy update and RWR's weighted regression on hand-computed values, each method
learning cart-pole to a threshold, the saved agent acting as the training loop's policy, same seed same metrics,
resume after a crash equal to an uninterrupted run, and bad settings refused before any work."""
import math

import numpy as np
import pytest

from common.rl.derivative_free import NoisyCEM, elite_count, elite_update

PAPER = "schulman2015_trpo"


# ---- the cross-entropy method ----------------------------------------------------------------------------------------
def test_elite_update_keeps_the_best_candidates_and_fits_their_mean_and_variance():
    thetas = np.array([[0.0, 1.0], [2.0, -1.0], [4.0, 0.0], [6.0, 3.0], [8.0, 2.0]])
    returns = np.array([1.0, 5.0, 3.0, 5.0, 0.0])
    mean, var, elite = elite_update(thetas, returns, 2)
    assert elite.tolist() == [1, 3]  # the two returns of 5; a tie keeps the earlier candidate first
    np.testing.assert_array_equal(mean, [4.0, 1.0])  # ([2, -1] + [6, 3]) / 2
    np.testing.assert_array_equal(var, [4.0, 4.0])  # ((2 - 4)^2 + (6 - 4)^2) / 2, ((-1 - 1)^2 + (3 - 1)^2) / 2
    mean, var, elite = elite_update(thetas, returns, 3)
    assert elite.tolist() == [1, 3, 2]
    np.testing.assert_allclose(mean, [4.0, 2.0 / 3.0])
    np.testing.assert_allclose(var, [8.0 / 3.0, ((-1 - 2 / 3) ** 2 + (3 - 2 / 3) ** 2 + (2 / 3) ** 2) / 3])
    with pytest.raises(ValueError, match="n_elite"):
        elite_update(thetas, returns, 6)


def test_elite_count_rounds_half_up_and_keeps_at_least_two():
    assert elite_count(50, 0.2) == 10  # Swimmer: 50 candidates of 1,000 steps a batch
    assert elite_count(10, 0.25) == 3  # 2.5 rounds up
    assert elite_count(7, 0.25) == 2  # 1.75 -> 2
    assert elite_count(5, 0.2) == 2  # 1 -> at least 2, so that the elites have a variance
    assert elite_count(1, 0.2) == 1  # never more than there are


def test_noisy_cem_adds_decaying_extra_variance_and_refits_to_its_elites():
    cem = NoisyCEM(np.zeros(2), initial_std=1.0, extra_std=0.5, extra_decay_iterations=2, elite_frac=0.4)
    np.testing.assert_allclose(cem.sample_std(), np.sqrt([1.25, 1.25]))  # var 1 + 0.5^2 (1 - 0/2)
    thetas = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 0.0], [5.0, -2.0], [9.0, 9.0]])
    elite = cem.tell(thetas, np.array([2.0, 7.0, 1.0, 6.0, -3.0]))  # 0.4 x 5 = 2 elites: candidates 1 and 3
    assert elite.tolist() == [1, 3] and cem.updates == 1
    np.testing.assert_array_equal(cem.mean, [4.0, 0.0])
    np.testing.assert_array_equal(cem.var, [1.0, 4.0])
    np.testing.assert_allclose(cem.sample_std(), np.sqrt([1.0 + 0.125, 4.0 + 0.125]))  # 0.25 (1 - 1/2)
    cem.fit(thetas[[1, 3]])  # the same elites again: the second update
    np.testing.assert_allclose(cem.sample_std(), np.sqrt([1.0, 4.0]))  # no extra variance after 2 updates
    rng = np.random.default_rng(0)
    draws = np.array([cem.sample(rng) for _ in range(20_000)])
    np.testing.assert_allclose(draws.mean(0), cem.mean, atol=0.05)
    np.testing.assert_allclose(draws.std(0), np.sqrt(cem.var), rtol=0.03)


def test_cma_es_is_reproducible_and_its_state_pickles_whole():
    import pickle

    from common.rl.derivative_free import CMAES

    def sphere_returns(x):  # maximize -|x - 1|^2
        return -((x - 1.0) ** 2).sum(1)

    def generations(es, n):
        for _ in range(n):
            x = es.ask()
            es.tell(x, sphere_returns(x))
        return es

    a, b = generations(CMAES(np.zeros(4), 1.0, 8, 3), 3), generations(CMAES(np.zeros(4), 1.0, 8, 3), 3)
    saved = pickle.dumps(a)
    np.random.seed(123)  # numpy's global state plays no part
    following = a.ask()
    np.testing.assert_array_equal(following, b.ask())  # same seed, same candidates
    np.testing.assert_array_equal(pickle.loads(saved).ask(), following)  # restored: the same next generation
    es = generations(CMAES(np.zeros(4), 1.0, 8, 3), 60)
    assert np.abs(es.mean - 1.0).max() < 1e-3 and es.popsize == 8
    import cma

    from common.rl.derivative_free import default_popsize

    for n in (6, 334, 756, 1212):  # cart-pole, Swimmer, Hopper, Walker: 9, 21, 23, 25, as the package itself
        assert default_popsize(n) == cma.CMAEvolutionStrategy(np.zeros(n), 1.0, {"verbose": -9}).popsize


# ---- reward-weighted regression --------------------------------------------------------------------------------------
def test_rwr_weights_standardize_then_shift_to_positive():
    from common.onpolicy import rwr_weights

    # Q = 1, 2, 3: mean 2, std sqrt(2/3); z = -1.2247, 0, 1.2247; w = z - min z + 1e-8
    np.testing.assert_allclose(rwr_weights(np.array([1.0, 2.0, 3.0])),
                               [1e-8, math.sqrt(1.5) + 1e-8, 2 * math.sqrt(1.5) + 1e-8], rtol=1e-7)


def test_rwr_weighted_regression_of_a_linear_gaussian_policy_is_weighted_least_squares():
    """x = 0, 1, 2; a = 1, 3, 4; w = 1, 1, 2. Normal equations [[4, 5], [5, 9]] [b, k] = [12, 19]: k = 16/11,
    b = 13/11; residuals -2/11, 4/11, -1/11; sigma^2 = (4 + 16 + 2 x 1) / 121 / 4 = 1/22."""
    from common.onpolicy import weighted_gaussian_mle
    from common.rl.npmlp import Params, mlp_shapes

    p = Params({**mlp_shapes("mean", [1, 1]), "log_std": (1,)})
    x, act, w = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [4.0]]), np.array([1.0, 1.0, 2.0])
    theta, before, after = weighted_gaussian_mle(p, "mean", 1, "log_std", x, act, w, max_iters=200)
    assert p["mean.0.w"][0, 0] == pytest.approx(16 / 11, rel=1e-5)
    assert p["mean.0.b"][0] == pytest.approx(13 / 11, rel=1e-5)
    assert p["log_std"][0] == pytest.approx(-0.5 * math.log(22), rel=1e-5)
    np.testing.assert_array_equal(theta, p.flat)
    # the maximum: (1/N) sum w log N(a; kx + b, 1/22) = (4/3) (0.5 ln 22 - 0.5 ln 2 pi - 0.5)
    assert after == pytest.approx(4 / 3 * (0.5 * math.log(22) - 0.5 * math.log(2 * math.pi) - 0.5), rel=1e-7)
    assert after > before


# ---- the runs: learning, the saved agent, determinism, resume, bad input ---------------------------------------------
def _run(tmp_path, **kwargs):
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2015_trpo.figure4 import Figure4Config, run_figure4

    cfg = Figure4Config(env_id="InvertedPendulum-v5", hidden_units=0, **kwargs)
    return cfg, run_figure4(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))


@pytest.mark.parametrize("method,threshold", [
    ("cem", 500),  # seeds 0-3 end at 1,000, 1,000, 1,000 and 586 (mean of the last 3 iterations) here
    ("cma", 300),  # seeds 0-3: 426, 748, 892, 577
    ("rwr", 300),  # seeds 0-3: 575, 388, 596, 523
])
def test_each_comparison_learns_cart_pole_with_the_linear_policy(tmp_path, method, threshold):
    cfg, out = _run(tmp_path, method=method, iterations=10, batch_steps=2000, seed=0)
    it = out["iterations"]
    assert len(it) == 10 and it["env_step"].is_monotonic_increasing and it["env_step"].iloc[0] >= 2000
    # a random policy balances for about 5 steps; the first iteration's candidates are near the initial policy
    assert it["mean_return"].iloc[0] < 50 and it["mean_return"].tail(3).mean() > threshold
    episodes = out["episodes"]
    assert episodes["episode_length"].sum() == it["env_step"].iloc[-1]  # every step is one episode's
    from common.rl.agents import load_agent

    agent = load_agent(tmp_path)
    assert agent.meta["algorithm"] == method.upper() and agent.meta["env_steps"] == it["env_step"].iloc[-1]
    assert agent.meta["layers"] == 1 and sum(v.size for k, v in agent.policy.items() if not k.startswith("obs")) == 6


def test_the_saved_agent_acts_as_the_training_policy(tmp_path):
    """save_trpo_agent's agent (what CEM, CMA and RWR save too): the filter's normalization and clip, the network,
    and a = mean + std * noise."""
    from common.rl.agents import load_agent
    from common.rl.envs import RunningMeanStd
    from papers.schulman2015_trpo.figure4 import Figure4Config
    from papers.schulman2015_trpo.trpo import GaussianPolicy, save_trpo_agent

    rng = np.random.default_rng(0)
    policy = GaussianPolicy(11, 3, 50, -0.5, rng)
    policy.p.flat[...] += 0.1 * rng.standard_normal(len(policy.p.flat))
    rms = RunningMeanStd((11,))
    rms.update(3.0 * rng.standard_normal((200, 11)) + 1.0)
    cfg = Figure4Config(env_id="Hopper-v5", hidden_units=50, method="cem")
    save_trpo_agent(tmp_path, cfg, policy, rms, 1234, "CEM")
    agent = load_agent(tmp_path)
    obs = 10.0 * rng.standard_normal(11)  # some coordinates beyond the clip
    expected = policy.mean(rms.normalize(obs, cfg.obs_clip))
    np.testing.assert_allclose(agent.act(obs, deterministic=True), expected, rtol=1e-12)
    noise = np.random.default_rng(5).standard_normal(3)
    np.testing.assert_allclose(agent.act(obs, rng=np.random.default_rng(5)),
                               expected + np.exp(policy.p["log_std"]) * noise, rtol=1e-12)


@pytest.mark.parametrize("experiment,variant,overrides", [
    ("fig4_cartpole", "cem", (("batch_steps", 500), ("iterations", 5))),
    ("fig4_cartpole", "cma", (("batch_steps", 500), ("iterations", 5))),
    ("fig4_cartpole", "rwr", (("batch_steps", 500), ("iterations", 5))),
    ("fig4_hopper", "cma", (("batch_steps", 400), ("iterations", 4))),  # one hidden layer of 50 units
])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch, experiment, variant,
                                                                overrides):
    from conftest import same_seed_and_resume_equal

    same_seed_and_resume_equal(tmp_path, monkeypatch, PAPER, experiment, variant, overrides, (1, 3),
                               agent_file="agent.npz")


@pytest.mark.parametrize("setting,message", [
    ("cem_elite_frac=0.0", "cem_elite_frac"),
    ("cma_sigma0=-1.0", "cma_sigma0"),
    ("baseline=linear", "baseline"),
    ("cma_popsize=1", "cma_popsize"),
])
def test_bad_settings_are_refused_before_any_work(results_root, capsys, setting, message):
    from common.platform import cli

    variant = "cma" if setting.startswith("cma") else "rwr" if setting.startswith("baseline") else "cem"
    rc = cli.main(["run", PAPER, "fig4_cartpole", "--variant", variant, "--budget", "quick", setting])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (results_root / PAPER / "runs").exists()  # no run folder made


def test_the_ordering_statistic_pairs_seeds_and_differences_final_returns():
    """final_return_difference: per seed both methods ran, A's mean of its last k iterations minus B's."""
    from types import SimpleNamespace

    import pandas as pd

    from papers.schulman2015_trpo.analysis import final_return_difference_values

    rows = [("single_path", 0, i, r) for i, r in enumerate([0.0, 10.0, 20.0])]
    rows += [("single_path", 1, i, r) for i, r in enumerate([0.0, 30.0, 50.0])]
    rows += [("single_path", 2, i, r) for i, r in enumerate([5.0, 5.0, 5.0])]  # no CEM run of seed 2: left out
    rows += [("cem", 0, i, r) for i, r in enumerate([1.0, 2.0, 4.0])]
    rows += [("cem", 1, i, r) for i, r in enumerate([0.0, 50.0, 0.0])]
    table = pd.DataFrame(rows, columns=["variant", "seed", "iteration", "mean_return"])
    claim = SimpleNamespace(experiment="fig4_swimmer",
                            statistic={"variants": ["single_path", "cem"], "last_iterations": 2})
    values = final_return_difference_values(claim, {"fig4_swimmer": SimpleNamespace(tables={"iterations": table})})
    # seed 0: (10 + 20) / 2 - (2 + 4) / 2 = 12; seed 1: (30 + 50) / 2 - (50 + 0) / 2 = 15
    assert values.tolist() == [12.0, 15.0]
    assert final_return_difference_values(claim, {}).size == 0  # no runs yet: no values


def test_the_best_stepsize_statistic_takes_the_runs_of_the_variant_with_the_highest_mean():
    """final_return with `variants`: the paper's choice of natural gradient's stepsize by final performance."""
    from types import SimpleNamespace

    import pandas as pd

    from papers.schulman2015_trpo.analysis import final_return_values

    rows = [("ng_a", s, i, r) for s, curve in enumerate([[0.0, 10.0], [0.0, 30.0]]) for i, r in enumerate(curve)]
    rows += [("ng_b", s, i, r) for s, curve in enumerate([[0.0, 25.0], [0.0, 25.0]]) for i, r in enumerate(curve)]
    rows += [("other", 0, i, r) for i, r in enumerate([0.0, 99.0])]  # not a candidate
    data = {"fig4_cartpole": SimpleNamespace(tables={"iterations": pd.DataFrame(
        rows, columns=["variant", "seed", "iteration", "mean_return"])}, diverged={})}
    claim = SimpleNamespace(experiment="fig4_cartpole",
                            statistic={"variants": ["ng_a", "ng_b", "ng_c"], "last_iterations": 1})
    # last iteration: ng_a runs 10 and 30 (mean 20), ng_b 25 and 25 (mean 25); ng_c has no run
    assert final_return_values(claim, data).tolist() == [25.0, 25.0]
    # ng_b's seed 2 diverged (a DIVERGED record): ng_b is no longer the best while ng_a has no divergence
    data["fig4_cartpole"].diverged = {("ng_b", 2): "non-finite surrogate (nan) at iteration 17"}
    assert final_return_values(claim, data).tolist() == [10.0, 30.0]
    # both diverged somewhere: the highest mean over the runs that finished again
    data["fig4_cartpole"].diverged[("ng_a", 3)] = "non-finite surrogate (nan) at iteration 5"
    assert final_return_values(claim, data).tolist() == [25.0, 25.0]
    claim.statistic["variants"] = ["ng_c"]
    assert final_return_values(claim, data).size == 0


def test_a_trpo_run_recorded_under_the_trpo_runner_is_the_same_run_under_figure4(tmp_path):
    """Figure 4's experiments moved from the `trpo` runner to `figure4`, whose config adds CEM's, CMA's and RWR's
    keys at their defaults: a TRPO run recorded before resumes as the same run; a changed key is still refused."""
    from omegaconf import OmegaConf

    from common.platform.config import merge, to_dict, to_yaml
    from common.platform.errors import ReproError
    from common.platform.records import RunRecord
    from papers.schulman2015_trpo.figure4 import Figure4Config
    from papers.schulman2015_trpo.trpo import TRPOConfig

    layers = [("experiment", {"env_id": "InvertedPendulum-v5", "hidden_units": 0, "method": "single_path"})]
    record = RunRecord(tmp_path)
    record.ensure_config(to_yaml(merge(TRPOConfig, layers, where="test")))
    defaults = to_dict(OmegaConf.structured(Figure4Config))
    record.ensure_config(to_yaml(merge(Figure4Config, layers, where="test")), defaults=defaults)  # no error
    changed = layers + [("variant", {"cem_elite_frac": 0.1})]
    with pytest.raises(ReproError, match="different config"):
        record.ensure_config(to_yaml(merge(Figure4Config, changed, where="test")), defaults=defaults)
