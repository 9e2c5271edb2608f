"""A catalogue of bad inputs, end to end through the CLI.

Each one: exit code 2, one line saying what was wrong (click's own usage errors add a
usage line), no traceback, and the store that was already there is untouched.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import run_cli

BASE = ["-p", "quadratic-1d", "-o", "gd"]


def _files(tmp: Path) -> dict[str, Path]:
    """Bad files of every kind, made fresh for each case."""
    f = {}
    f["bad_toml"] = tmp / "bad.toml"
    f["bad_toml"].write_text('problems = ["quadratic-1d"\noptimizers = 3\n')
    f["unknown_key_toml"] = tmp / "unknown.toml"
    f["unknown_key_toml"].write_text(
        'problems = ["quadratic-1d"]\noptimizers = ["gd"]\nseedz = 3\n'
    )
    f["not_list_toml"] = tmp / "notlist.toml"
    f["not_list_toml"].write_text('problems = "quadratic-1d"\noptimizers = ["gd"]\n')
    f["string_seeds_toml"] = tmp / "seeds.toml"
    f["string_seeds_toml"].write_text(
        'problems = ["quadratic-1d"]\noptimizers = ["gd"]\nseeds = "ten"\n'
    )
    f["syntax_plugin"] = tmp / "syntax_plugin.py"
    f["syntax_plugin"].write_text("def broken(:\n")
    f["raising_plugin"] = tmp / "raising_plugin.py"
    f["raising_plugin"].write_text("raise RuntimeError('plug-in exploded at import')\n")
    f["empty_plugin"] = tmp / "empty_plugin.py"
    f["empty_plugin"].write_text("x = 1\n")
    f["dup_plugin"] = tmp / "dup_plugin.py"
    f["dup_plugin"].write_text(
        "from optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('gd')\ndef other_gd():\n    return Optimizer(step=None)\n"
    )
    f["no_L_plugin"] = tmp / "no_L_plugin.py"
    f["no_L_plugin"].write_text(
        "from optbench import Problem, register_problem\n"
        "@register_problem('flat-no-L')\ndef flat():\n"
        "    return Problem(dim=1, f=lambda X: X[:, 0] ** 4, grad=lambda X: 4 * X ** 3,\n"
        "                   bounds=([-1], [1]))\n"
    )
    f["garbage_db"] = tmp / "garbage.sqlite"
    f["garbage_db"].write_bytes(b"this is not a database at all" * 100)
    f["foreign_db"] = tmp / "foreign.sqlite"
    with closing(sqlite3.connect(f["foreign_db"])) as conn, conn:  # closed, and committed
        conn.execute("CREATE TABLE people (name TEXT)")
    f["old_db"] = tmp / "old.sqlite"
    with closing(sqlite3.connect(f["old_db"])) as conn, conn:  # closed, and committed
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    f["a_file"] = tmp / "a_file"
    f["a_file"].write_text("I am a file, not a folder")
    return f


CASES = [
    # unknown names, with a did-you-mean
    ("unknown problem", ["run", "-p", "quadratic-1", "-o", "gd"], "did you mean 'quadratic-1d'"),
    ("unknown optimizer", ["run", "-p", "quadratic-1d", "-o", "gdd"], "did you mean 'gd'"),
    (
        "unknown schedule",
        ["run", "-p", "quadratic-1d", "-o", "gd[schedule=cosin]"],
        "did you mean 'cosine'",
    ),
    (
        "unknown nested schedule",
        ["run", "-p", "quadratic-1d", "-o", "gd[schedule=cosinee(T=3)]"],
        "unknown schedule",
    ),
    (
        "unknown hyperparameter",
        ["run", "-p", "quadratic-1d", "-o", "gd[lrr=1]"],
        "did you mean 'lr'",
    ),
    (
        "unknown problem parameter",
        ["run", "-p", "quadratic-1d[hh=1]", "-o", "gd"],
        "no parameter 'hh'",
    ),
    (
        "unknown schedule parameter",
        ["run", "-p", "quadratic-1d", "-o", "gd[schedule=cosine(TT=3)]"],
        "no parameter 'TT'",
    ),
    # malformed specs
    ("unclosed bracket", ["run", "-p", "quadratic-1d[", "-o", "gd"], "position"),
    ("missing value", ["run", "-p", "quadratic-1d", "-o", "gd[lr=]"], "expected a value"),
    ("bad range", ["run", "-p", "quadratic-1d", "-o", "gd[lr=log(1,2)]"], "three numbers"),
    (
        "log range through zero",
        ["run", "-p", "quadratic-1d", "-o", "gd[lr=log(0,1,3)]"],
        "start > 0",
    ),
    ("repeated key", ["run", "-p", "quadratic-1d", "-o", "gd[lr=1,lr=2]"], "given twice"),
    ("trailing junk", ["run", "-p", "quadratic-1d", "-o", "gd]x"], "unexpected"),
    # invalid values
    ("negative lr", ["run", "-p", "quadratic-1d", "-o", "gd[lr=-1]"], "lr must be > 0, got -1"),
    ("zero lr", ["run", "-p", "quadratic-1d", "-o", "gd[lr=0]"], "lr must be > 0, got 0"),
    ("lr not a number", ["run", "-p", "quadratic-1d", "-o", "gd[lr=fast]"], "lr must be a number"),
    ("bad problem value", ["run", "-p", "quadratic-1d[h=-2]", "-o", "gd"], "h must be > 0"),
    (
        "whole number expected",
        ["run", "-p", "linear-regression[n=2.5]", "-o", "gd"],
        "n must be a whole number",
    ),
    (
        "bad schedule value",
        ["run", "-p", "quadratic-1d", "-o", "gd[schedule=cosine(T=0)]"],
        "T must be",
    ),
    (
        "k/L without L",
        ["run", "--plugin", "{no_L_plugin}", "-p", "flat-no-L", "-o", "gd[lr=0.5/L]"],
        "curvature L",
    ),
    ("zero seeds", ["run", *BASE, "--seeds", "0"], "must be at least 1"),
    ("zero budget", ["run", *BASE, "--budget", "0"], "must be at least 1"),
    ("zero max-iter", ["run", *BASE, "--max-iter", "0"], "must be at least 1"),
    ("zero jobs", ["run", *BASE, "--jobs", "0"], "must be at least 1"),
    ("negative timeout", ["run", *BASE, "--timeout", "-1"], "must be > 0"),
    ("seeds not a number", ["run", *BASE, "--seeds", "many"], "'many' is not a valid integer"),
    ("unknown executor", ["run", *BASE, "--executor", "threads"], "unknown executor 'threads'"),
    # conflicting or incomplete options
    (
        "scheduler without dask",
        ["run", *BASE, "--scheduler", "tcp://127.0.0.1:1"],
        "--scheduler goes with --executor dask",
    ),
    ("problem without optimizer", ["run", "-p", "quadratic-1d"], "no optimizer (-o) given"),
    ("optimizer without problem", ["run", "-o", "gd"], "no problem (-p) given"),
    (
        "report with out and db",
        ["report", "--out", "{out}", "--db", "{garbage_db}"],
        "give --out or --db, not both",
    ),
    ("unknown list kind", ["list", "widgets"], "'widgets' is not one of"),
    # spec files
    ("missing spec file", ["run", "no-such-spec.toml"], "does not exist"),
    ("invalid TOML", ["run", "{bad_toml}"], "is not valid TOML"),
    ("unknown TOML key", ["run", "{unknown_key_toml}"], "unknown keys ['seedz']"),
    ("TOML problems not a list", ["run", "{not_list_toml}"], "must be a list of strings"),
    ("TOML seeds not a number", ["run", "{string_seeds_toml}"], "seeds must be a whole number"),
    # plug-ins
    ("missing plug-in", ["run", "--plugin", "no_such_plugin.py", *BASE], "does not exist"),
    (
        "plug-in with a syntax error",
        ["run", "--plugin", "{syntax_plugin}", *BASE],
        "failed to import: SyntaxError",
    ),
    (
        "plug-in raising at import",
        ["run", "--plugin", "{raising_plugin}", *BASE],
        "plug-in exploded at import",
    ),
    (
        "plug-in registering nothing",
        ["run", "--plugin", "{empty_plugin}", *BASE],
        "registered nothing",
    ),
    ("plug-in duplicating a name", ["run", "--plugin", "{dup_plugin}", *BASE], "registered twice"),
    (
        "plug-in module not importable",
        ["run", "--plugin", "no_such_module_xyz", *BASE],
        "neither a .py file nor an importable module",
    ),
    # stores and output folders
    ("missing store", ["report", "--db", "no-such.sqlite"], "no results store"),
    ("corrupt store", ["report", "--db", "{garbage_db}"], "not a readable optbench store"),
    ("foreign database", ["report", "--db", "{foreign_db}"], "not an optbench store"),
    ("incompatible schema", ["report", "--db", "{old_db}"], "schema version 999"),
    (
        "export from a missing store",
        ["export", "--format", "csv", "--db", "no-such.sqlite"],
        "no results store",
    ),
    ("output folder is a file", ["run", *BASE, "--out", "{a_file}"], "is a file"),
    (
        "output folder cannot be made",
        ["run", *BASE, "--out", "{a_file}/sub"],
        "cannot write to the output folder",
    ),
]


def test_the_catalogue_is_large():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name, args, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, name, args, fragment):
    files = _files(tmp_path)
    out = tmp_path / "results"
    ok = run_cli(
        "run",
        "-p",
        "quadratic-1d",
        "-o",
        "gd",
        "--seeds",
        "2",
        "--budget",
        "10",
        "--out",
        str(out),
        "--no-report",
        "--quiet",
    )
    assert ok.returncode == 0, ok.stderr
    db = out / "results.sqlite"
    before = _snapshot(db)
    args = [a.format(out=out, **files) for a in args]
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(out), "--no-report"]
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert fragment in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, lines
    assert _snapshot(db) == before  # nothing already stored is lost or changed


def _snapshot(db: Path) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn, conn:  # closed, and committed
        return conn.execute(
            "SELECT run_id, status, summary, metrics FROM runs ORDER BY run_id"
        ).fetchall()
