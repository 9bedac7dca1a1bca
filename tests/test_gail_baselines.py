"""GAIL's baselines: behavioral cloning (early stopping, learning, determinism) and the FEM / GTAL cost updates
against hand-computed values (papers/ho2016_gail/baselines.py)."""
import math

import numpy as np
import pytest

from papers.ho2016_gail.baselines import BCPolicy, LinearCost, train_bc

EPS = 1e-6  # the standardizer's epsilon: z = (x - mean) / (std + 1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Behavioral cloning


def _noisy_labels(n=80, seed=1):
    """A binary rule with a quarter of the labels flipped: a 100-100 network fits the flips and its validation
    loss first falls, then rises."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] > 0).astype(int)
    flip = rng.random(n) < 0.25
    y[flip] = 1 - y[flip]
    return x, y


def test_bc_early_stopping_keeps_the_best_validation_epoch():
    x, y = _noisy_labels()
    kw = dict(discrete=True, n_out=2, seed=3, learning_rate=1e-2, patience=30)
    policy, hist = train_bc(x, y, max_epochs=2000, **kw)
    assert list(hist.columns) == ["epoch", "train_loss", "validation_loss", "validation_mean_sq_error", "chosen"]
    assert hist["chosen"].sum() == 1
    best = int(hist.loc[hist["chosen"], "epoch"].iloc[0])
    # the chosen epoch is the (earliest) minimum of the validation loss, and the loss rose afterwards
    assert best == int(hist.loc[hist["validation_loss"].idxmin(), "epoch"])
    assert 1 < best < len(hist)
    assert hist["validation_loss"].iloc[-1] > hist["validation_loss"].min() + 0.1
    # stopped `patience` epochs after the best one
    assert len(hist) == best + kw["patience"]
    # the returned parameters are those of the best epoch: a run stopped there (same seed) ends on them
    at_best, hist_best = train_bc(x, y, max_epochs=best, **kw)
    assert bool(hist_best["chosen"].iloc[-1]) and len(hist_best) == best
    np.testing.assert_array_equal(policy.params.flat, at_best.params.flat)
    # and not those of the last epoch: its validation loss differs from the chosen one
    assert hist["validation_loss"].iloc[-1] != hist.loc[hist["chosen"], "validation_loss"].iloc[0]


def test_bc_learns_a_deterministic_discrete_expert():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(600, 2))
    expert = lambda o: (o[:, 0] + o[:, 1] > 0).astype(int) + (o[:, 0] > 0.5).astype(int)  # 3 actions
    policy, hist = train_bc(x, expert(x), discrete=True, n_out=3, seed=0, max_epochs=200, patience=30)
    x_test = rng.uniform(-1, 1, size=(2000, 2))
    accuracy = np.mean(policy.act(x_test, rng, deterministic=True) == expert(x_test))
    assert accuracy > 0.95
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0] / 4


def test_bc_learns_a_continuous_expert_map():
    rng = np.random.default_rng(0)
    a_map = np.array([[1.0, -0.5], [0.3, 0.8]])
    x = rng.uniform(-1, 1, size=(600, 2))
    policy, hist = train_bc(x, x @ a_map, discrete=False, n_out=2, seed=0, max_epochs=200, patience=30)
    x_test = rng.uniform(-1, 1, size=(2000, 2))
    mean_action = policy.act(x_test, rng, deterministic=True)
    assert np.mean(np.sum((mean_action - x_test @ a_map) ** 2, axis=1)) < 0.01  # targets' mean square is ~0.7
    # the continuous policy is chosen by the validation squared error of its mean (eq. 2)
    chosen = hist.loc[hist["chosen"]]
    assert chosen["validation_mean_sq_error"].iloc[0] == hist["validation_mean_sq_error"].min()
    # sampled actions spread around the mean with the learned state-independent std (below its initial 1)
    std = np.exp(policy.params["log_std"])
    assert np.all(std < 0.5)
    samples = policy.act(np.repeat(x_test[:1], 4000, axis=0), rng, deterministic=False)
    np.testing.assert_allclose(samples.std(axis=0), std, rtol=0.1)


def test_bc_is_deterministic_for_a_seed_and_round_trips_its_arrays():
    x, y = _noisy_labels(n=60, seed=4)
    kw = dict(discrete=True, n_out=2, max_epochs=15, patience=5)
    p1, h1 = train_bc(x, y, seed=7, **kw)
    p2, h2 = train_bc(x, y, seed=7, **kw)
    p3, _ = train_bc(x, y, seed=8, **kw)
    np.testing.assert_array_equal(p1.params.flat, p2.params.flat)
    assert h1.equals(h2)
    assert not np.array_equal(p1.params.flat, p3.params.flat)
    a1 = p1.act(x, np.random.default_rng(0), deterministic=False)
    a2 = p2.act(x, np.random.default_rng(0), deterministic=False)
    np.testing.assert_array_equal(a1, a2)
    restored = BCPolicy.from_arrays(p1.arrays())
    np.testing.assert_array_equal(restored.act(x, np.random.default_rng(0), deterministic=False), a1)
    np.testing.assert_array_equal(restored.log_prob(x, y), p1.log_prob(x, y))


def test_bc_gaussian_log_likelihood_hand_computed():
    # zero output layer and log std 0 at initialization: pi(a|s) = N(a; 0, I) whatever the observation
    policy = BCPolicy(discrete=False, obs_dim=1, n_out=2, hidden=(3,), obs_mean=np.zeros(1), obs_std=np.ones(1))
    policy.init_params(np.random.default_rng(0))
    logp = policy.log_prob(np.array([[0.3], [-2.0]]), np.array([[1.0, -2.0], [0.0, 0.0]]))
    np.testing.assert_allclose(logp, [-0.5 * 5.0 - math.log(2 * math.pi), -math.log(2 * math.pi)])


@pytest.mark.parametrize("discrete", [True, False])
def test_bc_gradient_matches_finite_differences(discrete):
    rng = np.random.default_rng(3)
    obs = rng.normal(size=(7, 3))
    acts = rng.integers(0, 4, 7) if discrete else rng.normal(size=(7, 4))
    policy = BCPolicy(discrete=discrete, obs_dim=3, n_out=4, hidden=(5, 6), obs_mean=np.full(3, 0.2),
                      obs_std=np.full(3, 1.5))
    policy.params.flat[...] = 0.5 * rng.normal(size=policy.params.flat.size)  # a non-zero output layer
    policy._nll_and_grad(obs, acts, grad=True)
    analytic = policy.params.grad.copy()
    numeric = np.zeros_like(analytic)
    for i in range(analytic.size):
        theta = policy.params.flat[i]
        policy.params.flat[i] = theta + 1e-6
        up = policy._nll_and_grad(obs, acts, grad=False)[0]
        policy.params.flat[i] = theta - 1e-6
        down = policy._nll_and_grad(obs, acts, grad=False)[0]
        policy.params.flat[i] = theta
        numeric[i] = (up - down) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_bc_errors_name_what_is_wrong():
    x, y = _noisy_labels(n=20)
    with pytest.raises(ValueError, match="0..1"):
        train_bc(x, y + 1, discrete=True, n_out=2, seed=0)
    with pytest.raises(ValueError, match="has 19 pairs but the observations have 20"):
        train_bc(x, y[:-1], discrete=True, n_out=2, seed=0)
    with pytest.raises(ValueError, match=r"shape \(N, n_out=2\)"):
        train_bc(x, np.zeros((20, 3)), discrete=False, n_out=2, seed=0)
    with pytest.raises(ValueError, match="empty"):
        train_bc(np.zeros((0, 4)), np.zeros(0, int), discrete=True, n_out=2, seed=0)
    with pytest.raises(ValueError, match="both need at least one"):
        train_bc(x[:1], y[:1], discrete=True, n_out=2, seed=0)
    with pytest.raises(ValueError, match="validation_fraction"):
        train_bc(x, y, discrete=True, n_out=2, seed=0, validation_fraction=1.0)
    with pytest.raises(ValueError, match="patience"):
        train_bc(x, y, discrete=True, n_out=2, seed=0, patience=0)


# ---------------------------------------------------------------------------------------------------------------
# FEM and GTAL on a tiny continuous task: 1-D observations, 1-D actions.
# Expert pairs (s, a) = (-1, -1), (1, 1): mean 0 and std 1 in both coordinates, so z = x / (1 + 1e-6).
# Features (eq. 7): [z_s, z_a, (0.01 z_s)^2, (0.01 z_a)^2, 1], d = 5.
# Policy pairs (1, 4), (1, -1): mu_pi - mu_E = [1, 1.5, 0, (16 + 1)/2 * 1e-4 - 1e-4, 0] / (1 + 1e-6)
# (the squared features divided by (1 + 1e-6)^2)

EXPERT_OBS, EXPERT_ACTS, EXPERT_T = np.array([[-1.0], [1.0]]), np.array([[-1.0], [1.0]]), np.array([0.0, 1.0])
POLICY_OBS, POLICY_ACTS, POLICY_T = np.array([[1.0], [1.0]]), np.array([[4.0], [-1.0]]), np.array([0.0, 1.0])


def _cost(kind, **kw):
    return LinearCost(kind, EXPERT_OBS, EXPERT_ACTS, EXPERT_T, discrete=False, n_out=1, horizon=10, **kw)


def _hand_gap():
    s = 1.0 / (1.0 + EPS)
    return np.array([1.0 * s, 1.5 * s, 0.0, (8.5e-4 - 1e-4) * s ** 2, 0.0])


def test_fem_weights_are_the_unit_feature_expectation_gap():
    cost = _cost("fem")
    np.testing.assert_allclose(cost.expert_feature_mean, [0, 0, 1e-4 / (1 + EPS) ** 2, 1e-4 / (1 + EPS) ** 2, 1])
    info = cost.update(POLICY_OBS, POLICY_ACTS, POLICY_T)
    gap = _hand_gap()
    norm = math.sqrt(1.0 + 2.25 + 7.5e-4 ** 2) / (1 + EPS)  # ||mu_pi - mu_E||, eq. (5)
    assert info["feature_gap_l2"] == pytest.approx(norm, rel=1e-9)
    np.testing.assert_allclose(cost.weights, gap / (norm + 1e-8), rtol=1e-9, atol=1e-15)
    assert np.linalg.norm(cost.weights) == pytest.approx(1.0, abs=1e-7)
    # E_pi[c] - E_piE[c] = w . gap / d = ||gap|| / 5 (up to the 1e-8 of the normalization)
    assert info["cost_gap"] == pytest.approx(norm / 5, rel=1e-7)
    # cost of the expert pair (-1, -1): w . [-1, -1, 1e-4, 1e-4, 1] / 5 (z ~ x)
    f_expert = np.array([-1, -1, 1e-4 / (1 + EPS), 1e-4 / (1 + EPS), 1 + EPS]) / (1 + EPS)
    np.testing.assert_allclose(cost.raw_cost(EXPERT_OBS[:1], EXPERT_ACTS[:1], EXPERT_T[:1]),
                               [f_expert @ gap / (norm + 1e-8) / 5], rtol=1e-9)


def test_gtal_weights_are_the_simplex_vertex_of_the_largest_gap():
    cost = _cost("gtal")
    assert cost.n_features == 10  # [f, -f]
    info = cost.update(POLICY_OBS, POLICY_ACTS, POLICY_T)
    gap = _hand_gap()
    # max over [gap, -gap] is gap[1] = 1.5: all weight on z_a, the feature the policy exceeds the expert on most
    expected = np.zeros(10)
    expected[1] = 1.0
    np.testing.assert_array_equal(cost.weights, expected)
    assert info["feature_gap_max"] == pytest.approx(gap[1])
    assert info["cost_gap"] == pytest.approx(gap[1] / 10)
    # the cost is z_a / 10: -0.1 for the expert's (-1, -1), 0.4 for the policy's (1, 4)
    np.testing.assert_allclose(cost.raw_cost(np.array([[-1.0], [1.0]]), np.array([[-1.0], [4.0]]), np.zeros(2)),
                               np.array([-0.1, 0.4]) / (1 + EPS))
    # the best response is a vertex whatever the previous weights: a second update with the same samples keeps it
    cost.update(POLICY_OBS, POLICY_ACTS, POLICY_T)
    np.testing.assert_array_equal(cost.weights, expected)


def test_gtal_picks_a_negated_feature_when_the_policy_falls_short():
    cost = _cost("gtal")
    # policy actions (-4, -1) at states (1, 1): mu_pi - mu_E = [1, -2.5, ...]; the largest entry of
    # [gap, -gap] is -gap[1] = 2.5, feature index 5 + 1
    cost.update(POLICY_OBS, np.array([[-4.0], [-1.0]]), POLICY_T)
    assert np.flatnonzero(cost.weights).tolist() == [6]
    np.testing.assert_allclose(cost.raw_cost(np.array([[0.0]]), np.array([[-4.0]]), np.zeros(1)), [0.4 / (1 + EPS)])


@pytest.mark.parametrize("kind", ["fem", "gtal"])
@pytest.mark.parametrize("favor_zero", [False, True])
def test_expert_like_pairs_cost_less_after_an_update(kind, favor_zero):
    rng = np.random.default_rng(0)
    expert_obs = rng.normal(size=(200, 3))
    expert_acts = np.tanh(expert_obs[:, :2]) + 0.05 * rng.normal(size=(200, 2))
    policy_obs = rng.normal(size=(200, 3))
    policy_acts = rng.normal(size=(200, 2))  # ignores the state
    t = np.tile(np.arange(50.0), 4)
    cost = LinearCost(kind, expert_obs, expert_acts, t, discrete=False, n_out=2, horizon=50, include_time=True,
                      favor_zero_expert_cost=favor_zero, seed=1)
    cost.update(policy_obs, policy_acts, t)
    c = cost.cost(np.concatenate([expert_obs, policy_obs]), np.concatenate([expert_acts, policy_acts]),
                  np.concatenate([t, t]))
    assert c[:200].mean() < c[200:].mean()
    # eq. (9): the shifted cost has a fixed sign
    assert (c >= 0).all() if favor_zero else (c <= 0).all()


def test_discrete_features_are_blocks_per_action_with_time_features():
    # 1-D observations 0 and 2 (mean 1, std 1: z = -1, +1), 3 actions, horizon 4
    cost = LinearCost("fem", np.array([[0.0], [2.0]]), np.array([0, 2]), np.array([0.0, 2.0]), discrete=True,
                      n_out=3, horizon=4, include_time=True)
    f = cost.features(np.array([[2.0], [0.0]]), np.array([[1], [0]]), np.array([2.0, 0.0]))
    z = 1 / (1 + EPS)
    g1 = [z, (0.01 * z) ** 2, 0.5, 0.25, 0.125]  # state 2 at t = 2: [z, (0.01 z)^2, tau, tau^2, tau^3]
    g0 = [-z, (0.01 * z) ** 2, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(f, [[0] * 5 + g1 + [0] * 5 + [1], g0 + [0] * 10 + [1]])


def test_discrete_fem_update_hand_computed():
    # expert: state -1 -> action 0, state 1 -> action 1; policy: the opposite. With g = [z, (0.01 z)^2]:
    # mu_E = [-1/2, 5e-5, 1/2, 5e-5, 1], mu_pi = [1/2, 5e-5, -1/2, 5e-5, 1]: w = [1, 0, -1, 0, 0] / sqrt(2)
    cost = LinearCost("fem", np.array([[-1.0], [1.0]]), np.array([0, 1]), np.zeros(2), discrete=True, n_out=2,
                      horizon=1)
    info = cost.update(np.array([[-1.0], [1.0]]), np.array([1, 0]), np.zeros(2))
    assert info["feature_gap_l2"] == pytest.approx(math.sqrt(2) / (1 + EPS))
    np.testing.assert_allclose(cost.weights, np.array([1, 0, -1, 0, 0]) / math.sqrt(2), rtol=1e-7, atol=1e-12)
    # the expert's pair (-1, 0) costs -z/sqrt(2)/5, the policy's (-1, 1) +z/sqrt(2)/5, z = 1/(1 + 1e-6)
    np.testing.assert_allclose(cost.raw_cost(np.array([[-1.0], [-1.0]]), np.array([0, 1]), np.zeros(2)),
                               np.array([-1, 1]) / (1 + EPS) / math.sqrt(2) / 5, rtol=1e-7)


@pytest.mark.parametrize("kind", ["fem", "gtal"])
def test_state_load_round_trip_gives_identical_costs(kind):
    rng = np.random.default_rng(2)
    obs, acts = rng.normal(size=(30, 2)), rng.integers(0, 3, 30)
    t = np.arange(30.0)
    a = LinearCost(kind, obs, acts, t, discrete=True, n_out=3, horizon=30, seed=5)
    a.update(rng.normal(size=(40, 2)), rng.integers(0, 3, 40), np.arange(40.0) % 30)
    probe = (rng.normal(size=(25, 2)), rng.integers(0, 3, 25), np.arange(25.0))
    a.cost(*probe)  # moves the bound of eq. (9)
    b = LinearCost(kind, obs, acts, t, discrete=True, n_out=3, horizon=30, seed=6)
    b.load(a.state())
    np.testing.assert_array_equal(b.cost(*probe), a.cost(*probe))
    np.testing.assert_array_equal(b.weights, a.weights)
    # a fresh cost with another seed differs until loaded
    c = LinearCost(kind, obs, acts, t, discrete=True, n_out=3, horizon=30, seed=6)
    assert not np.array_equal(c.raw_cost(*probe), a.raw_cost(*probe))


def test_linear_cost_errors_name_what_is_valid():
    obs, acts, t = np.zeros((4, 2)), np.array([0, 1, 1, 0]), np.arange(4.0)
    with pytest.raises(ValueError, match="valid kinds: fem, gtal"):
        LinearCost("maxent", obs, acts, t, discrete=True, n_out=2, horizon=4)
    with pytest.raises(ValueError, match="empty"):
        LinearCost("fem", np.zeros((0, 2)), np.zeros(0, int), np.zeros(0), discrete=True, n_out=2, horizon=4)
    with pytest.raises(ValueError, match="has 3 pairs but the observations have 4"):
        LinearCost("fem", obs, acts[:3], t, discrete=True, n_out=2, horizon=4)
    with pytest.raises(ValueError, match=r"expert_t must have shape \(4,\)"):
        LinearCost("fem", obs, acts, t[:2], discrete=True, n_out=2, horizon=4)
    with pytest.raises(ValueError, match="horizon"):
        LinearCost("fem", obs, acts, t, discrete=True, n_out=2, horizon=0)
    cost = LinearCost("gtal", obs, acts, t, discrete=True, n_out=2, horizon=4)
    with pytest.raises(ValueError, match="3 observation dimensions, expected 2"):
        cost.update(np.zeros((4, 3)), acts, t)
    with pytest.raises(ValueError, match="0..1"):
        cost.update(obs, acts + 1, t)
    with pytest.raises(ValueError, match="kind 'gtal', this cost is 'fem'"):
        LinearCost("fem", obs, acts, t, discrete=True, n_out=2, horizon=4).load(cost.state())
