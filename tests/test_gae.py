"""GAE (Schulman et al. 2016): the estimator against its closed forms (lambda = 0 is the TD residual, lambda = 1 the
discounted return minus the baseline) and hand-computed values, the No VF baseline, the Gauss-Newton products of
the value network against its explicit Jacobian (the trust-region step of eq. 30: tests/test_onpolicy_trpo.py), the
cart-pole's physics against gymnasium's CartPole with friction off, learning cart-pole to a threshold, determinism,
resume after a crash equal to an uninterrupted run, and bad input rejected before any work."""
import numpy as np
import pytest

from common.onpolicy import discounted_returns, gae, regression_gnvp, time_dependent_baseline
from common.rl.npmlp import Params, mlp_forward, mlp_shapes, normc_init

PAPER = "schulman2016_gae"


# ---- GAE, eq. (16) ------------------------------------------------------------------------------------------------
def test_gae_hand_computed_values():
    # one episode of 3 steps, gamma = 0.9, lambda = 0.5
    r, v = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 1.5])
    ends = np.array([False, False, True])
    d0, d1, d2 = 1 + 0.9 * 1.0 - 0.5, 2 + 0.9 * 1.5 - 1.0, 3 - 1.5  # delta_t (eq. 9); V = 0 after the end
    assert (d0, d1, d2) == pytest.approx((1.4, 2.35, 1.5))
    expected = [d0 + 0.45 * d1 + 0.45 ** 2 * d2, d1 + 0.45 * d2, d2]  # sum_l (gamma lambda)^l delta_{t+l}
    np.testing.assert_allclose(gae(r, v, ends, 0.0, 0.9, 0.5), expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [2.76125, 3.025, 1.5], rtol=1e-12)


def test_gae_lambda_0_is_the_td_residual_and_lambda_1_the_discounted_return_minus_the_baseline():
    rng = np.random.default_rng(0)
    r, v = rng.standard_normal(12), rng.standard_normal(12)
    ends = np.zeros(12, bool)
    ends[[3, 8, 11]] = True  # three episodes laid end to end
    gamma = 0.97
    next_v = np.append(v[1:], 0.0) * ~ends
    np.testing.assert_allclose(gae(r, v, ends, 0.0, gamma, 0.0), r + gamma * next_v - v, rtol=1e-12)  # eq. (17)
    np.testing.assert_allclose(gae(r, v, ends, 0.0, gamma, 1.0), discounted_returns(r, ends, gamma) - v,
                               rtol=1e-12, atol=1e-12)  # eq. (18)


def test_gae_and_returns_loops_give_the_values_of_numpy_scalar_arithmetic_bit_for_bit():
    """The loops run on Python floats when the arrays are float64 (the same IEEE double arithmetic, faster); float32
    input keeps its own arithmetic. Both against the loops written on numpy scalars, exactly."""
    def gae_ref(r, v, ends, last_value, gamma, lam):
        adv, last = np.zeros(len(r)), 0.0
        for t in range(len(r) - 1, -1, -1):
            not_end = 1.0 - float(ends[t])
            next_value = last_value if t == len(r) - 1 else v[t + 1]
            last = r[t] + gamma * next_value * not_end - v[t] + gamma * lam * not_end * last
            adv[t] = last
        return adv

    def returns_ref(r, ends, gamma, last_value):
        q, running = np.empty(len(r)), last_value
        for t in range(len(r) - 1, -1, -1):
            running = r[t] + gamma * (0.0 if ends[t] else running)
            q[t] = running
        return q

    rng = np.random.default_rng(4)
    ends = rng.random(3000) < 0.01
    for dtype in (np.float64, np.float32):
        r, v = rng.standard_normal(3000).astype(dtype), rng.standard_normal(3000).astype(dtype)
        for last_value in (0.0, np.float64(0.4), np.float32(0.4)):
            assert np.array_equal(gae(r, v, ends, last_value, 0.97, 0.9), gae_ref(r, v, ends, last_value, 0.97, 0.9))
            assert np.array_equal(discounted_returns(r, ends, 0.97, last_value), returns_ref(r, ends, 0.97, last_value))


