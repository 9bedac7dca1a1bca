"""TRPO (Schulman et al. 2015) and the shared on-policy pieces of common/onpolicy/: conjugate gradient against a
direct solve, Fisher-vector products against the explicit Hessian of the mean KL (torch autograd on the same
weights), the line search's acceptance on hand-made cases, learning cart-pole to a threshold, determinism, and
resume after a crash equal to an uninterrupted run."""
import numpy as np
import pytest
import torch

from common.rl.npmlp import Params, mlp_forward, mlp_shapes, normc_init
from common.onpolicy import (categorical_fvp, conjugate_gradient, discounted_returns, gaussian_fvp, line_search,
                             max_step, softmax)


# ---- conjugate gradient and the maximal step ------------------------------------------------------------------------
def test_conjugate_gradient_matches_a_direct_solve():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((12, 12))
    a = m @ m.T + 0.5 * np.eye(12)
    b = rng.standard_normal(12)
    # n steps solve an n x n system exactly in exact arithmetic (the default tolerance stops at |r|^2 < 1e-10)
    x = conjugate_gradient(lambda v: a @ v, b, iters=12, residual_tol=1e-24)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-7, atol=1e-8)
    # 10 steps (Appendix C.1) on a well-conditioned 40 x 40 system
    m = rng.standard_normal((40, 40)) / np.sqrt(40)
    a = np.eye(40) + 0.1 * m @ m.T
    b = rng.standard_normal(40)
    np.testing.assert_allclose(conjugate_gradient(lambda v: a @ v, b, iters=10), np.linalg.solve(a, b), rtol=1e-4,
                               atol=1e-5)


def test_max_step_meets_the_quadratic_kl_model_exactly():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((5, 5))
    a = m @ m.T + np.eye(5)
    s = rng.standard_normal(5)
    step = max_step(s, a @ s, 0.01)
    assert 0.5 * step @ a @ step == pytest.approx(0.01, rel=1e-12)  # beta = sqrt(2 delta / s^T A s)
    assert np.allclose(step / np.linalg.norm(step), s / np.linalg.norm(s))  # along s
    assert not max_step(np.zeros(5), np.zeros(5), 0.01).any()


def test_discounted_returns_match_brute_force():
    rng = np.random.default_rng(2)
    rewards = rng.standard_normal(9)
    ends = np.array([0, 0, 1, 0, 1, 0, 0, 0, 1], bool)
    q = discounted_returns(rewards, ends, 0.9)
    starts = [0, 3, 5]
    stops = [3, 5, 9]
    for s0, s1 in zip(starts, stops):
        for t in range(s0, s1):
            assert q[t] == pytest.approx(sum(0.9 ** (k - t) * rewards[k] for k in range(t, s1)))


# ---- Fisher-vector products against the explicit Hessian of the mean KL ---------------------------------------------
def _policy(obs_dim, hidden, out_dim, log_std, seed):
    sizes = [obs_dim, hidden, out_dim] if hidden else [obs_dim, out_dim]
    shapes = {**mlp_shapes("mean", sizes)}
    if log_std:
        shapes["log_std"] = (out_dim,)
    p = Params(shapes)
    rng = np.random.default_rng(seed)
    normc_init(p, "mean", len(sizes) - 1, 1.0, rng)
    for name in p.names():  # non-zero biases and log stds, so every term of the Fisher matters
        if name.endswith(".b") or name == "log_std":
            p[name][...] = 0.3 * rng.standard_normal(p[name].shape)
    return p, len(sizes) - 1


def _torch_mlp(theta, p, layers, x):
    """The same MLP as common.rl.npmlp.mlp_forward, in torch, from a flat parameter vector with p's layout."""
    views, start = {}, 0
    for name, shape in p.shapes.items():
        size = int(np.prod(shape))
        views[name] = theta[start:start + size].reshape(shape)
        start += size
    h = torch.as_tensor(x)
    for i in range(layers):
        h = h @ views[f"mean.{i}.w"] + views[f"mean.{i}.b"]
        if i < layers - 1:
            h = torch.tanh(h)
    return h, views


