"""The store's columnar format: traces and metrics written a block per batch read back
as written; a store written before the format changed (schema version 1, one archive per
run) still opens, read through its old tables and migrated in place; results versions."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import optbench
from optbench import store as store_mod
from optbench.plan import run_records
from optbench.store import codecs
from optbench.store import Store, pack_metrics, pack_traces

V1 = Path(__file__).parent / "data" / "store_v1.sqlite"


def _v1_raw(db: Path) -> tuple[dict, dict]:
    """The version-1 rows read by hand, as the format was: JSON metrics in ``runs`` and one
    ``numpy.savez`` archive per run in ``traces`` (not through optbench's reader)."""
    with closing(sqlite3.connect(db)) as conn:
        metrics = {r: json.loads(m) for r, m in conn.execute("SELECT run_id, metrics FROM runs")}
        traces = {}
        for rid, data in conn.execute("SELECT run_id, data FROM traces"):
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                traces[rid] = {k: z[k] for k in z.files}
    return metrics, traces


def _same_trace(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k], equal_nan=True), k


def _check_reads_v1(db: Path) -> None:
    metrics, traces = _v1_raw(V1)
    with Store(db) as s:
        rows = [r for r in s.runs() if r["run_id"] in metrics]
        assert len(rows) == len(metrics)
        for r in rows:
            assert r["metrics"] == metrics[r["run_id"]]
            assert r["results_version"] == 1
        got = dict(s.traces(list(metrics)))
    assert {r for r, t in got.items() if t is not None} == set(traces)
    for rid, tr in traces.items():
        _same_trace(got[rid], tr)
    assert any("test_f" in t for t in traces.values())  # the fixture has a held-out loss
    assert any(len(t["f"]) < t["t"][-1] for t in traces.values())  # and a thinned trace


def test_a_version_1_store_reads_back_as_written():
    _check_reads_v1(V1)


