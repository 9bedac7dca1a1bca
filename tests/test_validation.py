"""Validation before any work: paper files against their schemas (file, line, experiment or claim named), config
values against each runner's checks (key, value, what is valid) and REPRO_* settings; exit status 2 and nothing
written, no run folder made, nothing submitted, no committed report changed."""
import copy
import importlib
import shutil
import sys
import types

import pytest

from common.platform import registry
from common.platform import schema
from common.platform.cli import main
from common.platform.errors import ReproError
from conftest import REPO, repro

PAPER = "russo2017_thompson"


def _cli(capsys, *args):
    """`repro ARGS` in this process (papers already loaded): its exit status and stderr."""
    status = main(list(args))
    return status, capsys.readouterr().err


# ---- config values ---------------------------------------------------------------------------------------------
def test_a_bad_value_exits_2_before_a_run_folder_is_made(results_root):
    proc = repro("run", PAPER, "fig3_1", "--variant", "ts", "n_replications=0")
    assert proc.returncode == 2, proc.stderr
    assert ("repro: error: russo2017_thompson/fig3_1, variant 'ts': config key 'n_replications' (from command line) "
            "is 0; valid: an integer >= 1") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not results_root.exists()


@pytest.mark.parametrize("args,message", [
    # finite_arm
    (["run", PAPER, "fig3_1", "--variant", "ts", "--seed", "-1"],
     "config key 'seed' (from seed) is -1; valid: an integer >= 0"),
    (["sweep", PAPER, "fig3_1", "--budget", "quick", "theta=[0.9,0.8]"],
     "config key 'theta' (from command line) is [0.9, 0.8]; valid: a list of 3 numbers (one per arm (n_arms))"),
    (["sweep", PAPER, "fig6_3", "--budget", "quick", "agent_forgetting_gamma=2"],
     "fig6_3, variant 'stationary_ts': config key 'agent_forgetting_gamma' (from command line) is 2.0; valid: a "
     "number in [0, 1]"),
    (["sweep", PAPER, "fig6_3", "--budget", "quick", "env_drift_gamma=1.5"],
     "config key 'env_drift_gamma' (from command line) is 1.5; valid: a number in [0, 1]"),
    # bridge
    (["run", PAPER, "fig4_1", "--variant", "ts", "n_stages=5"],
     "'n_stages' (from command line) is 5; valid: an even integer"),
    (["run", PAPER, "fig4_1", "--variant", "ts", "epsilon=0.1"], "valid: 0 for agent ts (epsilon-greedy is agent greedy"),
    # ppo, random_policy, ppo_atari
    (["sweep", "schulman2017_ppo", "table1", "--budget", "quick", "--variant", "clip0.2__Hopper-v5",
      "env_id=Hoper-v5"],
     "config key 'env_id' (from command line) is 'Hoper-v5'; valid: HalfCheetah-v5, Hopper-v5,"),
    (["sweep", "schulman2017_ppo", "table1", "--budget", "quick", "minibatch_size=4096"],
     "'minibatch_size' (from command line) is 4096; valid: an integer from 1 to horizon (512)"),
    (["sweep", "schulman2017_ppo", "random_policy", "--budget", "quick", "n_episodes=0"],
     "'n_episodes' (from command line) is 0; valid: an integer >= 1"),
    (["run", "schulman2017_ppo", "atari", "--variant", "Pong", "game=Pongg"],
     "config key 'game' (from command line) is 'Pongg'; valid: BeamRider, Breakout, Enduro, Pong, Qbert, Seaquest, "
     "SpaceInvaders, Toy"),
    # dqn
    (["run", "mnih2013_dqn", "toy", "lr=0"], "config key 'lr' (from command line) is 0.0; valid: a finite number > 0"),
    (["run", "mnih2013_dqn", "toy", "replay_capacity_agent_steps=10"], "valid: an integer >= 5 x num_envs (20)"),
    # sac
    (["run", "haarnoja2018_sac", "pendulum", "--variant", "v2", "tau=.nan"],
     "'tau' (from command line) is nan; valid: a number in (0, 1]"),
    (["sweep", "haarnoja2018_sac", "pendulum", "version=v3"],
     "config key 'version' (from command line) is 'v3'; valid: v1, v2"),
    # a snapshot step beyond the run's length (SAC, PPO, Figure 3's comparisons)
    (["run", "haarnoja2018_sac", "pendulum", "--variant", "v2", "--budget", "quick", "save_agent_at_steps=[500,10000000]"],
     "config key 'save_agent_at_steps' (from command line) is [500, 10000000]; valid: a list of integer steps in "
     "1..total_env_steps"),
    (["sweep", "schulman2017_ppo", "table1", "--budget", "quick", "save_agent_at_steps=[0]"],
     "valid: a list of integer steps in 1..total_env_steps"),
    (["sweep", "schulman2017_ppo", "fig3_baselines", "--budget", "quick", "save_agent_at_steps=[99999999]"],
     "not [99999999]"),
])
def test_every_runner_rejects_bad_values_before_any_work(results_root, capsys, args, message):
    status, err = _cli(capsys, *args)
    assert status == 2 and message in err, err
    assert not results_root.exists()  # no run folder, attempt log or FAILED marker


