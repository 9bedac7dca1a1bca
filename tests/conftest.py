import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """Run records go to a temporary folder, never to the repository's results/."""
    root = tmp_path / "results"
    monkeypatch.setenv("REPRO_RESULTS", str(root))
    return root


def repro(*args, env=None, check=False):
    """Run the installed `repro` command line in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "common.cli", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"repro {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc
