"""The results store: one embedded SQLite file, written by a single writer.

WAL mode and one transaction per finished batch, so an interrupted benchmark keeps every
batch that finished; ``INSERT OR IGNORE`` on ``run_id``, so two writers or a rerun never
duplicate or overwrite a run. Traces are compressed numpy archives (``numpy.savez``) read
back with ``allow_pickle=False``: nothing in a store is ever unpickled.
"""

from __future__ import annotations

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

__all__ = ["SCHEMA_VERSION", "Store"]

SCHEMA_VERSION = 1

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


def unpack_trace(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class Store:
    """An optbench results database.

    Args:
        path: the SQLite file.
        create: create it (and its folder) if missing; otherwise a missing file is an error.
    """

    def __init__(self, path: str | os.PathLike, create: bool = False):
        self.path = Path(path)
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
        try:
            self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if not create:
                self._check_schema()
            else:
                with self.transaction():
                    for stmt in _SCHEMA.strip().split(";"):
                        if stmt.strip():
                            self.conn.execute(stmt)
                    self.conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{str(self.path)!r} is not a readable optbench store ({exc}); "
                "expected a .sqlite file written by 'optbench run'"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot open {str(self.path)!r}: {exc}") from None

    def _check_schema(self) -> None:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            raise StoreError(
                f"{str(self.path)!r} is not an optbench store (no schema version); "
                "expected a .sqlite file written by 'optbench run'"
            )
        if int(row[0]) != SCHEMA_VERSION:
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
                conn.execute("ROLLBACK" if exc_type else "COMMIT")
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
        with self.transaction():
            self.conn.execute(
                "INSERT INTO sessions (started, command, spec, versions, host) VALUES (?,?,?,?,?)",
                (time.time(), command, _json(spec), _json(versions()), _host(anonymous)),
            )

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
            raise StoreError(f"cannot write to {str(self.path)!r}: {exc}") from None
        return added

    # -- reading ---------------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM runs ORDER BY rowid")
        cols = [c[0] for c in cur.description]
        out = []
        for row in cur:
            rec = dict(zip(cols, row, strict=True))
            for k in ("problem_params", "optimizer_params", "summary", "metrics", "versions"):
                rec[k] = json.loads(rec[k])
            out.append(rec)
        return out

    def status_counts(self, run_ids: list[str] | None = None) -> dict[str, int]:
        """How many runs (of ``run_ids``, or all) ended in each status."""
        counts: dict[str, int] = {}
        wanted = None if run_ids is None else set(run_ids)
        for rid, status in self.conn.execute("SELECT run_id, status FROM runs"):
            if wanted is None or rid in wanted:
                counts[status] = counts.get(status, 0) + 1
        return counts

    def problem_info(self) -> dict[str, dict]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, info FROM problems")}

    def trace(self, run_id: str) -> dict[str, np.ndarray] | None:
        row = self.conn.execute("SELECT data FROM traces WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else unpack_trace(row[0])

    def sessions(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM sessions ORDER BY id")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]
