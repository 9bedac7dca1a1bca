"""Shared utilities of the reproductions: configs, run records, sweeps, statistics, claims, reports, CLI."""
from pathlib import Path

#: Repository root (the folder holding papers/, common/, results/).
REPO_ROOT = Path(__file__).resolve().parent.parent
