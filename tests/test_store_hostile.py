"""Stores that are not clean: each is refused in one line, exit 2, and the file is left
byte for byte as it was, by ``run`` (which would write to it), ``report`` and ``export``.
A version-1 store is migrated only once all of it reads, in one transaction. A command
that stops before writing (bad store, an executor that cannot start) records no session.
Two ``--recompute`` runs at once compute each run once. ``--anonymous`` records no
absolute path."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optbench.store import Store, pack_trace, unpack_trace
from tests.conftest import fork_cli

V1 = Path(__file__).parent / "data" / "store_v1.sqlite"
BASE = ["-p", "quadratic-1d", "-o", "gd[lr=0.1]", "--seeds", "2", "--budget", "20", "--quiet"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """A clean store of two runs, made once and copied for every case."""
    out = tmp_path_factory.mktemp("clean") / "results"
    r = fork_cli("run", *BASE, "--out", str(out), "--no-report")
    assert r.returncode == 0, r.stderr
    return out / "results.sqlite"


def _sql(db: Path, *statements: tuple) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        for stmt, *args in statements:
            conn.execute(stmt, args)


def _zero(db: Path, clean: Path) -> None:
    db.write_bytes(b"")


def _no_blocks(db: Path, clean: Path) -> None:
    shutil.copy(clean, db)
    _sql(db, ("DROP TABLE blocks",))


def _bad_json_metric(db: Path, clean: Path) -> None:
    shutil.copy(clean, db)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        (blob,) = conn.execute("SELECT metrics FROM blocks").fetchone()
        columns = unpack_trace(blob)
        n = len(next(iter(columns.values())))
        columns["j.extra"] = np.array(["{not json"] + ["[1]"] * (n - 1))
        conn.execute("UPDATE blocks SET metrics=?", (pack_trace(columns),))


def _foreign_v1(db: Path, clean: Path) -> None:
    """Another program's SQLite file whose meta table happens to say schema 1."""
    _sql(
        db,
        ("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",),
        ("INSERT INTO meta VALUES ('schema_version', '1')",),
        ("CREATE TABLE people (name TEXT)",),
        ("INSERT INTO people VALUES ('ada')",),
    )


def _v1_damaged_trace(db: Path, clean: Path) -> None:
    shutil.copy(V1, db)
    last = "(SELECT max(rowid) FROM traces)"
    _sql(db, (f"UPDATE traces SET data=? WHERE rowid={last}", b"PK\x03\x04" + b"\x00" * 60))


def _v1_missing_column(db: Path, clean: Path) -> None:
    shutil.copy(V1, db)
    _sql(db, ("ALTER TABLE runs DROP COLUMN summary",))


def _v1_bad_metrics_json(db: Path, clean: Path) -> None:
    shutil.copy(V1, db)
    _sql(db, ("UPDATE runs SET metrics='{oops' WHERE rowid=(SELECT max(rowid) FROM runs)",))


CASES = {  # name: (how the store is made, what the one line says)
    "zero bytes": (_zero, "is an empty file (0 bytes)"),
    "no blocks table": (_no_blocks, "it has no 'blocks' table"),
    "bad JSON metric": (_bad_json_metric, "'extra'"),
    "foreign file saying schema 1": (_foreign_v1, "it has no 'runs' table"),
    "schema 1 with a damaged trace": (_v1_damaged_trace, "its trace is not a numpy archive"),
    "schema 1 missing a column": (_v1_missing_column, "lacks the column 'summary'"),
    "schema 1 with bad metrics JSON": (_v1_bad_metrics_json, "its metrics is not valid JSON"),
}
COMMANDS = {
    "run": lambda out: ["run", *BASE, "--out", str(out), "--no-report"],
    "report": lambda out: ["report", "--out", str(out)],
    "export": lambda out: ["export", "--format", "csv", "--db", str(out / "results.sqlite")],
}


