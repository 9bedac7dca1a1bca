"""Finite training: a non-finite loss, parameter or metric, or a metric that cannot be computed, fails the run in
one line that names the quantity, where it happened, the run and the settings that differ from the paper budget;
the run is FAILED, never DONE, and `repro status` says so."""
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from common.platform.finite import (EmptyMetricError, MayBeNaN, NonFiniteError, RunFailure, TableRules, check_finite,
                           check_tables, finite_mean)
from common.platform.records import RunRecord
from common.platform.registry import Runner
from common.platform.runs import RunSpec, execute
from conftest import repro


# ---- the helper, on hand-made values -----------------------------------------------------------------------------
def test_check_finite_passes_finite_values_through():
    assert check_finite("loss", 1.5, "update 3") == 1.5
    assert check_finite("loss", np.float32(2.0), "update 3") == 2.0
    a = np.arange(4.0)
    assert check_finite("parameters", a, "the end") is a
    assert check_finite("parameters", {"w": torch.ones(3), "steps": torch.tensor(7)}, "the end")["steps"] == 7
    check_finite("returns", [], "the final evaluation")  # nothing to check is not an error (only an average is)


@pytest.mark.parametrize("value, shown", [(float("nan"), "nan"), (float("inf"), "inf"), (-math.inf, "-inf"),
                                          (np.float64("nan"), "nan"), (np.array(np.inf), "inf")])
def test_check_finite_names_the_quantity_its_value_and_where(value, shown):
    with pytest.raises(NonFiniteError) as err:
        check_finite("policy loss", value, "iteration 37 (env step 75,776)")
    assert str(err.value) == f"non-finite policy loss ({shown}) at iteration 37 (env step 75,776)"


def test_check_finite_on_arrays_tensors_and_state_dicts_names_the_entry_and_counts():
    with pytest.raises(NonFiniteError, match=r"^non-finite parameters \(nan in 2 of 5 values\) at update 9$"):
        check_finite("parameters", np.array([1.0, np.nan, 2.0, np.nan, 3.0]), "update 9")
    state = {"actor.w": torch.zeros(2, 2), "q.b": torch.tensor([0.0, math.inf, -math.inf])}
    with pytest.raises(NonFiniteError, match=r"^non-finite parameters \(q\.b\) \(inf in 2 of 3 values\) at the end$"):
        check_finite("parameters", state, "the end")
    with pytest.raises(NonFiniteError, match=r"nan and inf in 2 of 3"):
        check_finite("x", torch.tensor([math.nan, math.inf, 0.0]), "here")


def test_an_empty_average_is_an_error_and_a_non_finite_one_too():
    assert finite_mean("evaluation return", [1.0, 3.0], "epoch 2") == 2.0
    with pytest.raises(EmptyMetricError, match=r"^evaluation return cannot be computed \(an average of no values\) "
                                               r"at epoch 2$"):
        finite_mean("evaluation return", [], "epoch 2")
    with pytest.raises(NonFiniteError, match=r"non-finite evaluation return \(inf\)"):
        finite_mean("evaluation return", [1.0, math.inf], "epoch 2")
    assert issubclass(EmptyMetricError, RunFailure) and issubclass(NonFiniteError, RunFailure)


def test_run_failure_carries_the_run_context_in_its_one_line():
    exc = NonFiniteError("non-finite loss (nan) at update 3")
    assert str(exc) == exc.without_run() == "non-finite loss (nan) at update 3"
    exc.add_context("p/e/quick/v/seed_0", "settings that differ from the paper budget: none")
    assert str(exc) == "non-finite loss (nan) at update 3 of p/e/quick/v/seed_0; settings that differ from the " \
                       "paper budget: none"
    assert exc.without_run() == "non-finite loss (nan) at update 3; settings that differ from the paper budget: none"
    assert "\n" not in str(exc)


