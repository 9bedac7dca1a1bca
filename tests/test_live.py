"""Live metrics (common/platform/live.py): a run's metrics so far, written at each checkpoint, readable while it trains
(`repro status --curves`, `repro report --live`), never counted as complete, gone once DONE is written."""
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from common.platform import live
from common.platform.records import RunContext, RunRecord, table_to_bytes
from common.platform.registry import get_paper

from conftest import REPO, repro

THOMPSON = "russo2017_thompson"


def _partial_rows_are_the_final_rows(run_dir, final: dict) -> dict:
    """Every live table is byte for byte the first rows of the run's final table of that name; returns the sizes."""
    record = RunRecord(run_dir)
    info = live.meta(record)
    assert info is not None and info["tables"], f"no live metrics in {run_dir}"
    sizes = {}
    for name in info["tables"]:
        written = (live.live_dir(record) / f"{name}.csv.gz").read_bytes()
        n = len(pd.read_csv(live.live_dir(record) / f"{name}.csv.gz"))
        assert written == table_to_bytes(final[name].iloc[:n]), f"live {name} is not the first {n} rows of the final"
        sizes[name] = n
    return sizes


def test_a_killed_run_shows_its_metrics_so_far_and_is_never_complete(tmp_path):
    """A `repro run` killed with SIGKILL mid-run: its live metrics are readable (status --curves, report --live,
    labelled in progress, in no claim), it is not complete; run again, it completes, its live files are gone and its
    final table begins with the rows shown while it ran."""
    args = ["run", THOMPSON, "fig4_1", "--variant", "ts", "--budget", "paper", "n_periods=400", "n_replications=200"]
    root = tmp_path / "results"
    env = {**os.environ, "REPRO_RESULTS": str(root), "REPRO_CHECKPOINT_EVERY_S": "0.2", "REPRO_PROGRESS_EVERY_S": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "common.platform.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    found = []
    while not found and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        found = list(root.rglob("live/live.json"))
    assert found, "the run never wrote live metrics"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = found[0].parent.parent
    record = RunRecord(run_dir)
    assert record.status() == "interrupted" and not record.is_complete() and not (run_dir / "DONE").exists()
    partial = live.read(record)["curves"]
    assert 0 < len(partial) < 400 and list(partial["t"]) == list(range(1, len(partial) + 1))

    renv = {"REPRO_RESULTS": str(root)}
    status = repro("status", THOMPSON, "--curves", env=renv, check=True).stdout
    assert re.search(r"interrupted .*fig4_1/paper-custom-\w+/ts/seed_0: .*\n"
                     r" +so far \(live, in progress, not a result\): "
                     r"regret_mean [-0-9.e]+ at t [0-9,]+ \(mean of the last \d+", status), status
    assert "so far" not in repro("status", THOMPSON, env=renv, check=True).stdout  # only when asked for

    out = repro("report", THOMPSON, "fig4_1", "--live", env=renv, check=True).stdout
    budget = run_dir.parent.parent.name  # paper-custom-<hash>: the command line's overrides
    assert f"fig4_1 ({budget}, IN PROGRESS: 1 partial runs)" in out, out
    page = (root / THOMPSON / "live" / "README.md").read_text()
    assert "not results" in page and f"fig4_1/{budget}/ts/seed_0" in page
    assert (root / THOMPSON / "live" / "figures" / budget / "fig4_1_live_curve.png").is_file()
    # never in claims or the paper's report: the run is not complete, so no claim has an estimate from it
    claims = pd.read_csv(root / THOMPSON / "claims.csv", keep_default_na=False)
    assert (claims["estimate"].astype(str) == "").all()
    assert "live" not in (root / THOMPSON / "README.md").read_text().lower()

    repro(*args, env=renv, check=True)  # resumes from its checkpoint and completes
    assert record.is_complete() and not (run_dir / "live").exists() and live.read(record) == {}
    assert repro("verify", THOMPSON, env=renv).returncode == 0
    final = {name: record.read_table(name) for name in record.tables()}
    assert len(final["curves"]) == 400
    assert table_to_bytes(final["curves"].iloc[:len(partial)]) == table_to_bytes(partial)
    status = repro("status", THOMPSON, "--curves", env=renv, check=True).stdout
    assert "so far" not in status


def test_live_files_never_make_a_run_look_complete_and_are_ignored_after_done(tmp_path):
    record = RunRecord(tmp_path / "run")
    record.path.mkdir()
    live.write(record, {"curves": pd.DataFrame({"t": [1, 2], "regret_mean": [0.5, 0.4]})}, {"units": 2})
    assert record.status() == "pending" and not record.is_complete()
    assert list(live.read(record)) == ["curves"]
    record.ensure_config("seed: 0\n")
    record.write_table("curves", pd.DataFrame({"t": [1, 2, 3], "regret_mean": [0.5, 0.4, 0.3]}))
    record.seal("now")  # DONE written while live files are still there (a crash before finish removes them)
    assert record.is_complete() and not record.damage()  # the live folder is never vouched for, nor damage
    assert live.meta(record) is None and live.read(record) == {}
    assert live.curve_text(record, ("curves", "t", "regret_mean")) is None
    record.finish({"end": "now"})
    assert not (record.path / "live").exists() and record.is_complete()


# One small config per runner that checkpoints: the live tables its paper's __init__.py declares (`Live`: columns of
# the state's rows, or a function of the state) must stay the first rows, and the columns, of the tables it returns.
RUNNERS = [
    ("russo2017_thompson", "finite_arm", "papers.russo2017_thompson.bandits", "FiniteArmConfig",
     dict(n_periods=60, n_replications=20)),
    ("russo2017_thompson", "bridge", "papers.russo2017_thompson.bridge", "BridgeConfig",
     dict(n_periods=30, n_replications=10)),
    ("schulman2017_ppo", "ppo", "papers.schulman2017_ppo.ppo", "PPOConfig",
     dict(env_id="Pendulum-v1", total_env_steps=1024, horizon=256, epochs=1)),
    ("schulman2015_trpo", "trpo", "papers.schulman2015_trpo.trpo", "TRPOConfig",
     dict(env_id="InvertedPendulum-v5", hidden_units=0, iterations=3, batch_steps=500)),
    ("schulman2015_trpo", "figure4", "papers.schulman2015_trpo.figure4", "Figure4Config",
     dict(env_id="InvertedPendulum-v5", hidden_units=0, iterations=3, batch_steps=500, method="cem")),
    ("schulman2015_trpo", "figure4", "papers.schulman2015_trpo.figure4", "Figure4Config",
     dict(env_id="InvertedPendulum-v5", hidden_units=0, iterations=3, batch_steps=500, method="rwr")),
    ("schulman2017_ppo", "fig3_baseline", "papers.schulman2017_ppo.fig3_baselines", "Fig3BaselineConfig",
     dict(env_id="Pendulum-v1", total_env_steps=1000, method="a2c")),
    ("schulman2016_gae", "gae", "papers.schulman2016_gae.gae", "GAEConfig",
     dict(env_id="BartoCartPole", iterations=3, trajectories=4, seeds_per_run=2)),  # packed: rows carry a seed
    ("ho2016_gail", "gail", "papers.ho2016_gail.gail_config", "GAILConfig",
     dict(method="expert", env_id="CartPole-v1", iterations=3, batch_steps=300, max_episode_steps=200,
          eval_episodes=1)),
    ("kumar2020_cql", "offline", "papers.kumar2020_cql.cql_config", "CQLConfig",
     dict(env_id="Pendulum-v1", method="cql_h", tiny_dataset_transitions=300, gradient_steps=40, eval_every_steps=10,
          eval_episodes=1, batch_size=16, hidden_units=16, n_action_samples=2)),
    ("schulman2017_ppo", "fig3_baseline", "papers.schulman2017_ppo.fig3_baselines", "Fig3BaselineConfig",
     dict(env_id="Pendulum-v1", total_env_steps=3000, method="cem", cem_population=3)),
    ("lillicrap2016_ddpg", "ddpg", "papers.lillicrap2016_ddpg.ddpg_config", "DDPGConfig",
     dict(env_id="Pendulum-v1", total_env_steps=600, learning_starts=100, eval_every_steps=200, eval_episodes=1,
          hidden_units=[16, 16], batch_size=16)),
    ("haarnoja2018_sac", "sac", "papers.haarnoja2018_sac.sac", "SACConfig",
     dict(env_id="Pendulum-v1", total_env_steps=600, learning_starts=200, eval_every_steps=200, hidden_units=16,
          batch_size=16)),
    ("mnih2013_dqn", "dqn", "papers.mnih2013_dqn.dqn", "DQNConfig",
     dict(game="Toy", total_agent_steps=400, learning_starts_agent_steps=200, replay_capacity_agent_steps=1000,
          epsilon_anneal_agent_steps=200, epoch_updates=25, eval_agent_steps=40, heldout_states=16, torch_threads=1,
          checkpoint_min_interval_s=0.0)),
    ("schulman2017_ppo", "ppo_atari", "papers.schulman2017_ppo.ppo_atari", "PPOAtariConfig",
     dict(game="Toy", total_agent_steps=1024, num_actors=4, horizon=64, torch_threads=1)),
    ("schulman2015_trpo", "trpo_atari", "papers.schulman2015_trpo.trpo_atari", "TRPOAtariConfig",
     dict(game="Toy", iterations=3, batch_steps=72, num_actors=8)),
]


@pytest.mark.parametrize("paper,runner,module,config,values", RUNNERS,
                         ids=[f"{r[1]}-{r[4].get('method', '')}".rstrip("-") for r in RUNNERS])
def test_live_tables_are_the_first_rows_of_the_final_tables(tmp_path, paper, runner, module, config, values):
    import importlib

    from omegaconf import OmegaConf

    spec = get_paper(paper).module.RUNNERS[runner]
    cfg = OmegaConf.structured(getattr(importlib.import_module(module), config)(**values))
    record = RunRecord(tmp_path)
    ctx = RunContext(record, checkpoint_every_s=0.0, show_progress=False)
    ctx.live = live.Writer(record, lambda state: spec.live.frames(state, cfg), spec.live.curve)
    final = spec.fn(cfg, ctx)
    sizes = _partial_rows_are_the_final_rows(tmp_path, final)
    table, step, value = spec.live.curve
    assert table in sizes and {step, value} <= set(final[table].columns)


def test_a_failure_to_write_live_metrics_never_fails_the_run(tmp_path, capsys):
    record = RunRecord(tmp_path)
    writer = live.Writer(record, lambda state: {"episodes": pd.DataFrame(state, columns=["env_step"])})
    writer.checkpoint([(1, 2.0)], 1, 0.1)  # two values for one column: pandas raises
    writer.checkpoint([(1, 2.0)], 1, 0.1)
    assert capsys.readouterr().err.count("live metrics of") == 1 and live.meta(record) is None


def test_tensorboard_streams_each_row_once(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("REPRO_TENSORBOARD", "1")
    record = RunRecord(tmp_path)
    rows = []
    writer = live.Writer(record, lambda state: {"episodes": pd.DataFrame(rows, columns=["env_step", "episode_return"])})
    rows += [(10, 1.0), (20, 2.0)]
    writer.checkpoint(None, 20, 1.0)
    writer = live.Writer(record, writer.frames)  # a resumed attempt carries on from what live.json says was streamed
    rows += [(30, 3.0)]
    writer.checkpoint(None, 30, 2.0)
    writer.finish({"episodes": pd.DataFrame(rows + [(40, 4.0)], columns=["env_step", "episode_return"])})
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("episodes/episode_return")] == [(10, 1.0), (20, 2.0), (30, 3.0),
                                                                                  (40, 4.0)]


def test_tensorboard_without_the_package_is_an_error_before_any_work(monkeypatch):
    import importlib.util

    from common.platform.errors import ReproError
    from common.platform.validate import check_environment

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ReproError, match="REPRO_TENSORBOARD=1 .* tensorboard is not installed"):
        check_environment({"REPRO_TENSORBOARD": "1"})
    with pytest.raises(ReproError, match="must be 0 or 1"):
        check_environment({"REPRO_TENSORBOARD": "yes"})
    check_environment({"REPRO_TENSORBOARD": "0"})


def test_a_run_that_starts_over_starts_without_live_metrics(results_root):
    from common.platform.runs import RunSpec, execute

    spec = RunSpec(THOMPSON, "fig3_1", "quick", "ts", 0)
    record = RunRecord(spec.run_dir)
    for folder in ("live", "tensorboard"):  # left by an attempt that died before its first checkpoint was kept
        (spec.run_dir / folder).mkdir(parents=True)
        (spec.run_dir / folder / "stale").write_text("x")
    live.write(record, {"curves": pd.DataFrame({"t": [1], "regret_mean": [9.0]})}, {"units": 1})
    assert not record.has_checkpoint()
    assert execute(spec, show_progress=False) == "done"
    assert not (spec.run_dir / "live").exists() and not (spec.run_dir / "tensorboard").exists()
    assert record.is_complete()
