"""`repro bench --kept-memory` (common/platform/kept_memory.py) and the switch it uses (REPRO_KEEP_FREED_MEMORY)."""
import json
import os
import subprocess
import sys

import pytest

from common.platform.errors import ReproError
from conftest import REPO

PAPER = "russo2017_thompson"

_SETTING = ("from common.platform import memory; import os; applied = memory.keep_freed_memory(); "
            "print(applied, memory._applied, memory.keep_freed_memory())")


@pytest.mark.parametrize("value, expected", [("0", "False False False"), ("1", "True True True"),
                                             (None, "True True True")])
def test_the_switch_turns_the_setting_off_in_its_process_only(value, expected):
    env = {k: v for k, v in os.environ.items() if k != "REPRO_KEEP_FREED_MEMORY"}
    if value is not None:
        env["REPRO_KEEP_FREED_MEMORY"] = value
    proc = subprocess.run([sys.executable, "-c", _SETTING], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == expected.split()


def test_one_round_times_both_settings_checks_the_tables_and_is_saved_and_reported(results_root):
    from common.analysis.report import _speed_markdown
    from common.platform.kept_memory import FILE, format_kept_memory, run_kept_memory

    r = run_kept_memory(PAPER, "fig3_1", "ts", "quick", {"n_replications": 5}, rounds=1)
    for name in ("off", "on"):
        (p,) = r["processes"][name]
        assert p["seconds"] > 0 and p["user_s"] > 0 and p["peak_rss_mb"] > 10 and 0 <= p["other_load"] <= 1
        assert p["seconds"] >= 0.5 * (p["user_s"] + p["system_s"])  # one thread: CPU time cannot far exceed wall
    off, on = r["processes"]["off"][0]["seconds"], r["processes"]["on"][0]["seconds"]
    assert r["speedup_median"] == pytest.approx(off / on) and r["speedup_range"] == [r["speedup_median"]] * 2
    saved = json.loads((results_root / PAPER / FILE).read_text())
    assert list(saved) == ["fig3_1/ts quick n_replications=5"]
    assert saved["fig3_1/ts quick n_replications=5"]["processes"] == r["processes"]
    assert not (results_root / PAPER / "runs").exists()  # the timed runs went to temporary folders
    assert format_kept_memory(r)[-1].startswith("wall time off / on: median ")
    text = _speed_markdown(results_root / PAPER)
    assert "Keeping freed memory" in text and "| fig3_1/ts quick n_replications=5 |" in text


def test_tables_that_differ_between_the_settings_are_an_error(results_root, monkeypatch):
    from common.platform import kept_memory

    def fake(spec, keep, folder):
        return {"seconds": 1.0, "user_s": 1.0, "system_s": 0.0, "peak_rss_mb": 50.0, "other_load": 0.0,
                "tables": {"regret.csv.gz": b"on" if keep else b"off"}}

    monkeypatch.setattr(kept_memory, "_one_process", fake)
    with pytest.raises(ReproError, match=r"round 1: the run's tables differ with kept memory off and on "
                                         r"\(regret.csv.gz\)"):
        kept_memory.run_kept_memory(PAPER, "fig3_1", "ts", "quick", {}, rounds=2)
    assert not (results_root / PAPER / kept_memory.FILE).exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"rounds": 0}, "--rounds must be at least 1 (got 0)"),
    ({"variant": "ucb"}, "valid variants of russo2017_thompson/fig3_1: greedy, ts"),
    ({"budget": "huge"}, "huge"),
    ({"overrides": {"horizon": 5}}, "unknown config key 'horizon'"),
])
def test_bad_input_is_an_error_before_any_process_starts(results_root, monkeypatch, kwargs, message):
    from common.platform import kept_memory

    monkeypatch.setattr(kept_memory, "_one_process", lambda *a: pytest.fail("a process started"))
    args = {"variant": "ts", "budget": "quick", "overrides": {}, "rounds": 1, **kwargs}
    with pytest.raises(ReproError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kept_memory.run_kept_memory(PAPER, "fig3_1", args["variant"], args["budget"], args["overrides"],
                                    rounds=args["rounds"])


@pytest.mark.parametrize("args, message", [
    (["--budget", "quick"], "--budget applies to --kept-memory only"),
    (["--kept-memory", "--profile"], "choose one of --kept-memory and --profile"),
    (["--kept-memory", "--rounds", "0"], "--rounds must be at least 1 (got 0)"),
])
def test_the_command_line_refuses_bad_combinations_before_any_work(results_root, args, message):
    from conftest import repro

    proc = repro("bench", PAPER, "fig3_1", "--variant", "ts", *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not results_root.exists()


def test_a_bad_value_of_the_switch_is_an_error_before_any_command_runs(results_root):
    from conftest import repro

    proc = repro("run", PAPER, "fig3_1", "--variant", "ts", "--budget", "quick", env={"REPRO_KEEP_FREED_MEMORY": "no"})
    assert proc.returncode == 2 and "REPRO_KEEP_FREED_MEMORY must be 0 or 1, got 'no'" in proc.stderr, proc.stderr
    assert not results_root.exists()
