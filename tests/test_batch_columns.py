"""A batch's results as columns: how they travel from the worker and how the store writes
them, checked against the per-run paths they replace (each run's own ``Summary.to_json``,
its own metrics dict, ``zipfile`` and ``numpy.lib.format``, ``numpy.load``)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from optbench import registry
from optbench.metrics.batch import json_ready
from optbench.plan import make_plan, run_records
from optbench.runner import BatchResults, RunResult, run_batch, stack_params
from optbench.spec import Spec
from optbench.store import (
    Store,
    Summary,
    codecs,
    pack_metrics,
    pack_traces,
    plain_metric_columns,
    summary_columns,
    summary_jsons,
    unpack_trace,
)
from optbench.worker import Worker


@pytest.fixture(scope="module")
def batch():
    """One batch of 12 runs that end differently (diverged, converged, max-iter), and its
    results as the runner returns them."""
    registry.load_builtins()
    plan = make_plan(["quadratic-1d"], ["gd[lr=[0.01,0.5,2.5]]"], seeds=4, budget=60)
    (b,) = plan.batches
    res = run_batch(b)
    assert len({r.status for r in res}) >= 2
    return b, res


# -- summaries ----------------------------------------------------------------------------
@pytest.mark.parametrize("k", [0, 1, 3])
def test_summary_jsons_equal_each_runs_own_json(k):
    rng = np.random.default_rng(k)
    B = 9
    f = rng.normal(size=B) * 10.0 ** rng.integers(-300, 300, size=B)
    f[:4] = [np.nan, np.inf, -np.inf, -0.0]
    x = rng.normal(size=(B, k))
    if k:
        x[1, 0], x[2, -1] = np.nan, -np.inf
    cols = summary_columns(n_iter=np.arange(B), n_f=np.arange(B) * 3, n_g=2**40 + np.arange(B),
                           f_final=f, f_best=f[::-1].copy(), x_final=x, batch_size=B)
    want = [Summary(n_iter=int(i), n_f=int(3 * i), n_g=int(2**40 + i), f_final=float(f[i]),
                    f_best=float(f[::-1][i]), x_final=x[i].tolist(), batch_size=B).to_json()
            for i in range(B)]
    assert summary_jsons(cols) == want
    one = {key: (v[:1] if key != "batch_size" else v) for key, v in cols.items()}
    assert summary_jsons(one) == want[:1]


def test_a_runs_summary_is_read_from_its_block(batch):
    _, res = batch
    for r in res:
        s = r.summary
        tr = r.trace
        assert s.n_iter == len(tr["f"]) - 1 and s.f_final == float(tr["f"][-1])
        assert s.f_best == float(np.nanmin(tr["f"])) and s.batch_size == len(res)
        assert s.x_final == tr["x"][-1].tolist()
        assert s.n_f + s.n_g == int(tr["n_f"][-1] + tr["n_g"][-1])


# -- the wire -----------------------------------------------------------------------------
def test_a_batch_travels_as_columns_and_reads_back_the_same(batch):
    _, res = batch
    assert isinstance(res, BatchResults)
    data = pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL)
    per_run = pickle.dumps(list(res), protocol=pickle.HIGHEST_PROTOCOL)
    assert data.count(b"RunResult") == 0 < per_run.count(b"RunResult")  # no object per run
    got = pickle.loads(data)
    assert got[0].block.metric_arrays is None  # arrived packed: nothing unpacked yet
    assert [(r.run_id, r.status, r.message, r.seconds) for r in got] == [
        (r.run_id, r.status, r.message, r.seconds) for r in res]
    for a, b in zip(res, got, strict=True):
        assert a.summary == b.summary
        assert a.metrics == b.metrics  # read back from the packed archive
        for k, v in a.trace.items():
            assert v.dtype == b.trace[k].dtype and np.array_equal(v, b.trace[k], equal_nan=True)
    # the packed block is what the store writes
    assert got[0].block.pack() == res[0].block.pack()


def test_a_result_changed_by_hand_travels_as_it_is(batch):
    _, res = batch
    copy = pickle.loads(pickle.dumps(res))
    copy[1].metrics = {"po": 1.5}
    copy[2].summary = Summary(n_iter=3)
    again = pickle.loads(pickle.dumps(copy))
    assert type(again) is list  # not one block any more: run by run
    assert again[1].metrics == {"po": 1.5} and again[1].block is None
    assert again[2].summary == Summary(n_iter=3)
    assert again[0].metrics == res[0].metrics and again[0].summary == res[0].summary


def test_metrics_read_from_the_archive_equal_the_arrays(batch):
    _, res = batch
    block = res[0].block
    want = json_ready(block.metric_arrays)
    got = plain_metric_columns(unpack_trace(block.pack()[0]))
    assert list(got) == list(want)
    for k in want:
        assert got[k] == want[k] or all(
            (a is None and b is None) or a == b or (a != a and b != b)
            for a, b in zip(got[k], want[k], strict=True)), k
        assert [type(v) for v in got[k]] == [type(v) for v in want[k]], k
    assert any(isinstance(v, str) for v in got["th_regime"])
    assert any(isinstance(v, int) for col in got.values() for v in col)


def test_a_whole_block_stores_what_its_runs_store_one_by_one(batch, tmp_path):
    b, res = batch
    by_id = {r.run_id: r for r in b.runs}
    rows = run_records([(by_id[r.run_id], r) for r in res])
    with Store(tmp_path / "whole.sqlite", create=True) as s:
        s.write(rows, {}, 0)
    # the per-run path: a result changed by hand no longer is its block's row
    loose = pickle.loads(pickle.dumps(res))
    for r in loose:
        r._detach()
    rows2 = run_records([(by_id[r.run_id], r) for r in loose])
    with Store(tmp_path / "loose.sqlite", create=True) as s:
        s.write(rows2, {}, 0)
    with Store(tmp_path / "whole.sqlite") as a, Store(tmp_path / "loose.sqlite") as c:
        ra = {r["run_id"]: r for r in a.runs()}
        rc = {r["run_id"]: r for r in c.runs()}
        assert set(ra) == set(rc) == set(by_id)
        for rid in ra:
            assert ra[rid]["summary"] == rc[rid]["summary"] == res[[r.run_id for r in res].index(rid)].summary
            assert ra[rid]["metrics"] == rc[rid]["metrics"]
        sa = dict(a.conn.execute("SELECT run_id, summary FROM runs"))
        sc = dict(c.conn.execute("SELECT run_id, summary FROM runs"))
        assert sa == sc
        ta, tc = dict(a.traces(list(ra))), dict(c.traces(list(ra)))
        for rid in ra:
            for k in ta[rid]:
                assert np.array_equal(ta[rid][k], tc[rid][k], equal_nan=True)


# -- the archive writer ---------------------------------------------------------------------
ARRAYS = {
    "f": np.random.default_rng(0).normal(size=(300, 2)),
    "n": np.arange(50_000, dtype=np.int64),
    "text": np.array(["a", "bb", ""]),
    "flag": np.array([True, False, True]),
    "empty": np.zeros((0, 3)),
    "fortran": np.asfortranarray(np.arange(20.0).reshape(4, 5)),
    "strided": np.arange(100.0).reshape(10, 10)[:, ::3],
    "scalar": np.float64(2.5),
    "none": np.array([], dtype=np.int64),
    "nan8k": np.full(1024, np.nan),
    "noise8k": np.random.default_rng(1).normal(size=1024),
    "m.é": np.arange(3),
}


def test_archives_read_back_as_numpy_and_zipfile_write_them():
    new = codecs.pack_trace(ARRAYS)
    old = codecs._pack_trace_zipfile(ARRAYS)
    with zipfile.ZipFile(io.BytesIO(new)) as zn, zipfile.ZipFile(io.BytesIO(old)) as zo:
        assert zn.testzip() is None
        assert zn.namelist() == zo.namelist()
        for name in zo.namelist():
            assert zn.read(name) == zo.read(name), name  # the same .npy files
    for got in (np.load(io.BytesIO(new), allow_pickle=False), unpack_trace(new)):
        for k, v in ARRAYS.items():
            v = np.asarray(v)
            assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
            assert np.array_equal(got[k], v, equal_nan=v.dtype.kind == "f"), k
    kinds = {i.filename: i.compress_type for i in zipfile.ZipFile(io.BytesIO(new)).infolist()}
    assert kinds["n.npy"] == kinds["nan8k.npy"] == zipfile.ZIP_DEFLATED
    assert kinds["noise8k.npy"] == kinds["f.npy"] == zipfile.ZIP_STORED  # float noise as is


def test_an_object_array_is_refused_as_numpy_refuses_it():
    with pytest.raises(ValueError, match="Object arrays"):
        codecs.pack_trace({"o": np.array([{}, None], dtype=object)})


# -- the factory arguments ------------------------------------------------------------------
def test_stack_params_reads_each_spec_once_and_keeps_the_run_order():
    registry.load_builtins()
    entry = registry.get("optimizer", "gd")
    a = Spec("gd", {"lr": 0.1, "schedule": Spec("step", {"gamma": 0.5, "every": 10})})
    b = Spec("gd", {"lr": 0.3, "schedule": Spec("step", {"gamma": 0.25, "every": 10})})
    runs = [a, b, b, a, b]
    out = stack_params(runs, entry, True)
    assert out["lr"].shape == (5, 1) and out["lr"][:, 0].tolist() == [0.1, 0.3, 0.3, 0.1, 0.3]
    sched = out["schedule"]
    assert sched.name == "step" and sched.params["every"] == 10
    assert sched.params["gamma"][:, 0].tolist() == [0.5, 0.25, 0.25, 0.5, 0.25]
    same = stack_params([a, a, a], entry, True)
    assert same["lr"] == 0.1 and same["schedule"].params == a.params["schedule"].params


# -- the worker's reads ---------------------------------------------------------------------
class _Pipe:
    """What Worker._receive uses of a child: a readable stdout."""

    def __init__(self, fd: int):
        self.stdout = os.fdopen(fd, "rb")
        self.stdin = io.BytesIO()  # never written here


def _write_in_pieces(fd: int, data: bytes, sizes: list[int]) -> None:
    at = 0
    for n in sizes:
        os.write(fd, data[at : at + n]) if at < len(data) else None
        at += n
    while at < len(data):
        at += os.write(fd, data[at : at + 65536])


@pytest.mark.parametrize("sizes", [[3], [9, 5], [1 << 20], [20, 3_000_100, 4], []])
def test_the_worker_reads_messages_split_and_joined_as_they_come(sizes):
    import threading

    r, w = os.pipe()
    worker = Worker()
    pipe = _Pipe(r)
    try:
        worker.proc = pipe  # type: ignore[assignment]
        worker._buffer = bytearray()
        big = {"blob": os.urandom(3_000_000), "n": 7}
        msgs = [pickle.dumps(m, protocol=5) for m in ("ready", big, [1, 2, 3])]
        wire = b"".join(len(m).to_bytes(8, "little") + m for m in msgs)
        writer = threading.Thread(target=_write_in_pieces, args=(w, wire, sizes))
        writer.start()
        assert worker._receive(None) == "ready"
        assert worker._receive(None) == big
        assert worker._receive(None) == [1, 2, 3]
        writer.join()
        assert not worker._buffer
        os.close(w)
        with pytest.raises(EOFError):
            worker._receive(None)
    finally:
        worker.proc = None
        worker.close()
        pipe.stdout.close()
