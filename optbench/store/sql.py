"""The SQLite store: every SQL statement of optbench is here. One embedded file, written
by a single writer; WAL mode and one transaction per finished batch, so an interrupted
benchmark keeps every batch that finished; ``INSERT OR IGNORE`` on ``run_id``, so two
writers or a rerun never duplicate or overwrite a run.

Columnar (schema version 2): each written batch is one row of ``blocks``, its traces and
its metrics as two numpy archives (:mod:`optbench.store.codecs`). A run's row in ``runs``
names its block and its row in it. Reading one run's trace unpacks its block; reading the
traces of many runs reads each block once. Stores of schema version 1 (one archive per
run in ``traces``, metrics as JSON in ``runs``) are migrated in place when opened for
writing, and read through their old tables either way.

What the report shows about a run is stored with it: a problem's info (its label, its
constants, its description) in ``problems`` and its landscape (its loss on a grid, drawn
under the trajectories) in ``landscapes``; each optimizer's and schedule's description,
declared needs and theory mapping in ``components``. Stores written before ``components``
existed simply have none.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .. import bundle
from ..errors import StoreError
from .codecs import (
    _num,
    _plain,
    pack_block,
    pack_trace,
    read_trace,
    split_traces,
    unpack_metrics,
    unpack_trace,
    whole_block,
)
from .records import RESULTS_VERSION, RunRecord, Summary, summary_jsons, to_json
from .session import anonymized, host, versions

SCHEMA_VERSION = 2
TRACE_CHUNK = 500  # traces read per SQL query when reading many (schema version 1)
PAGE_SIZE = 16384  # bytes per page of a new store (any page size reads the same)

_MIGRATE_1 = """
ALTER TABLE runs ADD COLUMN block INTEGER;
ALTER TABLE runs ADD COLUMN row INTEGER;
ALTER TABLE runs ADD COLUMN results_version INTEGER NOT NULL DEFAULT 1
"""  # version 1 -> 2: rows written before results versions existed are version 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    problem TEXT NOT NULL,
    problem_key TEXT NOT NULL,
    problem_params TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    label TEXT NOT NULL,
    optimizer_params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    budget INTEGER,
    max_iter INTEGER NOT NULL,
    tol REAL NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    summary TEXT NOT NULL,
    metrics TEXT NOT NULL,
    seconds REAL NOT NULL,
    batch INTEGER,
    created REAL NOT NULL,
    host TEXT NOT NULL,
    versions TEXT NOT NULL,
    block INTEGER,
    row INTEGER,
    results_version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS traces (run_id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (block INTEGER PRIMARY KEY, metrics BLOB NOT NULL,
    traces BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS problems (key TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS landscapes (key TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS components (kind TEXT NOT NULL, name TEXT NOT NULL,
    info TEXT NOT NULL, PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL,
    command TEXT, spec TEXT, versions TEXT, host TEXT);
CREATE TABLE IF NOT EXISTS superseded (id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL, superseded REAL NOT NULL, reason TEXT NOT NULL, row TEXT NOT NULL,
    trace BLOB);
"""


@functools.cache
def _schema_tables() -> dict[str, tuple[str, list[str]]]:
    """Each table of :data:`_SCHEMA`: its ``CREATE`` statement and its columns."""
    conn = sqlite3.connect(":memory:")
    try:
        out = {}
        for stmt in _SCHEMA.strip().split(";"):
            if stmt.strip():
                conn.execute(stmt)
                name = stmt.split("EXISTS", 1)[1].split("(", 1)[0].strip()
                out[name] = (stmt, _columns(conn, name))
        return out
    finally:
        conn.close()


_V1_ADDED = ("block", "row", "results_version")  # the columns of runs that version 2 added
_OPTIONAL = ("traces", "landscapes", "superseded", "components")  # added when missing, on writing


def _required(version: int) -> dict[str, list[str]]:
    """The tables (and their columns) that every store of a schema version has."""
    tables = _schema_tables()
    wanted: tuple[str, ...]
    if version < 2:
        wanted = ("meta", "runs", "traces", "problems", "sessions")
    else:
        wanted = tuple(t for t in tables if t not in _OPTIONAL)
    out = {t: tables[t][1] for t in wanted}
    if version < 2:
        out["runs"] = [c for c in out["runs"] if c not in _V1_ADDED]
    return out


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]


# what the readers (the report's Setup, the labels) expect of the stored infos' fields
_PROBLEM_FIELDS: dict[str, tuple[type, ...]] = {"label": (str,), "description": (str,)}
_COMPONENT_FIELDS: dict[str, tuple[type, ...]] = {
    "description": (str,), "origin": (str,), "needs": (list,), "theory": (dict,),
    "batchable": (bool, str), "source_hash": (str,),
}
_TYPE_NAMES = {str: "text", list: "a list of text", dict: "an object", bool: "true/false"}