def test_every_committed_config_validates():
    """Every experiment, budget and variant of the four papers resolves and validates (plan checks each variant)."""
    from common.platform.runs import plan

    for paper in registry.papers().values():
        for exp in paper.experiments.values():
            for budget in exp.budgets:
                assert plan(paper.name, exp.name, budget)


def test_the_slurm_launcher_submits_nothing_with_a_bad_value(results_root, capsys, monkeypatch, tmp_path):
    import common.platform.slurm

    def never(*args, **kwargs):
        raise AssertionError("submitted")

    monkeypatch.setattr(common.platform.slurm, "submit_sweep", never)
    monkeypatch.setenv("REPRO_SLURM_LOGS", str(tmp_path / "logs"))
    status, err = _cli(capsys, "sweep", PAPER, "fig3_1", "--budget", "quick", "--launcher", "slurm", "--profile",
                       "local", "agent=ucb")
    assert status == 2 and "config key 'agent' (from command line) is 'ucb'; valid: greedy, ts" in err, err
    assert not results_root.exists() and not (tmp_path / "logs").exists()


def test_the_slurm_launcher_checks_the_settings_it_passes_to_its_tasks(results_root, monkeypatch, tmp_path):
    """A profile's `env` sets REPRO_* variables of the tasks: they are checked before anything is submitted."""
    import common.platform.slurm
    from common.platform.runs import plan

    (tmp_path / "bad.yaml").write_text("env: {REPRO_CHECKPOINT_EVERY_S: often}\n")
    monkeypatch.setattr(common.platform.slurm, "PROFILES_DIR", tmp_path)
    specs = plan(PAPER, "fig3_1", "quick")
    with pytest.raises(ReproError, match="REPRO_CHECKPOINT_EVERY_S='often' is not a number of seconds; valid: a finite"):
        common.platform.slurm.submit_sweep(specs, profile="bad", dry_run=True)
    assert not results_root.exists()


def test_the_slurm_launcher_validates_every_run_it_would_submit(results_root):
    import common.platform.slurm
    from common.platform.runs import RunSpec

    specs = [RunSpec(PAPER, "fig3_1", "quick", "ts", 0), RunSpec(PAPER, "fig3_1", "quick", "ts", -1)]
    with pytest.raises(ReproError, match=r"variant 'ts': config key 'seed' \(from seed\) is -1; valid: an integer >= 0"):
        common.platform.slurm.submit_sweep(specs, profile="local", dry_run=True)
    assert not results_root.exists()


