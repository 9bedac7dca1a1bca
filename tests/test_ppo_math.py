"""PPO's estimators and losses against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from papers.schulman2017_ppo.ppo import PPOConfig, gae, gaussian_kl, surrogate


def test_gae_hand_computed_without_episode_end():
    r = np.array([1.0, 0.0, 2.0])
    v = np.array([0.5, 1.0, 1.5])
    g, lam = 0.9, 0.5
    d2 = 2.0 + g * 3.0 - 1.5  # bootstraps from last_value = 3
    d1 = 0.0 + g * 1.5 - 1.0
    d0 = 1.0 + g * 1.0 - 0.5
    expected = [d0 + g * lam * (d1 + g * lam * d2), d1 + g * lam * d2, d2]
    np.testing.assert_allclose(gae(r, v, np.zeros(3, bool), 3.0, g, lam), expected)


def test_gae_stops_at_an_episode_end():
    r = np.array([1.0, 1.0, 1.0, 1.0])
    v = np.array([0.0, 2.0, 4.0, 8.0])
    ends = np.array([False, True, False, False])
    g, lam = 0.99, 0.95
    a = gae(r, v, ends, 10.0, g, lam)
    # step 1 ended its episode: delta_1 = r - V(s_1), nothing flows back from step 2
    assert a[1] == pytest.approx(1.0 - 2.0)
    assert a[0] == pytest.approx((1.0 + g * 2.0 - 0.0) + g * lam * a[1])
    assert a[3] == pytest.approx(1.0 + g * 10.0 - 8.0)
    assert a[2] == pytest.approx((1.0 + g * 8.0 - 4.0) + g * lam * a[3])


def test_truncation_bootstrap_differs_from_termination():
    """A time-limit end with bootstrapping folds gamma V(s_final) into the reward; a termination does not."""
    g, lam, v_final = 0.99, 0.95, 5.0
    r = np.array([1.0, 1.0])
    v = np.array([2.0, 3.0])
    ends = np.array([False, True])
    terminated = gae(r, v, ends, 0.0, g, lam)
    truncated = gae(r + np.array([0.0, g * v_final]), v, ends, 0.0, g, lam)
    assert terminated[1] == pytest.approx(1.0 - 3.0)
    assert truncated[1] == pytest.approx(1.0 + g * v_final - 3.0)
    assert truncated[0] - terminated[0] == pytest.approx(g * lam * g * v_final)


def test_clipped_surrogate_hand_values():
    cfg = PPOConfig(objective="clip")
    ratio = np.array([1.5, 0.5, 1.1, 0.7])
    adv = np.array([2.0, 2.0, -1.0, -1.0])
    # min(r A, clip(r, 0.8, 1.2) A): 1.5*2 vs 1.2*2 -> 2.4; 0.5*2 vs 0.8*2 -> 1.0; -1.1 vs -1.1 -> -1.1; -0.7 vs -0.8 -> -0.8
    loss, d_ratio, d_kl = surrogate(cfg, ratio, adv, None, 0.2, 1.0)
    assert loss == pytest.approx(-(2.4 + 1.0 - 1.1 - 0.8) / 4)
    # the clipped term is the min for samples 0 and 3 (no gradient); r A is the min (or equal) for samples 1 and 2
    np.testing.assert_allclose(d_ratio, [0.0, -2.0 / 4, 1.0 / 4, 0.0])
    assert d_kl is None
    loss, d_ratio, _ = surrogate(PPOConfig(objective="none"), ratio, adv, None, 0.2, 1.0)
    assert loss == pytest.approx(-(3.0 + 1.0 - 1.1 - 0.7) / 4)
    np.testing.assert_allclose(d_ratio, -adv / 4)


def test_kl_penalty_and_gaussian_kl_hand_values():
    m0, s0 = np.array([[0.0, 1.0]]), np.log(np.array([1.0, 2.0]))
    m1, s1 = np.array([[1.0, 1.0]]), np.log(np.array([1.0, 1.0]))
    # dim 1: 0 + (1 + 1)/2 - 1/2 = 0.5; dim 2: log(1/2) + 4/2 - 1/2 = 1.5 - log 2
    kl = gaussian_kl(m0, s0, m1, s1)
    assert kl.item() == pytest.approx(0.5 + 1.5 - math.log(2))
    assert gaussian_kl(m0, s0, m0, s0).item() == pytest.approx(0.0, abs=1e-12)
    cfg = PPOConfig(objective="fixed_kl")
    loss, d_ratio, d_kl = surrogate(cfg, np.array([1.2]), np.array([3.0]), kl, 0.2, 0.5)
    assert loss == pytest.approx(-(3.6 - 0.5 * kl.item()))
    np.testing.assert_allclose(d_ratio, [-3.0])
    np.testing.assert_allclose(d_kl, [0.5])


@pytest.mark.parametrize("objective", ["clip", "none", "adaptive_kl", "fixed_kl"])
def test_minibatch_gradient_equals_torch_autograd(objective):
    """The hand-derived gradient of the whole PPO loss (policy surrogate + value loss) against torch autograd of the
    same loss written with torch operations, for every parameter."""
    from papers.schulman2017_ppo.ppo import ActorCritic, minibatch_gradient

    rng = np.random.default_rng(0)
    obs_dim, act_dim, M = 5, 3, 16
    model = ActorCritic(obs_dim, act_dim, 8, rng)
    model.p.flat[...] += 0.3 * rng.standard_normal(model.p.flat.shape)  # away from the initializer's zeros
    x, act = rng.standard_normal((M, obs_dim)), rng.standard_normal((M, act_dim))
    adv, ret = rng.standard_normal(M), rng.standard_normal(M)
    old_mean = model.mean(x) + 0.2 * rng.standard_normal((M, act_dim))
    old_log_std = model.p["log_std"] + 0.1 * rng.standard_normal(act_dim)
    old_logp = (-0.5 * ((act - old_mean) / np.exp(old_log_std)) ** 2 - old_log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    cfg = PPOConfig(objective=objective)
    loss_pi, loss_v = minibatch_gradient(cfg, model, x, act, adv, ret, old_logp, old_mean, old_log_std, 0.2, 0.7)

    t = {name: torch.tensor(model.p[name], requires_grad=True) for name in model.p.names()}

    def net(prefix, h):
        h = torch.tanh(h @ t[f"{prefix}.0.w"] + t[f"{prefix}.0.b"])
        h = torch.tanh(h @ t[f"{prefix}.1.w"] + t[f"{prefix}.1.b"])
        return h @ t[f"{prefix}.2.w"] + t[f"{prefix}.2.b"]

    X, A = torch.tensor(x), torch.tensor(act)
    mean, log_std = net("pi", X), t["log_std"]
    logp = (-0.5 * ((A - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    ratio = (logp - torch.tensor(old_logp)).exp()
    adv_t = torch.tensor(adv)
    if objective == "clip":
        surr = torch.min(ratio * adv_t, ratio.clamp(0.8, 1.2) * adv_t)
    elif objective == "none":
        surr = ratio * adv_t
    else:
        var_old, var = torch.tensor(np.exp(2 * old_log_std)), (2 * log_std).exp()
        kl = (log_std - torch.tensor(old_log_std) + (var_old + (torch.tensor(old_mean) - mean) ** 2) / (2 * var)
              - 0.5).sum(-1)
        surr = ratio * adv_t - 0.7 * kl
    value_loss = ((net("v", X).squeeze(-1) - torch.tensor(ret)) ** 2).mean()
    (-surr.mean() + value_loss).backward()
    assert loss_pi == pytest.approx(-surr.mean().item(), rel=1e-10)
    assert loss_v == pytest.approx(value_loss.item(), rel=1e-10)
    for name in model.p.names():
        np.testing.assert_allclose(model.p.g(name), t[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_adam_matches_torch():
    from common.rl.npmlp import Adam

    rng = np.random.default_rng(1)
    theta = rng.standard_normal(7)
    w = torch.tensor(theta.copy(), requires_grad=True)
    ref = torch.optim.Adam([w], lr=3e-4, eps=1e-8)
    opt = Adam(7, eps=1e-8)
    for step in range(5):
        g = rng.standard_normal(7) * 10.0 ** (-step)  # shrinking gradients exercise the bias corrections
        w.grad = torch.tensor(g)
        ref.step()
        opt.step(theta, g, 3e-4)
        np.testing.assert_allclose(theta, w.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_table1_normalized_scores_hand_values_and_partial_settings_are_labelled():
    """Two of the 11 settings recorded: random policy 0, best 1 per task; the verdict says the budget is reduced."""
    import pandas as pd

    from common.analysis.claims import Budget
    from common.platform.registry import get_paper
    from common.analysis.report import ExperimentData, evaluate_claims

    paper = get_paper("schulman2017_ppo")
    exp = paper.experiment("table1")
    envs = [v.split("__")[1] for v in exp.variants if v.startswith("clip0.2__")]
    rows = []
    for setting, score in (("clip0.2", 10.0), ("no_clip", 4.0)):
        for env in envs:
            for seed in range(3):
                rows += [{"variant": f"{setting}__{env}", "seed": seed, "env_step": k, "episode_return": score}
                         for k in range(5)]
    rnd = pd.DataFrame([{"variant": env, "seed": 0, "env_step": 1, "episode_return": 2.0} for env in envs])
    paper_budget = Budget(3, {"total_env_steps": 1_000_000})
    seeds = {v: (3 if v.split("__")[0] in ("clip0.2", "no_clip") else 0) for v in exp.variants}
    t1 = ExperimentData("paper", paper_budget, paper_budget, {"episodes": pd.DataFrame(rows)}, {}, [], seeds)
    r = ExperimentData("paper", Budget(1, {}), Budget(1, {}), {"episodes": rnd}, {}, [], {e: 1 for e in envs})
    claims = evaluate_claims(paper, {"table1": t1, "random_policy": r}).set_index("claim")
    # (score - random) / (best - random): clip 0.2 (10 - 2) / 8 = 1; no clipping (4 - 2) / 8 = 0.25
    assert float(claims.loc["table1_clip0.2", "estimate"]) == pytest.approx(1.0)
    assert float(claims.loc["table1_no_clip", "estimate"]) == pytest.approx(0.25)
    assert claims.loc["table1_no_clip", "verdict"] == "reduced budget"
    assert "normalized over 14 of 77 variants recorded" in claims.loc["table1_no_clip", "budget_used"]
    assert claims.loc["table1_fixed_kl1", "verdict"] == "not run"


class _ScriptedEnv:
    """Rewards 1, 2, 3, ...; episode 1 is cut by the time limit after 2 steps, episode 2 terminates after 1 step."""

    def __init__(self):
        self.t, self.ends = 0, {2: (False, True), 3: (True, False)}

    def step(self, action):
        self.t += 1
        terminated, truncated = self.ends.get(self.t, (False, False))
        return np.full(1, 10.0 * self.t), float(self.t), terminated, truncated, {}

    def reset(self):
        return np.full(1, -1.0), {}


@pytest.mark.parametrize("bootstrap", [True, False])
def test_rollout_bootstraps_only_time_limit_cuts_and_logs_episodes(bootstrap):
    from common.onpolicy.rollout import RolloutBuffers, run_gaussian_policy

    buffers = RolloutBuffers.zeros(4, 1, 1)
    state = {"steps": 100, "ep_return": 0.0, "ep_length": 0, "episodes": []}
    value = lambda x: float(x[0]) / 10.0  # V(s) = s / 10: V of the observation after step t is t  # noqa: E731
    obs = run_gaussian_policy(_ScriptedEnv(), np.zeros(1), buffers, state, mean=lambda x: np.zeros(1), value=value,
                              std=np.zeros(1), normalize=lambda o: o, rng=np.random.default_rng(0), gamma=0.5,
                              bootstrap_truncation=bootstrap)
    # step 2 was truncated: reward 2 plus gamma V(s_2) = 0.5 * 2 = 1 when bootstrapping; step 3 terminated: no bootstrap
    assert buffers.rew.tolist() == [1.0, 3.0 if bootstrap else 2.0, 3.0, 4.0]
    assert buffers.end.tolist() == [False, True, True, False]
    # observations are recorded before each step; after an end the next starts from reset's observation
    assert buffers.obs[:, 0].tolist() == [0.0, 10.0, -1.0, -1.0]
    assert buffers.val.tolist() == [0.0, 1.0, -0.1, -0.1]
    # episodes logged at env steps 102 and 103 with their undiscounted returns (no bootstrap) and lengths
    assert state["episodes"] == [(102, 3.0, 2), (103, 3.0, 1)]
    assert (state["ep_return"], state["ep_length"]) == (4.0, 1) and obs[0] == 40.0


class _CountingEnv:
    """Observation = the step within the episode; reward = 1 per step; ends itself after `length` steps."""

    def __init__(self, length):
        self.length, self.t, self.seeds = length, 0, []

    def reset(self, seed=None):
        self.t = 0
        self.seeds.append(seed)
        return np.zeros(1), {}

    def step(self, action):
        self.t += 1
        return np.full(1, float(self.t)), 1.0, self.t >= self.length, False, {}


def test_whole_trajectories_until_enough_steps_cut_at_max_length_or_counted():
    from common.onpolicy.rollout import sample_trajectories

    env = _CountingEnv(length=3)
    batch = sample_trajectories(env, lambda obs: obs * 2, min_steps=4)  # 3 + 3 steps: the second runs to its end
    assert batch["lengths"].tolist() == [3, 3] and batch["returns"].tolist() == [3.0, 3.0]
    assert batch["t"].tolist() == [0, 1, 2, 0, 1, 2] and batch["obs"][:, 0].tolist() == [0, 1, 2, 0, 1, 2]
    assert batch["act"][:, 0].tolist() == [0, 2, 4, 0, 2, 4]
    assert batch["end"].tolist() == [False, False, True, False, False, True]
    assert env.seeds == [None, None]

    env = _CountingEnv(length=10)
    seeds = iter([7, 8, 9])
    batch = sample_trajectories(env, lambda obs: obs, episodes=3, max_length=2, reset_seed=lambda: next(seeds))
    assert batch["lengths"].tolist() == [2, 2, 2] and batch["end"].tolist() == [False, True] * 3
    assert env.seeds == [7, 8, 9]
    with pytest.raises(ValueError, match="exactly one"):
        sample_trajectories(env, lambda obs: obs, min_steps=5, episodes=2)


# ---- the per-step path's shortcuts give the same numbers, bit for bit ---------------------------------------------
def _old_normalize(rms, x, clip):
    return np.clip((x - rms.mean) / np.sqrt(rms.var + 1e-8), -clip, clip)


def _hard_inputs(rng, n, dim):
    x = rng.standard_normal((n, dim)) * 10.0 ** rng.integers(-3, 4, (n, dim))
    x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    return x


def test_filter_equals_the_clip_formula_bit_for_bit_through_updates_and_restores():
    import pickle

    from common.rl.envs import RunningMeanStd

    rng = np.random.default_rng(3)
    rms = RunningMeanStd((7,))
    x = _hard_inputs(rng, 500, 7)
    clip = 5.0
    x[1] = rms.mean + clip * np.sqrt(rms.var + 1e-8)  # exactly on the bound
    for step in range(4):
        got, want = rms.normalize(x, clip), _old_normalize(rms, x, clip)
        assert got.tobytes() == want.tobytes()  # NaN where the formula gives NaN, -0.0 kept, the same rounding
        assert all(rms.normalize(row, clip).tobytes() == _old_normalize(rms, row, clip).tobytes() for row in x[:20])
        rms.update(rng.standard_normal((64, 7)) * (step + 1) + step)
    # a checkpoint written before the filter kept sqrt(var + 1e-8) (no cache in its __dict__), restored into a
    # filter that has already cached its own: the restored variance is used, not the cache
    old_state = {"mean": rms.mean.copy(), "var": rms.var.copy(), "count": rms.count}
    fresh = RunningMeanStd((7,))
    fresh.normalize(x[0], clip)
    fresh.__dict__.update(old_state)
    assert fresh.normalize(x, clip).tobytes() == _old_normalize(rms, x, clip).tobytes()
    # today's checkpoint (the cache in __dict__, pickled with the run's state) restored the same way
    restored = RunningMeanStd((7,))
    restored.__dict__.update(pickle.loads(pickle.dumps(dict(rms.__dict__))))
    assert restored.normalize(x, clip).tobytes() == _old_normalize(rms, x, clip).tobytes()
    restored.update(rng.standard_normal((64, 7)))  # and a cache restored with it goes stale correctly
    assert restored.normalize(x, clip).tobytes() == _old_normalize(restored, x, clip).tobytes()


def test_one_noise_draw_per_batch_is_the_stream_of_one_draw_per_step():
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    batch = a.standard_normal((2048, 6))
    per_step = np.stack([b.standard_normal(6) for _ in range(2048)])
    assert batch.tobytes() == per_step.tobytes()
    assert a.bit_generator.state == b.bit_generator.state  # and the generator continues from the same place


def test_mlp_forward_with_cached_layer_views_equals_name_lookups():
    from common.rl.npmlp import Params, mlp_forward, mlp_shapes, normc_init

    rng = np.random.default_rng(0)
    p = Params(mlp_shapes("pi", [11, 64, 64, 3]))
    normc_init(p, "pi", 3, 0.01, rng)

    def by_name(x):
        h = x
        for i in range(3):
            h = h @ p[f"pi.{i}.w"] + p[f"pi.{i}.b"]
            h = np.tanh(h) if i < 2 else h
        return h

    for x in (rng.standard_normal(11), rng.standard_normal((64, 11))):
        assert mlp_forward(p, "pi", 3, x)[0].tobytes() == by_name(x).tobytes()
    p.flat -= 0.1 * rng.standard_normal(p.flat.shape)  # an optimizer's in-place step: the cached views follow it
    x = rng.standard_normal(11)
    assert mlp_forward(p, "pi", 3, x)[0].tobytes() == by_name(x).tobytes()


def test_clipped_surrogate_equals_np_clip_bit_for_bit():
    rng = np.random.default_rng(5)
    eps = 0.2
    ratio = np.exp(rng.standard_normal(1000) * 0.3)
    ratio[:4] = [1 - eps, 1 + eps, np.nextafter(1 + eps, 2), np.nextafter(1 - eps, 0)]  # on and just past the bounds
    adv = rng.standard_normal(1000)
    loss, d_ratio, _ = surrogate(PPOConfig(objective="clip"), ratio, adv, None, eps, 1.0)
    unclipped, clipped = ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv
    assert loss == -float(np.minimum(unclipped, clipped).mean())
    assert d_ratio.tobytes() == np.where(unclipped <= clipped, -adv / 1000, 0.0).tobytes()


def test_mlp_backward_with_cached_views_equals_name_lookups():
    from common.rl.npmlp import Params, mlp_backward, mlp_forward, mlp_shapes, normc_init

    rng = np.random.default_rng(1)
    p = Params(mlp_shapes("v", [11, 64, 64, 1]))
    normc_init(p, "v", 3, 1.0, rng)
    x, d_out = rng.standard_normal((64, 11)), rng.standard_normal((64, 1))
    inputs = mlp_forward(p, "v", 3, x)[1]
    mlp_backward(p, "v", 3, inputs, d_out)
    want, d = {}, d_out
    for i in range(2, -1, -1):
        want[f"v.{i}.w"], want[f"v.{i}.b"] = inputs[i].T @ d, d.sum(0)
        if i > 0:
            d = (d @ p[f"v.{i}.w"].T) * (1.0 - inputs[i] ** 2)
    assert all(p.g(name).tobytes() == want[name].tobytes() for name in want)


def test_a_batch_is_counted_into_the_run_state_and_a_non_finite_return_is_an_error():
    from common.onpolicy.rollout import record_batch
    from common.platform.finite import NonFiniteError

    state = {"steps": 100, "episodes": []}
    batch = {"rew": np.ones(5), "returns": np.array([2.0, 3.0]), "lengths": np.array([2, 3])}
    where, row = record_batch(state, batch, iteration=4)
    assert state["steps"] == 105 and where == "iteration 4 (env step 105)"
    assert state["episodes"] == [(4, 105, 2.0, 2), (4, 105, 3.0, 3)]
    assert row == {"iteration": 4, "env_step": 105, "mean_return": 2.5, "episodes": 2, "mean_length": 2.5}
    with pytest.raises(NonFiniteError, match="episode return"):
        record_batch(state, {**batch, "returns": np.array([np.nan, 1.0])}, iteration=5)