def _json_type(value: Any) -> str:
    """The JSON type of a parsed value, in words."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object" if isinstance(value, dict) else "null"


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


class _BlobFile(io.RawIOBase):
    """A stored blob as a read-only file, read in place (:meth:`sqlite3.Connection.blobopen`):
    checking an archive reads its directory and its arrays' headers, not the whole blob."""

    def __init__(self, blob: sqlite3.Blob):
        self.blob = blob

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            self.blob.seek(offset, whence)
        except ValueError as exc:  # before the start: what a file says (zipfile expects it)
            raise OSError(str(exc)) from None
        return self.blob.tell()

    def tell(self) -> int:
        return self.blob.tell()

    def readinto(self, b) -> int:
        data = self.blob.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.blob.close()
        super().close()


def _archive_fault(conn: sqlite3.Connection, column: str, block: int) -> str | None:
    """Why the archive in ``blocks.<column>`` of a block is unreadable (None: it reads as a
    numpy archive), from its zip directory alone, read in place, and its JSON metric
    columns (rare) read whole: cheap enough to check every block before a resume. A member
    holding pickled objects is refused when it is read (:func:`read_trace`)."""
    try:
        blob = conn.blobopen("blocks", column, block, readonly=True)
    except sqlite3.OperationalError:  # not a blob (text, NULL)
        return "is not a blob"
    try:
        with _BlobFile(blob) as fh, zipfile.ZipFile(fh) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    return f"is not a numpy archive (it holds {info.filename!r})"
                if info.filename.startswith("j."):  # JSON text: read and parsed
                    with zf.open(info) as member:
                        text = np.lib.format.read_array(member, allow_pickle=False)
                    try:
                        unpack_metrics({info.filename[:-4]: text})
                    except ValueError:
                        return f"holds the metric {info.filename[2:-4]!r}, not valid JSON"
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        return f"is not a numpy archive ({type(exc).__name__})"
    return None