def test_time_dependent_baseline_averages_returns_at_each_time_index():
    # two trajectories: returns (3, 2, 1) and (5, 4); b_0 = 4, b_1 = 3, b_2 = 1
    returns = np.array([3.0, 2.0, 1.0, 5.0, 4.0])
    t = np.array([0, 1, 2, 0, 1])
    np.testing.assert_allclose(time_dependent_baseline(returns, t), [4.0, 3.0, 1.0, 4.0, 3.0])


# ---- the value function's trust region, eq. (30) --------------------------------------------------------------------
def _value_net(sizes, seed):
    p = Params(mlp_shapes("v", sizes))
    normc_init(p, "v", len(sizes) - 1, 1.0, np.random.default_rng(seed))
    return p


def test_gauss_newton_product_equals_explicit_jacobian():
    sizes = [3, 5, 1]
    p = _value_net(sizes, 1)
    x = np.random.default_rng(2).standard_normal((7, 3))
    _, inputs = mlp_forward(p, "v", 2, x)
    theta0, h = p.flat.copy(), 1e-6
    jac = np.empty((7, len(theta0)))
    for k in range(len(theta0)):  # central differences of V(s_n) in each parameter
        p.flat[...] = theta0
        p.flat[k] += h
        up = mlp_forward(p, "v", 2, x)[0][:, 0]
        p.flat[k] -= 2 * h
        jac[:, k] = (up - mlp_forward(p, "v", 2, x)[0][:, 0]) / (2 * h)
    p.flat[...] = theta0
    v = np.random.default_rng(3).standard_normal(len(theta0))
    np.testing.assert_allclose(regression_gnvp(p, "v", 2, inputs, v), jac.T @ jac @ v / 7, rtol=1e-6, atol=1e-8)


# ---- the cart-pole ----------------------------------------------------------------------------------------------------
def test_cartpole_without_friction_steps_as_gymnasium_cartpole(monkeypatch):
    import gymnasium as gym

    from common.rl import barto_cartpole as bc

    monkeypatch.setattr(bc, "CART_FRICTION", 0.0)
    monkeypatch.setattr(bc, "POLE_FRICTION", 0.0)
    ref = gym.make("CartPole-v1").unwrapped
    ref.reset(seed=0)
    carts = bc.BartoCartPole(2)
    start = np.array([[0.01, -0.2, 0.03, 0.1], [-0.02, 0.1, -0.04, -0.3]])
    for action, force in ((1, 10.0), (0, -10.0)):
        carts.state = start.copy()
        ref.state = start[0].copy()
        ours, failed = carts.step(np.array([force, force]))
        theirs = ref.step(action)[0]
        np.testing.assert_allclose(ours[0], theirs, rtol=1e-6, atol=1e-7)  # gymnasium's state is float32
        assert not failed.any()
    # friction on: the same step differs, slightly
    monkeypatch.undo()
    carts.state = start.copy()
    with_friction = carts.step(np.array([-10.0, -10.0]))[0]
    assert 0 < np.abs(with_friction[0] - theirs).max() < 1e-3
    # forces beyond Barto's 10 N are clipped; a pole past 12 degrees fails the trial
    carts.state = start.copy()
    np.testing.assert_array_equal(carts.step(np.array([-50.0, -50.0]))[0], with_friction)
    carts.state = np.array([[0.0, 0.0, 0.21, 0.0], [2.39, 1.0, 0.0, 0.0]])
    assert carts.step(np.zeros(2))[1].tolist() == [True, True]


def test_cartpole_env_for_saved_agents_gives_one_reward_a_step():
    from common.rl.envs import make_env

    env = make_env("BartoCartPole", 3)
    obs, _ = env.reset(seed=3)
    total, done, steps = 0.0, False, 0
    while not done:
        obs, r, term, trunc, _ = env.step(np.array([10.0]))  # always push right: the pole falls over
        total, steps, done = total + r, steps + 1, term or trunc
    assert term and total == steps and 5 < steps < 100


