"""The test suite's own set-up: the README's test command and what CI runs are the same, and
every fixture that ``tests/conftest.py`` keeps on one xdist worker exists (a renamed
fixture would silently be built once per worker again)."""

from __future__ import annotations

import importlib
import re

import pytest

from tests.conftest import ROOT, SHARED_FIXTURES


@pytest.mark.parametrize("module", sorted(SHARED_FIXTURES))
def test_every_shared_fixture_exists_and_is_module_scoped(module):
    mod = importlib.import_module(f"tests.{module}")
    for name in SHARED_FIXTURES[module]:
        fixture = getattr(mod, name, None)
        assert fixture is not None, f"tests/{module}.py has no fixture {name!r}"
        assert re.search(rf'@pytest.fixture\(scope="module"\)\ndef {name}\(',
                         (ROOT / "tests" / f"{module}.py").read_text()), (module, name)


def test_every_long_first_module_exists_once():
    """A renamed module would silently drop out of the order the long units are handed out
    in (conftest.LONG_FIRST)."""
    from tests.conftest import LONG_FIRST

    assert len(set(LONG_FIRST)) == len(LONG_FIRST)
    missing = [m for m in LONG_FIRST if not (ROOT / "tests" / f"{m}.py").is_file()]
    assert not missing, missing


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"Install and run the tests:\n\n```bash\n(.*?)\n```", readme).group(1)
    assert "python -m pytest -n auto --dist loadgroup" in command
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines()


def test_ci_tests_the_floors_pyproject_declares():
    import tomllib

    declared = {}
    for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, floor = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", dep).groups()
        declared[name.lower()] = floor
    ci = (ROOT / ".ci" / "run").read_text()
    floors = ci[ci.index("# The declared floors"):]
    pinned = {n.lower(): v for n, v in re.findall(r'"([A-Za-z0-9_.-]+)==([0-9.]+)"', floors)}
    # a floor of 13 or 3.8 is release 13.0.0 or 3.8.0
    assert pinned == {n: ".".join((v.split(".") + ["0", "0"])[:3]) for n, v in declared.items()}