def test_recorded_tables_nan_only_where_declared_never_inf_never_empty_unless_declared():
    cfg = {"learning_starts": 300}
    df = pd.DataFrame({"env_step": [100, 200, 300, 400], "loss": [np.nan, np.nan, 1.0, 2.0], "n": [1, 2, 3, 4]})
    before_learning = MayBeNaN("no update yet", lambda d, c: d.env_step < c["learning_starts"])
    rules = {"evals": TableRules(nan={"loss": before_learning})}
    check_tables({"evals": df}, cfg, rules)  # NaN where declared
    with pytest.raises(NonFiniteError) as err:  # the same table with nothing declared
        check_tables({"evals": df}, cfg, {})
    assert str(err.value) == ("non-finite value in table 'evals', column 'loss' (nan in 2 of 4 rows, first at row 0 "
                              "(env_step=100, loss=nan))")
    late_nan = df.assign(loss=[np.nan, 1.0, 2.0, np.nan])  # NaN after learning started: an error
    with pytest.raises(NonFiniteError, match=r"column 'loss' \(nan in 1 of 4 rows, first at row 3 \(env_step=400"):
        check_tables({"evals": late_nan}, cfg, rules)
    infinite = df.assign(loss=[np.inf, 1.0, 2.0, 3.0])  # infinity is never allowed, even in a declared column
    with pytest.raises(NonFiniteError, match=r"column 'loss' \(inf in 1 of 4 rows"):
        check_tables({"evals": infinite}, cfg, rules)
    all_nan = df.assign(n=np.nan)
    with pytest.raises(NonFiniteError, match=r"column 'n' \(nan in 4 of 4 rows"):
        check_tables({"evals": all_nan}, cfg, rules)
    empty = df.iloc[:0]
    with pytest.raises(EmptyMetricError, match=r"^table 'evals' is empty"):
        check_tables({"evals": empty}, cfg, rules)
    check_tables({"episodes": empty}, cfg, {"episodes": TableRules(may_be_empty=True)})
    check_tables({"final": empty}, {"k": 0}, {"final": TableRules(may_be_empty=lambda c: c["k"] == 0)})
    with pytest.raises(EmptyMetricError):
        check_tables({"final": empty}, {"k": 1}, {"final": TableRules(may_be_empty=lambda c: c["k"] == 0)})


def test_thompson_statistics_stop_at_the_first_non_finite_period():
    from papers.russo2017_thompson.common_sim import PeriodStats

    stats = PeriodStats(5, 2)
    stats.add(0, np.array([0.1, 0.2]))
    with pytest.raises(NonFiniteError, match=r"^non-finite regret \(summed over replications\) \(nan\) at period 2$"):
        stats.add(1, np.array([0.1, np.nan]))


# ---- execute: the end-of-run check, and a run that fails is FAILED, never DONE ----------------------------------
def test_a_table_that_is_not_finite_fails_the_run_before_anything_is_recorded(results_root, monkeypatch):
    from common.platform.registry import get_paper

    exp = get_paper("russo2017_thompson").experiment("fig3_1")
    bad = pd.DataFrame({"seed": [0, 0], "t": [1, 2], "regret_mean": [0.1, np.inf]})
    monkeypatch.setattr(exp, "runner", Runner(exp.runner.schema, lambda cfg, ctx: {"curves": bad}))
    spec = RunSpec("russo2017_thompson", "fig3_1", "quick", "ts", 0, (("n_periods", 2),))
    with pytest.raises(NonFiniteError) as err:
        execute(spec, show_progress=False)
    assert str(err.value) == (f"non-finite value in table 'curves', column 'regret_mean' (inf in 1 of 2 rows, first "
                              f"at row 1 (seed=0, t=2)) of {spec.label}; settings that differ from the paper "
                              f"budget: n_periods=2 (paper budget: 1000), n_replications=50 (paper budget: 1000)")
    record = RunRecord(spec.run_dir)
    assert record.status() == "diverged" and not record.is_complete() and record.tables() == []
    assert "column 'regret_mean'" in record.failure_tail()