def _digest(folder: Path) -> dict[str, str]:
    """Every file's hash; SQLite's shared-memory index (``-shm``, which any reader of a
    WAL store may leave) aside, and a write-ahead log only when it holds something."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


def _cli(*args: str):
    """``optbench ARGS`` in this process (the refusals come before any worker starts)."""
    from click.testing import CliRunner

    from optbench.cli import cli

    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unclean_store_is_one_line_exit_2_and_untouched(tmp_path, clean, case, command):
    make, fragment = CASES[case]
    out = tmp_path / "results"
    out.mkdir()
    make(out / "results.sqlite", clean)
    before = _digest(out)
    r = _cli(*COMMANDS[command](out))
    assert r.exit_code == 2, (r.exit_code, r.stderr, r.exception)
    lines = [line for line in r.stderr.splitlines()  # the report's progress log aside
             if line.strip() and not line.startswith("report: ")]
    assert len(lines) == 1 and fragment in lines[0], r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert _digest(out) == before  # the file byte for byte, and nothing written beside it


def test_a_clean_v1_store_is_migrated_whole_and_keeps_its_rows(tmp_path):
    """The control: a clean version-1 store is migrated (so the refusals above are about the
    damage), its rows unchanged, and what it holds reads back the same."""
    db = tmp_path / "results.sqlite"
    shutil.copy(V1, db)
    rows = "SELECT run_id, summary, metrics FROM runs ORDER BY run_id"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        before = conn.execute(rows).fetchall()
    with Store(db, create=True) as s:
        assert s.version == 2
    with contextlib.closing(sqlite3.connect(db)) as conn:
        after = conn.execute(rows).fetchall()
        (version,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        versions = {v for (v,) in conn.execute("SELECT results_version FROM runs")}
    assert after == before and version == "2" and versions == {1}


def test_a_failed_migration_changes_nothing(tmp_path, monkeypatch):
    """A migration that fails half way (here: its last statement) is rolled back whole."""
    import optbench.store.sql as store

    db = tmp_path / "results.sqlite"
    shutil.copy(V1, db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    failing = store._MIGRATE_1 + ";\nALTER TABLE runs ADD COLUMN block"  # a second time
    monkeypatch.setattr(store, "_MIGRATE_1", failing)
    with pytest.raises(store.StoreError):
        Store(db, create=True)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with contextlib.closing(sqlite3.connect(db)) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "block" not in cols and "blocks" not in tables


def _sessions(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT count(*) FROM sessions").fetchone()[0]


def test_an_executor_that_cannot_start_touches_nothing(tmp_path):
    """An executor failing before any batch (as an unreachable Dask scheduler does): exit
    2, and the store is byte for byte as it was: no session row, no skipped rows."""
    plugin = tmp_path / "broken_executor.py"
    plugin.write_text(
        "from optbench.errors import UsageError\n"
        "from optbench.executors import register_executor\n"
        "@register_executor('unreachable')\n"
        "def unreachable(batches, jobs=None, scheduler=None):\n"
        "    raise UsageError('cannot reach the scheduler at tcp://nowhere:1')\n"
        "    yield\n"
    )
    out = tmp_path / "results"
    first = fork_cli("run", *BASE, "--out", str(out), "--no-report")
    assert first.returncode == 0, first.stderr
    before = _digest(out)
    # more seeds: new runs to compute, none of which the executor gets to start
    r = fork_cli("run", "--plugin", str(plugin), "-p", "quadratic-1d", "-o", "gd[lr=0.1]",
                "--seeds", "4", "--budget", "20", "--executor", "unreachable", "--out",
                str(out), "--no-report", "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and "cannot reach the scheduler" in r.stderr, r.stderr
    assert _digest(out) == before and _sessions(out / "results.sqlite") == 1


def test_a_run_into_a_damaged_store_records_no_session(tmp_path, clean):
    out = tmp_path / "results"
    out.mkdir()
    shutil.copy(clean, out / "results.sqlite")
    _sql(out / "results.sqlite", ("UPDATE blocks SET traces=?", b"\x00" * 64))
    before = _digest(out)
    r = fork_cli("run", *BASE, "--seeds", "3", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and "its trace is not a numpy archive" in r.stderr, r.stderr
    assert _digest(out) == before


def test_a_session_is_still_recorded_when_every_run_was_stored(tmp_path):
    out = tmp_path / "results"
    for _ in range(2):
        r = fork_cli("run", *BASE, "--out", str(out), "--no-report")
        assert r.returncode == 0, r.stderr
    assert _sessions(out / "results.sqlite") == 2


COUNTING_PLUGIN = """
import os, time
from optbench import Optimizer, register_optimizer