def _database_error(path: Path, exc: sqlite3.DatabaseError, writing: bool = False) -> str:
    """One line for an SQLite failure: a full disk, a read-only file, a damaged file."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL" or "disk is full" in str(exc):
        return (
            f"disk full: cannot write to {str(path)!r}; the runs stored before are kept "
            "(free some space and rerun to resume)"
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
        return f"cannot write to {str(path)!r}: it is read-only ({exc})"
    if writing:
        return f"cannot write to {str(path)!r}: {exc}"
    return (
        f"{str(path)!r} is not a readable optbench store ({exc}); "
        "expected a .sqlite file written by 'optbench run'"
    )


class Store:
    """An optbench results database.

    Args:
        path: the SQLite file.
        create: create it (and its folder) if missing, and open it for writing; otherwise
            a missing file is an error and the store is opened read-only.

    An existing file is written to only once it is known to be an optbench store.
    """

    conn: sqlite3.Connection

    def __init__(self, path: str | os.PathLike, create: bool = False):
        self.path = bundle.resolve(path, create, RESULTS_VERSION)  # a bundle: its store's copy
        self.read_only = not create
        self._has_info: set[Any] = set()  # problems and components this wrote
        if not create and not self.path.is_file():
            raise StoreError(
                f"no results store at {str(self.path)!r}; run 'optbench run' first "
                "or name an existing .sqlite file"
            )
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder {str(self.path.parent)!r}: {exc.strerror}"
                ) from None
        opened: sqlite3.Connection | None = None  # closed again if opening fails
        try:
            if create and not self.path.exists():
                self._create_file()
            if self.path.is_file() and self.path.stat().st_size == 0:
                raise StoreError(
                    f"{str(self.path)!r} is an empty file (0 bytes), not an optbench store; "
                    "expected a .sqlite file written by 'optbench run' (move it aside, or "
                    "rerun with --fresh)"
                )
            # an existing file is checked through a read-only connection first: a file that
            # is not a whole optbench store is never written to, not even a pragma
            self.conn = opened = self._connect_read_only()
            try:
                self._check_schema()
                self._validate(deep=create)
            finally:
                opened.close()
                opened = None
            if not create:
                self.conn = opened = self._connect_read_only()
                return
            self.conn = opened = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self._upgrade()
            self.conn.execute("PRAGMA journal_mode = WAL").fetchone()
            self._check_schema()
        except BaseException as exc:
            if opened is not None:  # every connection is closed, also when opening fails
                opened.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(_database_error(self.path, exc)) from None
            if isinstance(exc, OSError):
                raise StoreError(f"cannot open {str(self.path)!r}: {exc}") from None
            raise

    def _create_file(self) -> None:
        """A new store, made whole beside its path and linked into place: a reader or a
        second writer never sees it half made (an empty file at a store's path is never a
        store being created, so it can be refused); a writer that loses the race opens the
        winner's store."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{time.monotonic_ns()}.new")
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            # before anything is written: a batch's block is megabytes, and 16 KB pages write
            # it in a quarter of the pages (and WAL frames) of SQLite's default 4 KB
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("BEGIN")
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        finally:
            conn.close()
        try:
            os.link(tmp, self.path)  # fails if another writer linked its store first
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not self.path.exists():
                os.replace(tmp, self.path)
        finally:
            for side in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{tmp}{side}")

    def _upgrade(self) -> None:
        """Bring a validated store to this schema in one transaction: a version-1 store is
        migrated (``runs`` gains ``block``, ``row`` and ``results_version``; no stored row
        changes) and tables added since are created; all of it or, on any failure, none."""
        with self.transaction():
            (old,) = self.conn.execute(
                "SELECT value FROM meta WHERE key='schema_version'"
            ).fetchone()
            if old == "1" and "block" not in _columns(self.conn, "runs"):
                for stmt in _MIGRATE_1.strip().split(";"):
                    self.conn.execute(stmt)
            present = _tables(self.conn)
            for name, (stmt, _) in _schema_tables().items():
                if name not in present:
                    self.conn.execute(stmt)
            if old != str(SCHEMA_VERSION):
                self.conn.execute(
                    "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                )

    def _connect_read_only(self) -> sqlite3.Connection:
        """A connection that cannot write: a store on a read-only disk or in a folder where
        SQLite cannot make its lock files is opened as immutable (nobody can write it)."""
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_CANTOPEN":
                raise  # e.g. locked: a writer is at work, so the file is not immutable
        except BaseException:  # not a database, damaged: closed before the error goes up
            conn.close()
            raise
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)

    def _check_schema(self) -> None:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc) and "no such column" not in str(exc):
                raise
            row = None
        if row is None:
            raise StoreError(
                f"{str(self.path)!r} is not an optbench store (no schema version); "
                "expected a .sqlite file written by 'optbench run'"
            )
        try:
            version = int(row[0])
        except (TypeError, ValueError):
            raise StoreError(
                f"{str(self.path)!r} has a corrupt schema version {row[0]!r}; expected "
                f"{SCHEMA_VERSION}: the file is damaged or was not written by optbench"
            ) from None
        self.version = version
        if version not in (1, SCHEMA_VERSION):  # version 1 is read, and migrated on writing
            raise StoreError(
                f"{str(self.path)!r} has store schema version {row[0]}, this optbench "
                f"reads version {SCHEMA_VERSION}; use a matching optbench or --fresh"
            )

    def _validate(self, deep: bool) -> None:
        """Refuse, in one line, a store that lacks a table or a column of its schema version
        (always), or whose rows are damaged (``deep``, before it is written to: every JSON
        column parses, seeds and iteration counts are whole numbers, every archive is a
        numpy archive: a version-1 store's traces are read whole, before it is migrated; a
        block's archives by their zip directory, :func:`_archive_fault`; every problem's and
        component's info has the shape the report reads, :meth:`_checked`)."""
        present = _tables(self.conn)
        required = _required(self.version)
        optional = {t: _schema_tables()[t][1] for t in _OPTIONAL if t in present}
        for table, cols in {**optional, **required}.items():  # an optional one where present
            if table not in present:
                raise self._incomplete(f"it has no {table!r} table")
            have = _columns(self.conn, table)
            lacking = [c for c in cols if c not in have]
            if lacking:
                raise self._incomplete(
                    f"its {table!r} table lacks the column{'s' * (len(lacking) > 1)} "
                    + ", ".join(map(repr, lacking))
                )
            if deep and table == "runs" and len(have) != len(cols):  # new rows name them all
                extra = [c for c in have if c not in cols]
                raise self._incomplete(f"its 'runs' table has unknown columns {extra}")
        if not deep:
            return
        json_cols = ["summary", "problem_params", "optimizer_params", "versions"]
        if self.version < 2:
            json_cols.append("metrics")
        bad = self.conn.execute(
            "SELECT run_id, "
            + ", ".join(f"json_valid({c})" for c in json_cols)
            + ", typeof(seed), typeof(max_iter) FROM runs WHERE NOT ("
            + " AND ".join(f"json_valid({c})" for c in json_cols)
            + " AND typeof(seed) = 'integer' AND typeof(max_iter) = 'integer') LIMIT 1"
        ).fetchone()
        if bad is not None:
            rid, *flags = bad
            for col, ok in zip(json_cols, flags, strict=False):
                if not ok:
                    raise self._corrupt(f"run {rid!r}", f"its {col} is not valid JSON")
            for col in ("seed", "max_iter"):
                if self.conn.execute(
                    f"SELECT typeof({col}) != 'integer' FROM runs WHERE run_id=?", (rid,)
                ).fetchone()[0]:
                    raise self._corrupt(f"run {rid!r}", f"its {col} is not a whole number")
        for (key,) in self.conn.execute("SELECT key FROM problems WHERE NOT json_valid(info)"):
            raise self._corrupt(f"problem {key!r}", "its info is not valid JSON")
        self.problem_info()  # each info of the shape the report reads (a few rows)
        self.components()
        if self.version < 2:
            for rid, data in self.conn.execute("SELECT run_id, data FROM traces"):
                read_trace(self.path, rid, data)
            return
        first = dict(self.conn.execute("SELECT block, min(run_id) FROM runs GROUP BY block"))
        for (block,) in self.conn.execute("SELECT block FROM blocks"):
            for column in ("metrics", "traces"):
                why = _archive_fault(self.conn, column, block)
                if why is not None:
                    what = "trace" if column == "traces" else column
                    rid = first.get(block)
                    name = f"run {rid!r}" if rid is not None else f"block {block}"
                    raise self._corrupt(name, f"its {what} {why}")

    def _incomplete(self, why: str) -> StoreError:
        return StoreError(
            f"{str(self.path)!r} is not a whole optbench store of schema version "
            f"{self.version}: {why}; the file was changed outside optbench or is not "
            "optbench's (move it aside, or rerun with --fresh)"
        )

    def transaction(self):
        conn = self.conn

        class _Tx:
            def __enter__(self):
                conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                if exc_type is None:
                    conn.execute("COMMIT")
                elif conn.in_transaction:  # SQLite rolls back by itself on a full disk
                    conn.execute("ROLLBACK")
                return False

        return _Tx()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def existing_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT run_id FROM runs")}

    _session: tuple[Any, ...] | None = None  # a session to record with the first write

    def add_session(
        self,
        command: str,
        spec: dict[str, Any],
        anonymous: bool = False,
        defer: bool = False,
        environment: dict[str, Any] | None = None,
    ) -> None:
        """Record who wrote to the store; ``anonymous`` leaves the host name out and every
        absolute path out of the command (:func:`anonymized`). ``defer``: record it with
        the first :meth:`write`, or at :meth:`record_session`, so that a command that ends
        before writing anything (bad input, an executor that cannot start) leaves the store
        untouched. ``environment``: more to keep in the session's ``versions`` JSON beside
        the versions (:func:`optbench.environment.stored`)."""
        if anonymous:
            command = anonymized(command)
        vers = to_json({**versions(), **(environment or {})})
        self._session = (time.time(), command, to_json(spec), vers, host(anonymous))
        if not defer:
            self.record_session()

    def record_session(self) -> None:
        """Write the session :meth:`add_session` deferred, if it is not written yet."""
        if self._session is None:
            return
        try:
            with self.transaction():
                self._insert_session()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_database_error(self.path, exc, writing=True)) from None

    def _insert_session(self) -> None:
        if self._session is not None:
            self.conn.execute(
                "INSERT INTO sessions (started, command, spec, versions, host) "
                "VALUES (?,?,?,?,?)",
                self._session,
            )
            self._session = None

    def write(
        self,
        rows: Iterable[tuple[RunRecord, Any]],
        problem_info: dict[str, dict] | None = None,
        batch: int | None = None,
        anonymous: bool = False,
        replace: Iterable[str] = (),
        components: dict[tuple[str, str], dict] | None = None,
    ) -> int:
        """Write ``(RunRecord, RunResult)`` pairs in one transaction, their traces and metrics
        as one block; returns rows added.

        ``anonymous`` stores an empty host name. The runs in ``replace`` replace their
        stored rows (``--recompute``), each old row kept in ``superseded``. A problem's
        ``landscape`` (an entry of its info) goes into ``landscapes``, with its first runs
        written. ``components`` (``(kind, name) -> info``: an optimizer's or a schedule's
        description, needs, theory mapping) are stored once each, the first record kept."""
        rows = list(rows)
        vers = to_json(versions())
        where = host(anonymous)
        now = time.time()
        params: dict[int, str] = {}  # each distinct parameter dict encoded once
        wrote: set[str] = set()  # problems whose info needs no writing again

        def encoded(d: dict[str, Any]) -> str:
            if id(d) not in params:
                params[id(d)] = to_json(d)
            return params[id(d)]

        try:
            with self.transaction():
                drawn = {run.problem_key for run, _ in rows}
                for key, info in (problem_info or {}).items():
                    if key in self._has_info:  # written already (a Hessian's JSON is large)
                        continue
                    info = dict(info)
                    grid = info.pop("landscape", None)
                    self.conn.execute(
                        "INSERT OR IGNORE INTO problems VALUES (?, ?)", (key, to_json(info))
                    )
                    if grid is not None and key in drawn:  # with the problem's first runs
                        self.conn.execute(
                            "INSERT OR IGNORE INTO landscapes VALUES (?, ?)",
                            (key, pack_trace(grid)),
                        )
                    if grid is None or key in drawn:
                        wrote.add(key)
                self._has_info |= wrote  # (a failed write ends the run: nothing to undo)
                fresh = {k: v for k, v in (components or {}).items() if k not in self._has_info}
                if fresh:
                    self.conn.executemany(
                        "INSERT OR IGNORE INTO components VALUES (?, ?, ?)",
                        [(kind, name, to_json(info)) for (kind, name), info in fresh.items()],
                    )
                    self._has_info |= set(fresh)
                stored = self._stored([run.run_id for run, _ in rows])
                replaced = stored.intersection(replace)
                if replaced:  # a row of this version (another writer's recompute) is kept
                    replaced -= self._stored(sorted(replaced), RESULTS_VERSION)
                if replaced:
                    reason = f"recomputed by results version {RESULTS_VERSION}"
                    self._move_aside(sorted(replaced), reason, now)
                    stored -= replaced
                rows = [(run, res) for run, res in rows if run.run_id not in stored]
                self._insert_session()
                if not rows:
                    return 0
                block = self.conn.execute(
                    "SELECT coalesce(max(block), 0) + 1 FROM blocks"
                ).fetchone()[0]
                results = [res for _, res in rows]
                whole = whole_block(results)  # the batch's own block, packed where it ran
                self.conn.execute(
                    "INSERT INTO blocks VALUES (?, ?, ?)",
                    (block, *(whole.pack() if whole is not None else pack_block(results))),
                )
                if whole is not None and whole.summaries is not None:
                    summaries = summary_jsons(whole.summaries)  # one encoding per column
                else:
                    summaries = [res.summary.to_json() for res in results]
                records = [
                    (
                        run.run_id,
                        run.problem,
                        run.problem_key,
                        encoded(run.problem_params),
                        run.optimizer,
                        run.label,
                        encoded(run.optimizer_params),
                        run.seed,
                        run.budget,
                        run.max_iter,
                        run.tol,
                        res.status,
                        res.message,
                        summaries[i],
                        "",  # the metrics are in the block
                        float(res.seconds),
                        batch,
                        now,
                        where,
                        vers,
                        block,
                        i,
                        RESULTS_VERSION,
                    )
                    for i, (run, res) in enumerate(rows)
                ]
                self.conn.executemany(
                    f"INSERT INTO runs VALUES ({','.join('?' * 23)})", records
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(_database_error(self.path, exc, writing=True)) from None
        return len(rows)

    def _stored(self, run_ids: list[str], results_version: int | None = None) -> set[str]:
        """The runs of ``run_ids`` the store holds (of that results version, where given)."""
        out: set[str] = set()
        only = "" if results_version is None else f" AND results_version = {int(results_version)}"
        for i in range(0, len(run_ids), TRACE_CHUNK):
            chunk = run_ids[i : i + TRACE_CHUNK]
            marks = ",".join("?" * len(chunk))
            q = f"SELECT run_id FROM runs WHERE run_id IN ({marks}){only}"
            out.update(r[0] for r in self.conn.execute(q, chunk))
        return out

    def _move_aside(self, run_ids: Iterable[str], reason: str, now: float) -> None:
        """Inside a transaction: move stored rows out of ``runs`` into ``superseded``, each
        whole as JSON with ``reason``. Nothing is deleted: a version-1 trace moves along
        (``trace``); a columnar row keeps its ``block`` and ``row``, and blocks stay."""
        for rid in run_ids:
            cur = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (rid,))
            row = cur.fetchone()
            if row is None:
                continue
            cols = [c[0] for c in cur.description]
            blob = self.conn.execute("SELECT data FROM traces WHERE run_id = ?", (rid,)).fetchone()
            self.conn.execute(
                "INSERT INTO superseded (run_id, superseded, reason, row, trace) "
                "VALUES (?,?,?,?,?)",
                (rid, now, reason, to_json(dict(zip(cols, row, strict=True))),
                 None if blob is None else blob[0]),
            )
            self.conn.execute("DELETE FROM traces WHERE run_id = ?", (rid,))
            self.conn.execute("DELETE FROM runs WHERE run_id = ?", (rid,))

    def results_versions(self, run_ids: Iterable[str] | None = None) -> dict[str, int]:
        """The results version of each stored run (of ``run_ids``, or all)."""
        col = "results_version" if self.version >= 2 else "1"
        rows = self.conn.execute(f"SELECT run_id, {col} FROM runs")
        if run_ids is None:
            return dict(rows)
        wanted = set(run_ids)
        return {r: v for r, v in rows if r in wanted}

    def failed_ids(self) -> set[str]:
        """The runs that ended in ``error`` or ``timeout`` (``--retry-failed`` reruns them)."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT run_id FROM runs WHERE status IN ('error', 'timeout')"
            )
        }

    def supersede(self, run_ids: Iterable[str], reason: str = "retried (--retry-failed)") -> None:
        """Move these runs' rows out of ``runs`` into ``superseded`` (:meth:`_move_aside`):
        a retried run's old row is never deleted."""
        try:
            with self.transaction():
                self._move_aside(run_ids, reason, time.time())
        except sqlite3.DatabaseError as exc:
            raise StoreError(_database_error(self.path, exc, writing=True)) from None

    def superseded(self) -> list[dict[str, Any]]:
        """The rows ``--retry-failed`` and ``--recompute`` replaced, oldest first."""
        return [
            {
                "run_id": rid,
                "superseded": when,
                "reason": reason,
                **self._parse(row, f"superseded {rid!r}", "row"),
            }
            for rid, when, reason, row in self.conn.execute(
                "SELECT run_id, superseded, reason, row FROM superseded ORDER BY id"
            )
        ]

    # -- reading ---------------------------------------------------------------------------
    def _rows(self, where: str = "", args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """The rows of ``runs``, their JSON parsed (metrics aside: see :meth:`metrics`)."""
        cur = self.conn.execute(f"SELECT * FROM runs {where} ORDER BY rowid", tuple(args))
        cols = [c[0] for c in cur.description]
        fetched = cur.fetchall()
        at = cols.index("summary")
        try:  # every summary in one parse; a damaged one is then found and named run by run
            summaries = json.loads("[" + ",".join([row[at] for row in fetched]) + "]")
            if len(summaries) != len(fetched):
                raise ValueError("not one summary per run")
        except (TypeError, ValueError):
            summaries = None
        out = []
        shared: dict[Any, Any] = {}  # a sweep's runs share their specs' and versions' text
        for i, row in enumerate(fetched):
            rec = dict(zip(cols, row, strict=True))
            if summaries is None:
                summary = self._parse(rec["summary"], f"run {rec['run_id']!r}", "summary")
            else:
                summary = summaries[i]
            if not isinstance(summary, dict):
                raise self._corrupt(f"run {rec['run_id']!r}", "its summary is not an object")
            rec["summary"] = Summary.from_dict(summary)
            for k in ("problem_params", "optimizer_params", "versions"):
                text = rec[k]
                if (k, text) not in shared:
                    shared[k, text] = self._parse(text, f"run {rec['run_id']!r}", k)
                rec[k] = shared[k, text]
            for k in ("seed", "max_iter"):
                if not isinstance(rec[k], int):
                    raise self._corrupt(
                        f"run {rec['run_id']!r}", f"its {k} is {rec[k]!r}, not a whole number"
                    )
            rec.setdefault("block", None)
            rec.setdefault("row", None)
            rec.setdefault("results_version", 1)
            out.append(rec)
        return out

    def runs(self) -> list[dict[str, Any]]:
        """Every run as a dict, its ``metrics`` a dict (non-finite and missing as in JSON:
        NaN is None)."""
        rows = self._rows()
        metrics = self.metrics()
        for rec in rows:
            rec["metrics"] = metrics.get(rec["run_id"], {})
        return rows

    def _corrupt(self, what: str, why: str) -> StoreError:
        return StoreError(
            f"{what} in {str(self.path)!r} is corrupt: {why}; the file was changed "
            "outside optbench (rerun into a fresh store with --fresh)"
        )

    def _parse(self, text: Any, what: str, column: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            raise self._corrupt(what, f"its {column} is not valid JSON ({exc})") from None

    def _placed(self, run_ids: list[str] | None) -> list[tuple[str, Any, Any]]:
        """``(run_id, block, row)`` of the runs, all or those of ``run_ids`` in their order
        (block None: a version-1 row)."""
        cols = "run_id, NULL, NULL" if self.version < 2 else "run_id, block, row"
        if run_ids is None:
            return self.conn.execute(f"SELECT {cols} FROM runs ORDER BY rowid").fetchall()
        by_id: dict[str, tuple[str, int | None, int | None]] = {}
        for i in range(0, len(run_ids), TRACE_CHUNK):
            chunk = run_ids[i : i + TRACE_CHUNK]
            marks = ",".join("?" * len(chunk))
            q = f"SELECT {cols} FROM runs WHERE run_id IN ({marks})"
            by_id.update((r[0], r) for r in self.conn.execute(q, chunk))
        return [by_id[r] for r in run_ids if r in by_id]

    def _block(self, block: int, column: str, run_id: str, keys=None) -> dict[str, np.ndarray]:
        row = self.conn.execute(
            f"SELECT {column} FROM blocks WHERE block=?", (block,)
        ).fetchone()
        if row is None:
            raise self._corrupt(f"run {run_id!r}", f"its block {block} is missing")
        what = "trace" if column == "traces" else column
        return read_trace(self.path, run_id, row[0], keys, what)

    def _metric_columns(self, block: int, run_id: str):
        """:func:`unpack_metrics` of a block; a damaged one is a one-line error naming a run."""
        try:
            return unpack_metrics(self._block(block, "metrics", run_id))
        except ValueError as exc:
            raise self._corrupt(f"run {run_id!r}", str(exc)) from None

    def _legacy_metrics(self, run_id: str) -> dict[str, Any]:
        """A version-1 row's metrics (JSON in ``runs``)."""
        (text,) = self.conn.execute(
            "SELECT metrics FROM runs WHERE run_id=?", (run_id,)
        ).fetchone()
        return self._parse(text, f"run {run_id!r}", "metrics")

    def metrics(self, run_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """``{run_id: {metric: value}}`` (of ``run_ids``, or all), NaN as None."""
        out: dict[str, dict[str, Any]] = {}
        for block, members in self._by_block(self._placed(run_ids)).items():
            if block is None:
                for rid in members:
                    out[rid] = self._legacy_metrics(rid)
                continue
            cols = self._metric_columns(block, next(iter(members)))
            for rid, i in members.items():
                out[rid] = {
                    k: _plain(v[i], None if m is None else m[i]) for k, (v, m) in cols.items()
                }
        return out

    def metric_frame(self):
        """Every run's metrics as a DataFrame indexed by run_id, read a block at a time
        (missing and None as NaN, infinities as floats)."""
        import pandas as pd

        parts, legacy = [], []
        for block, members in self._by_block(self._placed(None)).items():
            if block is None:
                for rid in members:
                    m = self._legacy_metrics(rid)
                    legacy.append({"run_id": rid, **{k: _num(v) for k, v in m.items()}})
                continue
            cols = self._metric_columns(block, next(iter(members)))
            rows = np.fromiter(members.values(), dtype=np.int64, count=len(members))
            frame = {}
            for k, (v, m) in cols.items():
                v = v[rows]
                if m is not None and m[rows].any():
                    v = v.astype(float) if v.dtype.kind in "iub" else v.astype(object)
                    v[m[rows]] = np.nan
                frame[k] = v
            if frame:  # a block of runs without metrics (skipped): NaN by the reindex below
                parts.append(pd.DataFrame(frame, index=pd.Index(list(members), name="run_id")))
        if legacy:
            parts.append(pd.DataFrame.from_records(legacy, index="run_id"))
        if not parts:
            return pd.DataFrame(index=pd.Index([], name="run_id"))
        return (pd.concat(parts) if len(parts) > 1 else parts[0]).infer_objects()

    @staticmethod
    def _by_block(placed) -> dict[Any, dict[str, Any]]:
        by: dict[Any, dict[str, Any]] = {}
        for rid, block, row in placed:
            by.setdefault(block, {})[rid] = row
        return by

    def status_counts(self, run_ids: list[str] | None = None) -> dict[str, int]:
        """How many runs (of ``run_ids``, or all) ended in each status."""
        counts: dict[str, int] = {}
        wanted = None if run_ids is None else set(run_ids)
        for rid, status in self.conn.execute("SELECT run_id, status FROM runs"):
            if wanted is None or rid in wanted:
                counts[status] = counts.get(status, 0) + 1
        return counts

    def problem_info(self) -> dict[str, dict]:
        """``problem_key -> info``; an info that is not a JSON object, or whose ``label`` is
        not text, is a one-line :class:`StoreError` naming the problem."""
        out = {}
        for k, v in self.conn.execute("SELECT key, info FROM problems"):
            info = self._parse(v, f"problem {k!r}", "info")
            out[k] = self._checked(info, f"problem {k!r}", _PROBLEM_FIELDS)
        return out

    def _checked(self, info: Any, what: str, fields: dict[str, tuple[type, ...]]) -> dict:
        """``info`` when it is a JSON object whose ``fields`` (where present and not null)
        have the types a reader expects; else a one-line :class:`StoreError`."""
        if not isinstance(info, dict):
            raise self._corrupt(what, f"its info is a JSON {_json_type(info)}, "
                                      "expected an object")
        for name, types in fields.items():
            value = info.get(name)
            if value is None:
                continue
            ok = isinstance(value, types)
            if ok and isinstance(value, list):
                ok = all(isinstance(v, str) for v in value)
            if not ok:
                expected = " or ".join(_TYPE_NAMES[t] for t in types)
                raise self._corrupt(what, f"its {name} is a JSON {_json_type(value)} "
                                          f"({_short(value)}), expected {expected}")
        return info

    def components(self) -> dict[tuple[str, str], dict[str, Any]]:
        """``(kind, name) -> info`` of the optimizers and schedules the runs used, as the
        registry described them when the runs were stored (empty for stores written before
        they were recorded)."""
        try:
            rows = self.conn.execute("SELECT kind, name, info FROM components").fetchall()
        except sqlite3.OperationalError:  # an older store, opened read-only: no such table
            return {}
        return {
            (k, n): self._checked(self._parse(v, f"{k} {n!r}", "info"), f"{k} {n!r}",
                                  _COMPONENT_FIELDS)
            for k, n, v in rows
        }

    def landscapes(self) -> dict[str, dict[str, np.ndarray]]:
        """problem_key -> the landscape stored with the problem
        (:meth:`optbench.problem.Problem.stored_landscape`); stores written before
        landscapes were stored have none."""
        try:
            rows = self.conn.execute("SELECT key, data FROM landscapes").fetchall()
        except sqlite3.OperationalError:  # an older store, opened read-only: no such table
            return {}
        out = {}
        for key, data in rows:
            try:
                out[key] = unpack_trace(data)
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise self._corrupt(f"the landscape of problem {key!r}", str(exc)) from None
        return out

    def trace(self, run_id: str, keys: Iterable[str] | None = None) -> dict[str, np.ndarray] | None:
        """One run's trace (None: the run has none, or is not stored)."""
        return dict(self.traces([run_id], keys)).get(run_id)

    def traces(
        self, run_ids: Iterable[str], keys: Iterable[str] | None = None
    ) -> Iterable[tuple[str, dict[str, np.ndarray] | None]]:
        """``(run_id, trace or None)`` for many runs, reading each block once (the runs of
        a block come together); only ``keys``, where given. A damaged trace is a one-line
        :class:`StoreError` naming the run."""
        keys = None if keys is None else tuple(keys)
        ids = list(run_ids)
        placed = self._placed(ids)
        missing = set(ids) - {p[0] for p in placed}
        for block, members in self._by_block(placed).items():
            if block is None:
                for rid, data in self._legacy_traces(list(members)):
                    yield rid, None if data is None else read_trace(self.path, rid, data, keys)
                continue
            rid0 = next(iter(members))
            wanted = None if keys is None else {"length", *keys, *(f"len.{k}" for k in keys)}
            columns = self._block(block, "traces", rid0, wanted)
            try:
                split = split_traces(columns)
            except (KeyError, ValueError, IndexError) as exc:
                raise self._corrupt(
                    f"run {rid0!r}", f"its trace block is malformed ({exc})"
                ) from None
            for rid, i in members.items():
                yield rid, split(i)
        for rid in missing:
            yield rid, None

    def _legacy_traces(self, ids: list[str]) -> Iterable[tuple[str, bytes | None]]:
        """``(run_id, packed trace or None)`` from a version-1 ``traces`` table, read in
        chunks of :data:`TRACE_CHUNK` per query."""
        for i in range(0, len(ids), TRACE_CHUNK):
            chunk = ids[i : i + TRACE_CHUNK]
            marks = ",".join("?" * len(chunk))
            found = dict(
                self.conn.execute(
                    f"SELECT run_id, data FROM traces WHERE run_id IN ({marks})", chunk
                )
            )
            for rid in chunk:
                yield rid, found.get(rid)

    def sessions(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM sessions ORDER BY id")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]


def copy_store(
    conn: sqlite3.Connection, target: Path, rewrite_block: Callable[[bytes], bytes] | None = None
) -> Path:
    """A self-contained copy of an open store at ``target`` (SQLite's backup reads through
    its write-ahead log), in rollback-journal mode so that it is one file; each block's
    traces passed through ``rewrite_block`` where given (a bundle's thinning), then
    vacuumed."""
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        conn.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE").fetchone()
        if rewrite_block is not None:
            blocks = copy.execute("SELECT block, traces FROM blocks").fetchall()
            copy.execute("BEGIN")
            for block, data in blocks:
                copy.execute("UPDATE blocks SET traces=? WHERE block=?",
                             (rewrite_block(data), block))
            copy.execute("COMMIT")
        copy.execute("VACUUM")
    finally:
        copy.close()
    return target


@contextlib.contextmanager
def exclusive(db: str | os.PathLike):
    """Held by one process at a time per store (an advisory lock on the store's folder,
    released when the process ends): two ``--recompute`` runs into one store take turns,
    and the second finds the first's fresh rows instead of computing every run again. No
    file is made; where the platform has no ``flock`` it does nothing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(Path(db).parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
