"""The built-in reference results (``--db reference:NAME``, ``optbench list baselines``).

Truth: the planner (a reference holds exactly the runs its spec plans: the default suite's,
or torch.optim's defaults on the default and ML problems) and a fresh ``optbench run``,
whose every pairing with ``reference:default`` must show no change at all. When this fails
after a change to the default suite or to RESULTS_VERSION, regenerate the references:
``python scripts/make_references.py`` (docs/store.md#reference-results).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, fork_cli

NO_CHANGE = {"no detectable change", "both diverged"}  # diverged in both: nothing changed


def _script():
    spec = importlib.util.spec_from_file_location("make_references",
                                                  ROOT / "scripts" / "make_references.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """``optbench run`` with no arguments: the default suite, as a user runs it."""
    tmp = tmp_path_factory.mktemp("fresh")
    res = fork_cli("run", "--out", "new", "--no-report", "--quiet", cwd=tmp)
    assert res.returncode == 0, res.stderr
    return tmp, tmp / "new" / "results.sqlite"


def test_the_references_are_listed_current_and_small():
    from optbench.bundle import REFERENCES
    from optbench.store import RESULTS_VERSION

    res = fork_cli("list", "baselines", "--json")
    assert res.returncode == 0, res.stderr
    listed = {r["name"]: r for r in json.loads(res.stdout)}
    assert {"reference:default", "reference:torch-defaults"} <= set(listed)
    for r in listed.values():
        assert r["results_version"] == RESULTS_VERSION and r["current"], r
        assert r["description"] and r["holds"]["runs"] > 0
    assert listed["reference:default"]["holds"]["seeds"] == list(range(10))
    text = fork_cli("list", "baselines").stdout
    assert "reference:torch-defaults" in text and "1230 runs" in text
    assert "(and 53 pairings only in sweeps)" in text
    assert sum(p.stat().st_size for p in REFERENCES.glob("*.zip")) <= 5_000_000


def test_each_reference_holds_exactly_the_runs_its_spec_plans():
    import optbench
    from optbench.plan import make_plan
    from optbench.suite import DEFAULT_SUITE

    suite = DEFAULT_SUITE
    plan = make_plan(suite["problems"], suite["optimizers"], seeds=suite["seeds"],
                     budget=suite["budget"], sweeps=suite["sweeps"])
    ref = optbench.load("reference:default")
    assert sorted(ref.run_id) == sorted(r.run_id for r in plan.runs)
    assert set(ref.status) <= {"converged", "budget", "diverged", "stalled", "cycle",
                               "max-iter", "non-finite"}
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    planned = set()
    for spec in _script()._torch_defaults():
        planned |= {r.run_id for r in make_plan(spec["problems"], spec["optimizers"],
                                                seeds=spec["seeds"], budget=spec["budget"]).runs}
    torch_ref = optbench.load("reference:torch-defaults")
    assert set(torch_ref.run_id) == planned
    assert set(torch_ref.label) == {"torch[cls=torch.optim.SGD]",
                                    "torch[cls=torch.optim.SGD,momentum=0.9]",
                                    "torch[cls=torch.optim.Adam]",
                                    "torch[cls=torch.optim.AdamW]"}
    assert not {"error", "timeout"} & set(torch_ref.status)


def test_a_fresh_run_shows_no_change_against_reference_default(fresh):
    """Every pairing of the default suite: the same success, aRT and final gap, so every
    verdict is no change, and no run is left unpaired."""
    from optbench.bundle import reference_path
    from optbench.report.context import read_context
    from optbench.suite import DEFAULT_SUITE

    _, db = fresh
    ctx = read_context([db, reference_path("default")], names=["new", "reference:default"],
                       baseline="reference:default")
    cmp = ctx.comparison
    assert cmp is not None and cmp.baseline == "reference:default"
    verdicts = cmp.verdicts
    assert len(cmp.not_comparable) == 0 and len(cmp.only_in_one) == 0
    assert set(verdicts["verdict"]) <= NO_CHANGE, verdicts[["label", "verdict"]]
    new = ctx.runs[ctx.runs.source == "new"]
    pairings = new[["problem_label", "spec_label"]].drop_duplicates()
    # the main product's 7 x 10 and the 53 pairings only its sweeps ran
    assert len(verdicts) == len(pairings) == len(DEFAULT_SUITE["problems"]) * 10 + 53
    for col in ("success", "aRT", "gap"):
        assert verdicts[f"{col}_base"].equals(verdicts[f"{col}_new"]), col


def test_the_reference_keeps_the_first_and_last_iterates_exactly(fresh):
    import optbench

    _, db = fresh
    ref = optbench.load("reference:default")
    for rid in ref.run_id[::97]:
        thin, full = optbench.load_trace("reference:default", rid), optbench.load_trace(db, rid)
        t = thin["t"]
        assert len(t) <= 50 and t[0] == 0 and t[-1] == len(full["f"]) - 1
        for k in ("f", "gnorm", "n_f", "n_g"):
            np.testing.assert_array_equal(thin[k], full[k][t])
        np.testing.assert_array_equal(thin["lr"], full["lr"][t[t < len(full["lr"])]])


def test_the_comparison_gate_against_reference_default_passes(fresh):
    """The command line, as a user gates a change (one problem: the full page takes half a
    minute; every pairing is checked above, through the verdicts this report writes)."""
    tmp, db = fresh
    html = tmp / "gate" / "cmp.html"
    res = fork_cli("report", "--db", f"new={db}", "--db", "reference:default", "--baseline",
                  "reference:default", "--fail-on", "worse", "-p", "quadratic-1d", "--html",
                  str(html), cwd=tmp)
    assert res.returncode == 0, res.stderr
    result = json.loads(html.with_name("cmp.comparison.json").read_text(encoding="utf-8"))
    assert result["baseline"] == "reference:default"
    assert result["verdicts"] and {v["verdict"] for v in result["verdicts"]} <= NO_CHANGE
    assert result["not_comparable"] == [] and result["only_in_one_source"] == []
    # the quadratic's 10 main labels, 8 more rates and 34 more heavy-ball settings of sweeps
    assert len(result["verdicts"]) == 10 + 8 + 34


def _doctored(tmp_path: Path, version: int) -> Path:
    from optbench.bundle import reference_path

    folder = tmp_path / "refs"
    folder.mkdir()
    dest = folder / "default.zip"
    with zipfile.ZipFile(reference_path("default")) as src, zipfile.ZipFile(dest, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                manifest = json.loads(data)
                manifest["results_version"] = version
                data = json.dumps(manifest).encode()
            out.writestr(name, data)
    return dest


def test_a_reference_of_another_results_version_is_refused(tmp_path, monkeypatch):
    import optbench
    from optbench import bundle
    from optbench.errors import StoreError
    from optbench.store import RESULTS_VERSION

    doctored = _doctored(tmp_path, RESULTS_VERSION - 1)
    res = fork_cli("report", "--db", str(doctored), "--html", str(tmp_path / "r.html"))
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"optbench: error: reference 'default' holds results version {RESULTS_VERSION - 1}, "
        f"this optbench computes results version {RESULTS_VERSION}: its numbers would differ "
        "from a fresh run's; regenerate it with 'python scripts/make_references.py' "
        "(docs/store.md#reference-results)")
    monkeypatch.setattr(bundle, "REFERENCES", doctored.parent)
    with pytest.raises(StoreError, match=f"holds results version {RESULTS_VERSION - 1}"):
        optbench.load("reference:default")


def test_a_reference_is_read_in_place_and_an_unknown_one_named(tmp_path):
    from optbench.bundle import REFERENCES

    before = {p.name: p.read_bytes() for p in REFERENCES.iterdir()}
    res = fork_cli("report", "--db", "reference:torch-defaults", "-p", "quadratic-1d", "-o",
                  "torch[cls=torch.optim.Adam]", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "optbench-results" / "report.html").is_file()  # not beside it
    assert {p.name: p.read_bytes() for p in REFERENCES.iterdir()} == before
    res = fork_cli("report", "--db", "reference:defualt", "--db", "reference:default")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "no built-in reference 'defualt'; did you mean reference:default?" in res.stderr
    shutil.rmtree(tmp_path / "optbench-results")
