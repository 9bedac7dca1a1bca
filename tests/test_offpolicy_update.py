"""The off-policy update machinery (common/offpolicy): fused Adam against torch's default Adam, one backward pass
over disjoint losses against one per loss, the minibatch draws, the replay's one-gather sampling against per-field
indexing, and SAC's batched twin critic against two separate critics with the same weights."""
import numpy as np
import pytest
import torch
from torch import nn

from common.offpolicy import Replay
from common.offpolicy.update import adam, gradient_step, learn, phase_ms
from papers.haarnoja2018_sac.sac import TwinQ


def _net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))


def test_fused_adam_takes_the_default_adams_steps_up_to_rounding():
    nets = [_net(0), _net(0)]
    opts = [torch.optim.Adam([{"params": [nets[0][0].weight], "weight_decay": 0.01},
                              {"params": [p for n, p in nets[0].named_parameters() if n != "0.weight"]}], lr=1e-2),
            adam([{"params": [nets[1][0].weight], "weight_decay": 0.01},
                  {"params": [p for n, p in nets[1].named_parameters() if n != "0.weight"]}], lr=1e-2)]
    assert opts[1].defaults["fused"] and not opts[0].defaults.get("fused")
    x = torch.randn(64, 5)
    for _ in range(20):
        for net, opt in zip(nets, opts):
            gradient_step((net(x) ** 2).mean(), [opt])
    moved = (nets[0][0].weight - _net(0)[0].weight).abs().max()
    assert moved > 0.05  # twenty steps of size about lr: a real trajectory, compared below
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_one_backward_pass_over_disjoint_losses_equals_one_per_loss():
    a, b = _net(1), _net(2)
    a2, b2 = _net(1), _net(2)
    x = torch.randn(32, 5)
    opt_a, opt_b = torch.optim.SGD(a.parameters(), lr=0.1), torch.optim.SGD(b.parameters(), lr=0.1)
    gradient_step(a(x).mean() + (b(x) ** 2).mean(), [opt_a, opt_b])
    for net, loss in ((a2, lambda: a2(x).mean()), (b2, lambda: (b2(x) ** 2).mean())):
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        gradient_step(loss(), [opt])
    for p, q in zip(list(a.parameters()) + list(b.parameters()), list(a2.parameters()) + list(b2.parameters())):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert all(p.grad is not None for p in a.parameters())


def test_learn_draws_uniform_minibatches_with_the_rng_and_passes_the_noise():
    replay = Replay(10, 2, 1)
    for i in range(6):
        replay.add([i, -i], [0.5 * i], float(i), [i + 1, -i - 1], i == 5)
    seen, pending = [], []

    def update(obs, act, rew, next_obs, done, noise):
        seen.append((rew.clone(), noise))
        return rew.sum()

    learn(update, replay, np.random.default_rng(3), 4, 3, torch.device("cpu"), pending, noise=lambda: ("eps",))
    expected = np.random.default_rng(3)
    for rew, noise in seen:
        assert rew.tolist() == expected.integers(0, 6, 4).astype(float).tolist() and noise == "eps"
    assert [float(p) for p in pending] == [float(r.sum()) for r, _ in seen]


def test_replay_samples_whole_rows_as_per_field_indexing_does_and_survives_a_checkpoint():
    rng = np.random.default_rng(0)
    replay = Replay(50, 3, 2)
    rows = [(rng.normal(size=3), rng.normal(size=2), rng.normal(), rng.normal(size=3), rng.random() < 0.2)
            for _ in range(70)]  # 20 past its capacity: the oldest overwritten
    for r in rows:
        replay.add(*r)
    kept = rows[20:]
    by_row = {i % 50: r for i, r in zip(range(20, 70), kept)}
    idx = rng.integers(0, 50, 32)
    obs, act, rew, next_obs, done = replay.sample(idx)
    for k, i in enumerate(idx):
        o, a, r, n, d = by_row[int(i)]
        np.testing.assert_array_equal(obs[k].numpy(), np.float32(o))
        np.testing.assert_array_equal(act[k].numpy(), np.float32(a))
        np.testing.assert_array_equal(next_obs[k].numpy(), np.float32(n))
        assert rew[k].item() == np.float32(r) and done[k].item() == float(d)
    assert obs.shape == (32, 3) and rew.shape == (32,) and obs.dtype == torch.float32

    again = Replay(50, 3, 2)
    again.load(replay.state())
    assert [t.tolist() for t in again.sample(idx)] == [t.tolist() for t in replay.sample(idx)]
    assert again.size == 50 and again.pos == replay.pos == 20


