"""Shared fixtures: a temporary output folder and a helper to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
# the built-in report sections, in page order (their anchors)
REPORT_SECTIONS = ("setup", "summary", "per-problem", "learning-rate", "aggregated", "statistics",
                   "run-status")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "results"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``optbench ARGS`` in a subprocess, exactly as a user types it."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "optbench.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