@pytest.mark.parametrize("hidden", [0, 5])  # linear (cart-pole's six parameters) and one tanh hidden layer
def test_gaussian_fvp_equals_the_hessian_of_the_mean_kl(hidden):
    p, layers = _policy(4, hidden, 2, True, seed=3)
    x = np.random.default_rng(4).standard_normal((7, 4))
    theta_old = torch.tensor(p.flat.copy())

    def mean_kl(theta):  # D_KL(pi_old || pi_theta), averaged over the batch's states
        mu_old, v_old = _torch_mlp(theta_old, p, layers, x)
        mu, v = _torch_mlp(theta, p, layers, x)
        ls_old, ls = v_old["log_std"], v["log_std"]
        kl = ls - ls_old + (torch.exp(2 * ls_old) + (mu_old - mu) ** 2) / (2 * torch.exp(2 * ls)) - 0.5
        return kl.sum(-1).mean()

    hessian = torch.autograd.functional.hessian(mean_kl, theta_old.clone()).numpy()
    inputs = mlp_forward(p, "mean", layers, x)[1]
    explicit = np.stack([gaussian_fvp(p, "mean", layers, "log_std", inputs, e) for e in np.eye(len(p.flat))], 1)
    np.testing.assert_allclose(explicit, hessian, rtol=1e-9, atol=1e-12)
    v = np.random.default_rng(5).standard_normal(len(p.flat))
    np.testing.assert_allclose(gaussian_fvp(p, "mean", layers, "log_std", inputs, v, damping=0.1),
                               hessian @ v + 0.1 * v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("hidden", [0, 5])
def test_empirical_fvp_equals_the_covariance_of_per_sample_score_vectors(hidden):
    from common.onpolicy import gaussian_empirical_fvp

    p, layers = _policy(4, hidden, 2, True, seed=10)
    rng = np.random.default_rng(11)
    x, act = rng.standard_normal((7, 4)), rng.standard_normal((7, 2))
    theta = torch.tensor(p.flat.copy(), requires_grad=True)
    scores = []
    for i in range(len(x)):  # per-sample gradients of log pi(a_i|s_i) by torch autograd
        mu, views = _torch_mlp(theta, p, layers, x[i:i + 1])
        ls = views["log_std"]
        logp = (-0.5 * ((torch.as_tensor(act[i:i + 1]) - mu) / ls.exp()) ** 2 - ls).sum()
        scores.append(torch.autograd.grad(logp, theta)[0].numpy())
    s_mat = np.array(scores)
    explicit = s_mat.T @ s_mat / len(x)
    inputs = mlp_forward(p, "mean", layers, x)[1]
    v = rng.standard_normal(len(p.flat))
    np.testing.assert_allclose(gaussian_empirical_fvp(p, "mean", layers, "log_std", inputs, act, v),
                               explicit @ v, rtol=1e-9, atol=1e-12)


def test_categorical_fvp_equals_the_hessian_of_the_mean_kl():
    p, layers = _policy(3, 4, 5, False, seed=6)
    x = np.random.default_rng(7).standard_normal((6, 3))
    theta_old = torch.tensor(p.flat.copy())

    def mean_kl(theta):
        logits_old, _ = _torch_mlp(theta_old, p, layers, x)
        logits, _ = _torch_mlp(theta, p, layers, x)
        lp_old, lp = torch.log_softmax(logits_old, -1), torch.log_softmax(logits, -1)
        return (lp_old.exp() * (lp_old - lp)).sum(-1).mean()

    hessian = torch.autograd.functional.hessian(mean_kl, theta_old.clone()).numpy()
    logits, inputs = mlp_forward(p, "mean", layers, x)
    probs = softmax(logits)
    explicit = np.stack([categorical_fvp(p, "mean", layers, inputs, probs, e) for e in np.eye(len(p.flat))], 1)
    np.testing.assert_allclose(explicit, hessian, rtol=1e-9, atol=1e-12)


def test_torch_categorical_fvp_of_a_conv_net_equals_the_hessian_of_the_mean_kl():
    """The Atari policy's Fisher-vector product (forward-mode J v, backward J^T u) against double backpropagation of
    the mean KL, on a small convolutional network."""
    from common.onpolicy.torch_fisher import categorical_fvp_fn

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 3, 4, 2), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(3 * 5 * 5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 4)).double()
    x = torch.rand(9, 4, 12, 12, dtype=torch.float64)
    params = list(net.parameters())
    with torch.no_grad():
        old = torch.log_softmax(net(x), -1)
    v = np.random.default_rng(8).standard_normal(sum(p.numel() for p in params))
    kl = (old.exp() * (old - torch.log_softmax(net(x), -1))).sum(-1).mean()
    grads = torch.autograd.grad(kl, params, create_graph=True)
    gv = (torch.cat([g.reshape(-1) for g in grads]) * torch.as_tensor(v)).sum()
    hv = torch.cat([h.reshape(-1) for h in torch.autograd.grad(gv, params)]).numpy()
    np.testing.assert_allclose(categorical_fvp_fn(net, x, damping=0.1)(v), hv + 0.1 * v, rtol=1e-9, atol=1e-12)