def test_a_version_1_store_is_migrated_in_place_and_keeps_its_runs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    db = out / "results.sqlite"
    shutil.copy(V1, db)
    frame_before = optbench.load(db)
    from tests.test_resume_executed import Progress

    spec = dict(problems=["quadratic-1d"], optimizers=["gd[lr=[0.001,0.3,0.05]]"], seeds=1,
                budget=700, out=out, report=False)
    progress = Progress()
    res = optbench.run(**spec, progress=progress)
    assert res.added == 1  # lr=0.05 is new; the other two runs were stored already
    assert progress.executed == 3  # their batch (one lr sweep) has a missing run: run whole
    again = Progress()
    assert optbench.run(**spec, progress=again).added == 0
    assert again.executed == 0  # the migrated store resumes: nothing is run again
    with closing(sqlite3.connect(db)) as conn:
        (version,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert version == str(store_mod.SCHEMA_VERSION)
    _check_reads_v1(db)
    after = optbench.load(db).set_index("run_id")
    before = frame_before.set_index("run_id")
    cols = [c for c in before.columns if c != "x_final"]
    assert after.loc[before.index, cols].equals(before[cols])


def test_traces_of_a_block_read_back_run_by_run():
    rng = np.random.default_rng(1)

    def trace(n, test_f=False, thinned=False):
        tr = {
            "x": rng.standard_normal((n, 2)),
            "f": rng.standard_normal(n),
            "n_f": np.arange(n, dtype=np.int64),
            "lr": rng.standard_normal(n - 1),
            "t": np.arange(n, dtype=np.int64) * (3 if thinned else 1),
        }
        if test_f:
            tr["test_f"] = rng.standard_normal(n)
        return tr

    runs = [trace(5), None, trace(1), trace(7, test_f=True, thinned=True), None, trace(3)]
    columns = store_mod.unpack_trace(pack_traces(runs))
    split = store_mod.split_traces(columns)
    for i, tr in enumerate(runs):
        if tr is None:
            assert split(i) is None
        else:
            _same_trace(split(i), tr)


def test_metrics_of_a_block_keep_their_types():
    rows = [
        {"a": 1.5, "n": 3, "s": "fast", "b": True, "inf": float("inf"), "nan": float("nan")},
        {"a": None, "n": None, "s": None, "b": False, "inf": 1.0, "nan": 2.0, "l": [1, 2]},
        {},
        {"a": np.float64(2.0), "n": np.int64(4), "s": "slow", "b": True, "inf": -np.inf},
    ]
    cols = store_mod.unpack_metrics(store_mod.unpack_trace(pack_metrics(rows)))
    for i, row in enumerate(rows):
        got = {k: codecs._plain(v[i], None if m is None else m[i]) for k, (v, m) in cols.items()}
        want = {k: None for k in cols}
        for k, v in row.items():
            v = v.item() if isinstance(v, np.generic) else v
            want[k] = None if isinstance(v, float) and np.isnan(v) else v
        assert got == want
        assert {type(v) for v in got.values()} <= {float, int, str, bool, list, type(None)}
        assert [type(got[k]) for k in row if got[k] is not None] == [
            type(row[k].item() if isinstance(row[k], np.generic) else row[k])
            for k in row
            if got[k] is not None
        ]


def test_a_damaged_metrics_block_names_the_run(tmp_path):
    out = tmp_path / "o"
    optbench.run(problems=["quadratic-1d"], optimizers=["gd"], seeds=2, budget=10, out=out,
                 report=False)
    db = out / "results.sqlite"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE blocks SET metrics=?", (b"\x80\x04junk",))
    with Store(db) as s, pytest.raises(optbench.errors.StoreError) as err:
        s.runs()
    assert "is corrupt" in str(err.value) and "run '" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_rerun_into_another_results_version_says_so_and_recompute_replaces(
    tmp_path, monkeypatch
):
    out = tmp_path / "o"
    spec = dict(problems=["quadratic-1d"], optimizers=["gd[lr=[0.1,0.2]]"], seeds=2, budget=50,
                out=out, report=False)
    from tests.test_resume_executed import Progress

    first = optbench.run(**spec)
    assert first.added == 4 and first.stale == 0
    before = optbench.load(out).set_index("run_id").sort_index()
    newer = store_mod.RESULTS_VERSION + 1
    for module in (store_mod, store_mod.sql):  # what the store writes and what api compares
        monkeypatch.setattr(module, "RESULTS_VERSION", newer)
    progress = Progress()
    again = optbench.run(**spec, progress=progress)
    assert again.added == 0 and again.stale == 4  # kept, and said so
    assert progress.executed == 0  # kept without running them
    assert set(optbench.load(out).results_version) == {store_mod.RESULTS_VERSION - 1}
    progress = Progress()
    redo = optbench.run(**spec, recompute=True, progress=progress)
    assert redo.added == 4 and redo.stale == 0 and progress.executed == 4
    after = optbench.load(out).set_index("run_id").sort_index()
    assert set(after.results_version) == {store_mod.RESULTS_VERSION}
    assert after.f_final.equals(before.f_final)  # the same code: the same numbers
    with closing(sqlite3.connect(out / "results.sqlite")) as conn:
        kept = conn.execute("SELECT run_id, row FROM superseded").fetchall()
    assert sorted(r for r, _ in kept) == sorted(before.index)
    assert {json.loads(row)["results_version"] for _, row in kept} == {
        store_mod.RESULTS_VERSION - 1
    }


def test_the_report_flags_runs_of_different_results_versions():
    import pandas as pd

    from optbench.report import _results_note

    assert _results_note(pd.DataFrame({"results_version": [1, 1]})) == ""
    note = _results_note(pd.DataFrame({"results_version": [1, 2, 2]}))
    assert "results versions 1, 2" in note and "--recompute" in note


def test_the_cli_says_when_it_keeps_runs_of_another_results_version(tmp_path, monkeypatch):
    from tests.conftest import fork_cli
    from tests.test_resume_executed import LOG_VAR, executed, executed_plugin

    log = tmp_path / "executed.log"  # one line per run started (the runs actually executed)
    monkeypatch.setenv(LOG_VAR, str(log))
    args = ["run", "--plugin", str(executed_plugin(tmp_path)), "-p", "quadratic-1d", "-o",
            "logged-gd[lr=[0.1,0.2]]", "--seeds", "1", "--budget", "30", "--no-report",
            "--out", str(tmp_path)]
    assert fork_cli(*args).returncode == 0 and executed(log) == 2
    db = tmp_path / "results.sqlite"
    with closing(sqlite3.connect(db)) as conn, conn:  # as an older optbench would have left it
        conn.execute("UPDATE runs SET results_version = results_version - 1")
    kept = fork_cli(*args)
    assert kept.returncode == 0 and "2 runs were kept from another results version" in kept.stderr
    assert "(0 new)" in kept.stdout and executed(log) == 0
    redo = fork_cli(*args, "--recompute")
    assert redo.returncode == 0 and "(2 new)" in redo.stdout and "kept" not in redo.stderr
    assert executed(log) == 2
    assert set(optbench.load(db).results_version) == {store_mod.RESULTS_VERSION}


def _batch_results(max_iter: int):
    from optbench.plan import make_plan
    from optbench.runner import run_batch

    plan = make_plan(
        ["ill-conditioned-quadratic[d=3,kappa=30]", "quadratic-1d"],
        ["gd[lr=[0.3/L,1.5/L,2.5/L]]", "adam[lr=0.1]"],
        seeds=3, budget=10 * max_iter, max_iter=max_iter, tol=0.0,
    )
    return [(b, run_batch(b)) for b in plan.batches]


@pytest.mark.parametrize("max_iter", [40, 700])  # 700: past THIN_ABOVE, thinned run by run
def test_a_batch_block_stores_what_its_runs_would_store_one_by_one(tmp_path, max_iter):
    """The columns a batch carries (one block, one pickle) hold exactly each run's own
    metrics and thinned trace; stored from the block or run by run, a store reads the same."""
    import pickle

    from optbench.runner import STORE_X_MAX_DIM

    batches = _batch_results(max_iter)
    for _, results in batches:
        travelled = pickle.loads(pickle.dumps(results))
        assert all(r.block is travelled[0].block for r in travelled)  # one block, sent once
        for res, again in zip(results, travelled, strict=True):
            assert again.metrics == res.metrics and again.summary == res.summary
            _same_trace(again.trace, res.trace)
            n = res.summary.n_iter + 1
            if n <= store_mod.THIN_ABOVE:  # every iterate
                assert np.array_equal(res.trace["t"], np.arange(n))
            else:  # the head, log-spaced checkpoints and the last iterate
                assert res.trace["t"][-1] == n - 1 and len(res.trace["t"]) < n
            assert len(res.trace["lr"]) == len(res.trace["t"]) - 1 or n > store_mod.THIN_ABOVE
            assert res.trace["f"][-1] == res.summary.f_final
            assert ("x" in res.trace) == (len(res.summary.x_final) <= STORE_X_MAX_DIM)
    # stored from the block, and run by run (each result owning its metrics and trace)
    for name, detach in (("block", False), ("alone", True)):
        with Store(tmp_path / f"{name}.sqlite", create=True) as st:
            for batch, results in batches:
                rows = []
                for run, res in zip(batch.runs, pickle.loads(pickle.dumps(results)), strict=True):
                    if detach:
                        res.trace = dict(res.trace)  # a result changed by hand owns its arrays
                        assert res.block is None
                    rows.append((run, res))
                st.write(run_records(rows))
    with Store(tmp_path / "block.sqlite") as a, Store(tmp_path / "alone.sqlite") as b:
        ids = [r["run_id"] for r in a._rows()]
        assert a.metrics(ids) == b.metrics(ids)
        for rid in ids:
            _same_trace(a.trace(rid), b.trace(rid))


def test_a_partly_stored_batch_writes_only_its_new_runs(tmp_path):
    (batch, results), *_ = _batch_results(20)
    with Store(tmp_path / "s.sqlite", create=True) as st:
        assert st.write(run_records(zip(batch.runs[:2], results[:2], strict=True))) == 2
        assert st.write(run_records(zip(batch.runs, results, strict=True))) == len(results) - 2
        got = st.metrics([r.run_id for r in batch.runs])
    assert [got[r.run_id] for r in batch.runs] == [r.metrics for r in results]
