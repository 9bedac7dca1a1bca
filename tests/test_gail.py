"""GAIL (Ho & Ermon 2016): the discriminator's loss (eq. 17) and gradient on hand values, the sign of its cost
(expert-like pairs cost less), Figure 1's scale on hand values, the expert dataset's record, GAIL recovering a
cart-pole expert to a threshold, determinism, resume after a crash equal to an uninterrupted run, and bad input
(a missing dataset among it) rejected before any run folder is made."""
import json
import math

import numpy as np
import pytest

from conftest import execute_in, repro, run_with_crashes, table_bytes

PAPER = "ho2016_gail"


# ---- a hand-written cart-pole expert -----------------------------------------------------------------------------
def save_cartpole_expert(folder):
    """A saved softmax policy (common/rl/agents.py: categorical_mlp) that pushes right when
    0.01 x + 0.1 x' + theta + 0.5 theta' > 0, with logits 100 times that: it balances for Gym v0's 200 steps."""
    from common.rl.agents import save_agent

    folder.mkdir(parents=True, exist_ok=True)
    w = np.zeros((4, 2))
    w[:, 1] = 100.0 * np.array([0.01, 0.1, 1.0, 0.5])
    arrays = {"pi.0.w": w, "pi.0.b": np.zeros(2), "obs_mean": np.zeros(4), "obs_std": np.ones(4)}
    meta = {"env_id": "CartPole-v1", "obs_dim": 4, "layers": 1, "obs_clip": 1e9, "n_actions": 2,
            "algorithm": "a hand-written linear controller (test)", "env_steps": 0}
    save_agent(folder, "categorical_mlp", arrays, meta)
    (folder / "DONE").write_text("{}")
    return folder


@pytest.fixture
def cartpole_dataset(results_root, tmp_path):
    from papers.ho2016_gail.datasets import build

    expert = save_cartpole_expert(tmp_path / "expert")
    return build("CartPole-v1", trajectories=10, expert_run=str(expert))


# ---- the discriminator (eq. 17) -----------------------------------------------------------------------------------
def linear_discriminator(expert_x, **kw):
    from papers.ho2016_gail.gail import Discriminator

    args = dict(discrete=False, n_out=1, hidden=[], learning_rate=0.1, steps=1, entropy_weight=0.0,
                reward_form="policy_cost", rng=np.random.default_rng(0))
    args.update(kw)
    return Discriminator(expert_x[:, :1], expert_x[:, 1:], **args)


def test_discriminator_loss_on_hand_values_and_its_gradient():
    # a logistic discriminator on pairs (s, a) with z = 1 * s + 2 * a - 0.5 (no hidden layer)
    expert = np.array([[0.0, 0.0], [1.0, -1.0]])  # z = -0.5, -1.5
    policy = np.array([[1.0, 1.0]])  # z = 2.5
    d = linear_discriminator(expert)
    d.p["d.0.w"][...] = [[1.0], [2.0]]
    d.p["d.0.b"][...] = [-0.5]
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    # L = -mean_pi log D - mean_E log(1 - D)   (eq. 17, as a loss), D = sigma(z) the policy's probability
    expected = -math.log(sig(2.5)) - 0.5 * (math.log(1 - sig(-0.5)) + math.log(1 - sig(-1.5)))
    loss, grad, info = d.loss_and_grad(policy)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.0789 + 0.5 * (0.4741 + 0.2014), abs=1e-3)  # the same sum, by hand
    assert info["disc_policy_d"] == pytest.approx(sig(2.5)) and info["disc_accuracy"] == 1.0
    # dL/dw by central differences, with and without the entropy bonus
    for weight in (0.0, 0.3):
        d.entropy_weight = weight
        loss, grad, _ = d.loss_and_grad(policy)
        theta = d.p.flat.copy()
        numeric = []
        for i in range(len(theta)):
            for sign in (1, -1):
                d.p.flat[...] = theta
                d.p.flat[i] += sign * 1e-6
                numeric.append(d.loss_and_grad(policy)[0])
        d.p.flat[...] = theta
        numeric = (np.array(numeric[::2]) - np.array(numeric[1::2])) / 2e-6
        # central differences at h = 1e-6 carry rounding of about 1e-10 (more when BLAS splits the sums differently
        # between calls); a wrong gradient is off by far more
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_cost_is_log_d_and_expert_like_pairs_cost_less_after_training():
    rng = np.random.default_rng(1)
    expert = np.column_stack([rng.normal(1.0, 0.3, 200), rng.normal(1.0, 0.3, 200)])
    policy = np.column_stack([rng.normal(-1.0, 0.3, 200), rng.normal(-1.0, 0.3, 200)])
    d = linear_discriminator(expert, hidden=[8], learning_rate=0.05)
    for _ in range(200):
        d.update(policy[:, :1], policy[:, 1:], np.zeros(200))
    cost_expert = d.cost(expert[:, :1], expert[:, 1:], np.zeros(200))
    cost_policy = d.cost(policy[:, :1], policy[:, 1:], np.zeros(200))
    z = d.logits(policy)
    np.testing.assert_allclose(cost_policy, np.log(1 / (1 + np.exp(-z))), rtol=1e-10)  # cost = log D (eq. 18)
    assert cost_expert.mean() < cost_policy.mean() - 1.0  # expert-like pairs: low D, low cost, high reward
    assert (cost_expert <= 0).all() and (cost_policy <= 0).all()  # log D <= 0: the reward -log D is never negative
    # zero_for_expert: the cost -log(1 - D) >= 0, still lower for expert-like pairs
    d.reward_form = "zero_for_expert"
    low, high = d.cost(expert[:, :1], expert[:, 1:], None), d.cost(policy[:, :1], policy[:, 1:], None)
    assert (low >= 0).all() and low.mean() < high.mean()