# ---- the line search (Appendix C) -----------------------------------------------------------------------------------
class Recorder:
    """A hand-made problem: surrogate(theta) and KL(theta) of the scalar step size theta, with every call logged."""

    def __init__(self, surrogate, kl):
        self.surrogate, self.kl, self.tried = surrogate, kl, []

    def __call__(self, theta):
        self.tried.append(float(theta[0]))
        return self.surrogate(theta[0]), self.kl(theta[0])


def test_line_search_rejects_a_step_over_the_kl_bound_and_shrinks_geometrically():
    # the surrogate improves along the whole step; the KL is 0.01 * t^2 / 0.1 = 0.1 t^2: over delta = 0.01 until
    # t <= 0.316, so the search accepts t = 0.25 after shrinking 1 -> 0.5 -> 0.25
    f = Recorder(lambda t: t, lambda t: 0.1 * t * t)
    r = line_search(np.zeros(1), np.ones(1), f, max_kl=0.01)
    assert r.accepted and r.backtracks == 2 and r.fraction == 0.25 and r.theta[0] == 0.25
    assert f.tried == [0.0, 1.0, 0.5, 0.25]  # theta_old first, then geometric shrinking by 1/2
    assert r.kl == pytest.approx(0.1 * 0.25 ** 2) and r.improvement == pytest.approx(0.25)
    f = Recorder(lambda t: t, lambda t: 0.1 * t * t)
    r = line_search(np.zeros(1), np.ones(1), f, max_kl=0.01, shrink=0.8)
    assert f.tried[1:] == pytest.approx([0.8 ** k for k in range(len(f.tried) - 1)])
    assert r.theta[0] == pytest.approx(0.8 ** 6) and r.backtracks == 6  # 0.8^5 = 0.328 > 0.316 >= 0.8^6


def test_line_search_rejects_a_non_improving_step():
    # KL always within the bound, the surrogate t - t^2 improves only for 0 < t < 1: t = 1 (L = 0) is rejected as
    # not improving, t = 0.5 accepted
    f = Recorder(lambda t: t - t * t, lambda t: 0.0)
    r = line_search(np.zeros(1), np.ones(1), f, max_kl=0.01)
    assert r.accepted and r.backtracks == 1 and r.theta[0] == 0.5
    # a direction that never improves: every try rejected, the old parameters kept
    f = Recorder(lambda t: -t, lambda t: 0.0)
    theta_old = np.array([3.0])
    r = line_search(theta_old, np.ones(1), f, max_kl=0.01, max_backtracks=10)
    assert not r.accepted and r.theta[0] == 3.0 and r.backtracks == 10 and len(f.tried) == 11
    assert r.improvement == 0.0


def test_line_search_accepts_the_full_step_when_it_satisfies_both():
    f = Recorder(lambda t: t, lambda t: 0.005 * t * t)
    r = line_search(np.zeros(1), np.ones(1), f, max_kl=0.01)
    assert r.accepted and r.backtracks == 0 and r.fraction == 1.0 and f.tried == [0.0, 1.0]


# ---- the runner: learning, determinism, resume ----------------------------------------------------------------------
from conftest import run_with_crashes, same_seed_and_resume_equal, slurm_dry_run  # noqa: E402

PAPER = "schulman2015_trpo"


def test_trpo_learns_cart_pole_with_a_linear_policy(tmp_path):
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2015_trpo.trpo import TRPOConfig, run_trpo

    cfg = TRPOConfig(env_id="InvertedPendulum-v5", hidden_units=0, iterations=25, batch_steps=2000, seed=0)
    out = run_trpo(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    it = out["iterations"]
    assert len(it) == 25 and it["env_step"].iloc[-1] >= 50_000
    assert (it["kl"] <= cfg.max_kl).all()  # every accepted step within the trust region
    # a random policy balances for about 5 steps; seeds 0-3 end at 170-1,000 (mean of the last 3 iterations) here
    assert it["mean_return"].iloc[0] < 20
    assert it["mean_return"].tail(3).mean() > 100


@pytest.mark.parametrize("experiment,variant,overrides", [
    ("fig4_cartpole", "single_path", (("batch_steps", 500), ("iterations", 6))),
    ("fig4_hopper", "single_path", (("batch_steps", 400), ("iterations", 5))),  # one hidden layer of 50 units
    ("fig4_hopper", "vine", (("iterations", 5),)),  # the quick budget's trunks and rollouts from saved states
])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch, experiment, variant,
                                                                overrides):
    same_seed_and_resume_equal(tmp_path, monkeypatch, PAPER, experiment, variant, overrides, (2, 4))


