"""DQN: the epsilon schedule in agent steps and frames, reward clipping, TD targets, evaluation at epsilon = 0.05,
determinism, what a resumed run keeps and restarts, and learning a tiny Atari-like task to a threshold."""
import numpy as np
import pandas as pd
import pytest

from common.platform.errors import ReproError
import torch

from common.rl.atari import ToyVectorEnv, clip_reward, lives_lost, make_atari
from common.platform.records import RunContext, RunRecord
from common.platform.runs import RunSpec
from conftest import execute_in, run_with_crashes, table_bytes
from papers.mnih2013_dqn.dqn import (DeepMindRMSProp, DQNConfig, QNetwork, epsilon_at, epsilon_greedy, evaluate,
                                     gradient_step, rmsprop, run_dqn, td_targets)

PAPER = "mnih2013_dqn"


def test_epsilon_schedule_in_agent_steps_and_frames():
    cfg = DQNConfig()  # 1 -> 0.1 over the first million "frames" of the paper = 1M agent steps = 4M emulator frames
    assert epsilon_at(cfg, 0) == 1.0
    assert epsilon_at(cfg, 500_000) == pytest.approx(0.55)
    assert epsilon_at(cfg, 1_000_000) == pytest.approx(0.1)
    assert epsilon_at(cfg, 9_000_000) == pytest.approx(0.1)
    assert cfg.total_agent_steps * cfg.frame_skip == 40_000_000  # 10M agent steps are 40M emulator frames


def test_reward_clipping_to_sign():
    np.testing.assert_array_equal(clip_reward(np.array([-30.0, -1.0, 0.0, 0.5, 1.0, 200.0])), [-1, -1, 0, 1, 1, 1])


def test_lives_lost_hand_values_and_on_breakout():
    lost, lives = lives_lost(np.array([5, 3, 0, 2]), {"lives": np.array([4, 3, 5, 2])})
    assert lost.tolist() == [True, False, False, False]  # 0 -> 5 is a reset, not a loss
    assert lives.tolist() == [4, 3, 5, 2]
    assert not lives_lost(np.zeros(2, int), {})[0].any()  # no lives reported (the toy task)
    # Breakout: 5 lives; a random policy loses them one by one while the game goes on (no reset between lives)
    env, _ = make_atari("Breakout", 1, seed=0, frame_skip=4)
    rng, prev, losses = np.random.default_rng(0), np.zeros(1, int), 0
    for _ in range(3000):
        _, _, term, trunc, info = env.step(rng.integers(0, env.single_action_space.n, 1))
        lost, prev = lives_lost(prev, info)
        losses += int(lost[0] and not term[0])
        if term[0]:
            break
    env.close()
    assert term[0] and losses == 4  # four lives lost mid-game, the fifth ends it


