"""`repro show`: every key of a run's config with the layer that set it and its cited source; one default budget
for run and sweep; a mistyped key gets a "did you mean"."""
import pytest

from common.platform import cli
from common.platform.errors import ReproError
from common.platform.registry import get_paper
from common.platform.runs import RunSpec, resolve
from common.platform.show import resolved_table

PPO = "schulman2017_ppo"


def test_each_layer_and_its_source():
    exp = get_paper(PPO).experiment("table1")
    rows = {k: (v, layer, src) for k, v, layer, src in
            resolved_table(exp, "clip0.1__Hopper-v5", "paper", {"lr": 0.001})}
    assert rows["seed"][1] == "seed"
    assert rows["lr"] == (0.001, "command line", "given on the command line: recorded as a custom budget")
    assert rows["total_env_steps"] == (1000000, "budget 'paper'", "1M env steps per run (Sec. 6.1)")
    assert rows["horizon"] == (2048, "experiments.yaml config", "T (Table 3)")
    assert rows["clip_epsilon"][:2] == (0.1, "variant 'clip0.1__Hopper-v5'")
    assert rows["env_id"][:2] == ("Hopper-v5", "variant 'clip0.1__Hopper-v5'")
    assert rows["kl_target"] == (0.01, "dataclass default", "d_targ of the adaptive KL penalty")
    # the values are exactly those a run resolves
    cfg = resolve(RunSpec(PPO, "table1", "paper", "clip0.1__Hopper-v5", 0, (("lr", 0.001),)))
    assert {k: v for k, (v, *_) in rows.items()} == {k: cfg[k] for k in cfg}


def test_quick_budget_and_an_explicit_variant_source():
    exp = get_paper("haarnoja2018_sac").experiment("fig1_hopper")
    rows = {k: (v, layer, src) for k, v, layer, src in resolved_table(exp, "v1", "quick", {})}
    assert rows["total_env_steps"][:2] == (1500, "budget 'quick'")
    assert rows["reward_scale"] == (5.0, "variant 'v1'", "1801.01290 Table 2: Hopper reward scale 5")
    assert rows["env_id"][:2] == ("Hopper-v5", "experiments.yaml config")


def test_show_command_and_errors(capsys):
    assert cli.main(["show", PPO]) == 0
    out = capsys.readouterr().out
    assert "table1: Table 1" in out and "budgets: paper (3 seeds), quick (1 seeds)" in out
    assert cli.main(["show", PPO, "table1", "--variant", "clip0.2__Swimmer-v5", "--budget", "quick"]) == 0
    out = capsys.readouterr().out
    assert "total_env_steps" in out and "= 2048   [budget 'quick']" in out
    assert cli.main(["show", PPO, "table1", "--variant", "nope"]) == 2
    assert "valid variant" in capsys.readouterr().err


def test_run_and_sweep_share_one_default_budget():
    parser = cli.build_parser()
    run = parser.parse_args(["run", PPO, "table1"])
    sweep = parser.parse_args(["sweep", PPO, "table1"])
    assert run.budget == sweep.budget == cli.DEFAULT_BUDGET == "paper"


def test_a_mistyped_key_gets_a_did_you_mean():
    with pytest.raises(ReproError, match=r"unknown config key 'lrr' \(from command line\); did you mean 'lr'\?"):
        resolve(RunSpec(PPO, "table1", "paper", "clip0.2__Hopper-v5", 0, (("lrr", 0.1),)))