def test_quick_budget_end_to_end_with_report(results_root, capsys):
    from common.platform import cli

    assert cli.main(["sweep", PAPER, "fig4_cartpole", "--budget", "quick"]) == 0
    assert "failed 0" in capsys.readouterr().out
    assert cli.main(["report", PAPER]) == 0
    readme = (results_root / PAPER / "README.md").read_text()
    assert "fig4_cartpole_balances" in readme and "fig4_cartpole_balances_vine" in readme
    assert "reduced budget" in readme
    assert (results_root / PAPER / "figures" / "fig4_cartpole_learning_curves.png").exists()


def test_hopper_walker_and_atari_paper_budget_dry_run_on_slurm(results_root, capsys):
    from common.platform import cli

    # the README's lines, with --profile local for NAME: variants x 5 seeds at the paper's budget
    for experiment, runs in (("fig4_hopper", 40), ("fig4_walker", 40), ("fig4_swimmer", 50), ("fig4_cartpole", 50)):
        slurm_dry_run(PAPER, experiment, runs, capsys)
    slurm_dry_run(PAPER, "table1", 7, capsys)  # Table 1: one run per game
    slurm_dry_run(PAPER, "table1_vine", 7, capsys)
    # the local sweeps of the README, listed without running
    assert cli.main(["sweep", PAPER, "fig4_cartpole", "--budget", "paper", "--jobs", "2", "--dry-run"]) == 0
    assert "50 runs: 0 complete, 50 to run (2 at a time, local launcher; dry run" in capsys.readouterr().out


def test_physics_state_restores_a_mujoco_task_exactly():
    """Vine rollouts start from saved states (Sec. 5.2): the same actions from a restored state give the same
    observations, rewards and ends, bit for bit."""
    from common.rl.envs import make_env, physics_state, set_physics_state

    env = make_env("Hopper-v5", 0)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(20):
        env.step(rng.uniform(-1, 1, 3))
    saved = physics_state(env)
    actions = rng.uniform(-1, 1, (30, 3))

    def roll():
        out = []
        for a in actions:
            obs, r, term, trunc, _ = env.step(a)
            out.append((obs.copy(), r, term, trunc))
            if term or trunc:
                break
        return out

    first = roll()
    set_physics_state(env, saved)
    second = roll()
    assert len(first) == len(second)
    for (o1, r1, t1, u1), (o2, r2, t2, u2) in zip(first, second):
        assert np.array_equal(o1, o2) and r1 == r2 and t1 == t2 and u1 == u2


@pytest.mark.parametrize("option,threshold", [
    ((("fisher", "empirical"),), 100),  # seed 0 ends near 500-700 here
    ((("kl_constraint", "max"),), 12),  # slower: every step bounded by the worst state; seed 0 ends near 20-40
    ((("step_rule", "natural_gradient"), ("ng_stepsize", 0.1)), 40),  # seed 0 ends near 100-140
])
def test_figure4_comparisons_learn_cart_pole(tmp_path, option, threshold):
    """Figure 4's comparisons that share TRPO's sampling, each learning cart-pole (random policy: about 5 steps)."""
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2015_trpo.trpo import TRPOConfig, run_trpo

    cfg = TRPOConfig(env_id="InvertedPendulum-v5", hidden_units=0, iterations=20, batch_steps=2000, seed=0,
                     **dict(option))
    it = run_trpo(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))["iterations"]
    assert it["mean_return"].iloc[0] < 10 and it["mean_return"].tail(3).mean() > threshold


def test_vine_learns_cart_pole_a_little(tmp_path):
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2015_trpo.trpo import TRPOConfig, run_trpo

    # fig4_cartpole's vine settings (50 trunks, 100 states x 4 actions, rollouts of 50 steps), 12 iterations
    cfg = TRPOConfig(env_id="InvertedPendulum-v5", hidden_units=0, method="vine", iterations=12, vine_trunks=50,
                     vine_trunk_length=1000, vine_states=100, vine_actions=4, vine_rollout_length=50, seed=0)
    it = run_trpo(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))["iterations"]
    assert (it["kl"] <= cfg.max_kl).all() and it["accepted"].all()
    # random policy: about 5 steps; seeds 1 and 2 reach 22 and 28 (mean of iterations 10-11) at this budget
    assert it["mean_return"].iloc[0] < 10 and it["mean_return"].tail(2).mean() > 15


