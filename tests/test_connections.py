"""A store that cannot be opened leaves no SQLite connection behind.

Python 3.13 warns about a connection that is garbage-collected unclosed (``ResourceWarning:
unclosed database``); on every version such a connection keeps the file open until the
cyclic garbage collector happens to run. The check asks the operating system: after the
failed open, with the garbage collector held off, no file descriptor of this process may
still point at the file.
"""

from __future__ import annotations

import gc
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from optbench.errors import StoreError
from optbench.store import Store

FD_DIR = Path("/proc/self/fd")

pytestmark = pytest.mark.skipif(not FD_DIR.is_dir(), reason="needs /proc/self/fd (Linux)")


def _descriptors_on(path: Path) -> list[str]:
    target = str(path.resolve())
    out = []
    for fd in os.listdir(FD_DIR):
        try:
            if os.readlink(FD_DIR / fd) == target:
                out.append(fd)
        except OSError:  # closed while listing (the listing's own descriptor)
            pass
    return out


def _truncated_store(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE t (x BLOB)")
        conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(2000),)] * 50)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


@pytest.fixture(params=["text", "truncated"])
def bad_file(request, tmp_path: Path) -> Path:
    if request.param == "text":
        path = tmp_path / "results.sqlite"
        path.write_text("a text file, not a database " * 20)
        return path
    return _truncated_store(tmp_path / "results.sqlite")


@pytest.mark.parametrize("create", [False, True], ids=["read", "create"])
def test_a_store_that_cannot_be_opened_holds_no_file(bad_file: Path, create: bool):
    before = _descriptors_on(bad_file)
    assert before == []
    gc.disable()  # a leaked connection must not be rescued by a collection mid-test
    try:
        with pytest.raises(StoreError):
            Store(bad_file, create=create)
        left = _descriptors_on(bad_file)
    finally:
        gc.enable()
        gc.collect()  # on 3.13 a leaked connection warns here, inside this test
    assert left == [], f"{len(left)} descriptor(s) still open on {bad_file.name}"


def test_the_probe_sees_an_open_connection(tmp_path: Path):
    """Positive control: an open connection does show as a descriptor on the file."""
    path = tmp_path / "results.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (x)")
        assert _descriptors_on(path)
    assert _descriptors_on(path) == []