# ---- inputs a run reads besides its config (stored datasets) ---------------------------------------------------
@pytest.mark.parametrize("args", [
    ["run", "kumar2020_cql", "table1", "--variant", "Hopper-v5__medium__cql_h", "--budget", "reduced"],
    ["sweep", "kumar2020_cql", "table1", "--budget", "reduced", "--variant", "Hopper-v5__medium__cql_h"],
    ["sweep", "kumar2020_cql", "table1", "--budget", "reduced", "--variant", "Hopper-v5__medium__cql_h", "--dry-run"],
    ["sweep", "levine2020_offline", "shift", "--budget", "reduced", "--variant", "medium__sac", "--launcher", "slurm",
     "--profile", "local", "--dry-run"],
])
def test_a_missing_dataset_exits_2_before_a_run_folder_is_made(results_root, capsys, monkeypatch, tmp_path, args):
    import common.platform.slurm

    monkeypatch.setenv("REPRO_SLURM_LOGS", str(tmp_path / "logs"))
    monkeypatch.setattr(common.platform.slurm, "check_cluster", lambda: None)
    status, err = _cli(capsys, *args)
    assert status == 2, err
    folder = results_root / "datasets" / "Hopper-v5" / "medium-v0"  # the Minari dataset Hopper-v5/medium-v0
    # the missing path, the command that builds it (from this paper's expert run) and which datasets exist
    assert f"no medium dataset of Hopper-v5: {folder}/dataset.json does not exist" in err, err
    expert_run = results_root / "kumar2020_cql" / "runs" / "experts" / "paper" / "Hopper-v5" / "seed_0"
    assert f"`python -m common.offline.build Hopper-v5 medium --agent-run {expert_run} --step auto`" in err
    assert "`repro sweep kumar2020_cql experts --variant Hopper-v5`" in err
    assert f"datasets under {results_root / 'datasets'}: none" in err and "nothing was run or submitted" in err
    assert "\n" not in err.strip() and "Traceback" not in err
    assert not results_root.exists() and not (tmp_path / "logs").exists()


def test_the_slurm_launcher_submits_nothing_without_the_dataset(results_root, monkeypatch):
    import common.platform.slurm
    from common.platform.runs import plan

    specs = plan("kumar2020_cql", "table1", "reduced", variants=["Walker2d-v5__expert__bc"])  # plan checks configs only
    needed = r"no expert dataset of Walker2d-v5: .* \(needed by kumar2020_cql/table1/Walker2d-v5__expert__bc\)"
    with pytest.raises(ReproError, match=needed):
        common.platform.slurm.submit_sweep(specs, profile="local", dry_run=True)
    assert not results_root.exists()


def test_the_missing_dataset_names_the_datasets_that_exist(results_root, capsys):
    from common.offline.datasets import collect, save_dataset, uniform_policy
    import numpy as np

    ds = collect("Hopper-v5", uniform_policy(-np.ones(3), np.ones(3)), 50, seed=0)
    save_dataset(ds, "Hopper-v5", "random", {"kind": "random"}, None, results_root)
    before = sorted(results_root.rglob("*"))
    status, err = _cli(capsys, "sweep", "kumar2020_cql", "table1", "--budget", "reduced", "--variant",
                       "Hopper-v5__random__bc", "--variant", "Hopper-v5__expert__bc", "dataset_max_transitions=60")
    assert status == 2
    # the random dataset is there but shorter than asked; the expert one is missing, and the random one is named
    assert "the random dataset of Hopper-v5" in err
    assert "holds 50 transitions, fewer than dataset_max_transitions (60); valid: at most 50, or 0 for all" in err
    assert "no expert dataset of Hopper-v5" in err and "datasets under" in err and ": Hopper-v5/random" in err
    assert sorted(results_root.rglob("*")) == before  # no run folder


