"""Nothing lost, every failure explained: hangs, kills, concurrent writers, determinism."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import optbench
from optbench.store import Store
from tests.conftest import run_cli, without_clock

SLOW_PLUGIN = """
import os
import time
from optbench import Optimizer, register_optimizer

@register_optimizer("slow-gd", batchable=True)
def slow_gd(lr: float = 0.1, pause: float = 0.02):
    def step(x, state, oracle, t):
        log = os.environ.get("OPTBENCH_EXECUTED_LOG")
        if t == 0 and log:  # one line per run started
            with open(log, "a") as fh:
                fh.write(len(x) * "run\\n")
        time.sleep(pause)
        return x - lr * oracle.grad(x), {"lr": lr}
    return Optimizer(step=step)

@register_optimizer("hang-at", batchable=True)
def hang_at(lr: float = 0.1, bad: float = 0.3):
    import numpy as np
    def step(x, state, oracle, t):
        if t == 2 and np.any(np.isclose(lr, bad)):
            while True:  # never calls the oracle again: only a kill stops it (it sleeps
                time.sleep(0.05)  # rather than spins, as tests/test_faults.py's hang does)
        return x - lr * oracle.grad(x), {"lr": lr}
    return Optimizer(step=step)

@register_optimizer("spin-oracle", batchable=True)
def spin_oracle(lr: float = 0.1):
    def step(x, state, oracle, t):
        while oracle.active.any():  # keeps evaluating: the oracle's deadline stops it
            oracle.f(x)
            time.sleep(0.001)
        return x, state
    return Optimizer(step=step)
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    p = tmp_path / "slow_plugin.py"
    p.write_text(SLOW_PLUGIN)
    return p


def _rows(db: Path) -> list[tuple]:
    with Store(db) as s:
        rows = s.runs()
    return sorted(  # bit for bit, but for what the batching and the clock decide
        (r["run_id"], r["status"], without_clock(r["summary"]), without_clock(r["metrics"]))
        for r in rows
    )


def _traces(db: Path) -> dict[str, dict[str, bytes]]:
    """Every stored trace array as raw bytes, timings aside."""
    with Store(db) as s:
        ids = [r["run_id"] for r in s.runs()]
        traces = dict(s.traces(ids))
    return {
        rid: {k: v.tobytes() + str(v.dtype).encode() for k, v in tr.items() if k != "time"}
        for rid, tr in traces.items()
        if tr is not None
    }


@pytest.mark.parametrize("executor", [["--executor", "serial"],
                                      ["--executor", "process", "--jobs", "2"],
                                      ["--executor", "dask", "--jobs", "1"]],
                         ids=["serial", "process", "dask"])
@pytest.mark.waits
def test_a_hanging_run_times_out_and_the_others_finish(plugin, out, forked_cli, executor):
    r = forked_cli("run", "--plugin", str(plugin), "-p", "quadratic-1d", "-o",
                   "hang-at[lr=[0.1,0.3,0.2]]", "--seeds", "1", "--budget", "20",
                   "--timeout", "0.5", *executor, "--out", str(out), "--no-report",
                   cwd=out.parent)
    assert r.returncode == 3, r.stderr
    # the hang kills its batch once: every run of it is a timeout row ...
    df = optbench.load(out)
    assert set(df.status) == {"timeout"}
    assert "stopped calling the oracle" in df[df["hp.lr"] == 0.3].message.iloc[0]
    # ... which --retry-failed reruns alone: only the hanging run times out again
    r = forked_cli("run", "--plugin", str(plugin), "-p", "quadratic-1d", "-o",
                   "hang-at[lr=[0.1,0.3,0.2]]", "--seeds", "1", "--budget", "20",
                   "--timeout", "0.5", *executor, "--out", str(out), "--no-report",
                   "--retry-failed", cwd=out.parent)
    assert r.returncode == 3, r.stderr
    df = optbench.load(out)
    by_lr = dict(zip(df["hp.lr"], df.status, strict=True))
    assert by_lr[0.3] == "timeout"
    assert by_lr[0.1] != "timeout" and by_lr[0.2] != "timeout"


@pytest.mark.waits
def test_the_oracle_deadline_stops_a_run_that_keeps_evaluating(plugin, out, forked_cli):
    t0 = time.monotonic()
    r = forked_cli(
        "run",
        "--plugin",
        str(plugin),
        "-p",
        "quadratic-1d",
        "-o",
        "spin-oracle",
        "--seeds",
        "2",
        "--budget",
        "10000000",
        "--timeout",
        "0.5",
        "--out",
        str(out),
        "--no-report",
        cwd=out.parent,
    )
    assert r.returncode == 3
    df = optbench.load(out)
    assert (df.status == "timeout").all()
    assert "deadline" in df.message.iloc[0]
    assert time.monotonic() - t0 < 60


