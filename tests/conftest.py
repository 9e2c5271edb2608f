"""Shared fixtures: a temporary output folder and a helper to run the real CLI; under
pytest-xdist, the tests that share an expensive fixture are kept on one worker."""

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


# Module-scoped fixtures that cost many seconds (each runs the CLI or a suite, then a report),
# by test module. Under `--dist loadgroup` the tests that use one are kept on one worker, so
# it is built once rather than once per worker; other tests spread one by one. (A cheap
# fixture shared by many tests is better rebuilt on each worker than serialized on one.)
SHARED_FIXTURES = {
    "test_browser": ("page_html", "comparison_html"),
    "test_compare_stores": ("stores",),
    "test_lesson": ("lesson",),
    "test_relayout": ("page",),
    "test_report": ("report",),
    "test_tune": ("tuned",),
    "test_what_this_run_shows": ("paragraph",),
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        module = getattr(item, "module", None)
        shared = SHARED_FIXTURES.get(module.__name__.rpartition(".")[2] if module else "", ())
        for name in shared:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(f"{module.__name__}::{name}"))
                break