def test_a_run_that_went_non_finite_is_a_recorded_outcome_never_run_again(results_root, monkeypatch, capsys):
    """DIVERGED: the error's line and the checksums of the folder's files; the same run is not made again (by
    execute or a sweep), `repro verify` checks it, a changed file makes it damaged, and reports count its seed."""
    import json

    from common.analysis.report import load_experiment
    from common.platform.registry import get_paper
    from common.platform.sweep import run_local
    from common.platform.verify import verify

    exp = get_paper("russo2017_thompson").experiment("fig3_1")
    bad = pd.DataFrame({"seed": [1, 1], "t": [1, 2], "regret_mean": [0.1, np.nan]})
    calls = []

    def runner(cfg, ctx):
        calls.append(cfg.seed)
        if cfg.seed == 1:
            return {"curves": bad}
        return {"curves": bad.assign(seed=cfg.seed, regret_mean=[0.1, 0.2])}

    monkeypatch.setattr(exp, "runner", Runner(exp.runner.schema, runner))
    specs = [RunSpec("russo2017_thompson", "fig3_1", "quick", "ts", seed) for seed in (0, 1)]
    counts = run_local(specs)
    assert counts["done"] == 1 and counts["failed"] == 1 and calls == [0, 1]
    record = RunRecord(specs[1].run_dir)
    doc = record.read_json("DIVERGED")
    assert doc["error"].startswith("non-finite value in table 'curves', column 'regret_mean' (nan in 1 of 2 rows")
    assert set(doc["sha256"]) == {"attempts.jsonl", "config.yaml"} and doc["git"] and doc["machine"]
    assert record.status() == "diverged" and record.divergence() == doc and not record.is_complete()
    # not run again, by execute or by a sweep
    assert execute(specs[1], show_progress=False) == "diverged"
    capsys.readouterr()
    counts = run_local(specs)
    assert calls == [0, 1] and counts["done"] == 0 and counts["failed"] == 0
    assert "1 complete, 1 diverged (recorded outcomes, not run again" in capsys.readouterr().out
    # the report counts the seed as run and names the divergence
    data = load_experiment(exp, results_root)
    assert data.seeds_by_variant["ts"] == 2 and data.runs_done == 1
    assert data.diverged == {("ts", 1): doc["error"]}
    assert data.diverged_text(["ts"]).startswith("diverged (non-finite; not in the estimate): ts seed 1 (non-finite")
    assert data.diverged_text(["greedy"]) == ""
    # verify checks it like a finished record; a changed file is damage, and the run is no longer an outcome
    assert verify(results_root, "russo2017_thompson") == 0
    (record.path / "config.yaml").write_text((record.path / "config.yaml").read_text() + "# edited\n")
    assert verify(results_root, "russo2017_thompson") == 1
    assert record.status() == "damaged" and record.divergence() is None
    assert json.loads((record.path / "DIVERGED").read_text()) == doc  # nothing recorded was removed


# ---- real runs whose training goes non-finite -----------------------------------------------------------------
def test_ppo_with_a_far_too_large_learning_rate_fails_in_one_line(results_root):
    """lr=10 (the paper's 3e-4): the policy loss turns NaN in the second iteration of the quick budget."""
    proc = repro("run", "schulman2017_ppo", "table1", "--variant", "clip0.2__Hopper-v5", "--budget", "quick", "lr=10.0")
    assert proc.returncode == 1, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("repro:")]
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("repro: run failed: non-finite policy loss (nan) at iteration 1 (env step 1,024) of "
                           "schulman2017_ppo/table1/quick-custom-"), line
    assert "/clip0.2__Hopper-v5/seed_0; settings that differ from the paper budget: lr=10.0 (paper budget: 0.0003), " \
           in line
    assert "total_env_steps=2048 (paper budget: 1000000)" in line
    runs = results_root / "schulman2017_ppo" / "runs" / "table1"
    (run_dir,) = runs.glob("quick-custom-*/clip0.2__Hopper-v5/seed_0")
    assert (run_dir / "FAILED").exists() and not (run_dir / "DONE").exists()
    assert not list(run_dir.glob("*.csv.gz"))  # no metrics that look recorded
    status = repro("status", "schulman2017_ppo").stdout
    assert re.search(r"^  table1 +quick-custom-\w+ +done 0 +running 0 +failed 0 .* diverged 1$", status, re.M), status
    assert re.search(r"^    diverged .*: non-finite policy loss \(nan\) at iteration 1 .*\(a recorded outcome; not run "
                     r"again\)$", status, re.M), status