def test_a_complete_run_is_skipped_without_its_dataset_and_a_new_one_is_refused(results_root, capsys):
    import numpy as np

    from common.offline.datasets import collect, save_dataset, uniform_policy

    ds = collect("Hopper-v5", uniform_policy(-np.ones(3), np.ones(3)), 300, seed=0)
    save_dataset(ds, "Hopper-v5", "medium", {"kind": "medium"}, None, results_root)
    args = ["sweep", "kumar2020_cql", "table1", "--budget", "reduced", "--variant", "Hopper-v5__medium__bc", "--seeds", "1",
            "gradient_steps=20", "eval_every_steps=10", "eval_episodes=1", "batch_size=16", "hidden_units=16"]
    assert main(args) == 0
    assert "done 1, skipped 0, failed 0" in capsys.readouterr().out
    shutil.rmtree(results_root / "datasets")
    assert main(args) == 0  # the complete run is skipped: its dataset is not needed again
    assert "1 runs: 1 complete, 0 to run" in capsys.readouterr().out
    status, err = _cli(capsys, *args[:-1], "hidden_units=8")  # a run still to be made is refused
    assert status == 2 and "no medium dataset of Hopper-v5" in err


# ---- REPRO_* settings ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,value,message", [
    ("REPRO_CHECKPOINT_EVERY_S", "-1", "REPRO_CHECKPOINT_EVERY_S='-1' is not a number of seconds; valid: a finite number >= 0"),
    ("REPRO_PROGRESS_EVERY_S", "nan", "REPRO_PROGRESS_EVERY_S='nan' is not a number of seconds"),
    ("REPRO_DEVICE", "tpu", "REPRO_DEVICE='tpu' is not a device; valid: cpu, cuda"),
    ("REPRO_LAUNCHER", "cluster", "REPRO_LAUNCHER must be local or slurm, got 'cluster'"),
    ("REPRO_SLURM_LOGS", "FILE", "is a file, not a folder"),
    ("REPRO_RESULTS", "FILE", "is a file, not a folder"),
])
def test_environment_settings_are_checked_before_any_work(results_root, capsys, monkeypatch, tmp_path, name, value,
                                                          message):
    if value == "FILE":
        value = str(tmp_path / "a_file")
        (tmp_path / "a_file").write_text("")
    before = sorted(tmp_path.rglob("*"))
    monkeypatch.setenv(name, value)
    status, err = _cli(capsys, "sweep", PAPER, "fig3_1", "--budget", "quick")
    assert status == 2 and message in err, err
    assert sorted(tmp_path.rglob("*")) == before  # no results folder, no run folder


# ---- claims.yaml -----------------------------------------------------------------------------------------------
def _line_of(text: str, fragment: str) -> int:
    return text[:text.index(fragment)].count("\n") + 1


@pytest.mark.parametrize("old,new,message", [
    ("claims:\n", "claim:\n", "unknown key 'claim' at the top level; valid keys: claims, reference_comparisons, tables"),
    ("    metric: fraction of the last 100 periods on arm 1, TS",
     "    metrics: fraction of the last 100 periods on arm 1, TS",
     "claim fig3_1_ts_plays_best_arm_more: unknown key 'metrics'; valid keys: experiment, id, metric, note,"),
    ('    rule: {op: ">", threshold: 0.0}\n', '    rule: {op: ">", threshold: zero}\n',
     "claim fig3_1_ts_plays_best_arm_more, rule: threshold must be a number, got 'zero' (a string)"),
    ("    statistic: {column: action_prob_arm0_late, difference: [ts, greedy]}\n", "",
     "claim fig3_1_ts_plays_best_arm_more: missing required key 'statistic'"),
    ("    experiment: fig3_1\n    source: {figure: \"Figure 3.1 (v1: Fig. 3)\", page: null}\n    statement: Late",
     "    experiment: fig3_9\n    source: {figure: \"Figure 3.1 (v1: Fig. 3)\", page: null}\n    statement: Late",
     "claim fig3_1_ts_plays_best_arm_more: unknown experiment of russo2017_thompson 'fig3_9'"),
])
def test_an_invalid_claims_file_is_named_and_never_overwrites_the_report(tmp_path, old, new, message):
    from common.analysis.report import report_paper

    original = registry.get_paper(PAPER)
    text = original.claims_path.read_text()
    assert old in text
    bad = text.replace(old, new, 1)
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "claims.yaml").write_text(bad)
    paper = copy.copy(original)
    paper.path = tmp_path / "paper"
    root = tmp_path / "results"  # a copy of the committed report
    shutil.copytree(REPO / "results" / PAPER, root / PAPER, ignore=shutil.ignore_patterns("runs"))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    committed = {p: p.read_bytes() for p in (REPO / "results" / PAPER).glob("*") if p.is_file()}
    with pytest.raises(ReproError) as err:
        report_paper(paper, root=root)
    fragment = new.split("\n")[0] if new else old.split("\n")[0]
    line = _line_of(bad, fragment) if new else _line_of(bad, "  - id: fig3_1_ts_plays_best_arm_more")
    assert str(err.value).startswith(f"{paper.claims_path}:{line}: "), str(err.value)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before  # nothing written
    assert {p: p.read_bytes() for p in (REPO / "results" / PAPER).glob("*") if p.is_file()} == committed


