"""DeepMind Control Suite tasks behind gymnasium's interface (common/rl/dmc.py): shapes and bounds, the episode's
1,000 steps and the trajectory against dm-control's own environment, seeding, a reward on a fixed action sequence
against the task's definition, exact save/restore, the errors for unknown tasks and mismatched bindings, and DDPG's
quick run on the cartpole swing-up with a resume equal to the uninterrupted run."""
import logging.config
import math
import sys

import numpy as np
import pandas as pd
import pytest

from common.platform.errors import ReproError
from common.platform.records import RunRecord
from common.platform.runs import RunSpec
from common.rl import dmc
from common.rl.envs import env_version, make_env, restore_env_state, save_env_state
from conftest import execute_in, run_with_crashes, table_bytes

SWINGUP = "dm_control/cartpole-swingup-v0"


def _actions(env, n, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(env.action_space.low, env.action_space.high, (n,) + env.action_space.shape)


def _rollout(env, actions):
    obs, rewards = [], []
    for a in actions:
        o, r, terminated, truncated, _ = env.step(a)
        obs.append(o)
        rewards.append(r)
    return np.array(obs), np.array(rewards)


def test_offered_tasks_are_suite_tasks_with_flat_observations_and_the_action_bounds():
    suite = dmc.load_suite()
    assert set(dmc.TASKS) <= set(suite.ALL_TASKS)
    for env_id, (domain, task) in zip(dmc.ENV_IDS, dmc.TASKS):
        env = make_env(env_id, 0)
        spec = env.unwrapped._env
        dim = sum(int(np.prod(s.shape)) for s in spec.observation_spec().values())
        obs, _ = env.reset(seed=1)
        assert obs.shape == env.observation_space.shape == (dim,) and obs.dtype == np.float64, env_id
        np.testing.assert_array_equal(env.action_space.low, spec.action_spec().minimum)
        np.testing.assert_array_equal(env.action_space.high, spec.action_spec().maximum)
        for a in _actions(env, 5, 0):
            o, r, terminated, truncated, _ = env.step(a)
            assert o.shape == (dim,) and np.all(np.isfinite(o)) and 0.0 <= r <= 1.0, env_id  # suite rewards: [0, 1]
            assert not terminated and not truncated
        assert env.spec is None or env.spec.max_episode_steps in (None, dmc.EPISODE_STEPS)
        assert env_version(env_id) == f"{env_id} (dm-control 1.0.50 (MuJoCo 4.0.0))"


def test_cartpole_observation_order_is_the_tasks():
    env = make_env(SWINGUP, 0)
    obs, _ = env.reset(seed=3)
    physics = env.unwrapped._env.physics
    # position: cart x, then the pole's cosine and sine (the task's bounded_position); velocity: cart, pole
    np.testing.assert_array_equal(obs[:3], physics.bounded_position())
    assert obs[0] == physics.cart_position() and obs[1] == physics.pole_angle_cosine()
    np.testing.assert_array_equal(obs[3:], physics.velocity())
    assert obs[1] < -0.99  # the swing-up starts with the pole hanging down


def test_episode_is_1000_steps_and_the_trajectory_is_dm_controls_own():
    """The same seed and actions in dm-control's own environment (its default time limit): the same observations and
    rewards, and its last step is the wrapper's truncation."""
    suite = dmc.load_suite()
    env = make_env(SWINGUP, 0)
    env.reset(seed=7)
    actions = _actions(env, dmc.EPISODE_STEPS, 0)
    ref = suite.load("cartpole", "swingup", task_kwargs={"random": 7})
    ref.reset()
    for t, a in enumerate(actions):
        o, r, terminated, truncated, _ = env.step(a)
        ts = ref.step(a)
        np.testing.assert_array_equal(o, np.concatenate([ts.observation["position"], ts.observation["velocity"]]))
        assert r == ts.reward and not terminated
        assert truncated == ts.last() == (t == dmc.EPISODE_STEPS - 1)


def test_same_seed_same_trajectory_and_reset_with_a_seed_restarts_it():
    a, b = make_env(SWINGUP, 5), make_env(SWINGUP, 99)
    actions = _actions(a, 200, 1)
    first = [a.reset(seed=5)[0]] + list(_rollout(a, actions))
    second = [b.reset(seed=5)[0]] + list(_rollout(b, actions))
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
    again = [a.reset(seed=5)[0]] + list(_rollout(a, actions))
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    other = b.reset(seed=6)[0]
    assert not np.array_equal(other, first[0])  # the start state is drawn from the task's random state


def test_pendulum_reward_of_a_fixed_action_sequence_is_the_tasks_definition():
    """pendulum/swingup rewards 1 while the pole is within 8 degrees of upright (cos >= cos 8°), else 0; the first
    observation entry is that cosine. From seed 0's start (near upright) full torque one way, then the other."""
    env = make_env("dm_control/pendulum-swingup-v0", 0)
    env.reset(seed=0)
    actions = np.array([[1.0]] * 60 + [[-1.0]] * 140)
    obs, rewards = _rollout(env, actions)
    expected = (obs[:, 0] >= math.cos(math.radians(8))).astype(float)
    np.testing.assert_array_equal(rewards, expected)
    assert 0 < rewards.sum() < len(rewards)  # the sequence reaches upright and leaves it


def test_save_and_restore_resume_exactly():
    env = make_env(SWINGUP, 0)
    _rollout(env, _actions(env, 37, 2))
    blob = save_env_state(env)
    after = _actions(env, 1000, 3)
    obs, rewards = _rollout(env, after)  # crosses the episode's end (step 1000) without a reset: truncation only
    other = make_env(SWINGUP, 12345)
    restore_env_state(other, blob)
    obs2, rewards2 = _rollout(other, after)
    np.testing.assert_array_equal(obs, obs2)
    np.testing.assert_array_equal(rewards, rewards2)
    # the next episode's start comes from the restored random state too
    np.testing.assert_array_equal(env.reset()[0], other.reset()[0])


def test_unknown_task_names_the_valid_ones():
    with pytest.raises(ReproError) as e:
        make_env("dm_control/cartpole-swingdown-v0", 0)
    assert "unknown dm-control task 'dm_control/cartpole-swingdown-v0'" in str(e.value)
    assert SWINGUP in str(e.value) and "dm_control/walker-walk-v0" in str(e.value)
    with pytest.raises(ReproError, match="valid: .*cartpole-swingup"):
        make_env("dm_control/reacher-easy-v0", 0)  # moves its target in the model at reset: not offered


def test_ddpg_rejects_an_unknown_task_before_any_run_folder(tmp_path, monkeypatch, capsys):
    from common.platform.cli import main

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path))
    assert main(["run", "lillicrap2016_ddpg", "table1_dmc", "--variant", "cartpole-swingup", "--budget", "quick",
                 "env_id=dm_control/cartpole-swingdown-v0"]) == 2
    err = capsys.readouterr().err
    assert "'dm_control/cartpole-swingdown-v0'; valid: " in err and SWINGUP in err
    assert not any(tmp_path.rglob("seed_*"))