def _run_args(plugin: Path, out: Path) -> list[str]:
    return [
        "run",
        "--plugin",
        str(plugin),
        "-p",
        "quadratic-1d[h=lin(1,3,12)]",
        "-o",
        "slow-gd[lr=[0.05,0.1]]",
        "--seeds",
        "2",
        "--budget",
        "15",
        "--out",
        str(out),
        "--no-report",
        "--quiet",
    ]


@pytest.mark.waits
def test_sigkill_mid_benchmark_keeps_a_consistent_store_and_resume_equals_uninterrupted(
    plugin, tmp_path, monkeypatch
):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen(
        [sys.executable, "-m", "optbench.cli", *_run_args(plugin, killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = killed / "results.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if db.exists() and len(_rows(db)) >= 8:
                break
        except (sqlite3.Error, optbench.errors.StoreError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _rows(db)
    assert 8 <= len(partial) < 48  # stopped part-way
    with closing(sqlite3.connect(db)) as conn, conn:  # closed, and committed
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert set(_traces(db)) == {r[0] for r in partial}  # every stored run has its trace
    assert len(partial) % 4 == 0  # whole batches only (4 runs a batch)
    log = tmp_path / "executed.log"
    monkeypatch.setenv("OPTBENCH_EXECUTED_LOG", str(log))
    r = run_cli(*_run_args(plugin, killed)[:-1])
    assert r.returncode == 0 and f"48 of 48 runs stored ({48 - len(partial)} new)" in r.stdout
    # the stored batches are not run again ("new" counts rows, which the store never repeats)
    assert len(log.read_text().splitlines()) == 48 - len(partial)
    monkeypatch.delenv("OPTBENCH_EXECUTED_LOG")
    assert run_cli(*_run_args(plugin, clean)).returncode == 0
    assert _rows(db) == _rows(clean / "results.sqlite")
    assert _traces(db) == _traces(clean / "results.sqlite")


def test_two_writers_on_one_store(plugin, tmp_path):
    out = tmp_path / "shared"

    def args(seeds: int) -> list[str]:
        return [
            "run",
            "--plugin",
            str(plugin),
            "-p",
            "quadratic-1d[h=lin(1,3,6)]",
            "-o",
            "slow-gd[lr=0.1,pause=0.01]",
            "--seeds",
            str(seeds),
            "--budget",
            "15",
            "--out",
            str(out),
            "--no-report",
            "--quiet",
        ]

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "optbench.cli", *args(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (3, 4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    rows = _rows(out / "results.sqlite")
    assert len(rows) == 24 and len({r[0] for r in rows}) == 24
    with closing(sqlite3.connect(out / "results.sqlite")) as conn, conn:  # closed, and committed
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _stored(db: Path) -> tuple[list, dict]:
    return _rows(db), _traces(db)


def test_results_are_bit_identical_across_executors_and_reruns(tmp_path, forked_cli):
    spec = [
        "-p",
        "quadratic-1d",
        "-p",
        "linear-regression",
        "-o",
        "gd[lr=[0.5/L,1.5/L,2.5/L]]",
        "-o",
        "random-search",
        "-o",
        "scipy-bfgs",
        "--seeds",
        "3",
        "--budget",
        "60",
        "--no-report",
        "--quiet",
    ]
    outs = {}
    for name, extra in [
        ("serial", []),
        ("serial2", []),
        ("process", ["--executor", "process", "--jobs", "2"]),
        ("dask", ["--executor", "dask", "--jobs", "2"]),
    ]:
        outs[name] = tmp_path / name
        r = forked_cli("run", *spec, *extra, "--out", str(outs[name]), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    reference = _stored(outs["serial"] / "results.sqlite")
    assert len(reference[0]) == 2 * 5 * 3
    for name in ("serial2", "process", "dask"):
        assert _stored(outs[name] / "results.sqlite") == reference, name


def test_store_is_never_unpickled(out):
    optbench.run(
        problems=["quadratic-1d"], optimizers=["gd"], seeds=1, budget=10, out=out, report=False
    )
    db = out / "results.sqlite"
    with closing(sqlite3.connect(db)) as conn, conn:  # closed, and committed
        (rid,) = conn.execute("SELECT run_id FROM runs").fetchone()
        # a trace holding a pickled object array must be refused, not executed
        import io

        buf = io.BytesIO()
        np.savez(buf, evil=np.array([{"a": 1}], dtype=object))
        conn.execute(
            "UPDATE blocks SET traces=? WHERE block=(SELECT block FROM runs WHERE run_id=?)",
            (buf.getvalue(), rid),
        )
    with Store(db) as s, pytest.raises(ValueError, match="allow_pickle"):
        s.trace(rid)
