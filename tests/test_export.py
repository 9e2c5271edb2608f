"""Export: tidy CSV and Parquet equal the store; COCO's format read by cocopp gives the same
aRT as a hand computation from the stored traces."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import warnings

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.coco import SUITE, postprocess, register_testbed
from optbench.errors import UsageError
from optbench.export import PARQUET_HINT, export

from .conftest import fork_cli

STORE_SPEC = dict(
    problems=["quadratic-1d", "linear-regression"],
    optimizers=["gd[lr=[0.5/L,2.5/L]]", "random-search", "scipy-bfgs"],
    seeds=3,
    budget=40,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "out"
    res = optbench.run(**STORE_SPEC, out=out, report=False)
    return res.db


@pytest.fixture(scope="module")
def direct():
    """The store's runs run again in this process by the runner: each run's trace as the
    runner recorded it, before the store wrote it (40 evaluations: nothing is thinned)."""
    from optbench.plan import make_plan
    from optbench.runner import run_batch

    spec = dict(STORE_SPEC)
    plan = make_plan(spec.pop("problems"), spec.pop("optimizers"), **spec)
    return {r.run_id: r.trace for b in plan.batches for r in run_batch(b)}


def _read_csv(path):
    """The CSV read back exactly: pandas 3 parses round-trip by default, pandas 2 only when
    asked (its default parser can land an ulp away from the digits written)."""
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, **exact)


def test_csv_runs_and_long_traces_equal_the_store(store, tmp_path):
    paths = export(store, "csv", tmp_path)
    assert [p.name for p in paths] == ["runs.csv", "traces.csv"]
    runs = _read_csv(paths[0])
    stored = optbench.load(store)
    assert list(runs.run_id) == list(stored.run_id)
    np.testing.assert_array_equal(runs.seed, stored.seed)
    assert list(runs.status) == list(stored.status)
    np.testing.assert_allclose(runs.f_best.astype(float), stored.f_best.astype(float), rtol=1e-15)
    traces = _read_csv(paths[1])
    for rid in stored.run_id[::5]:
        tr = optbench.load_trace(store, rid)
        rows = traces[traces.run_id == rid]
        assert len(rows) == len(tr["f"])
        np.testing.assert_allclose(rows.f, tr["f"], rtol=1e-15)
        np.testing.assert_array_equal(rows.evals, tr["n_f"] + tr["n_g"])
        np.testing.assert_allclose(rows.x0, tr["x"][:, 0], rtol=1e-15)
    quad = stored[stored.problem == "quadratic-1d"].run_id.iloc[0]
    rows = traces[traces.run_id == quad]
    np.testing.assert_allclose(rows.gap, rows.f - 0.0)  # f* = 0 for quadratic-1d


def _trace_rows(trace: dict) -> pd.DataFrame:
    """The columns of a trace frame, written out from a runner's trace arrays."""
    n = len(trace["f"])
    cols = {"t": np.arange(n), "n_f": trace["n_f"], "n_g": trace["n_g"],
            "evals": trace["n_f"] + trace["n_g"], "f": trace["f"], "gnorm": trace["gnorm"],
            # lr: the rate of the update leaving iterate t, none after the last iterate
            "lr": np.append(trace["lr"], np.nan)}
    cols.update({f"x{j}": trace["x"][:, j] for j in range(trace["x"].shape[1])})
    return pd.DataFrame(cols)


