"""`repro list`, `status`, `show` and `--help` answer without importing torch, gymnasium, MuJoCo, ale-py or the
plotting stack (common/platform/registry.py: papers name their runners, figures and statistics by reference, and
their configs live in torch-free modules). The imports are asserted, not the time (printed for the record)."""
import json
import subprocess
import sys

import pytest

from conftest import REPO

HEAVY = ("torch", "gymnasium", "mujoco", "ale_py", "matplotlib", "seaborn")

PROBE = """
import contextlib, io, json, sys, time
start = time.perf_counter()
from common.platform.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        rc = main(sys.argv[1:])
    except SystemExit as exc:  # --help
        rc = exc.code
print(json.dumps({"rc": rc, "s": time.perf_counter() - start, "lines": len(out.getvalue().splitlines()),
                  "modules": sorted({m.split('.')[0] for m in sys.modules})}))
"""

COMMANDS = [
    ["--help"],
    ["list"],
    ["status"],
    ["status", "haarnoja2018_sac", "--curves"],
    ["show", "schulman2017_ppo"],
    ["show", "haarnoja2018_sac", "fig1_hopper", "--variant", "v1"],
    ["show", "mnih2013_dqn", "table1", "--variant", "Breakout"],
    ["show", "schulman2015_trpo", "table1", "--variant", "Pong"],
    ["show", "schulman2017_ppo", "atari", "--variant", "Pong"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_fast_commands_import_no_heavy_module(args, results_root):
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0 and result["lines"] > 0, (result, proc.stderr)
    loaded = [m for m in HEAVY if m in result["modules"]]
    assert not loaded, f"repro {' '.join(args)} imported {loaded}"
    print(f"repro {' '.join(args)}: {result['s']:.2f} s in-process")