@register_optimizer("counted-gd")
def counted_gd(lr: float = 0.1):
    def step(x, state, oracle, t):
        if t == 0:  # one line per executed run, then slow enough for the runs to overlap
            with open(os.environ["COUNT_FILE"], "a") as fh:
                fh.write(f"{os.getpid()}\\n")
            time.sleep(0.15)
        return x - lr * oracle.grad(x), state
    return Optimizer(step=step)
"""


def test_two_recompute_runs_at_once_compute_each_run_once(tmp_path):
    plugin = tmp_path / "counted.py"
    plugin.write_text(COUNTING_PLUGIN)
    out = tmp_path / "results"
    args = ["run", "--plugin", str(plugin), "-p", "quadratic-1d", "-o", "counted-gd",
            "--seeds", "4", "--budget", "10", "--out", str(out), "--no-report", "--quiet"]
    env = dict(os.environ, PYTHONWARNINGS="ignore", COUNT_FILE=str(tmp_path / "first"))
    first = subprocess.run([sys.executable, "-m", "optbench.cli", *args], env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    db = out / "results.sqlite"
    _sql(db, ("UPDATE runs SET results_version = 1",))  # runs of an older optbench
    env["COUNT_FILE"] = str(tmp_path / "count")
    procs = [
        subprocess.Popen([sys.executable, "-m", "optbench.cli", *args, "--recompute"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    executed = (tmp_path / "count").read_text().split()
    assert len(executed) == 4  # each of the 4 stale runs computed once, by either process
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (superseded,) = conn.execute("SELECT count(*) FROM superseded").fetchone()
        versions = conn.execute("SELECT results_version, count(*) FROM runs GROUP BY 1").fetchall()
        reasons = {json.loads(r)["results_version"] for (r,) in conn.execute(
            "SELECT row FROM superseded")}
    from optbench.store import RESULTS_VERSION

    assert superseded == 4 and reasons == {1}  # only the old rows, never a fresh one
    assert versions == [(RESULTS_VERSION, 4)]


def test_anonymous_records_no_absolute_path(tmp_path):
    plugin = tmp_path / "counted.py"
    plugin.write_text(COUNTING_PLUGIN)
    out = tmp_path / "deep" / "results"
    env = dict(os.environ, PYTHONWARNINGS="ignore", COUNT_FILE=str(tmp_path / "count"))
    r = subprocess.run(
        [sys.executable, "-m", "optbench.cli", "run", "--plugin", str(plugin), "-p",
         "quadratic-1d", "-o", "counted-gd[lr=0.5/L]", "--seeds", "1", "--budget", "10",
         f"--out={out}", "--no-report", "--quiet", "--anonymous"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    with contextlib.closing(sqlite3.connect(out / "results.sqlite")) as conn:
        ((command, spec, host),) = conn.execute("SELECT command, spec, host FROM sessions")
    assert str(tmp_path) not in command and str(tmp_path) not in spec, (command, spec)
    assert host == ""
    assert "--out=results" in command and "counted-gd[lr=0.5/L]" in command, command
    assert json.loads(spec)["plugins"] == ["counted.py"]


@pytest.mark.parametrize(
    "command, expected",
    [
        ("/home/me/.venv/bin/optbench run --out /home/me/res", "optbench run --out res"),
        ("optbench run --out=/srv/x/ -o gd[lr=[0.5/L,1.5/L]]",
         "optbench run --out=x -o gd[lr=[0.5/L,1.5/L]]"),
        ("optbench report --db base=/a/b/results.sqlite --db rel/results.sqlite",
         "optbench report --db base=results.sqlite --db rel/results.sqlite"),
        ("python -m optbench.cli run --plugin C:\\Users\\me\\p.py",
         "python -m optbench.cli run --plugin p.py"),
    ],
)
def test_anonymized_keeps_the_last_component_of_each_absolute_path(command, expected):
    from optbench.store import anonymized

    assert anonymized(command) == expected
