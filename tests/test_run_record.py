"""The run record is the contract: what the report shows about a run is stored with it, so a
store renders the same wherever it is opened, with or without the plug-ins that made it;
and the store package knows nothing of the planner, the spec language or the registry."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sqlite3
from contextlib import closing
from html.parser import HTMLParser
from pathlib import Path

import pytest

import optbench
from optbench import registry
from optbench.store import RunRecord, Store, Summary
from tests.conftest import fork_cli

ROOT = Path(__file__).resolve().parents[1]
V1 = Path(__file__).parent / "data" / "store_v1.sqlite"


class _Visible(HTMLParser):
    """The text a reader sees: every text node outside scripts and styles."""

    def __init__(self):
        super().__init__()
        self.hidden = 0
        self.lines: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.lines.append(" ".join(data.split()))


def visible_text(path: Path) -> list[str]:
    """The page's visible lines, masking the two that say where and when it was rendered:
    the time, and the store file it read."""
    parser = _Visible()
    parser.feed(path.read_text(encoding="utf-8"))
    masked = []
    for line in parser.lines:
        line = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?", "<time>", line)
        masked.append(re.sub(r"store: \S+ \(/[^)]*\)", "store: <file>", line))
    return masked


@pytest.fixture(scope="module")
def plugin_store(tmp_path_factory):
    """A store made with the example plug-ins (a problem and an optimizer), and its report
    rendered with the plug-ins loaded."""
    home = tmp_path_factory.mktemp("with-plugins")
    plugins = []
    for name in ("my_problem.py", "my_optimizer.py"):
        shutil.copy(ROOT / "examples" / name, home / name)
        plugins += ["--plugin", str(home / name)]
    ran = fork_cli("run", *plugins, "-p", "tilted-bowl", "-p", "quadratic-1d",
                  "-o", "clipped-gd[lr=0.9/L,max_step=0.5]", "-o", "gd[lr=0.5/L]",
                  "--seeds", "2", "--budget", "40", "--no-report", "--out", str(home / "res"))
    assert ran.returncode == 0, ran.stderr
    db = home / "res" / "results.sqlite"
    shown = fork_cli("report", "--db", str(db), *plugins, "--html", str(home / "with.html"))
    assert shown.returncode == 0, shown.stderr
    return db, home / "with.html"


def test_a_plugin_store_renders_the_same_text_without_its_plugins(plugin_store, tmp_path):
    db, with_plugins = plugin_store
    moved = tmp_path / "elsewhere" / "results.sqlite"  # another folder, no plug-in beside it
    moved.parent.mkdir()
    shutil.copy(db, moved)
    out = fork_cli("report", "--db", str(moved), "--html", str(tmp_path / "without.html"),
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    before, after = visible_text(with_plugins), visible_text(tmp_path / "without.html")
    assert after == before
    text = "\n".join(after)
    # the stored labels and descriptions, not the registry's defaults or "not loaded"
    assert "tilted-bowl" in after and "tilted-bowl[a=4" not in text
    assert "Gradient descent whose step length never exceeds max_step." in text
    assert registry.get("optimizer", "gd").description.split(";")[0] in text
    assert "not loaded" not in text


def test_the_stored_record_is_what_the_registry_said_when_the_runs_were_stored(plugin_store):
    db, _ = plugin_store
    with Store(db) as store:
        components = store.components()
        problems = store.problem_info()
    gd = registry.get("optimizer", "gd")
    assert components["optimizer", "gd"] == {
        "description": gd.description,
        "origin": "builtin",
        "needs": sorted(gd.meta["needs"]),
        "batchable": True,
        "theory": gd.meta.get("theory"),
    }
    clipped = components["optimizer", "clipped-gd"]
    source = (ROOT / "examples" / "my_optimizer.py").read_text()
    assert clipped["description"] and clipped["description"].split(".")[0] in source
    assert clipped["origin"].endswith("my_optimizer.py") and clipped["needs"] == ["gradient"]
    assert ("schedule", "constant") in components  # the schedules the runs used, too
    labels = {info["name"]: info["label"] for info in problems.values()}
    assert labels == {"tilted-bowl": "tilted-bowl", "quadratic-1d": "quadratic-1d"}


def test_a_store_from_before_labels_were_recorded_still_reads_them():
    """A schema-1 store has no recorded labels or components: its problem labels are worked
    out from the registry (the one place a reader still asks it) and Setup says the
    optimizers were not recorded."""
    with Store(V1) as store:
        assert store.components() == {}
        assert all("label" not in info for info in store.problem_info().values())
    runs = optbench.load(V1)
    assert runs["problem_label"].notna().all()
    from optbench.plan import problem_label

    from optbench.report.context import read_context

    first = runs.iloc[0]
    ctx = read_context([V1], problems=[first["problem_label"]])  # a filter on the filled labels
    assert set(ctx.runs["problem_label"]) == {first["problem_label"]}
    assert first["problem_label"] == problem_label(
        first["problem"], {k[3:]: first[k] for k in runs.columns
                           if k.startswith("pp.") and first[k] == first[k]}
    )


def test_the_summary_is_a_typed_record_stored_as_before(tmp_path):
    res = optbench.run(problems="quadratic-1d", optimizers="gd[lr=0.5/L]", seeds=1,
                       budget=30, out=tmp_path, report=False)
    with closing(sqlite3.connect(res.db)) as conn:
        (text,) = conn.execute("SELECT summary FROM runs").fetchone()
    stored = json.loads(text)
    assert set(stored) == {"n_iter", "n_f", "n_g", "f_final", "f_best", "x_final",
                           "batch_size"}
    with Store(res.db) as store:
        (row,) = store.runs()
    summary = row["summary"]
    assert isinstance(summary, Summary) and summary.as_dict() == stored
    assert summary.evals == stored["n_f"] + stored["n_g"]
    assert Summary.from_dict({}).as_dict() == {}  # a skipped run has none
    assert Summary.from_dict({"n_iter": 1, "later": 2}).n_iter == 1  # unknown keys: ignored


def test_the_store_writes_records_and_refuses_specs(tmp_path):
    """The store takes resolved records; the planner's RunSpec is not one."""
    from optbench.plan import make_plan, run_records
    from optbench.runner import run_batch

    plan = make_plan(["quadratic-1d"], ["gd[lr=0.1]"], seeds=1, budget=10)
    (batch,) = plan.batches
    results = run_batch(batch)
    rows = list(zip(batch.runs, results, strict=True))
    with Store(tmp_path / "s.sqlite", create=True) as store:
        with pytest.raises(AttributeError):
            store.write(rows)
        (record, _), = run_records(rows)
        assert isinstance(record, RunRecord) and record.label == "gd[lr=0.1]"
        assert record.optimizer_params["lr"] == 0.1 and store.write(run_records(rows)) == 1


def test_the_store_package_imports_nothing_of_plan_spec_or_registry():
    forbidden = {"plan", "spec", "registry"}
    found = []
    for path in sorted((ROOT / "optbench" / "store").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [module.split(".")[-1]] if module else []
                if node.level >= 2 and not module:  # from .. import plan
                    names = [a.name for a in node.names]
                if module == "optbench" or (node.level >= 2 and module == ""):
                    names += [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[-1] for a in node.names
                         if a.name.startswith("optbench.")]
            found += [f"{path.name}: {n}" for n in names if n in forbidden]
    assert found == []
