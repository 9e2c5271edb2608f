"""Every package of the source tree is in the wheel: pyproject's explicit package list names
each folder holding an ``__init__.py`` (an editable install finds a missing one anyway, so
only a real install would fail)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    roots = {"optbench": ROOT / "optbench",
             **{name: ROOT / folder for name, folder in config["package-dir"].items()}}
    found = set()
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            if "__pycache__" in rel or any(p.startswith(".") for p in rel):
                continue
            found.add(".".join((name, *rel)))
    assert found - listed == set(), "packages missing from pyproject.toml"
    assert listed - found == set(), "pyproject.toml lists packages that do not exist"