def test_dqn_with_a_far_too_large_learning_rate_fails_its_sweep(results_root):
    proc = repro("sweep", "mnih2013_dqn", "toy", "--budget", "quick", "--variant", "nips2013", "lr=1000000.0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    failed = [x for x in proc.stdout.splitlines() if x.startswith("FAILED ")]
    assert len(failed) == 1 and "done 0, skipped 0, failed 1" in proc.stdout, proc.stdout
    assert re.match(r"FAILED mnih2013_dqn/toy/quick-custom-\w+/nips2013/seed_0: non-finite loss \(nan\) at epoch 1 "
                    r"\(updates 1-100, agent step 796\); settings that differ from the paper budget: "
                    r"lr=1000000\.0 \(paper budget: 0\.00025\), ", failed[0]), failed[0]
    (run_dir,) = (results_root / "mnih2013_dqn" / "runs" / "toy").glob("quick-custom-*/nips2013/seed_0")
    assert RunRecord(run_dir).status() == "diverged" and not (run_dir / "DONE").exists()


def test_sac_with_a_far_too_large_learning_rate_names_the_update(results_root):
    small = (("batch_size", 32), ("eval_every_steps", 200), ("hidden_units", 32), ("learning_starts", 400),
             ("lr", 1e6), ("total_env_steps", 800))
    spec = RunSpec("haarnoja2018_sac", "fig1_hopper", "quick", "v2", 0, small)
    with pytest.raises(NonFiniteError) as err:
        execute(spec, show_progress=False)
    assert re.match(r"non-finite q loss \((nan|inf)\) at update \d+ \(env step 4\d\d\) of "
                    r"haarnoja2018_sac/fig1_hopper/quick-custom-\w+/v2/seed_0; settings that differ from the paper "
                    r"budget: .*lr=1000000\.0 \(paper budget: 0\.0003\)", str(err.value)), str(err.value)
    record = RunRecord(spec.run_dir)
    assert record.status() == "diverged" and not record.is_complete()


def test_repro_debug_shows_the_traceback(results_root, monkeypatch):
    import common.platform.runs
    from common.platform.cli import main

    def fail(spec, *args, **kwargs):
        raise NonFiniteError("non-finite loss (nan) at update 1")

    monkeypatch.setattr(common.platform.runs, "execute", fail)
    args = ["run", "russo2017_thompson", "fig3_1", "--variant", "ts", "--budget", "quick"]
    assert main(args) == 1
    monkeypatch.setenv("REPRO_DEBUG", "1")
    with pytest.raises(NonFiniteError):
        main(args)


def test_ppo_atari_with_a_far_too_large_learning_rate_names_the_iteration(tmp_path):
    from common.platform.records import RunContext
    from papers.schulman2017_ppo.ppo_atari import PPOAtariConfig, run_ppo_atari

    cfg = PPOAtariConfig(game="Toy", total_agent_steps=2048, torch_threads=1, lr=1e6, num_actors=4, horizon=64,
                         minibatch_size=64)
    with pytest.raises(NonFiniteError, match=r"^non-finite loss \(L\^CLIP\+VF\+S, summed over the iteration's "
                                             r"minibatches\) \(nan\) at iteration 0 \(agent step 256\)$"):
        run_ppo_atari(cfg, RunContext(RunRecord(tmp_path), checkpoint_every_s=1e9, show_progress=False))