# ---- the runner: learning, determinism, resume, bad input -------------------------------------------------------------
from conftest import execute_in, repro, same_seed_and_resume_equal, slurm_dry_run  # noqa: E402


def test_gae_learns_cart_pole_with_a_linear_policy(tmp_path):
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2016_gae.gae import GAEConfig, run_gae

    cfg = GAEConfig(seed=0, iterations=14, gamma=0.99, lam=0.96, init_log_std=float(np.log(10.0)))
    out = run_gae(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    it = out["iterations"]
    assert len(it) == 15 and (it["episodes"] == 20).all()  # 20 trajectories per batch, batches 0..14
    assert (it["kl"].iloc[:-1] <= cfg.max_kl).all()  # every accepted policy step within the trust region
    # a random linear policy balances for about 20-30 steps; seed 0 reaches 300-500 after 12-16 updates here
    assert it["mean_return"].iloc[0] < 40
    assert it["mean_return"].iloc[-1] > 200
    # the value function learns the returns: explained variance before the fit rises from about 0
    assert it["vf_explained_variance"].iloc[-4:-1].mean() > 0.5


@pytest.mark.parametrize("overrides", [{}, {"baseline": "time"}, {"policy_hidden": [3], "lam": 0.0}])
def test_packed_seeds_equal_runs_of_their_own(tmp_path, overrides):
    """A run of 3 packed seeds (seed index 1: seeds 3, 4, 5), carts stepped together, gives each seed the very rows
    (bit for bit) of the single-seed run of that seed: same policy, value function, filter and random stream; and
    its one saved agent holds every seed's, each equal to the agent of that seed's own run."""
    import pandas as pd

    from common.platform.errors import ReproError
    from common.platform.records import RunContext, RunRecord
    from common.rl.agents import load_agent
    from papers.schulman2016_gae.gae import GAEConfig, packed_seeds, run_gae

    def run(name, **kw):
        cfg = GAEConfig(iterations=3, trajectories=6, init_log_std=float(np.log(10.0)), **overrides, **kw)
        return run_gae(cfg, RunContext(RunRecord(tmp_path / name), checkpoint_every_s=1e9, show_progress=False))

    assert packed_seeds(GAEConfig(seed=1, seeds_per_run=3)) == [3, 4, 5]
    packed = run("packed", seed=1, seeds_per_run=3)
    for name, table in packed.items():
        assert sorted(table["seed"].unique()) == [3, 4, 5], name
    for seed in (3, 4, 5):
        single = run(f"single{seed}", seed=seed)
        for name in ("episodes", "iterations"):
            mine = packed[name][packed[name]["seed"] == seed].reset_index(drop=True)
            assert len(mine) == len(single[name]) > 0
            pd.testing.assert_frame_equal(mine, single[name], check_exact=True)
    # the seeds differ from each other (each has its own stream), so the equality is not that of copies
    it = packed["iterations"]
    assert it.groupby("seed")["mean_return"].apply(tuple).nunique() == 3
    # the packed run's agent: seed k's is the agent of seed k's own run, array for array
    with_value = overrides.get("baseline") != "time"
    for seed in (3, 4, 5):
        mine = load_agent(tmp_path / "packed", seed=seed, with_large=with_value)
        single = load_agent(tmp_path / f"single{seed}", with_large=with_value)
        assert mine.meta["seed"] == seed and mine.meta["env_steps"] == single.meta["env_steps"]
        for part in ("policy", "large") if with_value else ("policy",):
            assert set(getattr(mine, part)) == set(getattr(single, part))
            for name, value in getattr(single, part).items():
                np.testing.assert_array_equal(getattr(mine, part)[name], value, err_msg=f"seed {seed} {name}")
    first = load_agent(tmp_path / "packed")  # no seed asked: the first seed's, as before seeds were packed
    assert first.meta["seed"] == 3 and set(first.policy) == set(load_agent(tmp_path / "single3").policy)
    np.testing.assert_array_equal(first.policy["pi.0.w"], load_agent(tmp_path / "single3").policy["pi.0.w"])
    with pytest.raises(ReproError, match="seeds 3-5"):
        load_agent(tmp_path / "packed", seed=6)


@pytest.mark.parametrize("experiment,variant,overrides", [
    ("fig2_cartpole", "gamma0.99__lambda0.96", (("iterations", 5),)),
    ("fig2_cartpole", "gamma0.99__no_vf", (("iterations", 5),)),
    ("fig4_quadruped", "lambda0.96", (("iterations", 4), ("batch_steps", 200))),  # MuJoCo, 100-50-25 networks
])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch, experiment, variant,
                                                                overrides):
    from common.platform.records import RunRecord

    run_dir = same_seed_and_resume_equal(tmp_path, monkeypatch, PAPER, experiment, variant, overrides, (2, 3),
                                         agent_file="agent.json")
    if experiment == "fig2_cartpole":  # the quick budget packs 2 seeds into the run
        assert sorted(RunRecord(run_dir).read_table("iterations")["seed"].unique()) == [0, 1]