# ---- experiments.yaml ------------------------------------------------------------------------------------------
@pytest.fixture
def fake_paper(tmp_path, monkeypatch):
    """A copy of the Thompson-sampling paper as `papers.fakepaper`, its files in tmp_path/fakepaper; returns a
    function that rewrites one of its files (old -> new) and gives the rewritten text."""
    real = importlib.import_module(f"papers.{PAPER}")
    folder = tmp_path / "fakepaper"
    folder.mkdir()
    for name in ("experiments.yaml", "claims.yaml"):
        shutil.copy(REPO / "papers" / PAPER / name, folder / name)
    module = types.ModuleType("papers.fakepaper")
    module.__file__ = str(folder / "__init__.py")
    for attr in ("RUNNERS", "FIGURES", "COMPUTED", "BENCH"):
        setattr(module, attr, getattr(real, attr))
    monkeypatch.setitem(sys.modules, "papers.fakepaper", module)

    def rewrite(name: str, old: str, new: str) -> str:
        text = (folder / name).read_text()
        assert old in text
        (folder / name).write_text(text.replace(old, new, 1))
        return text.replace(old, new, 1)

    return rewrite


@pytest.mark.parametrize("old,new,line_at,message", [
    ("experiments:\n", "experiment:\n", "experiment:",
     "unknown key 'experiment' at the top level; valid keys: experiments, paper"),
    ("    budgets:\n", "    budget:\n", "budget:", "experiment fig3_1: unknown key 'budget'; valid keys: budget_keys,"),
    ("        seeds: 10 ", "        seeds: ten ", "seeds: ten",
     "experiment fig3_1, budgets.paper: seeds must be an integer, got 'ten' (a string)"),
    ("        seeds: 2\n", "        seeds: 0\n", "seeds: 0", "experiment fig3_1, budgets.quick: seeds must be at least 1, got 0"),
    ("    runner: finite_arm\n", "    runner: finite_arms\n", "finite_arms",
     "experiment fig3_1: runner 'finite_arms' is not in RUNNERS (finite_arm, bridge)"),
    ("      greedy: {agent: greedy}\n", "      greedy: {agnt: greedy}\n", "agnt",
     "experiment fig3_1: unknown config key 'agnt' in variants.greedy; valid keys: seed, agent, n_arms,"),
    ("      quick:\n", "      quik:\n", "      paper:", "experiment fig3_1, budgets: missing required key 'quick'"),
    ("      eps_0.01: {agent: greedy, epsilon: 0.01}", "      eps_0.01: 0.01", "eps_0.01: 0.01",
     "experiment fig4_1, variants: eps_0.01 must be a mapping, got a number"),
    ("  fig4_1:\n", "  fig3_2b:\n", "fig3_2b:\n    title: \"Online", "experiments: duplicate key 'fig3_2b'"),
    ("      quick:\n        seeds: 2\n", "      reduced:\n        seeds: 1\n      quick:\n        seeds: 2\n",
     "        seeds: 1\n      quick:",
     "experiment fig3_1: budget 'reduced' plans 1 seed where the paper's plans 10: every claim checked at it could "
     "only read 'too few runs'"),
    ("    figure: action_probability ", "    figure: action_probabilty ", "action_probabilty",
     "experiment fig3_1: unknown figure of fakepaper/fig3_1 'action_probabilty'; valid figures of fakepaper/fig3_1:"),
])
def test_an_invalid_experiments_file_is_named_with_its_line(fake_paper, old, new, line_at, message):
    bad = fake_paper("experiments.yaml", old, new)
    with pytest.raises(ReproError) as err:
        registry._load_paper("fakepaper")
    assert f"fakepaper/experiments.yaml:{_line_of(bad, line_at)}: {message}" in str(err.value), str(err.value)