def test_atari_single_path_runs_on_the_toy_task_and_is_deterministic(tmp_path):
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2015_trpo.trpo_atari import TRPOAtariConfig, run_trpo_atari

    cfg = TRPOAtariConfig(game="Toy", iterations=2, batch_steps=72, num_actors=8)
    runs = [run_trpo_atari(cfg, RunContext(RunRecord(tmp_path / str(i)), checkpoint_every_s=1e9,
                                           show_progress=False)) for i in range(2)]
    it = runs[0]["iterations"]
    assert len(it) == 2 and (it["kl"] <= cfg.max_kl).all() and it["accepted"].all()
    assert len(runs[0]["episodes"]) >= 8  # every toy episode lasts 8 steps
    for name in ("episodes", "iterations"):
        assert runs[0][name].equals(runs[1][name])


@pytest.mark.parametrize("game", ["pong", "breakout", "space_invaders"])
def test_clonable_atari_frames_equal_the_vector_environments(game):
    """The vine's emulators (ClonableAtari) show the frames and rewards of ale-py's vector environment that single
    path uses, step for step, under the same actions (no no-ops at reset, so that both start alike)."""
    from ale_py.vector_env import AtariVectorEnv

    from common.rl.atari import GAMES, ClonableAtari

    name = next(key for key, value in GAMES.items() if value == game)
    vector = AtariVectorEnv(game=game, num_envs=1, num_threads=1, frameskip=4, repeat_action_probability=0.0,
                            full_action_space=False, img_height=84, img_width=84, grayscale=True, stack_num=4,
                            maxpool=True, noop_max=1, episodic_life=False, reward_clipping=False,
                            use_fire_reset=False, max_num_frames_per_episode=108_000)
    expected, _ = vector.reset(seed=np.array([123]))
    env = ClonableAtari(name, 123, frame_skip=4, noop_max=1)
    np.testing.assert_array_equal(env.reset(), expected[0])
    rng = np.random.default_rng(0)
    rewards = 0.0
    for t in range(300):  # until the game ends (Breakout's at step 183 here; the vector env then resets on its own)
        action = int(rng.integers(env.n_actions))
        expected, reward, vector_terminated, *_ = vector.step(np.array([action]))
        obs, own_reward, terminated, truncated = env.step(action)
        np.testing.assert_array_equal(obs, expected[0])
        assert own_reward == reward[0] and terminated == vector_terminated[0] and not truncated
        rewards += abs(own_reward)
        if terminated:
            break
    assert t >= 150 and rewards > 0  # the comparison covered scoring steps


def test_clonable_atari_restored_into_another_emulator_continues_identically():
    from common.rl.atari import ClonableAtari

    first, second = ClonableAtari("Breakout", 1, 4), ClonableAtari("Breakout", 2, 4)
    first.reset(), second.reset()
    for t in range(40):
        first.step(t % first.n_actions)
    snap = first.snapshot()
    actions = [1, 3, 2, 2, 3, 1] * 10
    after = [first.step(a) for a in actions]
    second.restore(snap)
    for a, (obs, reward, term, trunc) in zip(actions, after):
        own = second.step(a)
        np.testing.assert_array_equal(own[0], obs)
        assert own[1:] == (reward, term, trunc)
    assert len({o[0].tobytes() for o in after}) > 10  # the frames moved


