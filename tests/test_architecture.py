"""The engine's import graph: no cycle (counting imports inside functions too), and no
engine module importing a catalog (problems, optimizers, reports are plug-ins)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = ("optbench.problems", "optbench.optimizers", "optbench.reports")


def _modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / "optbench").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, known) -> set[str]:
    """Every optbench module ``name`` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                # `from optbench import problems`, `from . import optimizers`: the name is a
                # module (a catalog is one too, though its files live outside optbench/)
                sub = f"{mod}.{a.name}"
                found.add(sub if sub in known or _is_catalog(sub) else mod)
    return {m for m in found if m.startswith("optbench") and m != name}


def _is_catalog(module: str) -> bool:
    return any(module == c or module.startswith(c + ".") for c in CATALOGS)


def test_no_engine_module_imports_a_catalog():
    mods = _modules()
    bad = {
        (m, dep)
        for m, p in mods.items()
        for dep in _imports(m, p, mods)
        if _is_catalog(dep)
    }
    assert not bad, sorted(bad)


@pytest.mark.parametrize(("module", "source"), [
    ("optbench.api", "import optbench.problems"),
    ("optbench.api", "import optbench.problems.nd as nd"),
    ("optbench.api", "from optbench import problems"),
    ("optbench.api", "from optbench import reports, store"),
    ("optbench.api", "from optbench.optimizers import gd"),
    ("optbench.api", "from . import optimizers"),
    ("optbench.api", "from .problems import nd"),
    ("optbench.api", "def later():\n    from . import reports"),
    ("optbench.stats.extra", "from .. import problems"),
    ("optbench.stats", "from .. import optimizers"),  # a package's __init__
])
def test_every_import_form_of_a_catalog_is_seen(tmp_path, module, source):
    """The check above sees a catalog imported in each way Python spells it (a form it
    missed would let an engine module import a plug-in catalog unseen)."""
    mods = _modules()
    path = tmp_path / ("__init__.py" if module in mods and mods[module].name == "__init__.py"
                       else "mod.py")
    path.write_text(source + "\n", encoding="utf-8")
    assert any(_is_catalog(d) for d in _imports(module, path, mods)), _imports(module, path, mods)


def test_the_engine_has_no_import_cycle():
    mods = _modules()
    # a package's __init__ importing its own modules is no cycle of concern
    graph = {
        m: {d for d in _imports(m, p, mods) if d in mods and not m.startswith(d + ".")}
        for m, p in mods.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            assert state.get(d) != 1, " -> ".join([*path[path.index(d) :], d])
            if d not in state:
                visit(d, [*path, d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
