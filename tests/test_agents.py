"""Saved agents (common/rl/agents.py): saving and loading gives the training loop's actions (PPO in numpy, SAC and DQN
in torch, deterministic and with a fixed seed); a SAC agent evaluated with the training loop's seed gives the return
the run recorded; `repro eval` of a fresh quick PPO run agrees with its training episodes; `repro video` writes a
GIF with frames; what is committed and what is kept beside the run; clear errors."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from common.rl.agents import AgentMissing, evaluate, load_agent, npz_bytes, save_agent
from common.platform.cli import main
from common.rl.envs import RunningMeanStd
from common.platform.records import RunContext, RunRecord
from common.platform.runs import RunSpec, execute

from conftest import REPO

PPO = "schulman2017_ppo"
PENDULUM = "clip0.2__InvertedPendulum-v5"


def _ctx(path):
    return RunContext(RunRecord(path), checkpoint_every_s=1e9, show_progress=False)


def test_npz_bytes_are_reproducible_and_readable(tmp_path):
    arrays = {"b": np.arange(3.0), "a": np.ones((2, 2), np.float32)}
    assert npz_bytes(arrays) == npz_bytes(dict(reversed(list(arrays.items()))))
    (tmp_path / "x.npz").write_bytes(npz_bytes(arrays))
    with np.load(tmp_path / "x.npz") as z:
        assert z["a"].dtype == np.float32 and np.array_equal(z["b"], arrays["b"])


def test_ppo_agent_acts_as_the_training_policy(tmp_path):
    from papers.schulman2017_ppo.ppo import ActorCritic, PPOConfig, save_ppo_agent

    cfg = PPOConfig(env_id="Hopper-v5")
    rng = np.random.default_rng(0)
    model = ActorCritic(11, 3, 64, rng)
    model.p.flat[...] += 0.1 * rng.standard_normal(len(model.p.flat))  # not just the initialization
    rms = RunningMeanStd((11,))
    rms.update(3.0 + 2.0 * rng.standard_normal((500, 11)))
    save_ppo_agent(tmp_path, cfg, model, rms, 4096)
    agent = load_agent(tmp_path)
    for obs in 5.0 * rng.standard_normal((20, 11)):
        x = rms.normalize(obs, cfg.obs_clip)
        assert np.array_equal(agent.act(obs, deterministic=True), model.mean(x))
        draw_a, draw_b = np.random.default_rng(7), np.random.default_rng(7)
        training = model.mean(x) + np.exp(model.p["log_std"]) * draw_a.standard_normal(3)  # ppo.run_ppo's draw
        assert np.array_equal(agent.act(obs, False, draw_b), training)
    # the value network is kept beside the run, not with the policy
    assert agent.large is None and load_agent(tmp_path, with_large=True).large.keys() == {
        n for n in model.p.names() if n.startswith("v.")}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_sac_agent_acts_as_the_training_actor(tmp_path, version):
    from papers.haarnoja2018_sac.sac import SAC, SACConfig, np_policy_mean, save_sac_agent

    torch.manual_seed(0)
    low, high = np.array([-0.4, -1.0]), np.array([0.4, 2.0])  # bounds that float32 does not represent exactly
    sac = SAC(SACConfig(version=version, hidden_units=32), 5, 2, low, high)
    scale, center = (high - low) / 2, (high + low) / 2
    save_sac_agent(tmp_path, SACConfig(version=version), sac, 1000, scale, center)
    agent = load_agent(tmp_path)
    w = {k: v.detach().numpy() for k, v in sac.actor.state_dict().items() if k.startswith("net")}
    rng = np.random.default_rng(1)
    for obs in rng.standard_normal((20, 5)):
        assert np.array_equal(agent.act(obs, True), np_policy_mean(w, obs, 2, scale, center, None))
        eps = np.random.default_rng(3).standard_normal(2)  # run_sac's draw: rng.standard_normal(act_dim)
        assert np.array_equal(agent.act(obs, False, np.random.default_rng(3)),
                              np_policy_mean(w, obs, 2, scale, center, eps))
    large = load_agent(tmp_path, with_large=True).large
    assert ("v_target.0.weight" in large) == (version == "v1") and ("log_alpha" in large) == (version == "v2")


def test_dqn_and_ppo_atari_agents_act_as_their_networks(tmp_path):
    from papers.mnih2013_dqn.dqn import DQNConfig, QNetwork, epsilon_greedy, save_dqn_agent
    from papers.schulman2017_ppo.ppo_atari import PolicyValueNet

    from papers.mnih2013_dqn.replay import FrameReplay

    torch.manual_seed(0)
    net = QNetwork(4, "nature2015")
    save_dqn_agent(tmp_path / "dqn", DQNConfig(variant="nature2015"), net, 123, FrameReplay(64, 2))  # save_replay
    agent = load_agent(tmp_path / "dqn")
    assert "replay.frames" in agent.large
    frames = np.random.default_rng(0).integers(0, 256, (3, 4, 84, 84), dtype=np.uint8)
    with torch.no_grad():  # one observation at a time, as the agent acts (a batch may round differently)
        q = np.concatenate([net(torch.from_numpy(frames[i:i + 1])).numpy() for i in range(len(frames))])
    for i, obs in enumerate(frames):
        assert np.array_equal(agent.q_values(obs), q[i])
        assert agent.act(obs, deterministic=True) == q[i].argmax()
        expected = epsilon_greedy(q[i:i + 1], 0.05, np.random.default_rng(i))[0]  # the training loop's draw
        assert agent.act(obs, False, np.random.default_rng(i)) == expected

    pv = PolicyValueNet(6, "nips2013")
    save_agent(tmp_path / "ppo", "atari_policy_network", {}, {"game": "Pong", "frame_skip": 4, "network": "nips2013",
               "n_actions": 6, "max_episode_frames": 108_000}, large=pv.state_dict())
    agent = load_agent(tmp_path / "ppo")
    with torch.no_grad():
        probs = np.concatenate([torch.softmax(pv(torch.from_numpy(frames[i:i + 1]))[0], -1).double().numpy()
                                for i in range(len(frames))])
    for i, obs in enumerate(frames):
        assert np.array_equal(agent.probabilities(obs), probs[i])
        assert agent.act(obs, True) == probs[i].argmax()
        assert agent.act(obs, False, np.random.default_rng(5)) == agent.act(obs, False, np.random.default_rng(5))


def test_sac_run_keeps_its_agent_and_snapshots_and_eval_matches_its_own_evaluation(tmp_path):
    from papers.haarnoja2018_sac.sac import SACConfig, run_sac

    cfg = SACConfig(env_id="InvertedPendulum-v5", total_env_steps=1000, learning_starts=500, eval_every_steps=500,
                    batch_size=32, hidden_units=32, save_agent_at_steps=[600], save_replay=True)
    evals = run_sac(cfg, _ctx(tmp_path))["evaluations"]
    agent = load_agent(tmp_path)
    assert load_agent(tmp_path, with_large=True).large["replay.obs"].shape == (1000, 4)
    assert agent.meta["env_steps"] == 1000 and agent.meta["obs_dim"] == 4
    # the training loop evaluated the final policy on one episode reset with seed seed * 1,000,003 + step
    final = evaluate(agent, [cfg.seed * 1_000_003 + 999], deterministic=True)
    assert final["returns"][0] == evals["eval_return"].iloc[-1]
    snap = load_agent(tmp_path, snapshot=600)
    assert snap.meta["env_steps"] == 600 and snap.large is None
    assert not np.array_equal(snap.policy["net.4.weight"], agent.policy["net.4.weight"])
    with pytest.raises(AgentMissing, match="snapshots kept: 600"):
        load_agent(tmp_path, snapshot=700)


def test_ppo_snapshots_same_seed_same_agent_bytes_and_bad_snapshot_steps(tmp_path):
    from papers.schulman2017_ppo.ppo import PPOConfig, run_ppo

    cfg = PPOConfig(env_id="Pendulum-v1", total_env_steps=1024, horizon=256, epochs=1, save_agent_at_steps=[300])
    run_ppo(cfg, _ctx(tmp_path))
    run_ppo(cfg, _ctx(tmp_path / "again"))
    for name in ("agent.json", "agent.npz", "agent.large.npz", "agent_step300.npz"):  # a rerun gives the same agent
        assert (tmp_path / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    assert load_agent(tmp_path, snapshot=300).meta["env_steps"] == 512  # after the iteration that reached 300
    assert load_agent(tmp_path).meta["env_steps"] == 1024
    from common.platform.validate import ConfigValueError

    with pytest.raises(ConfigValueError, match="save_agent_at_steps.*1..total_env_steps"):
        run_ppo(PPOConfig(env_id="Pendulum-v1", total_env_steps=512, save_agent_at_steps=[600]), _ctx(tmp_path / "b"))
    assert not (tmp_path / "b").exists()


def test_small_agent_is_vouched_large_part_is_not(results_root):
    """agent.json and agent.npz are in DONE's checksums (committed); agent.large.npz is not (git-ignored): a clone
    without it is intact, loading what needs it says how to get it back, and a changed copy is refused."""
    spec = RunSpec(PPO, "table1", "quick", PENDULUM, 0)
    assert execute(spec, show_progress=False) == "done"
    record = RunRecord(spec.run_dir)
    sums = json.loads((spec.run_dir / "DONE").read_text())["sha256"]
    assert {"agent.json", "agent.npz"} <= set(sums) and "agent.large.npz" not in sums
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/x/runs/e/b/v/seed_0/agent.large.npz"], cwd=REPO)
    assert ignored.returncode == 0
    kept = subprocess.run(["git", "check-ignore", "-q", "results/x/runs/e/b/v/seed_0/agent.npz"], cwd=REPO)
    assert kept.returncode == 1
    large = spec.run_dir / "agent.large.npz"
    data = large.read_bytes()
    large.unlink()  # a fresh clone
    assert record.is_complete() and record.damage() == ()
    load_agent(spec.run_dir)  # acting needs only the policy
    with pytest.raises(AgentMissing, match="run the run again"):
        load_agent(spec.run_dir, with_large=True)
    large.write_bytes(data[:-10] + b"0123456789")
    with pytest.raises(Exception, match="differ from the checksum"):
        load_agent(spec.run_dir, with_large=True)


def test_a_large_policy_is_committed_for_the_first_seed_only(tmp_path):
    """DDPG's actor (400-300, about 470 KB) is committed in seed 0's run and kept beside the others' runs
    (agent.policy.large.npz: git-ignored, not vouched for by DONE); a small policy is committed in every seed's run.
    A clone without the kept file is intact, and loading says how to get it back; a brought-back copy acts."""
    from common.rl.agents import COMMITTED_POLICY_MAX_BYTES, policy_committed
    from papers.lillicrap2016_ddpg.ddpg import DDPG, DDPGConfig, save_ddpg_agent

    torch.manual_seed(0)
    cfg = DDPGConfig(env_id="Hopper-v5")  # the paper's 400-300 actor
    agent = DDPG(cfg, 11, 3)
    scale, center = np.ones(3), np.zeros(3)
    for seed in (0, 1):
        folder = tmp_path / f"seed_{seed}"
        folder.mkdir()
        save_ddpg_agent(folder, cfg, agent, 100, scale, center)
        RunRecord(folder).seal(None)
    doc0, doc1 = (json.loads((tmp_path / f"seed_{s}" / "agent.json").read_text()) for s in (0, 1))
    assert doc0["policy"]["file"] == "agent.npz" and "git_ignored" not in doc0["policy"]
    assert doc1["policy"]["file"] == "agent.policy.large.npz" and doc1["policy"]["git_ignored"]
    assert doc0["policy"]["sha256"] == doc1["policy"]["sha256"]  # the same arrays, only kept elsewhere
    assert doc1["policy"]["bytes"] > COMMITTED_POLICY_MAX_BYTES
    seed1 = tmp_path / "seed_1"
    assert sorted(p.name for p in seed1.iterdir()) == ["DONE", "agent.json", "agent.large.npz",
                                                       "agent.policy.large.npz"]
    assert "agent.policy.large.npz" not in json.loads((seed1 / "DONE").read_text())["sha256"]
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/x/runs/e/b/v/seed_1/agent.policy.large.npz"],
                             cwd=REPO)
    assert ignored.returncode == 0
    obs = np.linspace(-1, 1, 11)
    assert np.array_equal(load_agent(seed1).act(obs, True), load_agent(tmp_path / "seed_0").act(obs, True))
    kept = (seed1 / "agent.policy.large.npz").read_bytes()
    (seed1 / "agent.policy.large.npz").unlink()  # a fresh clone
    assert RunRecord(seed1).damage() == ()
    with pytest.raises(AgentMissing, match="agent.policy.large.npz .*seed 0 only.*run the run again"):
        load_agent(seed1)
    (seed1 / "agent.policy.large.npz").write_bytes(kept[:-4] + b"0000")
    with pytest.raises(Exception, match="differ from the checksum"):
        load_agent(seed1)
    # the rule on sizes: a small policy in every run, a large one in seed 0's (or a run of several seeds) only
    assert policy_committed(COMMITTED_POLICY_MAX_BYTES, 5)
    assert not policy_committed(COMMITTED_POLICY_MAX_BYTES + 1, 1)
    assert policy_committed(COMMITTED_POLICY_MAX_BYTES + 1, 0) and policy_committed(10**7, None)


def test_eval_of_a_fresh_quick_run_agrees_with_its_training_episodes(results_root, capsys):
    spec = RunSpec(PPO, "table1", "quick", PENDULUM, 0)
    assert main(["run", PPO, "table1", "--variant", PENDULUM, "--budget", "quick"]) == 0
    assert main(["eval", PPO, "table1", "--variant", PENDULUM, "--episodes", "30"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("return:"))
    mean, sd = (float(line.split(f"{k} ")[1].split(",")[0]) for k in ("mean", "sd"))
    assert "seed 2000000000..2000000029" in out and "InvertedPendulum-v5" in out and "env steps" in out
    # the same stochastic policy as the last training episodes (4 short iterations: it barely changed)
    train = RunRecord(spec.run_dir).read_table("episodes")["episode_return"].tail(30)
    se = np.sqrt(sd**2 / 30 + train.var() / len(train))
    assert abs(mean - train.mean()) < 3 * se, (mean, train.mean(), se)
    # deterministic evaluation is reproducible
    assert main(["eval", PPO, "table1", "--variant", PENDULUM, "--episodes", "3", "--deterministic"]) == 0
    first = capsys.readouterr().out
    assert main(["eval", PPO, "table1", "--variant", PENDULUM, "--episodes", "3", "--deterministic"]) == 0
    assert capsys.readouterr().out == first and "mean action" in first


def test_eval_and_video_errors_are_one_line(results_root, capsys):
    # no such run
    assert main(["eval", PPO, "table1", "--variant", PENDULUM, "--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run of" in err and "repro run" in err
    # a run that finished before runs kept their agents (as the committed ones): sealed without agent files
    spec = RunSpec(PPO, "table1", "quick", PENDULUM, 0)
    execute(spec, show_progress=False)
    for name in ("agent.json", "agent.npz", "agent.large.npz"):
        (spec.run_dir / name).unlink()
    RunRecord(spec.run_dir).seal(None)
    for command in ("eval", "video"):
        assert main([command, PPO, "table1", "--variant", PENDULUM]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "has no saved agent" in err
    # unknown variant
    assert main(["eval", PPO, "table1", "--variant", "nope"]) == 2
    assert "valid" in capsys.readouterr().err


def test_video_writes_a_gif_with_frames(results_root, tmp_path):
    """Headless: MuJoCo through EGL (or OSMesa), in a fresh process as a user runs it."""
    import imageio.v3 as iio

    spec = RunSpec(PPO, "table1", "quick", PENDULUM, 0)
    execute(spec, show_progress=False)
    out = tmp_path / "pendulum.gif"
    proc = subprocess.run([sys.executable, "-m", "common.platform.cli", "video", PPO, "table1", "--variant", PENDULUM,
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    frames = iio.imread(out, index=None)
    assert frames.ndim == 4 and frames.shape[0] > 0 and frames.shape[-1] == 3 and frames.max() > 0
    assert "MUJOCO_GL=" in proc.stdout and "frames" in proc.stdout


def test_atari_video_from_the_emulator_and_missing_network(results_root, tmp_path, capsys):
    import imageio.v3 as iio

    from papers.mnih2013_dqn.dqn import DQNConfig, QNetwork, save_dqn_agent

    spec = RunSpec("mnih2013_dqn", "toy", "quick", "nips2013", 0)
    # a complete record with a saved DQN agent, without training (its tables are not read here)
    save_dqn_agent(spec.run_dir, DQNConfig(game="Pong"), QNetwork(6, "nips2013"), 0)
    RunRecord(spec.run_dir).seal(None)
    out = tmp_path / "pong.gif"
    assert main(["video", "mnih2013_dqn", "toy", "--max-steps", "20", "--out", str(out)]) == 0
    assert "emulator's RGB screens" in capsys.readouterr().out
    frames = iio.imread(out, index=None)
    assert frames.shape[1:] == (210, 160, 3) and 1 <= frames.shape[0] <= 21
    (spec.run_dir / "agent.large.npz").unlink()  # a fresh clone: the network is git-ignored
    assert main(["eval", "mnih2013_dqn", "toy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "agent.large.npz" in err and "run the run again" in err


def test_bandit_agents_keep_their_posteriors(tmp_path):
    from papers.russo2017_thompson.bandits import FiniteArmConfig, run_finite_arm
    from papers.russo2017_thompson.bridge import BridgeConfig, make_bridge, run_bridge, shortest_paths

    run_finite_arm(FiniteArmConfig(n_periods=40, n_replications=8), _ctx(tmp_path / "arms"))
    agent = load_agent(tmp_path / "arms")
    a, b = agent.policy["alpha"], agent.policy["beta"]
    assert a.shape == (8, 3) and np.allclose((a + b).sum(1), 6 + 40)  # Beta(1, 1) priors plus one pull a period
    arms = agent.act(None, False, np.random.default_rng(0))
    assert arms.shape == (8,) and np.array_equal(agent.act(None, True), (a / (a + b)).argmax(1))
    with pytest.raises(Exception, match="no episodes"):
        evaluate(agent, [0], True)
    for name, cfg in (("ts", BridgeConfig(n_stages=4, n_periods=5, n_replications=3)),
                      ("coherent", BridgeConfig(agent="coherent_ts", correlated=True, n_stages=4, n_periods=5,
                                                n_replications=3))):
        run_bridge(cfg, _ctx(tmp_path / name))
        agent = load_agent(tmp_path / name)
        weights = agent.act(None, False, np.random.default_rng(0))
        assert weights.shape == (3, make_bridge(4).n_edges) and (weights > 0).all()
        shortest_paths(make_bridge(4), weights)


def test_a_run_started_before_save_agent_at_steps_existed_resumes(results_root):
    """An interrupted run whose config.yaml predates the key (the key at its default now) is the same run."""
    spec = RunSpec(PPO, "table1", "quick", PENDULUM, 0)
    spec.run_dir.mkdir(parents=True)
    from common.platform.config import to_yaml
    from common.platform.runs import resolve

    old = "".join(line for line in to_yaml(resolve(spec)).splitlines(keepends=True)
                  if not line.startswith("save_agent_at_steps"))
    (spec.run_dir / "config.yaml").write_text(old)
    assert execute(spec, show_progress=False) == "done"
    assert (spec.run_dir / "config.yaml").read_text() == old and load_agent(spec.run_dir)
    # a key at a value other than its default is a different run, as before
    other = RunSpec(PPO, "table1", "quick", PENDULUM, 1)
    other.run_dir.mkdir(parents=True)
    (other.run_dir / "config.yaml").write_text(old.replace("seed: 0", "seed: 1").replace("obs_clip: 5.0", "obs_clip: 4.0"))
    with pytest.raises(Exception, match="different config"):
        execute(other, show_progress=False)
