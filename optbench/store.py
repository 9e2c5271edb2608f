"""The results store: one embedded SQLite file, written by a single writer. Every SQL
statement of optbench is here; the rest of the package reads a store through
:class:`Store` and :func:`read_runs` (the tidy frame, one row per run). Also here: how a
trace is thinned for storage (:func:`thin_trace`) and the tuning record written beside a
store (:func:`tuning_path`).

WAL mode and one transaction per finished batch, so an interrupted benchmark keeps every
batch that finished; ``INSERT OR IGNORE`` on ``run_id``, so two writers or a rerun never
duplicate or overwrite a run. Traces are compressed numpy archives (``numpy.savez``) read
back with ``allow_pickle=False``: nothing in a store is ever unpickled.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import platform
import sqlite3
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StoreError

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "pack_trace",
    "read_runs",
    "read_trace",
    "read_tuning",
    "thin_trace",
    "tuning_path",
    "unpack_trace",
    "write_tuning",
]

SCHEMA_VERSION = 1
TRACE_CHUNK = 500  # traces read per SQL query when reading many

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
    versions TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS traces (run_id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS problems (key TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL,
    command TEXT, spec TEXT, versions TEXT, host TEXT);
CREATE TABLE IF NOT EXISTS superseded (id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL, superseded REAL NOT NULL, row TEXT NOT NULL, trace BLOB);
"""


def _host(anonymous: bool) -> str:
    """The machine's name, or "" when the store is to say nothing about where it ran."""
    return "" if anonymous else platform.node()


