"""Comparing stores end to end through the CLI: each --db is a source, runs pair on
(problem, optimizer, seed) and are never pooled, a regression fails the gate.

Two plug-ins register the same optimizer name ``toy-gd`` with different step sizes: the
"new" one takes a step 20 times shorter on the 1-D quadratic, so by the closed form of GD
(the gap shrinks by (1 − lr·L)² per step) it needs far more steps for the same target and
the comparison must call it worse. ``gd[lr=0.5/L]`` runs in both stores with the same
seeds: identical runs, no detectable change.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

PLUGIN = '''
from optbench import Optimizer, register_optimizer

@register_optimizer("toy-gd", needs=("gradient",), batchable=True)
def toy_gd():
    """Gradient descent with a step fixed by the plug-in file."""
    def step(x, state, oracle, t):
        return x - {lr} * oracle.grad(x), {{"lr": {lr}}}
    return Optimizer(step=step)
'''

SEEDS = 10


@pytest.fixture(scope="module")
def stores(tmp_path_factory, forked_cli):
    """The three stores, and ``report ARGS`` by the forked CLI (what the command answers)."""
    tmp = tmp_path_factory.mktemp("compare")
    made = {}
    for name, lr, budget in (("base", 0.25, 120), ("new", 0.0125, 120), ("longer", 0.25, 240)):
        plugin = tmp / f"toy_{name}.py"
        plugin.write_text(PLUGIN.format(lr=lr))
        res = forked_cli("run", "-p", "quadratic-1d", "-o", "toy-gd", "-o", "gd[lr=0.5/L]",
                      *(["-o", "adam[lr=0.05]"] if name == "base" else []),
                      "--plugin", str(plugin), "--seeds", str(SEEDS), "--budget", str(budget),
                      "--out", str(tmp / name), "--no-report", "--quiet", cwd=tmp)
        assert res.returncode == 0, res.stderr
        made[name] = tmp / name / "results.sqlite"
    return tmp, made, lambda *args: forked_cli("report", *args, cwd=tmp)


@pytest.fixture(scope="module")
def gate(stores):
    """The base store against the new one, gated on ``--fail-on worse``: the page and the
    command's result, drawn once for the tests that read either."""
    tmp, db, report = stores
    html = tmp / "cmp.html"
    res = report("--db", str(db["base"]), "--db", str(db["new"]), "--html", str(html),
                 "--fail-on", "worse")
    return res, html.read_text(encoding="utf-8")


def test_same_label_in_two_sources_is_two_entries_never_pooled(stores, gate):
    _, db, _ = stores
    res, page = gate
    assert res.returncode == 4, res.stderr  # the page is written, then the gate fails
    # the comparison opens the page
    first = re.search(r"<section id=\"([^\"]+)\"", page).group(1)
    assert first == "comparison"
    assert "gd[lr=0.5/L] · base" in page and "gd[lr=0.5/L] · new" in page
    # no entry pools the two stores' runs: every run-count in the run-status CSV is SEEDS
    from optbench.report.context import read_context

    ctx = read_context([db["base"], db["new"]])
    per_entry = ctx.runs.groupby(["problem_key", "label"]).size()
    assert set(per_entry) == {SEEDS}
    assert len(per_entry) == 5  # toy, gd in both, adam in base only


def test_verdicts_pair_on_seed_and_are_written_as_json_and_csv(stores):
    tmp, db, report = stores
    html = tmp / "v.html"
    res = report("--db", f"old={db['base']}", "--db", f"cand={db['new']}",
                  "--html", str(html))
    assert res.returncode == 0, res.stderr  # no --fail-on: a regression is reported, not fatal
    assert "got worse" in res.stderr
    data = json.loads((tmp / "v.comparison.json").read_text())
    assert data["baseline"] == "old" and data["sources"] == ["old", "cand"]
    by_label = {v["label"]: v for v in data["verdicts"]}
    toy = by_label["toy-gd"]
    assert toy["verdict"] == "worse" and toy["n"] == SEEDS
    # GD on f = (L/2)x² with step lr: the gap shrinks by (1 − lr·L)² per step, so from the
    # same start the number of steps to a target scales as 1/|log(1 − lr·L)|; the slower
    # variant must need several times more evaluations (or never get there)
    assert float(toy["aRT_new"]) > 4 * float(toy["aRT_base"])  # JSON writes ∞ as "inf"
    same = by_label["gd[lr=0.5/L]"]
    assert same["verdict"] == "no detectable change" and same["n"] == SEEDS
    assert same["aRT_ratio"] == 1.0
    only = data["only_in_one_source"]
    assert [(o["label"], o["source"], o["missing_in"]) for o in only] == [
        ("adam[lr=0.05]", "old", "cand")]
    assert only[0]["seeds"] == list(range(SEEDS))
    csv = pd.read_csv(tmp / "v.comparison.csv")
    assert set(csv["verdict"]) == {"worse", "no detectable change", "only in one source"}
    assert csv.loc[csv.label == "toy-gd", "verdict"].item() == "worse"


def test_fail_on_worse_exits_4_and_baseline_picks_the_reference(stores, gate):
    tmp, db, report = stores
    res, _ = gate
    assert res.returncode == 4, (res.returncode, res.stderr)
    # with the new store as baseline the old one is better, nothing got worse
    args = ["--db", str(db["base"]), "--db", str(db["new"]), "--html", str(tmp / "g.html")]
    res = report(*args, "--fail-on", "worse", "--baseline", "new")
    assert res.returncode == 0, res.stderr
    data = json.loads((tmp / "g.comparison.json").read_text())
    assert {v["label"]: v["verdict"] for v in data["verdicts"]}["toy-gd"] == "better"


def test_different_budgets_are_not_comparable(stores):
    tmp, db, report = stores
    # with a source that pairs beside it; alone it compares nothing and is refused
    # (test_compare_refusals.py)
    res = report("--db", str(db["base"]), "--db", str(db["new"]), "--db", str(db["longer"]),
                  "--html", str(tmp / "nc.html"))
    assert res.returncode == 0, res.stderr
    assert "warning: longer compared with nothing" in res.stderr
    data = json.loads((tmp / "nc.comparison.json").read_text())
    longer = [v for v in data["verdicts"] if v["source"] == "longer"]
    assert {v["verdict"] for v in longer} == {"not comparable"}
    assert all("budget 120 vs 240" in n["differs"] for n in data["not_comparable"])
    assert "not comparable" in (tmp / "nc.html").read_text(encoding="utf-8")


def test_source_names_and_bad_input(stores, tmp_path):
    from optbench.report.context import source_names

    tmp, db, report = stores
    assert source_names([db["base"], db["new"]]) == ["base", "new"]
    a, b = tmp_path / "x" / "one.sqlite", tmp_path / "x" / "two.sqlite"
    assert source_names([a, b]) == ["one", "two"]  # same folder: the file stems
    assert source_names([a, b], ["ref", None]) == ["ref", "two"]
    res = report("--db", str(db["base"]), "--db", str(db["new"]), "--baseline", "nope",
                  "--html", str(tmp / "bad.html"))
    assert res.returncode == 2
    assert "unknown baseline 'nope'" in res.stderr and "Traceback" not in res.stderr
    res = report("--db", f"same={db['base']}", "--db", f"same={db['new']}",
                  "--html", str(tmp / "bad.html"))
    assert res.returncode == 2 and "named 'same'" in res.stderr