def test_load_trace_as_a_frame_is_the_exported_rows(store, direct, tmp_path):
    export(store, "csv", tmp_path)
    traces = _read_csv(tmp_path / "traces.csv")
    stored = optbench.load(store)
    assert set(stored.run_id) == set(direct)
    for rid in stored.run_id[::2]:
        arrays = optbench.load_trace(store, rid)
        frame = optbench.load_trace(store, rid, frame=True)
        n = len(arrays["f"])
        assert len(frame) == n and frame.t.tolist() == list(range(n))
        assert list(frame.columns) == ["t", "n_f", "n_g", "evals", "f", "gnorm", "lr", "time",
                                       *[f"x{j}" for j in range(arrays["x"].shape[1])]]
        np.testing.assert_array_equal(frame.time, arrays["time"])
        # the frame and the exported rows against the runner's own trace of the run: every
        # column but the wall time (measured anew in each run)
        want = _trace_rows(direct[rid])
        pd.testing.assert_frame_equal(frame.drop(columns="time"), want, check_dtype=False,
                                      check_exact=True)
        rows = traces[traces.run_id == rid].reset_index(drop=True)
        assert set(rows.columns) - set(frame.columns) <= {"run_id", "gap", "x1"}  # x1: 2-D runs
        rows = rows[list(want.columns)]
        pd.testing.assert_frame_equal(rows, want, check_dtype=False, check_exact=True)


def test_parquet_round_trip(store, tmp_path):
    pytest.importorskip("pyarrow")
    paths = export(store, "parquet", tmp_path)
    runs = pd.read_parquet(paths[0])
    traces = pd.read_parquet(paths[1])
    assert list(runs.run_id) == list(optbench.load(store).run_id)
    assert set(traces.run_id) <= set(runs.run_id) and len(traces) > len(runs)