def test_saved_agent_acts_as_the_training_policy(tmp_path, monkeypatch):
    from common.rl.agents import load_agent
    from papers.schulman2016_gae.gae import GaussianPolicy

    run_dir = execute_in(tmp_path, monkeypatch, PAPER, "fig2_cartpole", "quick", "gamma0.99__lambda0.96", 0, ())
    agent = load_agent(run_dir, with_large=True)
    assert agent.meta["env_id"] == "BartoCartPole" and set(agent.large) == {"v.0.w", "v.0.b", "v.1.w", "v.1.b"}
    policy = GaussianPolicy(4, 1, [], 0.0, np.random.default_rng(0))
    for name in policy.p.names():
        policy.p[name][...] = agent.policy[name]
    obs = np.array([0.01, -0.02, 0.03, 0.04])
    x = np.clip((obs - agent.policy["obs_mean"]) / np.sqrt(agent.policy["obs_var"] + 1e-8), -5, 5)
    np.testing.assert_allclose(agent.act(obs, deterministic=True), policy.mean(x[None])[0], rtol=1e-12)
    # the numpy cart-pole has no renderer: filming it is a clear error, evaluating it works
    from common.platform.errors import ReproError
    from common.rl.agents import evaluate, record_video

    with pytest.raises(ReproError, match="without a renderer"):
        record_video(agent, tmp_path / "x.gif", 0, False)
    result = evaluate(agent, [5, 6], deterministic=True)
    assert all(1 <= r <= 1000 and r == n for r, n in zip(result["returns"], result["lengths"]))


def test_curves_sweep_and_report_end_to_end(results_root, capsys):
    from common.platform import cli

    assert cli.main(["sweep", PAPER, "fig2_curves", "--budget", "quick", "--launcher", "local"]) == 0
    assert "failed 0" in capsys.readouterr().out
    # the grid's gamma = 0.99 row: the claims' runs and the heat map's
    row = [f"gamma0.99__{v}" for v in ("lambda0", "lambda0.68", "lambda0.96", "lambda1", "no_vf")]
    assert cli.main(["sweep", PAPER, "fig2_cartpole", "--budget", "quick", "--launcher", "local",
                     *(a for v in row for a in ("--variant", v))]) == 0
    assert "failed 0" in capsys.readouterr().out
    assert cli.main(["report", PAPER]) == 0
    readme = (results_root / PAPER / "README.md").read_text()
    assert "fig2_fastest_lambda_at_gamma_0.99" in readme and "reduced budget" in readme
    figures = results_root / PAPER / "figures"
    assert (figures / "fig2_cartpole_heatmap.png").exists() and (figures / "fig2_curves_learning_curves.png").exists()


