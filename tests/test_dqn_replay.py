"""The frame-once replay memory against hand-built episodes: stacks at episode starts, terminal flags, resets
that store no transition, and the ring's oldest frames."""
import numpy as np

from papers.mnih2013_dqn.replay import FrameReplay


def frame(v):
    return np.full((2, 2), v, np.uint8)


def test_stacks_are_zero_padded_at_episode_starts_and_terminals_flagged():
    r = FrameReplay(capacity=20, n_envs=1, frame_shape=(2, 2))
    r.start(0, frame(1))                      # episode A: frames 1, 2, 3 (3 is terminal)
    r.step(0, 0, 1.0, False, frame(2))
    r.step(0, 1, -1.0, True, frame(3))
    r.start(0, frame(10))                     # reset: episode B starts; no transition from frame 3
    r.step(0, 2, 0.0, False, frame(11))
    e = np.zeros(1, int)
    first = r.stacks(e, np.array([0]))[0][:, 0, 0]
    assert list(first) == [0, 0, 0, 1]
    assert list(r.stacks(e, np.array([1]))[0][:, 0, 0]) == [0, 0, 1, 2]
    assert list(r.stacks(e, np.array([3]))[0][:, 0, 0]) == [0, 0, 0, 10]  # never reaches into episode A
    assert list(r.stacks(e, np.array([4]))[0][:, 0, 0]) == [0, 0, 10, 11]
    assert list(r.valid[0, :5]) == [True, True, False, True, False]  # terminal frame and newest frame start nothing
    assert list(r.terminated[0, :2]) == [False, True]
    s, a, rew, s2, term = r.sample(64, np.random.default_rng(0))
    pairs = {(int(x[-1, 0, 0]), int(y[-1, 0, 0]), int(act), float(rr), bool(t))
             for x, act, rr, y, t in zip(s, a, rew, s2, term)}
    assert pairs == {(1, 2, 0, 1.0, False), (2, 3, 1, -1.0, True), (10, 11, 2, 0.0, False)}


def test_the_ring_never_samples_stacks_that_reach_overwritten_frames():
    r = FrameReplay(capacity=8, n_envs=1, frame_shape=(1, 1))
    r.start(0, np.full((1, 1), 0, np.uint8))
    for t in range(1, 30):  # one long episode; frame value = time step
        r.step(0, t % 3, 0.0, False, np.full((1, 1), t, np.uint8))
    s, a, rew, s2, term = r.sample(500, np.random.default_rng(1))
    for x, y in zip(s, s2):
        vals = list(x[:, 0, 0])
        assert vals == list(range(vals[-1] - 3, vals[-1] + 1))  # four consecutive frames, none overwritten
        assert y[-1, 0, 0] == vals[-1] + 1
    assert min(x[-1, 0, 0] for x in s) >= 29 - 8 + 3  # the oldest three frames only serve as history


def test_streams_of_several_environments_stay_apart():
    r = FrameReplay(capacity=40, n_envs=2, frame_shape=(1, 1))
    r.start(0, np.full((1, 1), 100, np.uint8))
    r.start(1, np.full((1, 1), 200, np.uint8))
    for t in range(1, 6):
        r.step(0, 0, 0.0, False, np.full((1, 1), 100 + t, np.uint8))
        r.step(1, 1, 0.0, False, np.full((1, 1), 200 + t, np.uint8))
    s, a, _, s2, _ = r.sample(100, np.random.default_rng(2))
    for x, act, y in zip(s, a, s2):
        base = 100 if x[-1, 0, 0] < 200 else 200
        assert act == (0 if base == 100 else 1)
        assert all(v == 0 or base <= v < base + 10 for v in x[:, 0, 0])