def test_parquet_without_pyarrow_is_a_clear_usage_error(store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    with pytest.raises(UsageError) as info:
        export(store, "parquet", tmp_path)
    assert (
        str(info.value)
        == PARQUET_HINT
        == "parquet export needs pyarrow: pip install 'optbench[parquet]'"
    )


def test_cli_export_lists_the_files(store, tmp_path):
    res = fork_cli("export", "--format", "csv", "--db", str(store), "--dest", str(tmp_path / "e"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [
        str(tmp_path / "e" / "runs.csv"),
        str(tmp_path / "e" / "traces.csv"),
    ]
    bad = fork_cli("export", "--format", "csv", "--db", str(tmp_path / "missing.sqlite"))
    assert bad.returncode == 2 and "no results store" in bad.stderr


def _hand_art(store, label: str, problem: str, targets: list[float], counter: str) -> list[float]:
    """COCO's aRT from the stored traces, written out, at each target: Σ runtimes
    (unsuccessful runs: their evaluations) over the successes; the first evaluation is
    number 1, so every run that started counts at least 1 (random search spends no gradient:
    1 on the n_g axis)."""
    runs = optbench.load(store)
    sub = runs[(runs.label == label) & (runs.problem == problem)]
    f_star = 0.0 if problem == "quadratic-1d" else None
    if f_star is None:
        from optbench.plan import build_problem, resolve_problem
        from optbench.spec import parse

        f_star = build_problem(resolve_problem(parse(problem))).f_star
    arts = []
    for target in targets:
        total, hits = 0.0, 0
        for _, r in sub.iterrows():
            tr = optbench.load_trace(store, r.run_id)
            cost = {"evals": tr["n_f"] + tr["n_g"], "n_f": tr["n_f"], "n_g": tr["n_g"]}[counter]
            best = np.minimum.accumulate(np.maximum(tr["f"] - f_star, 0))
            ok = np.flatnonzero(best <= target)
            if ok.size:
                total += max(int(cost[ok[0]]), 1)
                hits += 1
            else:
                total += max(int(cost[-1]),
                             int(r.n_f + r.n_g if counter == "evals" else r[counter]), 1)
        arts.append(total / hits if hits else np.inf)
    return arts


@pytest.fixture(scope="module")
def cocopp(tmp_path_factory):
    """cocopp, imported offline: it fetches a list of data archives at import time."""
    pytest.importorskip("cocopp", reason="cocopp is not installed (pip install cocopp six)")
    if "cocopp" not in sys.modules:
        mp = pytest.MonkeyPatch()
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cococache")))

        def offline(*args, **kwargs):
            raise OSError("optbench tests run offline")

        mp.setattr(urllib.request, "urlretrieve", offline)
        mp.setattr(urllib.request, "urlopen", offline)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import cocopp  # noqa: F401
        finally:
            mp.undo()
    import cocopp

    # its figures as SVG alone (its pages show SVG; it also writes each as PDF, for LaTeX):
    # a third less of its time, which is drawing figures
    formats = cocopp.genericsettings.figure_file_formats
    cocopp.genericsettings.figure_file_formats = ["svg"]
    yield cocopp
    cocopp.genericsettings.figure_file_formats = formats


@pytest.mark.parametrize("counter", ["evals", "n_g"])
def test_coco_export_read_by_cocopp_gives_the_same_art(store, tmp_path, cocopp, counter):
    from cocopp import pproc

    export(store, "coco", tmp_path, cost=counter)
    mapping = json.loads((tmp_path / "coco-map.json").read_text())
    assert mapping["evaluations_are"] == {"evals": "n_f + n_g", "n_g": "n_g"}[counter]
    assert "n_f + n_g" in (tmp_path / "README.txt").read_text() or counter != "evals"
    names = {v["name"]: int(k) for k, v in mapping["functions"].items()}
    register_testbed(tmp_path)
    checked = 0
    for folder, label in mapping["algorithms"].items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cocopp warns about fewer than 15 instances
            dsl = pproc.DataSetList(os.path.join(tmp_path, folder))
            for problem in ("quadratic-1d", "linear-regression"):
                ds = [d for d in dsl if d.funcId == names[problem]]
                assert len(ds) == 1
                targets = [1e-1, 1e-3, 1e-6]
                theirs = ds[0].detERT(targets)
                ours = _hand_art(store, label, problem, targets, counter)
                np.testing.assert_allclose(theirs, ours, rtol=1e-12)
                checked += 1
    assert checked == 8


# the two optimizer folders of the default suite's export: the pair a COCO user would compare
PAIR = ["gd_lr=0.5_L", "scipy-bfgs"]


@pytest.fixture(scope="module")
def default_suite_export(tmp_path_factory):
    """A small suite in the default suite's image (a 1-D and a 2-D problem, two of its
    optimizers, three seeds), exported in COCO's format: cocopp's time grows with both."""
    from optbench.suite import DEFAULT_SUITE

    base = tmp_path_factory.mktemp("coco-default")
    res = optbench.run(
        problems=["quadratic-1d", "rosenbrock"],
        optimizers=["gd[lr=0.5/L]", "scipy-bfgs"],
        seeds=3,
        budget=DEFAULT_SUITE["budget"],
        out=base / "out",
        report=False,
    )
    export(res.db, "coco", base / "coco")
    return base / "coco"


# cocopp's single-algorithm ECDF caption has an aside on BBOB-2009's hardest targets only
# for BBOB's suites, and says so for any other
NO_BBOB_ASIDE = "Current testbed not supported for this caption text."


def _postprocessed(export_dir, out, algorithms=None):
    """Run the post-processing; the warnings cocopp gave (in its log), but NO_BBOB_ASIDE."""
    from optbench.coco import LOG_NAME, WARNING_PREFIX

    postprocess(export_dir, out, algorithms)
    lines = (out / LOG_NAME).read_text().splitlines()
    return [w for w in lines if w.startswith(WARNING_PREFIX) and not w.endswith(NO_BBOB_ASIDE)]


@pytest.fixture(scope="module")
def default_suite_postprocessed(default_suite_export, tmp_path_factory, cocopp):
    """The default suite's export post-processed whole, once: its two algorithms, so that
    cocopp draws both its comparison of many algorithms and its pairwise one (its costliest
    part); the warnings it gave."""
    out = tmp_path_factory.mktemp("coco-pp") / "pp"
    return out, _postprocessed(default_suite_export, out)


@pytest.mark.slow
def test_cocopp_post_processes_the_default_suite_whole(default_suite_export,
                                                       default_suite_postprocessed):
    mapping = json.loads((default_suite_export / "coco-map.json").read_text())
    assert sorted(mapping["algorithms"]) == sorted(PAIR)  # whole: every algorithm folder
    header = next(default_suite_export.glob("*/bbobexp_f1.info")).read_text().splitlines()[0]
    assert f"suite = '{SUITE}'" in header and "suite = 'bbob'" not in header
    pp, caught = default_suite_postprocessed
    assert caught == []  # consistent data sets: the export's instances are the testbed's
    assert (pp / "index.html").is_file()
    (folder,) = [p for p in pp.iterdir() if p.is_dir()]
    dims = sorted({v["dim"] for v in mapping["functions"].values()})
    assert dims == [1, 2]
    for d in dims:  # runtime ECDFs over all functions, per dimension
        assert (folder / f"pprldmany_{d:02d}D_noiselessall.svg").is_file()
    for f in mapping["functions"]:  # the ERT-per-function figures and tables
        assert (folder / f"ppfigs_f{int(f):03d}.svg").is_file()
    pages = " ".join(p.read_text() for p in folder.glob("*.html"))
    assert "pptables" in " ".join(p.name for p in folder.iterdir())
    assert "BBOB 2009" not in pages and "BBOB-2009" not in pages  # no borrowed reference


@pytest.mark.slow
def test_cocopp_compares_two_algorithms(default_suite_export, default_suite_postprocessed):
    # the export's two folders, compared pairwise over both dimensions without a warning
    # (algorithms chosen by name: test_cocopp_reads_a_one_dimensional_export_...)
    pp, caught = default_suite_postprocessed
    assert caught == []
    (folder,) = [p for p in pp.iterdir() if p.is_dir()]
    mapping = json.loads((default_suite_export / "coco-map.json").read_text())
    for f in mapping["functions"]:  # the pairwise scatter plots, one per function
        assert (folder / f"ppscatter_f{int(f):03d}.svg").is_file()


@pytest.mark.slow
def test_cocopp_reads_a_one_dimensional_export_offline_quietly_with_whole_distinct_names(
        tmp_path, cocopp, capfd, monkeypatch):
    """cocopp's table captions name two dimensions: an export of 1-D problems alone has one.
    Two algorithms whose names share their first 14 characters (where cocopp cut legends)
    keep them whole and apart; nothing reaches for the network and nothing is printed."""
    import socket

    from optbench.coco import LOG_NAME

    tried = []

    def no_network(*args, **kwargs):
        tried.append(args)
        raise OSError("the test allows no network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    labels = ["gd[lr=0.5/L]", "gd[lr=0.5/L,schedule=cosine(T=40)]"]
    folders = ["gd_lr=0.5_L", "gd_lr=0.5_L_schedule=cosine_T=40"]
    res = optbench.run(problems="quadratic-1d", optimizers=labels, seeds=3, budget=100,
                       out=tmp_path / "out", report=False)
    export(res.db, "coco", tmp_path / "coco")
    capfd.readouterr()
    assert _postprocessed(tmp_path / "coco", tmp_path / "two", folders) == []
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""  # cocopp's output is in its log
    assert tried == []  # nothing reached for the network
    assert (tmp_path / "two" / "index.html").is_file()
    assert (tmp_path / "two" / LOG_NAME).stat().st_size > 0
    assert list((tmp_path / "two").glob("*/ppscatter_f001.svg"))
    # the ERT figure's legend names both algorithms whole
    (fig,) = (tmp_path / "two").rglob("ppfigs_f001.svg")
    for folder in folders:
        assert f"<!-- {folder.replace('_', ' ')} -->" in fig.read_text()
    assert _postprocessed(tmp_path / "coco", tmp_path / "one", folders[:1]) == []
    assert list((tmp_path / "one").glob("*/pprldistr_01D_noiselessall.svg"))


def test_postprocess_names_a_missing_algorithm(default_suite_export, tmp_path):
    with pytest.raises(UsageError, match="no algorithm folder 'nope'"):
        postprocess(default_suite_export, tmp_path / "pp", ["nope"])


def test_cli_postprocess_needs_the_coco_format(store, tmp_path):
    res = fork_cli("export", "--db", str(store), "--format", "csv", "--postprocess")
    assert res.returncode == 2 and "--postprocess goes with --format coco" in res.stderr