def test_bad_values_are_rejected_before_any_work(results_root):
    from common.platform.validate import ConfigValueError
    from papers.schulman2016_gae.gae import GAEConfig, validate_gae

    proc = repro("run", PAPER, "fig2_cartpole", "--variant", "gamma0.99__lambda0.96", "--budget", "quick", "gamma=1.5")
    assert proc.returncode == 2 and "gamma" in proc.stderr
    assert not (results_root / PAPER).exists()  # no run folder made
    for bad, named in (({"trajectories": 0}, "trajectories"), ({"value_hidden": [0]}, "value_hidden"),
                       ({"env_id": "Hopper-v5"}, "trajectories"), ({"baseline": "linear"}, "baseline"),
                       ({"seeds_per_run": 0}, "seeds_per_run"),
                       ({"env_id": "Hopper-v5", "trajectories": 0, "seeds_per_run": 2}, "seeds_per_run")):
        with pytest.raises(ConfigValueError, match=named):
            validate_gae(GAEConfig(**bad))


def test_3d_paper_budget_dry_run_on_slurm(results_root, capsys):
    # Figure 3 (left): 10 settings x 9 trials; quadruped, standing up: 3 settings x 5 trials, at the paper's budget
    for experiment, runs in (("fig3_biped", 90), ("fig4_quadruped", 15), ("fig4_standup", 15)):
        slurm_dry_run(PAPER, experiment, runs, capsys)
    assert not results_root.exists()  # a dry run writes nothing


def test_bench_times_the_loop_and_environment_only_stepping(tmp_path):
    from papers.schulman2016_gae.bench import bench
    from papers.schulman2016_gae.gae import GAEConfig

    out = bench(GAEConfig(iterations=2, trajectories=4, init_log_std=float(np.log(10.0))), 2000, tmp_path)
    assert out["unit"] == "env-steps/s" and out["environment_only"] > 0 and out["training"] > 0
    assert "2 updates" in out["note"]


def test_bench_of_a_3d_task_times_each_phase_inside_a_run_that_gives_the_same_numbers(tmp_path):
    """On a MuJoCo task the bench runs the loop twice, the second time with its phases timed
    (common/onpolicy/phases.py); the timing changes no number of the run, and the parts fit inside their phases."""
    from common.onpolicy.phases import IterationMarks, PhaseTimer, phase_table, timed_phases
    from common.platform.records import RunRecord
    from papers.schulman2016_gae import gae as gae_module
    from papers.schulman2016_gae.bench import bench
    from papers.schulman2016_gae.gae import GAEConfig, run_gae

    cfg = GAEConfig(env_id="Hopper-v5", trajectories=0, batch_steps=200, iterations=2, policy_hidden=[8],
                    value_hidden=[8], fvp_fraction=0.5)
    plain = run_gae(cfg, IterationMarks(RunRecord(tmp_path / "plain"), checkpoint_every_s=1e9, show_progress=False))
    timer = PhaseTimer()
    ctx = IterationMarks(RunRecord(tmp_path / "timed"), checkpoint_every_s=1e9, show_progress=False, timer=timer)
    with timed_phases(gae_module, timer):
        timed = run_gae(cfg, ctx)
    for name in ("iterations", "episodes"):
        assert plain[name].equals(timed[name])
    assert len(ctx.marks) == 1 + cfg.iterations + 1  # the loop's start, two updates, the final batch
    ms = phase_table(ctx.marks[:1 + cfg.iterations])
    for name in ("act", "environment", "advantages", "policy_cg", "policy_line_search", "value_cg"):
        assert ms[name] > 0, name
    assert ms["sampling"] >= ms["act"] + ms["environment"]
    assert ms["policy_step"] >= ms["policy_cg"] + ms["policy_line_search"] and ms["value_fit"] >= ms["value_cg"]
    assert ms["cost_update"] == ms["cost"] == 0.0  # GAE has no cost model
    assert ms["total"] >= ms["sampling"] + ms["policy_step"] + ms["value_fit"]
    assert ms["env_steps"] == pytest.approx(np.mean([n for _, n, _ in ctx.marks[1:1 + cfg.iterations]]))
    assert ms["env_steps"] >= cfg.batch_steps

    out = bench(cfg, 500, tmp_path / "bench")
    assert out["environment_only"] > 0 and out["training"] > 0 and out["training_loop"] > 0
    assert set(out["phases_ms_per_iteration"]) >= {"sampling", "policy_cg", "value_cg", "total", "env_steps"}