def test_td_targets_hand_values():
    y = td_targets(torch.tensor([1.0, -1.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), torch.tensor([10.0, 10.0, 2.0]), 0.9)
    torch.testing.assert_close(y, torch.tensor([10.0, -1.0, 1.8]))


def test_deepmind_rmsprop_hand_values():
    """g <- 0.95 g + 0.05 d; n <- 0.95 n + 0.05 d^2; w <- w - lr d / sqrt(n - g^2 + 0.01), from g = n = 0."""
    w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = DeepMindRMSProp([w], lr=0.1, alpha=0.95, eps=0.01)
    w.grad = torch.tensor([2.0], dtype=torch.float64)
    opt.step()  # g = 0.1, n = 0.2: w = 1 - 0.1 * 2 / sqrt(0.2 - 0.01 + 0.01)
    assert w.item() == pytest.approx(1 - 0.2 / 0.2 ** 0.5, abs=1e-12)
    w.grad = torch.tensor([-1.0], dtype=torch.float64)
    opt.step()  # g = 0.095 - 0.05 = 0.045, n = 0.19 + 0.05 = 0.24
    assert w.item() == pytest.approx(1 - 0.2 / 0.2 ** 0.5 + 0.1 / (0.24 - 0.045 ** 2 + 0.01) ** 0.5, abs=1e-12)


@pytest.mark.parametrize("variant", ["nips2013", "nature2015"])
def test_both_optimizers_report_the_same_minibatch_loss(variant):
    """The 2015 code sums its gradient over the minibatch; the loss it reports is still the per-sample mean."""
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 256, (8, 4, 84, 84), dtype=np.uint8), rng.integers(0, 4, 8),
             rng.choice([-1.0, 0.0, 1.0], 8).astype(np.float32), rng.integers(0, 256, (8, 4, 84, 84), dtype=np.uint8),
             rng.random(8) < 0.3)
    losses = []
    for optimizer in ("torch_centered", "deepmind"):
        cfg = DQNConfig(variant=variant, optimizer=optimizer)
        torch.manual_seed(0)
        net = QNetwork(4, variant)
        losses.append(gradient_step(cfg, net, net, rmsprop(cfg, net), *batch).item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_max_heldout_q_statistic_hand_values():
    import pandas as pd

    from common.analysis.claims import Claim
    from papers.mnih2013_dqn.analysis import max_heldout_q_values

    epochs = pd.DataFrame({"variant": ["Seaquest"] * 4 + ["Breakout"], "seed": [0, 0, 1, 1, 0],
                           "agent_step": [1, 2, 1, 2, 1], "avg_max_q_heldout": [3.0, 250.0, 7.0, 5.0, 900.0],
                           "loss": 0.1})
    cfg = {game: {"gamma": 0.99, "epoch_updates": 10} for game in ("Seaquest", "Breakout")}
    data = {"fig2": type("D", (), {"tables": {"epochs": epochs}, "configs": cfg})()}
    claim = Claim("c", "fig2", {}, "", "", {"custom": "max_heldout_q", "variant": "Seaquest"}, {})
    np.testing.assert_allclose(max_heldout_q_values(claim, data), [250.0, 7.0])  # per seed, in seed order
    assert max_heldout_q_values(claim, {}).size == 0


def test_best_episode_statistic_hand_values():
    from common.analysis.claims import Claim
    from papers.mnih2013_dqn.analysis import best_episode_values, final_eval_mean_values

    # seed 0: its final evaluation ended no episode, its epochs did (best 756); seed 1: final 10 beats epochs' 7
    final = pd.DataFrame({"variant": ["BeamRider"] * 2, "seed": [1, 1], "eval_return": [10.0, 4.0]})
    epochs = pd.DataFrame({"variant": ["BeamRider"] * 3, "seed": [0, 0, 1], "eval_best_return": [88.0, 756.0, 7.0]})
    cfg = {"BeamRider": {"total_agent_steps": 1000, "frame_skip": 4}}
    data = {"table1": type("D", (), {"tables": {"final_eval": final, "epochs": epochs}, "configs": cfg})()}
    claim = Claim("c", "table1", {}, "", "", {"custom": "best_episode", "variant": "BeamRider"}, {})
    np.testing.assert_allclose(best_episode_values(claim, data), [756.0, 10.0])
    np.testing.assert_allclose(final_eval_mean_values(claim, data), [7.0])  # only seed 1 has final episodes
    other = Claim("c", "table1", {}, "", "", {"custom": "best_episode", "variant": "Pong"}, {})
    assert len(best_episode_values(other, data)) == 0  # no run of that game: no value, never 0


def test_epsilon_greedy_and_evaluation_at_five_percent():
    rng = np.random.default_rng(0)
    q = np.tile([0.0, 1.0, 0.5], (100_000, 1))
    a = epsilon_greedy(q, 0.05, rng)
    # greedy action 1 except with probability 0.05, when uniform over 3 actions (so 1 with 0.05/3 more)
    assert abs((a != 1).mean() - 0.05 * 2 / 3) < 0.003

    class Oracle(torch.nn.Module):  # reads the toy task's frame and picks the right side
        def forward(self, x):
            left = x[:, -1, 40, 15].float()
            return torch.stack([torch.zeros_like(left), left, 255.0 - left], dim=1)

    cfg = DQNConfig(eval_epsilon=0.05, eval_protocol="window")
    returns = evaluate(cfg, Oracle(), ToyVectorEnv(4, 0), 1, 8000, np.random.default_rng(1))
    # per step: correct with 1 - 0.05 * 2/3, wrong (-1) with 0.05/3, no-op (0) with 0.05/3; 8 steps an episode
    expected = 8 * ((1 - 0.05 * 2 / 3) - 0.05 / 3)
    assert len(returns) == 888  # 2,000 vector steps x 4 envs, 9 steps an episode (8 + the reset step)
    assert abs(np.mean(returns) - expected) < 0.1
    # Table 1's evaluation goes on until an episode has ended, when the step budget is shorter than an episode
    assert evaluate(cfg, Oracle(), ToyVectorEnv(4, 0), 1, 8, np.random.default_rng(1)) == []
    short = evaluate(cfg, Oracle(), ToyVectorEnv(4, 0), 1, 8, np.random.default_rng(1), min_episodes=1)
    assert len(short) == 4 and all(r <= 8 for r in short)  # the 4 streams end together, after 8 steps
    # every episode started in the window is played out: 2,000 steps per stream, 9 a cycle: 223 episodes each
    played_out = evaluate(DQNConfig(), Oracle(), ToyVectorEnv(4, 0), 1, 8000, np.random.default_rng(1))
    assert len(played_out) == 4 * 223 and abs(np.mean(played_out) - expected) < 0.1
    assert len(evaluate(DQNConfig(), Oracle(), ToyVectorEnv(4, 0), 1, 8, np.random.default_rng(1))) == 4


def test_same_seed_same_metrics(tmp_path, monkeypatch):
    dirs = [execute_in(tmp_path / name, monkeypatch, PAPER, "toy", "quick", "nips2013", 0) for name in ("a", "b")]
    assert table_bytes(dirs[0]) == table_bytes(dirs[1]) and len(table_bytes(dirs[0])) == 3


def test_resume_continues_from_the_checkpoint_and_restarts_only_the_episodes_in_progress(tmp_path, monkeypatch):
    """ale-py cannot save emulator states, so a resumed DQN run cannot be byte-equal to an uninterrupted one. What it
    promises instead (README, deviation 3): the records up to the checkpoint are kept, training goes on from the
    checkpoint's agent step, and only the episodes in progress restart."""
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")
    every_epoch = (("checkpoint_min_interval_s", 0.0),)  # toy, quick budget: epochs end at agent steps 796, 1196, 1596
    whole = execute_in(tmp_path / "whole", monkeypatch, PAPER, "toy", "quick", "nips2013", 0, every_epoch)

    starts = []  # the agent step each attempt starts from
    progress = RunContext.progress
    monkeypatch.setattr(RunContext, "progress", lambda self, total, desc, initial=0, unit="steps":
                        starts.append(initial) or progress(self, total, desc, initial=initial, unit=unit))
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(PAPER, "toy", "quick", "nips2013", 0, every_epoch)
    run_with_crashes(spec, monkeypatch, (2,))  # killed right after the checkpoint of epoch 2
    assert starts == [0, 1196]  # the second attempt does not start over

    def table(run_dir, name):
        return pd.read_csv(run_dir / f"{name}.csv.gz")

    ep_whole, ep_resumed = table(whole, "episodes"), table(spec.run_dir, "episodes")
    pd.testing.assert_frame_equal(ep_resumed[ep_resumed.agent_step <= 1196], ep_whole[ep_whole.agent_step <= 1196])
    # 4 streams of 8-step episodes (plus one reset step): the uninterrupted run's next episodes end at 1220, the
    # resumed run's restart at the checkpoint and end 8 vector steps (32 agent steps) after it
    assert ep_whole[ep_whole.agent_step > 1196].agent_step.iloc[0] == 1220
    assert ep_resumed[ep_resumed.agent_step > 1196].agent_step.iloc[0] == 1196 + 32
    epochs_whole, epochs_resumed = table(whole, "epochs"), table(spec.run_dir, "epochs")
    pd.testing.assert_frame_equal(epochs_resumed.iloc[:2], epochs_whole.iloc[:2])
    assert epochs_resumed.agent_step.tolist() == epochs_whole.agent_step.tolist() == [796, 1196, 1596]


def test_dqn_learns_the_toy_task(tmp_path):
    cfg = DQNConfig(game="Toy", total_agent_steps=8000, learning_starts_agent_steps=1000,
                    replay_capacity_agent_steps=20000, epsilon_anneal_agent_steps=4000, epoch_updates=500,
                    eval_agent_steps=400, heldout_states=64, torch_threads=1)
    out = run_dqn(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    # a random policy scores 0 on average (8 steps of +1, -1 or 0); the best possible at epsilon 0.05 is about 7.6
    assert out["final_eval"]["eval_return"].mean() > 6.0
    assert out["epochs"]["avg_max_q_heldout"].iloc[-1] > 1.0


def test_quick_budget_end_to_end(results_root):
    from conftest import repro

    assert "failed 0" in repro("sweep", PAPER, "toy", "--budget", "quick", check=True).stdout
    repro("report", PAPER, check=True)
    text = (results_root / PAPER / "README.md").read_text()
    assert "table1_breakout_dqn" in text and "not run" in text
    # budgets in agent steps and emulator frames: 10M agent steps x frame skip 3 on Space Invaders
    assert "total_agent_steps 10,000,000 (= 30,000,000 emulator frames at frame skip 3)" in text


def test_per_run_summaries_hand_values():
    """Table 1's per-run summary (a run whose final evaluation ended no episode keeps its row, best from its epochs)
    and the ablation's (largest held-out Q against 1 / (1 - gamma), the last evaluation's Q, the largest loss)."""
    from papers.mnih2013_dqn.analysis import heldout_q_summary, table1_summary

    final = pd.DataFrame({"variant": ["SpaceInvaders"] * 2, "seed": [1, 1], "eval_return": [10.0, 4.0]})
    epochs = pd.DataFrame({"variant": ["SpaceInvaders"] * 3, "seed": [0, 0, 1], "eval_best_return": [88.0, 756.0, 7.0]})
    cfg = {"SpaceInvaders": {"total_agent_steps": 1000, "frame_skip": 3}}
    data = type("D", (), {"tables": {"final_eval": final, "epochs": epochs}, "configs": cfg})()
    t1 = table1_summary(None, data).set_index("seed")
    assert t1["emulator frames"].tolist() == [3000, 3000]
    assert t1["final evaluation: episodes"].tolist() == [0, 2]
    assert np.isnan(t1.loc[0, "final evaluation: mean return"]) and t1.loc[1, "final evaluation: mean return"] == 7.0
    assert t1["best episode"].tolist() == [756.0, 10.0]

    epochs = pd.DataFrame({"variant": ["default"] * 3 + ["gamma0.95"] * 2, "seed": 0, "agent_step": [2, 1, 3, 1, 2],
                           "avg_max_q_heldout": [250.0, 3.0, 90.0, 0.5, 1.5], "loss": [9.0, 1.0, 4.0, 0.1, 0.2]})
    cfg = {"default": {"gamma": 0.99, "epoch_updates": 100}, "gamma0.95": {"gamma": 0.95, "epoch_updates": 100}}
    q = heldout_q_summary(None, type("D", (), {"tables": {"epochs": epochs}, "configs": cfg})()).set_index("variant")
    np.testing.assert_allclose(q["bound 1/(1-gamma)"], [100.0, 20.0])
    assert q["updates"].tolist() == [300, 200]
    assert q["max held-out Q"].tolist() == [250.0, 1.5]
    assert q["last held-out Q"].tolist() == [90.0, 1.5]  # the last by agent step, not by row
    assert q["largest epoch loss"].tolist() == [9.0, 0.2]


class _LengthEnv:
    """A vector environment whose stream e has episodes of lengths[e] steps, reward 1 per step (so a return is the
    episode's length), the step after an episode's end resetting it (ale-py's convention)."""

    class _Space:
        n = 3

    single_action_space = _Space()

    def __init__(self, lengths):
        self.lengths = np.asarray(lengths)
        self.t, self.done = np.zeros(len(lengths), int), np.zeros(len(lengths), bool)

    def reset(self, seed=None):
        self.t[:], self.done[:] = 0, False
        return np.zeros((len(self.lengths), 4, 84, 84), np.uint8), {}

    def step(self, actions):
        n = len(self.lengths)
        reward = np.where(self.done, 0.0, 1.0)
        self.t = np.where(self.done, 0, self.t + 1)
        term = (self.t >= self.lengths) & ~self.done
        self.done = term
        return np.zeros((n, 4, 84, 84), np.uint8), reward, term, np.zeros(n, bool), {}


class _Zeros(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 3)


def test_evaluation_counts_every_episode_started_in_the_window_whatever_its_length():
    """Two streams, a window of 10 agent steps each: stream 0's episodes last 30 steps, stream 1's 3 (4 with the
    reset step). Every episode started inside the window is played out: stream 1's three (they start at steps 1, 5
    and 9) and stream 0's first. The old protocol (only episodes that end inside the window) drops the long one."""
    cfg = DQNConfig()
    assert cfg.eval_protocol == "complete_started"
    returns = evaluate(cfg, _Zeros(), _LengthEnv([30, 3]), 0, 20, np.random.default_rng(0))
    assert returns == [3.0, 3.0, 3.0, 30.0]
    old = DQNConfig(eval_protocol="window")
    assert evaluate(old, _Zeros(), _LengthEnv([30, 3]), 0, 20, np.random.default_rng(0)) == [3.0, 3.0]
    assert evaluate(old, _Zeros(), _LengthEnv([30, 3]), 0, 20, np.random.default_rng(0), min_episodes=3) == [3.0] * 3


def test_target_network_period_in_agent_steps_by_default_for_the_2015_variant():
    """The 2015 code refreshes the target every 10,000 agent steps (2,500 updates at one update per 4 agent steps);
    q_divergence's 100k-step run (learning from 50k) refreshes it after 1, 2,501, ..., 12,501 updates."""
    from common.platform.config import to_dict
    from common.platform.runs import resolve
    from papers.mnih2013_dqn.dqn import refresh_target_now

    nature = to_dict(resolve(RunSpec(PAPER, "table1_nature", "paper", "Breakout", 0)))
    assert nature["target_update_every_agent_steps"] == 10_000 and nature["target_update_every_updates"] == 0
    assert nature["optimizer"] == "deepmind" and nature["epsilon_anneal_start"] == "learning_start"
    ablation = to_dict(resolve(RunSpec(PAPER, "q_divergence", "paper", "target_network", 0)))
    assert ablation["target_update_every_agent_steps"] == 10_000 and ablation["target_update_every_updates"] == 0
    cfg = DQNConfig(target_update_every_agent_steps=10_000)
    updates, refreshed_after = 0, []
    for step0 in range(0, 100_000, 4):  # 4 environments: one vector step is 4 agent steps, and one update
        if step0 + 4 >= cfg.learning_starts_agent_steps:
            updates += 1
            if refresh_target_now(cfg, step0, step0 + 4):
                refreshed_after.append(updates)
    assert refreshed_after == [1, 2_501, 5_001, 7_501, 10_001, 12_501] and updates == 12_501
    assert not any(refresh_target_now(DQNConfig(), s, s + 4) for s in range(0, 100_000, 4))  # 2013: none
    with pytest.raises(ReproError, match="at most one"):
        run_dqn(DQNConfig(target_update_every_agent_steps=1, target_update_every_updates=1), None)


def test_target_network_in_agent_steps_runs_on_the_toy_task(tmp_path):
    cfg = DQNConfig(game="Toy", total_agent_steps=400, learning_starts_agent_steps=200, replay_capacity_agent_steps=1000,
                    epsilon_anneal_agent_steps=200, epoch_updates=25, eval_agent_steps=40, heldout_states=16,
                    torch_threads=1, variant="nature2015", optimizer="deepmind", target_update_every_agent_steps=100)
    out = run_dqn(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
    assert len(out["epochs"]) == 2 and len(out["final_eval"]) >= 4


def test_epsilon_anneals_from_step_0_in_2013_and_from_the_start_of_learning_in_the_2015_code():
    from common.platform.config import to_dict
    from common.platform.runs import resolve

    late = DQNConfig(epsilon_anneal_start="learning_start")  # learning starts at 50k agent steps
    assert epsilon_at(late, 0) == epsilon_at(late, 50_000) == 1.0
    assert epsilon_at(late, 550_000) == pytest.approx(0.55) and epsilon_at(late, 1_050_000) == pytest.approx(0.1)
    assert to_dict(resolve(RunSpec(PAPER, "table1", "paper", "Pong", 0)))["epsilon_anneal_start"] == "step0"


def test_rmsprop_damping_of_torch_centered_against_the_2015_update():
    """README's table: the 2015 code's step over torch's centered RMSProp's, by the gradient's spread."""
    from papers.mnih2013_dqn.dqn import rmsprop_step_ratio

    assert rmsprop_step_ratio(0.0) == pytest.approx(3.2)
    assert rmsprop_step_ratio(0.01) == pytest.approx(1.91, abs=0.01)
    assert rmsprop_step_ratio(1.0) == pytest.approx(1.0, abs=0.02)
    # checked against the two optimizers themselves: one weight, gradients of spread sigma = 1e-3, mean 1e-5
    rng = np.random.default_rng(0)
    grads = 1e-5 + 1e-3 * rng.standard_normal(3000)
    steps = {}
    for name in ("torch_centered", "deepmind"):
        w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        opt = (torch.optim.RMSprop([w], lr=1.0, alpha=0.95, eps=0.01, centered=True) if name == "torch_centered"
               else DeepMindRMSProp([w], lr=1.0, alpha=0.95, eps=0.01))
        total = 0.0
        for i, g in enumerate(grads):
            w.grad = torch.tensor([g * (32 if name == "deepmind" else 1)], dtype=torch.float64)  # summed minibatch
            before = float(w.detach())
            opt.step()
            total += abs(float(w.detach()) - before) if i >= 1000 else 0.0
        steps[name] = total
    assert steps["deepmind"] / steps["torch_centered"] == pytest.approx(float(rmsprop_step_ratio(1e-3)), rel=0.1)


def test_environment_seeds_are_independent_across_runs():
    """ale-py seeds environment i with seed + i: runs 0 and 1 shared 3 of 4 streams. Now every environment's seed
    comes from the run seed's SeedSequence: seeds 0 and 1 (and every purpose: training, evaluations, held-out
    states, resumes) use disjoint seeds; the old scheme stays available for the records made with it."""
    from common.rl.atari import stream_seeds
    from papers.mnih2013_dqn.dqn import EVAL, HELDOUT, RESUME, TRAIN, env_seeds

    def all_seeds(run_seed):
        cfg = DQNConfig(seed=run_seed)
        keys = [(TRAIN,), (EVAL,), (HELDOUT,), (RESUME, 1)] + [(EVAL, k) for k in range(1, 50)] + [(EVAL, 999_999)]
        return [int(x) for key in keys for x in env_seeds(cfg, 0, *key)]

    s0, s1 = all_seeds(0), all_seeds(1)
    assert len(set(s0)) == len(s0) and len(set(s1)) == len(s1)  # no stream reused within a run
    assert not set(s0) & set(s1)  # nor across runs
    assert all(0 <= s < 2 ** 31 for s in s0 + s1)
    np.testing.assert_array_equal(stream_seeds(0, 4, TRAIN), stream_seeds(0, 4, TRAIN))  # reproducible
    old0 = set(range(0, 4)) if isinstance(env_seeds(DQNConfig(env_seeding="offset"), 0, TRAIN), int) else None
    assert old0 is not None and len(old0 & set(range(1, 5))) == 3  # the old scheme: adjacent seeds share 3 of 4
    env, obs = make_atari("Pong", 2, stream_seeds(0, 2, TRAIN), 4)  # ale-py takes one seed per environment
    assert obs.shape == (2, 4, 84, 84)


def test_the_2013_preprocessing_crops_a_110x84_down_sample():
    from common.rl.atari import stream_seeds

    seeds = stream_seeds(0, 2, 0)
    _, cropped = make_atari("Breakout", 2, seeds, 4, frame_preprocess="crop110")
    from ale_py.vector_env import AtariVectorEnv

    full = AtariVectorEnv(game="breakout", num_envs=2, num_threads=1, frameskip=4, repeat_action_probability=0.0,
                          img_height=110, img_width=84, noop_max=30, reward_clipping=False, use_fire_reset=False)
    tall, _ = full.reset(seed=seeds)
    assert cropped.shape == (2, 4, 84, 84) and tall.shape == (2, 4, 110, 84)
    np.testing.assert_array_equal(cropped, tall[:, :, 18:102])
    from common.platform.config import to_dict
    from common.platform.runs import resolve

    assert to_dict(resolve(RunSpec(PAPER, "table1", "reduced", "Pong", 0)))["frame_preprocess"] == "crop110"
    assert to_dict(resolve(RunSpec(PAPER, "table1_nature", "reduced", "Pong", 0)))["frame_preprocess"] == "resize84"


def test_keeping_freed_memory_changes_no_number(tmp_path):
    """`run_dqn` sets glibc's malloc to keep freed memory (common/platform/memory.py): the toy game's quick run writes
    the same tables and saved network, bit for bit, as the same run in a process where the call does nothing (torch's
    kernels read the same numbers wherever malloc puts them; Breakout's quick run was checked the same way)."""
    from conftest import same_bytes_with_and_without_kept_memory

    same_bytes_with_and_without_kept_memory(tmp_path, "papers.mnih2013_dqn.dqn", PAPER, "toy", "nips2013", (),
                                            agent_file="agent.large.npz")