def test_bindings_of_another_mujoco_are_an_error_naming_the_fix(monkeypatch):
    from dm_control.mujoco.wrapper.mjbindings import constants

    monkeypatch.setattr(constants, "mjVERSION_HEADER", 3017000)
    expected = r"generated for MuJoCo 3017000 but MuJoCo 4000000 \(4\.0\.0\) is installed; rebuild .*make install"
    with pytest.raises(ReproError, match=expected):
        make_env(SWINGUP, 0)


def test_loading_a_task_leaves_the_captured_stderr_open_when_logging_is_reconfigured(capsys):
    """dm-control imports absl, whose handler would close the sys.stderr of its import when logging's handlers are
    shut down (dictConfig does: submitit's); under pytest that stream is the capture, and the suite's next test died."""
    from absl import logging as absl_logging

    make_env(SWINGUP, 0)
    assert absl_logging.get_absl_handler().python_handler.stream is sys.__stderr__
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    print("still open", file=sys.stderr)
    assert "still open" in capsys.readouterr().err


def test_loading_a_task_adds_no_root_logging_handler(monkeypatch, capsys):
    """absl calls logging.basicConfig() when the root logger has none; loading a task leaves the root as it was, and
    dm-control's warnings (here MuJoCo's deprecation of cheetah's settotalmass) still reach the current stderr."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    make_env("dm_control/cheetah-run-v0", 0)
    assert logging.getLogger().handlers == []
    assert "settotalmass" in capsys.readouterr().err


SMALL = (("total_env_steps", 2000), ("learning_starts", 600), ("eval_every_steps", 500), ("eval_episodes", 1),
         ("batch_size", 16), ("hidden_units", [32, 16]))


def test_ddpg_quick_run_on_cartpole_swingup_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    args = ("lillicrap2016_ddpg", "table1_dmc", "quick", "cartpole-swingup", 0, SMALL)
    done = execute_in(tmp_path / "a", monkeypatch, *args)
    episodes = pd.read_csv(done / "episodes.csv.gz")
    assert list(episodes["episode_length"]) == [1000, 1000] and episodes["episode_return"].between(0, 1000).all()
    evals = pd.read_csv(done / "evaluations.csv.gz")
    assert list(evals["env_step"]) == [500, 1000, 1500, 2000] and evals["critic_loss"].iloc[-1] > 0

    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(*args)
    run_with_crashes(spec, monkeypatch, (1, 3))  # before learning starts (500), and while learning (1,500)
    assert RunRecord(spec.run_dir).read_json("provenance.json")["attempts"] == 3
    assert table_bytes(spec.run_dir) == table_bytes(done)


def test_video_of_a_dm_control_agent_is_a_clear_error_before_any_work(tmp_path):
    from types import SimpleNamespace

    from common.rl.agents import record_video

    agent = SimpleNamespace(family="gaussian_mlp", meta={"env_id": "dm_control/cartpole-swingup-v0"})
    with pytest.raises(ReproError, match="dm-control tasks are not rendered here.*repro eval"):
        record_video(agent, tmp_path / "v.gif", seed=0, deterministic=True)
    assert not (tmp_path / "v.gif").exists()