def test_atari_vine_learns_the_toy_task(tmp_path):
    """Vine TRPO (eq. 16 over rollouts from saved states) on the toy task: a random policy scores about 0 of 8;
    seed 0 reaches about 4 by iteration 20 here."""
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2015_trpo.trpo_atari import TRPOAtariConfig, run_trpo_atari

    cfg = TRPOAtariConfig(game="Toy", method="vine", iterations=20, vine_trunk_steps=64, vine_states=16,
                          vine_rollout_length=4)
    out = run_trpo_atari(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    it, ep = out["iterations"], out["episodes"]
    assert (it["kl"] <= cfg.max_kl).all()
    # steps: 64 trunk steps and at most 16 x 4 x 4 rollout steps an iteration
    assert (it["agent_step"].diff().dropna() <= 64 + 16 * 4 * 4).all()
    per_iteration = ep.groupby("iteration")["episode_return"].mean()
    assert per_iteration.iloc[:3].mean() < 1.5 and per_iteration.iloc[-3:].mean() > 2.5, per_iteration.tolist()


def test_atari_vine_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    """The trunks' emulator states go into the checkpoint (ALE states pickled), so a resumed vine run continues its
    games: its tables equal the uninterrupted run's byte for byte, on a real game."""
    same_seed_and_resume_equal(tmp_path, monkeypatch, PAPER, "table1_vine", "Pong", (("iterations", 3),), (1, 2))


@pytest.mark.parametrize("experiment, overrides", [
    ("table1", (("iterations", 2), ("batch_steps", 512))),
    ("table1_vine", (("iterations", 2), ("vine_trunk_steps", 256), ("vine_states", 8))),
])
def test_atari_keeping_freed_memory_changes_no_number(tmp_path, experiment, overrides):
    """`run_trpo_atari` sets glibc's malloc to keep freed memory (common/platform/memory.py): a Pong run whose frame
    batches (single path: 512 stacks of 84x84x4 as float32, 58 MB; vine: 256 trunk stacks, 29 MB) and activations
    are mmap-sized writes the same tables and saved agent, bit for bit, as in a process where the call does
    nothing."""
    from conftest import same_bytes_with_and_without_kept_memory

    same_bytes_with_and_without_kept_memory(tmp_path, "papers.schulman2015_trpo.trpo_atari", PAPER, experiment, "Pong",
                                            overrides, agent_file="agent.large.npz")


def test_a_policy_that_goes_non_finite_fails_the_run_in_one_line(results_root, capsys):
    """init_log_std=1000 (sigma = e^1000 = inf): the policy gradient is NaN in the first iteration."""
    from common.platform import cli
    from common.platform.records import RunRecord

    rc = cli.main(["run", PAPER, "fig4_cartpole", "--variant", "single_path", "--budget", "quick", "init_log_std=1000.0"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "run failed: non-finite policy gradient (nan in 6 of 6 values) at iteration 0 (env step " in err
    assert "init_log_std=1000.0 (paper budget: 0.0)" in err and "Traceback" not in err
    (run_dir,) = (results_root / PAPER / "runs" / "fig4_cartpole").glob("quick-custom-*/single_path/seed_0")
    assert RunRecord(run_dir).status() == "diverged" and not list(run_dir.glob("*.csv.gz"))


def test_linear_baseline_option_runs_and_fits_by_least_squares(tmp_path):
    from common.platform.errors import ReproError
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2015_trpo.trpo import TRPOConfig, _baseline_features, _fit_baseline, run_trpo

    rng = np.random.default_rng(9)
    obs, t = rng.standard_normal((50, 3)), np.arange(50.0)
    coef = rng.standard_normal(10)
    returns = _baseline_features(obs, t) @ coef
    np.testing.assert_allclose(_fit_baseline(obs, t, returns, reg=0.0), coef, rtol=1e-6, atol=1e-8)
    cfg = TRPOConfig(env_id="InvertedPendulum-v5", hidden_units=0, iterations=3, batch_steps=500, baseline="linear")
    it = run_trpo(cfg, RunContext(RunRecord(tmp_path / "a"), checkpoint_every_s=1e9, show_progress=False))["iterations"]
    assert len(it) == 3 and np.isfinite(it[["mean_return", "kl", "surrogate_improvement"]].to_numpy()).all()
    with pytest.raises(ReproError, match="needs no baseline"):
        run_trpo(TRPOConfig(env_id="InvertedPendulum-v5", method="vine", baseline="linear"),
                 RunContext(RunRecord(tmp_path / "b"), checkpoint_every_s=1e9, show_progress=False))


def test_atari_run_resumes_after_a_crash(tmp_path, monkeypatch):
    """ale-py cannot save emulator states, so a resumed Atari run restarts its games (as PPO's): it completes
    with every iteration recorded once, from the checkpointed policy."""
    from common.platform.records import RunRecord
    from common.platform.runs import RunSpec

    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    spec = RunSpec(PAPER, "table1", "quick", "Pong", 0, (("batch_steps", 72), ("game", "Toy"), ("iterations", 2)))
    record = run_with_crashes(spec, monkeypatch, (1,))
    assert record.read_json("provenance.json")["attempts"] == 2
    it = record.read_table("iterations")
    assert it["iteration"].tolist() == [0, 1] and it["agent_step"].tolist() == [72, 144]
    assert RunRecord(spec.run_dir).is_complete()


# ---- saved agents (common/rl/agents.py) -----------------------------------------------------------------------------
@pytest.mark.parametrize("hidden", [0, 30])  # cart-pole's linear policy, Swimmer's 30 hidden units
def test_saved_agent_acts_as_the_training_policy(tmp_path, hidden):
    from common.rl.agents import load_agent
    from common.rl.envs import RunningMeanStd, make_env
    from papers.schulman2015_trpo.trpo import GaussianPolicy, Sampler, TRPOConfig, save_trpo_agent

    cfg = TRPOConfig(env_id="Swimmer-v5", hidden_units=hidden)
    rng = np.random.default_rng(0)
    policy = GaussianPolicy(8, 2, hidden, 0.0, rng)
    policy.p.flat[...] += 0.1 * rng.standard_normal(len(policy.p.flat))  # not just the initialization
    rms = RunningMeanStd((8,))
    rms.update(2.0 + 3.0 * rng.standard_normal((400, 8)))
    save_trpo_agent(tmp_path, cfg, policy, rms, 50_000)
    agent = load_agent(tmp_path)
    assert agent.meta["layers"] == (2 if hidden else 1) and agent.meta["algorithm"] == "TRPO (single path)"
    assert agent.large is None and not (tmp_path / "agent.large.npz").exists()  # no value function to keep
    act = Sampler(cfg, make_env("Swimmer-v5", 0), policy, rng, rms, {}).actor()  # the sampler's per-step policy
    for obs in 6.0 * rng.standard_normal((20, 8)):  # some beyond the filter's clip
        mean = policy.mean(rms.normalize(obs, cfg.obs_clip))
        assert np.array_equal(agent.act(obs, deterministic=True), mean)
        draw_a, draw_b = np.random.default_rng(3), np.random.default_rng(3)
        training = act(obs, draw_a.standard_normal(2), np.empty(2))  # the training loop's action and draw
        assert np.array_equal(agent.act(obs, False, draw_b), training)


def test_saved_atari_agent_acts_as_the_training_network(tmp_path):
    from common.rl.agents import load_agent
    from common.rl.networks import scale_frames
    from papers.schulman2015_trpo.trpo_atari import AtariPolicy, TRPOAtariConfig, save_trpo_atari_agent

    torch.manual_seed(0)
    policy = AtariPolicy(6, 16, 20)
    save_trpo_atari_agent(tmp_path, TRPOAtariConfig(game="Pong"), policy, 1000)
    assert (tmp_path / "agent.large.npz").exists() and not (tmp_path / "agent.npz").exists()
    agent = load_agent(tmp_path)
    frames = np.random.default_rng(0).integers(0, 256, (3, 4, 84, 84), dtype=np.uint8)
    for obs in frames:
        with torch.no_grad():  # one observation at a time, as the agent acts
            probs = torch.softmax(policy.net(scale_frames(torch.from_numpy(obs[None]))), -1).double().numpy()[0]
        assert np.array_equal(agent.probabilities(obs), probs)
        assert agent.act(obs, True) == probs.argmax()
        assert agent.act(obs, False, np.random.default_rng(5)) == agent.act(obs, False, np.random.default_rng(5))


def test_quick_run_keeps_its_agent_and_eval_agrees_with_training(results_root, capsys):
    import json

    from common.platform import cli
    from common.platform.records import RunRecord
    from common.platform.runs import RunSpec

    spec = RunSpec(PAPER, "fig4_cartpole", "quick", "single_path", 0, (("batch_steps", 1000), ("iterations", 3)))
    assert cli.main(["run", PAPER, "fig4_cartpole", "--variant", "single_path", "--budget", "quick",
                     "batch_steps=1000", "iterations=3"]) == 0
    sums = json.loads((spec.run_dir / "DONE").read_text())["sha256"]
    assert {"agent.json", "agent.npz"} <= set(sums)  # committed and vouched for
    budget = spec.run_dir.parent.parent.name
    assert cli.main(["eval", PAPER, "fig4_cartpole", "--variant", "single_path", "--budget", budget,
                     "--episodes", "40"]) == 0
    out = capsys.readouterr().out
    assert "TRPO (single path) agent after" in out and "InvertedPendulum-v5" in out
    line = next(x for x in out.splitlines() if x.startswith("return:"))
    mean, sd = (float(line.split(f"{k} ")[1].split(",")[0]) for k in ("mean", "sd"))
    # the stochastic policy of the last iteration's training episodes (it moved by KL <= 0.01 after them)
    train = RunRecord(spec.run_dir).read_table("episodes")
    last = train[train["iteration"] == train["iteration"].max()]["episode_return"]
    se = np.sqrt(sd ** 2 / 40 + last.var() / len(last))
    assert abs(mean - last.mean()) < 4 * se, (mean, last.mean(), se)


def test_atari_quick_run_keeps_its_network_beside_the_run_and_films_it(results_root, tmp_path, capsys):
    import imageio.v3 as iio

    from common.platform import cli
    from common.rl.agents import evaluate, load_agent
    from common.platform.runs import RunSpec

    overrides = (("batch_steps", 72), ("game", "Toy"))
    spec = RunSpec(PAPER, "table1", "quick", "Pong", 0, overrides)
    assert cli.main(["run", PAPER, "table1", "--variant", "Pong", "--budget", "quick", "game=Toy",
                     "batch_steps=72"]) == 0
    agent = load_agent(spec.run_dir)
    assert agent.meta["agent_steps"] == 72 and agent.meta["network_sizes"] == {"channels": 16, "hidden_units": 20}
    assert (spec.run_dir / "agent.large.npz").exists() and not (spec.run_dir / "agent.npz").exists()
    result = evaluate(agent, [1, 2], deterministic=True)
    assert result["lengths"] == [8, 8]  # every toy episode lasts 8 steps
    out = tmp_path / "toy.gif"
    budget = spec.run_dir.parent.parent.name
    capsys.readouterr()
    assert cli.main(["video", PAPER, "table1", "--variant", "Pong", "--budget", budget, "--out", str(out)]) == 0
    assert "8 agent steps" in capsys.readouterr().out
    frames = iio.imread(out, index=None)  # the first screen and one per step (a GIF merges repeated frames)
    assert frames.ndim == 4 and 1 <= frames.shape[0] <= 9 and frames.shape[-1] == 3


@pytest.mark.parametrize("overrides", [
    {"env_id": "Swimmer-v5", "iterations": 2, "batch_steps": 3000},
    {"env_id": "Hopper-v5", "hidden_units": 50, "method": "vine", "iterations": 2, "vine_trunks": 3,
     "vine_states": 20, "vine_rollout_length": 30},  # terminations inside trunks and rollouts
    {"env_id": "InvertedPendulum-v5", "hidden_units": 0, "iterations": 2, "batch_steps": 1000, "normalize_obs": False},
])
def test_fast_sampler_gives_the_metrics_of_the_plain_one(tmp_path, monkeypatch, overrides):
    """The sampler's per-step policy (Sampler.actor: weights looked up once, buffers allocated once per batch) does
    the arithmetic of the plain expression, operation for operation: a fixed seed's metrics are identical to those
    of a run acting with policy.mean(filter(s)) + std * noise (the loop before it was sped up)."""
    from common.platform.records import RunContext, RunRecord
    from papers.schulman2015_trpo import trpo

    def run(name):
        out = trpo.run_trpo(trpo.TRPOConfig(seed=3, **overrides),
                            RunContext(RunRecord(tmp_path / name), checkpoint_every_s=1e9, show_progress=False))
        return out["episodes"], out["iterations"]

    fast = run("fast")

    def plain_actor(self):
        std = np.exp(self.policy.p["log_std"])

        def act(obs, noise, out):
            x = self.rms.normalize(obs, self.cfg.obs_clip) if self.cfg.normalize_obs else obs
            out[:] = self.policy.mean(x) + std * noise
            return out

        return act

    monkeypatch.setattr(trpo.Sampler, "actor", plain_actor)
    plain = run("plain")
    for a, b in zip(fast, plain):
        assert a.equals(b)


def test_claims_quote_the_untrained_policys_returns_and_their_thresholds_stand_above_them():
    """The forward-progress and balancing claims justify their thresholds by the untrained policy's return: the
    numbers their notes quote are what `random_policy` measures, and each threshold lies far above that policy's
    mean, by many standard errors of the per-iteration mean the statistic averages."""
    import re
    from pathlib import Path

    import yaml

    from papers.schulman2015_trpo.random_policy import random_returns

    claims = yaml.safe_load((Path(__file__).parents[1] / "papers/schulman2015_trpo/claims.yaml").read_text())["claims"]
    quoted = {c["id"]: c for c in claims if "random_policy" in c.get("note", "")}
    assert {"fig4_cartpole_balances", "fig4_cartpole_balances_vine", "fig4_swimmer_swims_forward",
            "fig4_swimmer_swims_forward_vine"} <= set(quoted)
    for env_id, task in (("InvertedPendulum-v5", "cartpole"), ("Swimmer-v5", "swimmer")):
        r = random_returns(env_id)
        assert len(r) == 100 and np.isfinite(r).all()
        for claim in (c for cid, c in quoted.items() if f"fig4_{task}_" in cid):
            mean, sd = map(float, re.search(r"(-?\d+\.\d) \+- (\d+\.\d)", claim["note"]).groups())
            assert (mean, sd) == (round(r.mean(), 1), round(r.std(), 1)), claim["id"]
            # the claim's threshold over the untrained policy's mean, in standard errors of a 50-episode mean
            assert (claim["rule"]["threshold"] - r.mean()) / (r.std() / np.sqrt(50)) > 15, claim["id"]
