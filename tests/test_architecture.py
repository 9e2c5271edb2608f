"""The engine's import graph: no cycle (counting imports inside functions too), and no
engine module importing a catalog (problems, optimizers, reports are plug-ins)."""

from __future__ import annotations

import ast
from pathlib import Path

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
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod)
    return {m for m in found if m.startswith("optbench") and m != name}


def test_no_engine_module_imports_a_catalog():
    mods = _modules()
    bad = {
        (m, dep)
        for m, p in mods.items()
        for dep in _imports(m, p, mods)
        if dep.startswith(CATALOGS)
    }
    assert not bad, sorted(bad)


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