def test_a_reduced_budget_of_one_seed_loads_when_it_says_why(fake_paper):
    fake_paper("experiments.yaml", "      quick:\n        seeds: 2\n",
               "      reduced:\n        seeds: 1\n        single_seed: \"a smoke check of the pipeline\"\n"
               "      quick:\n        seeds: 2\n")
    assert registry._load_paper("fakepaper").experiment("fig3_1").seeds("reduced") == 1


def test_a_claim_at_a_one_seed_budget_shows_why_one_seed_is_enough(fake_paper, results_root, monkeypatch):
    """The reason a budget gives in `single_seed` stands beside the budget of every claim checked at it."""
    from common.analysis.report import evaluate_claims, load_experiment
    from common.platform.runs import RunSpec, execute

    fake_paper("experiments.yaml", "      quick:\n        seeds: 2\n",
               "      reduced:\n        seeds: 1\n        single_seed: \"a smoke check of the pipeline\"\n"
               "      quick:\n        seeds: 2\n")
    paper = registry._load_paper("fakepaper")
    monkeypatch.setattr(registry, "papers", lambda: {"fakepaper": paper})
    exp = paper.experiment("fig3_1")
    for variant in exp.variants:
        execute(RunSpec("fakepaper", "fig3_1", "reduced", variant, 0), show_progress=False)
    claims = evaluate_claims(paper, {"fig3_1": load_experiment(exp)})
    rows = claims[claims["experiment"] == "fig3_1"]
    assert len(rows) and set(rows["verdict"]) == {"reduced budget"}
    assert all(t.startswith("reduced: 1 seed") and "; one seed on purpose: a smoke check of the pipeline" in t
               for t in rows["budget_used"]), rows["budget_used"].tolist()

def test_a_paper_with_an_invalid_file_writes_no_report(fake_paper, results_root, capsys, monkeypatch):
    fake_paper("claims.yaml", "    statement: Late in the run", "    statment: Late in the run")
    monkeypatch.setattr(registry, "papers", lambda: {"fakepaper": registry._load_paper("fakepaper")})
    status, err = _cli(capsys, "report", "--all")
    assert status == 2 and "fakepaper/claims.yaml:" in err
    assert "claim fig3_1_ts_plays_best_arm_more: unknown key 'statment'" in err
    assert not results_root.exists()


def test_every_papers_files_match_their_schemas():
    """Each paper folder has both files, and each parses into a document with experiments and claims (a schema error
    raises ReproError naming the file and line)."""
    from common.platform.registry import papers

    folders = sorted(p for p in (REPO / "papers").iterdir() if (p / "__init__.py").exists())
    assert [f.name for f in folders] == sorted(papers()) and len(folders) >= 10
    for folder in folders:
        experiments = schema.load(folder / "experiments.yaml", schema.EXPERIMENTS_FILE).data
        claims = schema.load(folder / "claims.yaml", schema.CLAIMS_FILE).data
        assert experiments["experiments"], f"{folder.name}: experiments.yaml has no experiments"
        assert claims["claims"], f"{folder.name}: claims.yaml has no claims"