def _json(obj: Any) -> str:
    return json.dumps(_clean(obj), sort_keys=True, separators=(",", ":"))


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def versions() -> dict[str, str]:
    import scipy

    from . import __version__

    return {
        "optbench": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def pack_trace(trace: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive as ``numpy.savez_compressed`` writes it, at zlib level 1: as
    small for traces (float noise compresses no further) and twice as fast, which matters
    because the driver packs every run's trace itself."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for k, v in trace.items():
            with zf.open(f"{k}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(v), allow_pickle=False)
    return buf.getvalue()


def unpack_trace(data: bytes, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a packed trace (only ``keys``, where given)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in (z.files if keys is None else keys) if k in z.files}


def read_trace(
    path: str | os.PathLike, run_id: str, data: Any, keys: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """:func:`unpack_trace` of a stored blob; a damaged one is a one-line error naming the
    run and the store (never a traceback, never an unpickled object)."""

    def corrupt(why: str) -> StoreError:
        return StoreError(
            f"run {run_id!r} in {str(path)!r} is corrupt: {why}; the file was changed "
            "outside optbench (rerun into a fresh store with --fresh)"
        )

    if not isinstance(data, bytes):
        raise corrupt("its trace is not a blob")
    try:
        return unpack_trace(data, keys)
    except ValueError as exc:
        if "Object arrays" in str(exc):
            raise corrupt(
                "its trace holds pickled objects, which optbench never loads (allow_pickle=False)"
            ) from None
        if data[:1] == b"\x80":  # pickle's opcode PROTO: numpy would have to unpickle it
            raise corrupt("its trace is a pickle, which optbench never loads") from None
        raise corrupt("its trace is not a numpy archive") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise corrupt(f"its trace is not a numpy archive ({type(exc).__name__})") from None


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

    def __init__(self, path: str | os.PathLike, create: bool = False):
        self.path = Path(path)
        self.read_only = not create
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
        self.conn = None
        try:
            if self.path.is_file() and self.path.stat().st_size > 0:
                # an existing file is checked through a read-only connection first: a file
                # that is not an optbench store is never written to, not even a pragma
                self.conn = self._connect_read_only()
                try:
                    # an empty database is one another writer is creating right now
                    empty = not self.conn.execute("SELECT 1 FROM sqlite_master").fetchone()
                    if not (create and empty):
                        self._check_schema()
                finally:
                    self.conn.close()
                    self.conn = None
            if not create:
                self.conn = self._connect_read_only()
                return
            self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.conn.execute("PRAGMA journal_mode = WAL").fetchone()
            with self.transaction():
                for stmt in _SCHEMA.strip().split(";"):
                    if stmt.strip():
                        self.conn.execute(stmt)
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            self._check_schema()
        except BaseException as exc:
            if self.conn is not None:  # every connection is closed, also when opening fails
                self.conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(_database_error(self.path, exc)) from None
            if isinstance(exc, OSError):
                raise StoreError(f"cannot open {str(self.path)!r}: {exc}") from None
            raise

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
            if "no such table" not in str(exc):
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
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{str(self.path)!r} has store schema version {row[0]}, this optbench "
                f"reads version {SCHEMA_VERSION}; use a matching optbench or --fresh"
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

    def add_session(self, command: str, spec: dict[str, Any], anonymous: bool = False) -> None:
        """Record who wrote to the store; ``anonymous`` leaves the host name out."""
        try:
            with self.transaction():
                self.conn.execute(
                    "INSERT INTO sessions (started, command, spec, versions, host) "
                    "VALUES (?,?,?,?,?)",
                    (time.time(), command, _json(spec), _json(versions()), _host(anonymous)),
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(_database_error(self.path, exc, writing=True)) from None

    def write(
        self,
        rows: Iterable[tuple[Any, Any]],
        problem_info: dict[str, dict] | None = None,
        batch: int | None = None,
        anonymous: bool = False,
    ) -> int:
        """Write ``(RunSpec, RunResult)`` pairs in one transaction; returns rows added.

        ``anonymous`` stores an empty host name."""
        from .plan import label, problem_key
        from .spec import canonical

        vers = _json(versions())
        host = _host(anonymous)
        now = time.time()
        added = 0
        try:
            with self.transaction():
                for key, info in (problem_info or {}).items():
                    self.conn.execute(
                        "INSERT OR IGNORE INTO problems VALUES (?, ?)", (key, _json(info))
                    )
                for run, res in rows:
                    cur = self.conn.execute(
                        f"INSERT OR IGNORE INTO runs VALUES ({','.join('?' * 20)})",
                        (
                            run.run_id,
                            run.problem.name,
                            problem_key(run.problem),
                            _json(canonical(run.problem)["params"]),
                            run.optimizer.name,
                            run.label or label(run.optimizer),
                            _json(canonical(run.optimizer)["params"]),
                            run.seed,
                            run.budget,
                            run.max_iter,
                            run.tol,
                            res.status,
                            res.message,
                            _json(res.summary),
                            _json(res.metrics),
                            float(res.seconds),
                            batch,
                            now,
                            host,
                            vers,
                        ),
                    )
                    if cur.rowcount and res.trace is not None:
                        self.conn.execute(
                            "INSERT OR IGNORE INTO traces VALUES (?, ?)",
                            (run.run_id, pack_trace(res.trace)),
                        )
                    added += cur.rowcount
        except sqlite3.DatabaseError as exc:
            raise StoreError(_database_error(self.path, exc, writing=True)) from None
        return added

    def failed_ids(self) -> set[str]:
        """The runs that ended in ``error`` or ``timeout`` (``--retry-failed`` reruns them)."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT run_id FROM runs WHERE status IN ('error', 'timeout')"
            )
        }

    def supersede(self, run_ids: Iterable[str]) -> None:
        """Move these runs' rows (and traces) out of ``runs`` into ``superseded``, each
        kept whole as JSON with its trace blob: a retried run's old row is never deleted."""
        now = time.time()
        try:
            with self.transaction():
                for rid in run_ids:
                    cur = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (rid,))
                    row = cur.fetchone()
                    if row is None:
                        continue
                    cols = [c[0] for c in cur.description]
                    blob = self.conn.execute(
                        "SELECT data FROM traces WHERE run_id = ?", (rid,)
                    ).fetchone()
                    self.conn.execute(
                        "INSERT INTO superseded (run_id, superseded, row, trace) VALUES (?,?,?,?)",
                        (rid, now, _json(dict(zip(cols, row, strict=True))),
                         None if blob is None else blob[0]),
                    )
                    self.conn.execute("DELETE FROM traces WHERE run_id = ?", (rid,))
                    self.conn.execute("DELETE FROM runs WHERE run_id = ?", (rid,))
        except sqlite3.DatabaseError as exc:
            raise StoreError(_database_error(self.path, exc, writing=True)) from None

    def superseded(self) -> list[dict[str, Any]]:
        """The rows ``--retry-failed`` replaced, oldest first."""
        return [
            {"run_id": rid, "superseded": when, **self._parse(row, f"superseded {rid!r}", "row")}
            for rid, when, row in self.conn.execute(
                "SELECT run_id, superseded, row FROM superseded ORDER BY id"
            )
        ]

    # -- reading ---------------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM runs ORDER BY rowid")
        cols = [c[0] for c in cur.description]
        out = []
        for row in cur:
            rec = dict(zip(cols, row, strict=True))
            for k in ("problem_params", "optimizer_params", "summary", "metrics", "versions"):
                rec[k] = self._parse(rec[k], f"run {rec['run_id']!r}", k)
            for k in ("seed", "max_iter"):
                if not isinstance(rec[k], int):
                    raise self._corrupt(
                        f"run {rec['run_id']!r}", f"its {k} is {rec[k]!r}, not a whole number"
                    )
            out.append(rec)
        return out

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

    def status_counts(self, run_ids: list[str] | None = None) -> dict[str, int]:
        """How many runs (of ``run_ids``, or all) ended in each status."""
        counts: dict[str, int] = {}
        wanted = None if run_ids is None else set(run_ids)
        for rid, status in self.conn.execute("SELECT run_id, status FROM runs"):
            if wanted is None or rid in wanted:
                counts[status] = counts.get(status, 0) + 1
        return counts

    def problem_info(self) -> dict[str, dict]:
        return {
            k: self._parse(v, f"problem {k!r}", "info")
            for k, v in self.conn.execute("SELECT key, info FROM problems")
        }

    def trace(self, run_id: str) -> dict[str, np.ndarray] | None:
        row = self.conn.execute("SELECT data FROM traces WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else read_trace(self.path, run_id, row[0])

    def trace_data(self, run_ids: Iterable[str]) -> Iterable[tuple[str, bytes | None]]:
        """``(run_id, packed trace or None)`` for many runs, in their order, read in chunks
        of :data:`TRACE_CHUNK` per query (see :func:`read_trace`)."""
        ids = list(run_ids)
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


# -- thinning: the stored form of a trace ----------------------------------------------------

THIN_ABOVE = 600  # iterates; longer traces are stored thinned
THIN_HEAD = 100  # the first iterates, where overshoot and oscillation show, are kept whole
THIN_POINTS = 400  # log-spaced checkpoints after the head


def thin_trace(tr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The stored form of a run's trace: every iterate up to ``THIN_ABOVE``, else the head
    plus log-spaced checkpoints and the last iterate. ``t`` holds the iterate numbers, so
    a thinned trace still plots against iterations (``t``) or evaluations (``n_f + n_g``).
    Metrics were already computed from the full trace in the worker.
    """
    n = len(tr["f"])
    if n <= THIN_ABOVE:
        return {**tr, "t": np.arange(n, dtype=np.int64)}
    keep, keep_lr = _thin_index(n)
    out = {k: (v[keep] if k != "lr" else v[keep_lr]) for k, v in tr.items()}
    out["t"] = keep.copy()
    return out


@functools.lru_cache(maxsize=256)
def _thin_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The iterates kept of a trace of ``n`` (and of its ``n - 1`` rates); the runs of a
    batch mostly share their length, so each length is worked out once."""
    keep = np.unique(
        np.concatenate(
            [
                np.arange(THIN_HEAD),
                np.round(np.geomspace(THIN_HEAD, n - 1, THIN_POINTS)).astype(np.int64),
                [n - 1],
            ]
        )
    ).astype(np.int64)
    keep.flags.writeable = False
    return keep, keep[keep < n - 1]


# -- the tuning record beside a store -------------------------------------------------------


def tuning_path(db: str | os.PathLike) -> Path:
    """Where ``optbench tune`` records its protocol for a store: ``<store>.tuning.json``."""
    p = Path(db)
    return p.with_name(p.stem + ".tuning.json")


def write_tuning(db: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write the tuning record of ``db`` (atomically: a reader never sees half of it)."""
    path = tuning_path(db)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return path


def read_tuning(dbs: Iterable[str | os.PathLike]) -> dict[str, Any] | None:
    """The tuning records beside the stores, merged (None when there is none)."""
    records = []
    for db in dbs:
        path = tuning_path(db)
        if path.is_file():
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # a damaged record: report the runs untuned rather than fail
    if not records:
        return None
    merged = dict(records[0])
    for key in ("winners", "tuning_run_ids", "final_run_ids"):
        merged[key] = [v for r in records for v in r.get(key, [])]
    return merged


# -- the run frame ---------------------------------------------------------------------------

_RUN_COLUMNS = (
    "run_id",
    "problem",
    "problem_key",
    "optimizer",
    "label",
    "seed",
    "status",
    "message",
    "budget",
    "max_iter",
    "tol",
    "seconds",
)


def read_runs(path: str | os.PathLike, traces: bool = False):
    """One tidy DataFrame, one row per run, from a store file (:func:`optbench.load`).

    Columns: ``run_id``, ``problem``, ``problem_key``, ``problem_label`` (the problem with
    the parameters that make it a variant, ``linear-regression[standardize=true]``),
    ``optimizer``, ``label``, ``seed``,
    ``status``, ``message``, ``budget``, ``max_iter``, ``n_iter``, ``n_f``, ``n_g``,
    ``evals``, ``f_final``, ``f_best``, every metric, the hyperparameters as ``hp.<name>``
    and the problem parameters as ``pp.<name>``. With ``traces=True`` a ``trace`` column
    holds each run's arrays.
    """
    import pandas as pd

    with Store(path) as store:
        rows = store.runs()
        trace_map = {r["run_id"]: store.trace(r["run_id"]) for r in rows} if traces else None
    from .plan import problem_label

    records = []
    variants: dict[str, str] = {}
    for r in rows:
        key = r["problem_key"]
        if key not in variants:
            variants[key] = problem_label(r["problem"], r["problem_params"])
        rec = {k: r[k] for k in _RUN_COLUMNS[:3]}
        rec["problem_label"] = variants[key]
        rec.update({k: r[k] for k in _RUN_COLUMNS[3:]})
        summary = r["summary"]
        for k in ("n_iter", "n_f", "n_g", "f_final", "f_best"):
            rec[k] = summary.get(k)
        if rec["n_f"] is not None:
            rec["evals"] = rec["n_f"] + rec["n_g"]
        rec["x_final"] = summary.get("x_final")
        for k, v in r["metrics"].items():
            rec[k] = _num(v)
        for k, v in r["optimizer_params"].items():
            rec[f"hp.{k}"] = _hp(v)
        for k, v in r["problem_params"].items():
            rec[f"pp.{k}"] = v
        if trace_map is not None:
            rec["trace"] = trace_map[r["run_id"]]
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    if not len(frame):
        frame = pd.DataFrame(
            columns=["run_id", "problem", "problem_label", "optimizer", "label", "seed", "status"]
        )
    return frame


def _num(v: Any) -> Any:
    if v == "inf":
        return float("inf")
    if v == "-inf":
        return float("-inf")
    return float("nan") if v is None else v


def _hp(v: Any) -> Any:
    if isinstance(v, dict) and "name" in v:
        from .spec import Spec, format_value

        return format_value(Spec(v["name"], v["params"]))
    return v