# ---- Figure 1's scale -----------------------------------------------------------------------------------------------
def test_scale_puts_random_at_0_and_expert_at_1():
    from papers.ho2016_gail.gail import scaled

    # Table 1's cart-pole (random 18.64, expert 200) and acrobot (random -200, expert -75.25)
    np.testing.assert_allclose(scaled([18.64, 200.0, 109.32], 18.64, 200.0), [0.0, 1.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(scaled([-137.625, -250.0], -200.0, -75.25), [0.5, -0.4008016], atol=1e-7)
    with pytest.raises(ValueError, match="no scale"):
        scaled([1.0], 5.0, 5.0)


def test_batch_return_rise_hand_values():
    """The summary's "still rising" column: the last 10 batches' mean return minus the 10 before; NaN when a run has
    fewer than 20 iterations."""
    from papers.ho2016_gail.analysis import batch_return_rise

    assert batch_return_rise([0.0] * 5 + [10.0] * 10 + [40.0] * 10) == 30.0
    assert batch_return_rise(list(range(20))) == 10.0  # mean 14.5 minus mean 4.5
    assert batch_return_rise([5.0] * 30) == 0.0
    assert np.isnan(batch_return_rise([1.0] * 19))

def test_dataset_records_the_expert_the_scale_and_a_checksum(cartpole_dataset):
    from common.offline.datasets import load_dataset
    from papers.ho2016_gail.datasets import build

    doc = json.loads((cartpole_dataset / "dataset.json").read_text())
    scale = doc["source"]["scale"]
    assert scale["expert_return_mean"] == 200.0 and scale["expert_episodes"] == 10
    assert 10 < scale["random_return_mean"] < 40 and scale["random_episodes"] == 50  # Table 1: 18.64 +- 7.45
    assert doc["config"]["max_episode_steps"] == 200 and len(doc["source"]["agent_json_sha256"]) == 64
    assert doc["label"].startswith("locally generated expert trajectories") and "D4RL" not in doc["label"]
    ds, _ = load_dataset("CartPole-v1", "gail-expert")
    assert len(ds) == 2000 and ds.timeouts.sum() == 10 and not ds.terminals.any()  # 10 trajectories of 200 pairs
    first = (cartpole_dataset / "dataset.npz").read_bytes()
    build("CartPole-v1", trajectories=10, expert_run=doc["config"]["expert_run"])
    assert (cartpole_dataset / "dataset.npz").read_bytes() == first  # regenerable byte for byte


# ---- the runner ---------------------------------------------------------------------------------------------------
def test_gail_recovers_the_cartpole_expert(cartpole_dataset, tmp_path):
    from common.platform.records import RunContext, RunRecord
    from papers.ho2016_gail.gail import run_gail
    from papers.ho2016_gail.gail_config import GAILConfig

    cfg = GAILConfig(env_id="CartPole-v1", method="gail", trajectories=4, iterations=25, batch_steps=1000,
                     max_episode_steps=200, max_kl=0.05, eval_episodes=10, fvp_fraction=0.1)  # as the experiments
    out = run_gail(cfg, RunContext(RunRecord(tmp_path / "run"), checkpoint_every_s=1e9, show_progress=False))
    it, ev = out["iterations"], out["evaluation"]
    assert it["mean_return"].iloc[0] < 40  # a random start
    assert ev["episode_return"].mean() > 150 and ev["scaled_return"].mean() > 0.7  # near the expert's 200
    # after its first step, D tells the two apart on average: higher on the policy's pairs than on the expert's
    assert (it["disc_policy_d"] - it["disc_expert_d"]).iloc[1:].mean() > 0.02


@pytest.mark.parametrize("variant,overrides", [
    ("CartPole-v1__gail__traj4", (("iterations", 3),)),
    ("CartPole-v1__gail__traj1", (("iterations", 3), ("causal_entropy", 0.01))),
])
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(cartpole_dataset, tmp_path, monkeypatch, variant,
                                                                overrides):
    from common.platform.records import RunRecord
    from common.platform.runs import RunSpec

    data_root = str(cartpole_dataset.parents[2])
    overrides = overrides + (("dataset_root", data_root),)
    monkeypatch.setenv("REPRO_CHECKPOINT_EVERY_S", "0")  # a checkpoint after every iteration
    roots = {name: execute_in(tmp_path / name, monkeypatch, PAPER, "table2_classic", "quick", variant, 0, overrides)
             for name in ("a", "b")}
    assert table_bytes(roots["a"]) == table_bytes(roots["b"])
    assert (roots["a"] / "agent.json").read_bytes() == (roots["b"] / "agent.json").read_bytes()
    monkeypatch.setenv("REPRO_RESULTS", str(tmp_path / "resumed"))
    spec = RunSpec(PAPER, "table2_classic", "quick", variant, 0, tuple(sorted(overrides)))
    run_with_crashes(spec, monkeypatch, (1, 2))
    provenance = RunRecord(spec.run_dir).read_json("provenance.json")
    assert provenance["attempts"] == 3
    assert table_bytes(spec.run_dir) == table_bytes(roots["a"])
    # the three attempts read the same expert dataset: its checksum, in the run's record
    recorded = json.loads((cartpole_dataset / "dataset.json").read_text())["files"]["dataset.npz"]["sha256"]
    assert provenance["inputs"]["expert_dataset"]["sha256"] == {"dataset.npz": recorded}


@pytest.mark.parametrize("method", ["bc", "fem", "gtal"])
def test_baselines_run_in_the_same_loop_deterministically(cartpole_dataset, tmp_path, monkeypatch, method):
    data_root = str(cartpole_dataset.parents[2])
    overrides = (("dataset_root", data_root), ("iterations", 2))
    roots = [execute_in(tmp_path / name, monkeypatch, PAPER, "table2_classic", "quick",
                        f"CartPole-v1__{method}__traj4", 0, overrides) for name in ("a", "b")]
    assert table_bytes(roots[0]) == table_bytes(roots[1])
    from common.platform.records import RunRecord

    ev = RunRecord(roots[0]).read_table("evaluation")
    assert len(ev) == 2 and ev["scaled_return"].notna().all()
    if method == "bc":
        epochs = RunRecord(roots[0]).read_table("bc_epochs")
        assert epochs["chosen"].sum() == 1 and len(epochs) <= 3  # quick: at most 3 epochs
        # the saved agent gives the cloned policy's most likely actions
        from common.rl.agents import load_agent
        from papers.ho2016_gail.baselines import BCPolicy, train_bc
        from papers.ho2016_gail.gail import expert_pairs
        from papers.ho2016_gail.gail_config import GAILConfig

        cfg = GAILConfig(trajectories=4, max_episode_steps=200, dataset_root=data_root, bc_max_epochs=3)
        data, _ = expert_pairs(cfg)
        policy, _ = train_bc(data["obs"], data["act"], discrete=True, n_out=2, seed=0, max_epochs=3, patience=100)
        agent = load_agent(roots[0])
        obs = data["obs"][:40]
        assert [agent.act(o, True) for o in obs] == list(policy.act(obs, None, True))
    else:
        it = RunRecord(roots[0]).read_table("iterations")
        assert len(it) == 2 and {"feature_gap_l2", "cost_gap"} <= set(it.columns)


def test_saved_agent_acts_as_the_learned_policy(cartpole_dataset, tmp_path, monkeypatch):
    from common.rl.agents import load_agent

    run_dir = execute_in(tmp_path, monkeypatch, PAPER, "expert_classic", "quick", "CartPole-v1", 0, ())
    agent = load_agent(run_dir)
    assert agent.kind == "categorical_mlp" and agent.meta["env_id"] == "CartPole-v1"
    rng = np.random.default_rng(0)
    actions = {agent.act(np.array([0.01, 0.0, 0.02, 0.0]), False, rng) for _ in range(50)}
    assert actions <= {0, 1}


def test_missing_dataset_and_bad_values_are_rejected_before_any_work(results_root):
    from common.platform.validate import ConfigValueError
    from papers.ho2016_gail.gail_config import GAILConfig, check_inputs, validate_gail

    proc = repro("run", PAPER, "table2_classic", "--variant", "CartPole-v1__gail__traj1", "--budget", "quick")
    assert proc.returncode == 2 and "python -m papers.ho2016_gail.datasets CartPole-v1" in proc.stderr, proc.stderr
    assert not (results_root / PAPER).exists()  # no run folder made
    proc = repro("sweep", PAPER, "table2_classic", "--budget", "quick", "--launcher", "local")
    assert proc.returncode == 2 and "build it with" in proc.stderr, proc.stderr
    assert not (results_root / PAPER).exists()
    validate_gail(GAILConfig(method="gail"))  # the values are valid: only the data is missing
    assert "build it with" in check_inputs(GAILConfig(method="gail"))
    assert check_inputs(GAILConfig(method="expert")) is None  # an expert reads no dataset
    for bad, named in (({"method": "airl"}, "method"), ({"env_id": "Pong-v5"}, "env_id"),
                       ({"disc_hidden": [0]}, "disc_hidden"), ({"causal_entropy": -1.0}, "causal_entropy"),
                       ({"bc_validation_fraction": 1.0}, "bc_validation_fraction"),
                       ({"reward_form": "airl"}, "reward_form"), ({"gamma": 1.5}, "gamma")):
        with pytest.raises(ConfigValueError, match=named):
            validate_gail(GAILConfig(**{"method": "expert", **bad}))


def test_dataset_of_too_few_trajectories_or_another_time_limit_is_rejected(cartpole_dataset):
    from papers.ho2016_gail.gail_config import GAILConfig, check_inputs

    assert check_inputs(GAILConfig(trajectories=10, max_episode_steps=200)) is None
    assert "holds 10 trajectories" in check_inputs(GAILConfig(trajectories=11, max_episode_steps=200))
    assert "max_episode_steps=200" in check_inputs(GAILConfig(trajectories=1, max_episode_steps=0))


def test_bench_times_the_loop_and_environment_only_stepping(cartpole_dataset, tmp_path):
    from papers.ho2016_gail.bench import bench
    from papers.ho2016_gail.gail_config import GAILConfig

    cfg = GAILConfig(trajectories=1, iterations=2, batch_steps=300, max_episode_steps=200, eval_episodes=1)
    out = bench(cfg, 2000, tmp_path)
    assert out["unit"] == "env-steps/s" and out["environment_only"] > out["training"] > 0
    assert "2 iterations of 300 pairs" in out["note"]
    # the loop alone (no set-up, no evaluation) is faster than the whole run; the phases of an iteration, timed in
    # a second run, include the discriminator's step and its reward, and the parts fit inside their phases
    ms = out["phases_ms_per_iteration"]
    assert out["training_loop"] > out["training"]
    for name in ("act", "environment", "cost_update", "cost", "policy_cg", "value_cg"):
        assert ms[name] > 0, name
    assert ms["sampling"] >= ms["act"] + ms["environment"] and ms["policy_step"] >= ms["policy_cg"]
    assert ms["env_steps"] >= 300


def test_timing_the_phases_changes_no_number_of_a_run(cartpole_dataset, tmp_path):
    from common.onpolicy.phases import IterationMarks, PhaseTimer, timed_phases
    from common.platform.records import RunRecord
    from papers.ho2016_gail import gail as gail_module
    from papers.ho2016_gail.baselines import LinearCost
    from papers.ho2016_gail.gail import run_gail
    from papers.ho2016_gail.gail_config import GAILConfig

    for method in ("gail", "fem"):
        cfg = GAILConfig(method=method, trajectories=1, iterations=2, batch_steps=300, max_episode_steps=200,
                         eval_episodes=1)
        plain = run_gail(cfg, IterationMarks(RunRecord(tmp_path / method / "plain"), checkpoint_every_s=1e9,
                                             show_progress=False))
        timer = PhaseTimer()
        with timed_phases(gail_module, timer, cost_classes=(gail_module.Discriminator, LinearCost)):
            timed = run_gail(cfg, IterationMarks(RunRecord(tmp_path / method / "timed"), checkpoint_every_s=1e9,
                                                 show_progress=False, timer=timer))
        for name in ("iterations", "episodes", "evaluation"):
            assert plain[name].equals(timed[name]), (method, name)
        assert timer.seconds["cost_update"] > 0 and timer.seconds["cost"] > 0


def test_one_command_trains_the_expert_then_samples_its_dataset(results_root, monkeypatch):
    """`datasets CartPole-v1 --train-expert`: the expert experiment's run (here shrunk to 2 iterations), then the
    dataset from that run's saved policy; a second call reuses the run by its record."""
    import papers.ho2016_gail.datasets as datasets
    from common.platform.registry import get_paper

    exp = get_paper(PAPER).experiment("expert_classic")
    monkeypatch.setitem(exp.budgets["paper"], "config", {"iterations": 2, "batch_steps": 300, "eval_episodes": 1})
    assert datasets.main(["CartPole-v1", "--train-expert", "--trajectories", "2"]) == 0
    run = results_root / PAPER / "runs" / "expert_classic" / "paper" / "CartPole-v1" / "seed_0"
    assert (run / "DONE").exists()
    doc = json.loads((results_root / "datasets" / "CartPole-v1" / "gail-expert" / "dataset.json").read_text())
    assert doc["config"]["expert_run"] == str(run) and doc["config"]["trajectories"] == 2
    done = (run / "DONE").read_bytes()
    assert datasets.main(["CartPole-v1", "--train-expert", "--trajectories", "2"]) == 0
    assert (run / "DONE").read_bytes() == done  # reused, not trained again
    assert datasets.main(["Hopper-v5", "--train-expert", "--expert-run", str(run)]) == 2  # trained on CartPole


def test_mujoco_experts_paper_budget_dry_run_on_slurm(results_root, capsys):
    from common.platform import cli

    assert cli.main(["sweep", PAPER, "expert_mujoco", "--launcher", "slurm", "--profile", "local", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 runs" in out and "#SBATCH --array=0-1" in out
    assert not results_root.exists()


def test_mujoco_gail_with_a_committed_ppo_expert(results_root, tmp_path, monkeypatch):
    """Hopper: the dataset from the best committed PPO Table 1 run (2 trajectories), every 20th pair kept, a
    Gaussian policy learned in the same loop and saved as PPO's agents are."""
    from common.rl.agents import load_agent
    from papers.ho2016_gail.datasets import build, find_expert
    from papers.ho2016_gail.gail import expert_pairs
    from papers.ho2016_gail.gail_config import GAILConfig

    expert, chosen = find_expert("Hopper-v5")
    assert "PPO Table 1" in chosen and (expert / "agent.json").exists()
    folder = build("Hopper-v5", trajectories=2)
    doc = json.loads((folder / "dataset.json").read_text())
    assert doc["source"]["expert_run"].startswith("results/schulman2017_ppo/runs/table1/paper/")
    data, _ = expert_pairs(GAILConfig(env_id="Hopper-v5", trajectories=2, subsample_every=20))
    lengths = doc["statistics"]["transitions"]
    steps = np.diff(data["t"])
    assert abs(len(data["obs"]) - lengths / 20) <= 2 and (steps[steps > 0] == 20).all() and (steps <= 0).sum() == 1
    run_dir = execute_in(tmp_path, monkeypatch, PAPER, "table3_mujoco", "quick", "Hopper-v5__gail__traj4", 0,
                         (("trajectories", 2), ("dataset_root", str(results_root))))
    agent = load_agent(run_dir)
    assert agent.kind == "gaussian_mlp" and agent.meta["act_dim"] == 3
    assert agent.act(np.zeros(11), True).shape == (3,)