def test_claim_statistics_on_hand_made_runs():
    """The cart-pole claims' per-seed group differences and the 3D claims' final differences, on made-up tables."""
    from types import SimpleNamespace

    import pandas as pd

    from papers.schulman2016_gae.analysis import (best_gamma_values, best_region_values, fast_lambda_values,
                                                  final_difference_values, intermediate_over_lambda0_values)

    configs, rows = {}, []
    for gamma in (0.9, 0.99):
        for lam, base in ((0.0, 100.0), (0.96, 700.0), (1.0, 400.0)):
            v = f"gamma{gamma:g}__lambda{lam:g}"
            configs[v] = {"gamma": gamma, "lam": lam, "baseline": "value_function"}
            for seed in (0, 1):
                for it in range(3):  # returns base + 10 it (+ seed): final = base + 20 + seed, curve mean base + 10
                    rows.append({"variant": v, "seed": seed, "iteration": it, "mean_return": base + 10 * it + seed})
    configs["gamma0.99__no_vf"] = {"gamma": 0.99, "lam": 0.96, "baseline": "time"}
    rows += [{"variant": "gamma0.99__no_vf", "seed": s, "iteration": i, "mean_return": 5000.0}
             for s in (0, 1) for i in range(3)]
    data = {"e": SimpleNamespace(tables={"iterations": pd.DataFrame(rows)}, configs=configs)}
    claim = SimpleNamespace(experiment="e", statistic={})
    # in the region: only (0.99, 0.96) -> 720 + seed; the other 5 cells (No VF left out): mean of 120, 720, 420,
    # 120, 420 = 360 (+ seed): difference 360 for each seed
    np.testing.assert_allclose(best_region_values(claim, data), [360.0, 360.0])
    # lambda in [0.92, 0.99] holds only 0.96: gamma 0.99 (720) against gamma 0.9 (720)
    np.testing.assert_allclose(best_gamma_values(claim, data), [0.0, 0.0])
    # gamma 0.99: lambda 0.96's curve mean 710 against lambda 0 and 1's (110 + 410) / 2 = 260
    np.testing.assert_allclose(fast_lambda_values(claim, data), [450.0, 450.0])
    # gamma in [0.96, 0.99] holds only 0.99: 720 - 120
    np.testing.assert_allclose(intermediate_over_lambda0_values(claim, data), [600.0, 600.0])
    claim3d = SimpleNamespace(experiment="e", statistic={"variants": ["gamma0.99__lambda0.96", "gamma0.99__lambda1"],
                                                         "last_iterations": 2})
    np.testing.assert_allclose(final_difference_values(claim3d, data), [300.0, 300.0])
    # the per-run summary: seeds 0 and 1 packed into one run per variant (seeds_per_run 2): one row, both seeds
    from papers.schulman2016_gae.analysis import run_summary

    it = pd.DataFrame(rows).assign(env_step=lambda d: 100 * (d["iteration"] + 1), accepted=1)
    packed = SimpleNamespace(tables={"iterations": it},
                             configs={v: {**c, "seeds_per_run": 2} for v, c in configs.items()})
    summary = run_summary(None, packed).set_index("variant")
    assert len(summary) == len(configs) and (summary["seed"] == 0).all() and (summary["seeds"] == "0-1 (2)").all()
    row = summary.loc["gamma0.99__lambda0.96"]
    assert (row["first_batch_return"], row["last_batch_return"], row["env_steps"]) == (700.5, 720.5, 600)
