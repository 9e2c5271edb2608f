"""The package ships ``py.typed``: its annotations are a promise that mypy checks here.

mypy reads its settings from ``[tool.mypy]`` in ``pyproject.toml``: Python 3.11; the files,
``optbench`` and the folders installed as its subpackages (``problems``, ``optimizers``,
``reports``); the libraries without type information. It keeps its cache in ``.mypy_cache``
at the repository root, so only a first run pays the full check.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_mypy_passes_on_the_package():
    done = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"mypy failed:\n{done.stdout}{done.stderr}"
    assert "Success: no issues found" in done.stdout