def test_batched_twin_critic_equals_two_separate_critics():
    """Both critics as one batched matmul per layer give the outputs and gradients of two separate critics holding
    the same weights, up to float rounding: with its weights (for the critics' loss) and through detached weights
    (the actor's loss: gradients reach the inputs only)."""
    torch.manual_seed(0)
    obs_dim, act_dim, hidden, batch = 11, 3, 64, 32
    twin = TwinQ(obs_dim, act_dim, hidden)
    separate = []
    for j in range(2):
        net = nn.Sequential(nn.Linear(obs_dim + act_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                            nn.Linear(hidden, 1))
        with torch.no_grad():
            for layer, (w, b) in zip((net[0], net[2], net[4]), zip(twin.weights, twin.biases)):
                layer.weight.copy_(w[j].T)
                layer.bias.copy_(b[j, 0])
        separate.append(net)
    obs, act, target = torch.randn(batch, obs_dim), torch.randn(batch, act_dim), torch.randn(batch)

    q = twin(obs, act)
    q_sep = torch.stack([net(torch.cat([obs, act], -1)).squeeze(-1) for net in separate])
    torch.testing.assert_close(q, q_sep)
    ((q - target) ** 2).mean(1).sum().backward()
    ((q_sep - target) ** 2).mean(1).sum().backward()
    for i, k in enumerate((0, 2, 4)):
        for j, net in enumerate(separate):
            torch.testing.assert_close(twin.weights[i].grad[j], net[k].weight.grad.T)
            torch.testing.assert_close(twin.biases[i].grad[j, 0], net[k].bias.grad)

    a1, a2 = act.clone().requires_grad_(), act.clone().requires_grad_()
    twin.zero_grad(set_to_none=True)
    twin(obs, a1, detach_weights=True).min(0).values.sum().backward()
    torch.stack([net(torch.cat([obs, a2], -1)).squeeze(-1) for net in separate]).min(0).values.sum().backward()
    torch.testing.assert_close(a1.grad, a2.grad)
    assert all(p.grad is None for p in twin.parameters())


def test_phase_times_cover_an_update():
    net = _net(0)
    opt = adam(net.parameters(), lr=1e-3)
    x = torch.randn(64, 5)
    before = net[0].weight.clone()
    ms = phase_ms(lambda: ((net(x) ** 2).mean(), None), [opt], after=lambda: None, calls=5, warmup=1)
    assert list(ms) == ["forward", "backward", "optimizer", "target_average"]
    assert all(v >= 0 for v in ms.values()) and ms["forward"] > 0 and ms["backward"] > 0
    assert not torch.equal(before, net[0].weight)  # the optimizer's steps were taken, as in an update



def test_recorded_matmuls_are_the_updates_own_products_and_the_floor_reruns_them():
    from common.platform.bench import matmul_floor_call, recorded_matmuls

    net = _net(0)
    x = torch.randn(8, 5)
    calls = recorded_matmuls(lambda: (net(x) ** 2).mean().backward())
    # forward: two addmm (bias, input, weight^T); backward: the second layer's input and weight gradients, the
    # first layer's weight gradient only (the input needs none)
    names = [str(func) for func, _ in calls]
    assert names == ["aten.addmm.default", "aten.addmm.default", "aten.mm.default", "aten.mm.default",
                     "aten.mm.default"]
    assert calls[0][1][1][1:3] == ((8, 5), (5, 1))  # the input, as dispatched: sizes, strides
    assert calls[0][1][2][1:3] == ((5, 16), (1, 5))  # the weight, transposed: its strides kept
    results = matmul_floor_call(calls)()
    assert [tuple(r.shape) for r in results] == [(8, 16), (8, 1), (8, 16), (1, 16), (16, 5)]


def test_alternating_timings_run_each_function_in_turn():
    from common.platform.bench import alternating_ms

    order = []
    times = alternating_ms({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, calls=2, rounds=3,
                           warmup=1)
    assert order == ["a", "b"] + ["a", "a", "b", "b"] * 3
    assert [len(v) for v in times.values()] == [3, 3] and all(t >= 0 for v in times.values() for t in v)


def test_update_profile_takes_apart_an_update_and_compares_it_with_a_peer():
    from common.offpolicy.speed import update_profile

    net, peer_net = _net(0), _net(1)
    opt, peer_opt = adam(net.parameters(), lr=1e-3), adam(peer_net.parameters(), lr=1e-3)
    x = torch.randn(64, 5)

    def losses():
        return (net(x) ** 2).mean(), None

    def update():
        gradient_step(losses()[0], [opt])

    def peer_update():  # twice the arithmetic: two passes
        gradient_step((peer_net(x) ** 2).mean() + (peer_net(2 * x) ** 2).mean(), [peer_opt])

    m = update_profile(update, losses, [opt], None, {"env_step": 0.1}, peer_update=peer_update, rounds=3)
    forward = 2 * 64 * (5 * 16 + 16 * 1)
    backward = 2 * 64 * (16 * 1 + 16 * 1 + 5 * 16)  # second layer: input and weight gradients; first: weights only
    assert m["peer_update_mflop"] * 1e6 == pytest.approx(2 * (forward + backward), rel=1e-12)
    assert 0 < m["floor_share_reached_float32"] and m["matmul_floor_same_shapes_ms_float32"] > 0
    assert {"phase_ms_forward", "phase_ms_backward", "phase_ms_optimizer", "phase_ms_target_average",
            "phase_ms_env_step"} <= set(m)
    assert m["max_update_ratio_to_peer_at_floor"] > 0 and m["update_ratio_to_peer"] > 0
