"""A catalogue of bad inputs, end to end through the CLI, by category.

Each one: exit code 2, one line saying what was wrong (click's own usage errors add a
usage line), no traceback, and nothing already stored is lost or changed: the snapshot
compares the whole store — every table — before and after, and every input file byte for
byte. Cases whose command may add rows (a run into a damaged store, refused when it reads
the store back) check that every row already there is still there, unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import fork_cli, run_cli

BASE = ["-p", "quadratic-1d", "-o", "gd"]
BASELINE = [*BASE, "--seeds", "2", "--budget", "10", "--quiet"]

FACTORY_PLUGIN = """
from optbench import Optimizer, Problem, register_optimizer, register_problem

@register_optimizer("exploding-gd")
def exploding_gd(lr: float = 0.1):
    raise RuntimeError("the factory blew up")

@register_problem("exploding-problem")
def exploding_problem():
    raise ZeroDivisionError("the problem factory blew up")

@register_problem("bad-bounds")
def bad_bounds(kind: int = 0):
    b = {0: ([-1.0, 1.0],), 1: ([-1.0], [1.0]), 2: ([1.0, 1.0], [0.0, 2.0])}[kind]
    return Problem(dim=2, f=lambda X: (X ** 2).sum(1), grad=lambda X: 2 * X, bounds=b)
"""

LOCAL_PLUGIN = """
from optbench import Optimizer, register_optimizer

@register_optimizer("local-gd", batchable=True)
def local_gd(lr: float = 0.1):
    return Optimizer(step=lambda x, s, o, t: (x - lr * o.grad(x), s))
"""


def _toml(path: Path, body: str) -> Path:
    path.write_text('problems = ["quadratic-1d"]\noptimizers = ["gd"]\n' + body)
    return path


def _damaged(tmp: Path, name: str, baseline: Path, sql: str, *params) -> Path:
    """A copy of the baseline store, changed outside optbench by ``sql``."""
    folder = tmp / name
    folder.mkdir()
    db = folder / "results.sqlite"
    shutil.copy(baseline, db)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(sql, params)
    return folder


def _pickled_blob() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, f=np.array([{"a": 1}], dtype=object))
    return buf.getvalue()


def _files(tmp: Path, baseline: Path) -> dict[str, Path]:
    """Bad files of every kind, made fresh for each case."""
    f = {}
    f["bad_toml"] = tmp / "bad.toml"
    f["bad_toml"].write_text('problems = ["quadratic-1d"\noptimizers = 3\n')
    f["unknown_key_toml"] = _toml(tmp / "unknown.toml", "seedz = 3\n")
    f["not_list_toml"] = tmp / "notlist.toml"
    f["not_list_toml"].write_text('problems = "quadratic-1d"\noptimizers = ["gd"]\n')
    f["string_seeds_toml"] = _toml(tmp / "seeds.toml", 'seeds = "ten"\n')
    f["string_timeout_toml"] = _toml(tmp / "timeout.toml", 'timeout = "10"\n')
    f["inf_timeout_toml"] = _toml(tmp / "inftimeout.toml", "timeout = inf\n")
    f["string_tol_toml"] = _toml(tmp / "tol.toml", 'tol = "small"\n')
    f["negative_tol_toml"] = _toml(tmp / "negtol.toml", "tol = -1e-3\n")
    f["number_out_toml"] = _toml(tmp / "out.toml", "out = 3\n")
    f["bad_executor_toml"] = _toml(tmp / "executor.toml", 'executor = "threads"\n')
    f["string_jobs_toml"] = _toml(tmp / "jobs.toml", 'jobs = "two"\n')
    f["zero_jobs_toml"] = _toml(tmp / "zerojobs.toml", "jobs = 0\n")
    f["huge_budget_toml"] = _toml(tmp / "budget.toml", "budget = 9223372036854775808\n")
    f["scheduler_serial_toml"] = _toml(
        tmp / "scheduler.toml", 'executor = "serial"\nscheduler = "tcp://127.0.0.1:1"\n'
    )
    f["typo_toml"] = _toml(tmp / "typo.toml", "max_iters = 5\n")
    f["huge_toml"] = tmp / "huge.toml"  # ten million runs
    f["huge_toml"].write_text(
        'problems = ["quadratic-1d"]\noptimizers = ["gd[lr=lin(0.01,1,10000)]"]\nseeds = 1000\n'
    )
    f["low_cap_toml"] = _toml(tmp / "cap.toml", "seeds = 5\nmax_runs = 4\n")
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
    f["factory_plugin"] = tmp / "factory_plugin.py"
    f["factory_plugin"].write_text(FACTORY_PLUGIN)
    f["local_plugin"] = tmp / "local_plugin.py"  # in the working folder, never loaded
    f["local_plugin"].write_text(LOCAL_PLUGIN)
    f["garbage_db"] = tmp / "garbage.sqlite"
    f["garbage_db"].write_bytes(b"this is not a database at all" * 100)
    f["foreign_db"] = tmp / "foreign.sqlite"
    with contextlib.closing(sqlite3.connect(f["foreign_db"])) as conn, conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    # a foreign database where a run would put its store, with optbench's own table names
    (tmp / "foreign").mkdir()
    with contextlib.closing(sqlite3.connect(tmp / "foreign" / "results.sqlite")) as conn, conn:
        conn.execute("CREATE TABLE runs (a, b)")
        conn.execute("INSERT INTO runs VALUES (1, 2)")
    f["foreign_out"] = tmp / "foreign"
    f["old_db"] = tmp / "old.sqlite"
    with contextlib.closing(sqlite3.connect(f["old_db"])) as conn, conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    first = "(SELECT min(rowid) FROM runs)"
    f["bad_version"] = _damaged(
        tmp, "bad_version", baseline, "UPDATE meta SET value='one' WHERE key='schema_version'"
    )
    f["bad_json"] = _damaged(
        tmp, "bad_json", baseline, f"UPDATE runs SET summary='{{not json' WHERE rowid={first}"
    )
    f["bogus_trace"] = _damaged(
        tmp, "bogus_trace", baseline, "UPDATE blocks SET traces=?", b"\x00" * 64
    )
    f["pickled_trace"] = _damaged(
        tmp, "pickled_trace", baseline, "UPDATE blocks SET traces=?", _pickled_blob()
    )
    f["text_seed"] = _damaged(
        tmp, "text_seed", baseline, f"UPDATE runs SET seed='zero' WHERE rowid={first}"
    )
    f["a_file"] = tmp / "a_file"
    f["a_file"].write_text("I am a file, not a folder")
    f["long_name"] = tmp / ("x" * 300)
    return f


USAGE = [
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
    ("bad problem value", ["run", "-p", "quadratic-1d[h=-2]", "-o", "gd"], "h must be in (0, 1e100]"),
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
    ("negative timeout", ["run", *BASE, "--timeout", "-1"], "seconds > 0"),
    ("seeds not a number", ["run", *BASE, "--seeds", "many"], "'many' is not a valid integer"),
    ("unknown executor", ["run", *BASE, "--executor", "threads"], "unknown executor 'threads'"),
    # conflicting or incomplete options
    (
        "scheduler without dask",
        ["run", *BASE, "--scheduler", "tcp://127.0.0.1:1"],
        "goes with",
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
    (
        "unknown TOML key",
        ["run", "{unknown_key_toml}"],
        "unknown key 'seedz'; did you mean 'seeds'?",
    ),
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


# -- the size of a spec, counted before anything is expanded or written ---------------------
SIZE = [
    (
        "a billion learning rates",
        ["run", "-p", "quadratic-1d", "-o", "gd[lr=lin(0.1,1,1000000000)]"],
        "asks for 5,000,000,000 runs",
    ),
    ("a trillion seeds", ["run", *BASE, "--seeds", "1000000000000"], "the limit of 1,000,000"),
    ("ten million runs from TOML", ["run", "{huge_toml}"], "asks for 10,000,000 runs"),
    ("a lower --max-runs", ["run", *BASE, "--seeds", "5", "--max-runs", "4"], "limit of 4 runs"),
    ("max_runs in TOML", ["run", "{low_cap_toml}"], "limit of 4 runs"),
    ("zero max-runs", ["run", *BASE, "--max-runs", "0"], "--max-runs must be at least 1"),
    (
        "a problem too big for memory",
        ["run", "-p", "rosenbrock[d=100000000]", "-o", "gd"],
        ("rosenbrock[d=100000000] needs about", "PB of memory, more than this machine has"),
    ),
    (
        "data too big for memory",
        ["run", "-p", "linear-regression[n=10000000000]", "-o", "gd"],
        ("linear-regression[n=10000000000] needs about 800 GB", "more than this machine has"),
    ),
    (
        "a sweep with one problem too big",
        ["run", "-p", "rosenbrock[d=[2,100000000]]", "-o", "gd"],
        "needs about",
    ),
]

# -- every value checked before anything is written -----------------------------------------
VALUES = [
    (
        "budget beyond int64",
        ["run", *BASE, "--budget", "99999999999999999999"],
        "--budget must be a whole number from 1 to 9,223,372,036,854,775,807",
    ),
    (
        "max-iter beyond int64",
        ["run", *BASE, "--max-iter", "9223372036854775808"],
        "--max-iter must be a whole number from 1 to",
    ),
    ("infinite timeout", ["run", *BASE, "--timeout", "inf"], "--timeout must be a finite number"),
    ("nan timeout", ["run", *BASE, "--timeout", "nan"], "--timeout must be a finite number"),
    ("TOML timeout a string", ["run", "{string_timeout_toml}"], "timeout must be a finite number"),
    ("TOML timeout infinite", ["run", "{inf_timeout_toml}"], "timeout must be a finite number"),
    ("TOML tol a string", ["run", "{string_tol_toml}"], "tol must be a finite number >= 0"),
    ("TOML tol negative", ["run", "{negative_tol_toml}"], "tol must be a finite number >= 0"),
    ("TOML out a number", ["run", "{number_out_toml}"], "out must be a non-empty string, got 3"),
    (
        "TOML executor unknown",
        ["run", "{bad_executor_toml}"],
        "unknown executor 'threads'; expected one of dask, process, serial",
    ),
    ("TOML jobs a string", ["run", "{string_jobs_toml}"], "jobs must be a whole number"),
    ("TOML jobs zero", ["run", "{zero_jobs_toml}"], "jobs must be at least 1, got 0"),
    ("TOML budget beyond int64", ["run", "{huge_budget_toml}"], "budget must be a whole number"),
    (
        "TOML scheduler without dask",
        ["run", "{scheduler_serial_toml}"],
        "goes with the dask executor",
    ),
    (
        "TOML key misspelt",
        ["run", "{typo_toml}"],
        "unknown key 'max_iters'; did you mean 'max_iter'?",
    ),
    (
        "lr=none",
        ["run", "-p", "quadratic-1d", "-o", "gd[lr=none]"],
        "lr must be a number, got none",
    ),
]

# -- plug-ins and check ---------------------------------------------------------------------
PLUGINS = [
    (
        "optimizer factory raising",
        ["run", "--plugin", "{factory_plugin}", "-p", "quadratic-1d", "-o", "exploding-gd"],
        ("optimizer 'exploding-gd' (from ", "factory_plugin.py) failed to build: RuntimeError"),
    ),
    (
        "problem factory raising",
        ["run", "--plugin", "{factory_plugin}", "-p", "exploding-problem", "-o", "gd"],
        ("problem 'exploding-problem' (from ", "ZeroDivisionError: the problem factory blew up"),
    ),
    (
        "bounds with one vector",
        ["run", "--plugin", "{factory_plugin}", "-p", "bad-bounds[kind=0]", "-o", "gd"],
        ("problem 'bad-bounds': bounds must be (lower, upper): two sequences of 2 number(s)"),
    ),
    (
        "bounds of the wrong length",
        ["run", "--plugin", "{factory_plugin}", "-p", "bad-bounds[kind=1]", "-o", "gd"],
        "got lower of length 1 and upper of length 1",
    ),
    (
        "bounds upside down",
        ["run", "--plugin", "{factory_plugin}", "-p", "bad-bounds[kind=2]", "-o", "gd"],
        "got lower[0] = 1.0 >= upper[0] = 0.0",
    ),
    (
        "a name a local file registers",
        ["run", "-p", "quadratic-1d", "-o", "local-gd"],
        "unknown optimizer 'local-gd'; local_plugin.py registers it: load it with --plugin",
    ),
    (
        "check on an unknown problem",
        ["check", "{local_plugin}", "--problem", "bogus"],
        "unknown problem 'bogus'",
    ),
    (
        "check with a bad timeout",
        ["check", "{local_plugin}", "--timeout", "0"],
        "--timeout must be",
    ),
]

# -- stores: foreign, damaged, unwritable ---------------------------------------------------
_RUN_NAMED = "run '"
STORES = [
    ("run into a foreign database", ["run", *BASE, "--out", "{foreign_out}"], "not an optbench"),
    (
        "run into a store with a bad schema version",
        ["run", *BASE, "--out", "{bad_version}"],
        "corrupt schema version 'one'",
    ),
    (
        "report of a bad schema version",
        ["report", "--out", "{bad_version}"],
        "corrupt schema version 'one'",
    ),
    (
        "export of a bad schema version",
        ["export", "--format", "csv", "--db", "{bad_version}/results.sqlite"],
        "corrupt schema version 'one'",
    ),
    ("report of invalid JSON", ["report", "--out", "{bad_json}"], (_RUN_NAMED, "not valid JSON")),
    (
        "export of invalid JSON",
        ["export", "--format", "csv", "--db", "{bad_json}/results.sqlite"],
        (_RUN_NAMED, "its summary is not valid JSON"),
    ),
    (
        "report of a bogus trace",
        ["report", "--out", "{bogus_trace}"],
        (_RUN_NAMED, "its trace is not a numpy archive"),
    ),
    (
        "export of a bogus trace",
        ["export", "--format", "csv", "--db", "{bogus_trace}/results.sqlite"],
        (_RUN_NAMED, "its trace is not a numpy archive"),
    ),
    (
        "report of a pickled trace",
        ["report", "--out", "{pickled_trace}"],
        (_RUN_NAMED, "pickled objects, which optbench never loads"),
    ),
    (
        "export of a pickled trace",
        ["export", "--format", "parquet", "--db", "{pickled_trace}/results.sqlite"],
        (_RUN_NAMED, "pickled objects"),
    ),
    ("report of a text seed", ["report", "--out", "{text_seed}"], (_RUN_NAMED, "its seed is")),
    (
        "export of a text seed",
        ["export", "--format", "coco", "--db", "{text_seed}/results.sqlite"],
        (_RUN_NAMED, "its seed is 'zero', not a whole number"),
    ),
    (
        "report into a path under a file",
        ["report", "--out", "{out}", "--html", "{a_file}/report.html"],
        "cannot write the report",
    ),
    (
        "report onto a folder",
        ["report", "--out", "{out}", "--html", "{out}"],
        "is a directory",
    ),
    (
        "run whose report.html is a folder",
        ["run", *BASE, "--out", "{out}", "--report"],
        "it is a folder; expected a file path",
    ),
    ("too long an --out name", ["run", *BASE, "--out", "{long_name}"], "File name too long"),
]

# a run into a damaged store reads it back for the report: refused then, naming the run;
# it may add its session row, but every row already there is kept unchanged
WRITING = [
    (
        "run into invalid JSON",
        ["run", *BASE, "--out", "{bad_json}"],
        (_RUN_NAMED, "not valid JSON"),
    ),
    ("run into a bogus trace", ["run", *BASE, "--out", "{bogus_trace}"], (_RUN_NAMED, "trace")),
    ("run into a pickled trace", ["run", *BASE, "--out", "{pickled_trace}"], "pickled objects"),
    ("run into a text seed", ["run", *BASE, "--out", "{text_seed}"], (_RUN_NAMED, "its seed")),
]

# -- report filters -------------------------------------------------------------------------
FILTERS = [
    (
        "report filter matching no optimizer",
        ["report", "--out", "{out}", "-o", "gd[lr=0.07]"],
        "-o 'gd[lr=0.07]' matches no run in the store; it holds the optimizers gd",
    ),
    (
        "report filter matching no problem",
        ["report", "--out", "{out}", "-p", "rosenbrock"],
        "-p 'rosenbrock' matches no run in the store; it holds the problems quadratic-1d",
    ),
]

CASES = USAGE + SIZE + VALUES + PLUGINS + STORES + FILTERS


def test_the_catalogue_is_large():
    assert len(CASES) >= 100


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A store of four runs, made once and copied for every case."""
    out = tmp_path_factory.mktemp("baseline") / "results"
    ok = fork_cli("run", *BASELINE, "--out", str(out), "--no-report")
    assert ok.returncode == 0, ok.stderr
    return out / "results.sqlite"


def _prepare(tmp_path: Path, baseline: Path, args: list[str], report: bool = False):
    files = _files(tmp_path, baseline)
    out = tmp_path / "results"
    out.mkdir()
    shutil.copy(baseline, out / "results.sqlite")
    if "--report" in args:  # a folder where the report should go
        (out / "report.html").mkdir()
        args = [a for a in args if a != "--report"]
    elif args[0] == "run" and not report:
        args = [*args, "--no-report"]
    args = [a.format(out=out, **files) for a in args]
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(out)]
    return out, args


def _check_one_line(r, fragment) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    for part in (fragment,) if isinstance(fragment, str) else fragment:
        assert part in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines()  # the report's progress log aside
             if line.strip() and not line.startswith("report: ")]
    assert 1 <= len(lines) <= 3, lines


@pytest.mark.parametrize("name, args, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, baseline, forked_cli, name, args, fragment):
    out, args = _prepare(tmp_path, baseline, args)
    before = _snapshot(tmp_path)
    r = forked_cli(*args, cwd=tmp_path)
    _check_one_line(r, fragment)
    assert _snapshot(tmp_path) == before  # nothing stored is lost or changed, nothing added


# one case of each kind: the forked CLI (tests/cli_zygote.py) says exactly what a fresh
# interpreter says, on stdout and stderr, with the same exit code
SAME_IN_BOTH = ("unknown problem", "TOML timeout a string", "report of a pickled trace",
                "plug-in with a syntax error")


@pytest.mark.parametrize("name", SAME_IN_BOTH)
def test_the_forked_cli_answers_as_a_fresh_process(tmp_path, baseline, forked_cli, name):
    (args,) = [a for n, a, _ in CASES if n == name]
    _, args = _prepare(tmp_path, baseline, args)
    fresh = run_cli(*args, cwd=tmp_path)
    forked = forked_cli(*args, cwd=tmp_path)
    assert fresh.returncode == 2
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode, fresh.stdout, fresh.stderr)


@pytest.mark.parametrize("name, args, fragment", WRITING, ids=[c[0] for c in WRITING])
def test_bad_store_found_by_a_run(tmp_path, baseline, forked_cli, name, args, fragment):
    out, args = _prepare(tmp_path, baseline, args, report=True)
    before = _snapshot(tmp_path, by_bytes=False)
    r = forked_cli(*args, cwd=tmp_path)
    _check_one_line(r, fragment)
    after = _snapshot(tmp_path, by_bytes=False)
    for path, tables in before.items():
        if isinstance(tables, dict):
            for table, rows in tables.items():
                if table == "sqlite_sequence":  # SQLite's counter of session ids
                    continue
                assert set(rows) <= set(after[path][table]), (path, table)
        else:
            assert after[path] == tables, path


def _tables(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table (read-only: the snapshot itself changes nothing)."""
    uri = f"{db.resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}


def _snapshot(folder: Path, by_bytes: bool = True) -> dict[str, object]:
    """Every file under ``folder``: a store's tables (and, ``by_bytes``, its bytes), any other
    file's bytes (by hash)."""
    snap: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_dir() or path.name.endswith(("-wal", "-shm")):
            continue
        key = str(path.relative_to(folder))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if path.name == "results.sqlite" and path.parent.name != "foreign":
            with contextlib.suppress(sqlite3.DatabaseError):
                snap[key] = _tables(path)
                if by_bytes:
                    snap[key + " bytes"] = digest
                continue
        snap[key] = digest
    return snap


# -- end to end: what must work beside the refusals -----------------------------------------
WHERE_PLUGIN = """
import multiprocessing, os
from optbench import Optimizer, register_optimizer

@register_optimizer("where-gd", batchable=True)
def where_gd(lr: float = 0.5):
    def step(x, state, oracle, t):
        if t == 0:  # record which process ran the step (each executor's worker children)
            with open(os.environ["WHERE_FILE"], "a") as fh:
                fh.write(str(os.getpid()) + "\\n")
        return x - lr * oracle.grad(x), state
    return Optimizer(step=step)
"""


def _cli_env(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``optbench ARGS`` with extra environment (warnings shown, as a user sees them)."""
    full = dict(os.environ, COLUMNS="200", **env)
    full.pop("PYTHONWARNINGS", None)
    return subprocess.run(
        [sys.executable, "-m", "optbench.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full,
        timeout=300,
    )


@pytest.mark.parametrize("executor, processes", [("serial", 1), ("process", 2)])
def test_toml_executor_and_jobs_are_honoured(tmp_path, executor, processes):
    (tmp_path / "where_plugin.py").write_text(WHERE_PLUGIN)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'problems = ["quadratic-1d", "rosenbrock"]\noptimizers = ["where-gd"]\n'
        'plugins = ["where_plugin.py"]\n'
        f'seeds = 2\nbudget = 10\nexecutor = "{executor}"\njobs = 2\nout = "res"\n'
    )
    record = tmp_path / "where.txt"
    r = _cli_env("run", str(spec), "--no-report", cwd=tmp_path, env={"WHERE_FILE": str(record)})
    assert r.returncode == 0, r.stderr
    pids = record.read_text().split()
    assert len(pids) == 2 and len(set(pids)) == processes and str(os.getpid()) not in pids
    assert (tmp_path / "res" / "results.sqlite").is_file()  # out from the TOML file


def test_an_entry_point_cannot_take_a_builtin_name(tmp_path):
    """An installed package registering 'gd' is reported once and skipped; 'gd' stays the
    built-in (the impostor never moves, so its runs could not converge)."""
    site = tmp_path / "site"
    (site / "impostor").mkdir(parents=True)
    (site / "impostor" / "__init__.py").write_text(
        "from optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('gd', batchable=True)\n"
        "def frozen(lr: float = 0.1):\n"
        "    return Optimizer(step=lambda x, s, o, t: (x + 0 * o.grad(x), s))\n"
        "@register_optimizer('impostor-extra', batchable=True)\n"
        "def extra(lr: float = 0.5):\n"
        "    return Optimizer(step=lambda x, s, o, t: (x - lr * o.grad(x), s))\n"
    )
    dist = site / "impostor-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: impostor\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[optbench.optimizers]\nimpostor = impostor\n")
    env = {"PYTHONPATH": str(site)}
    for executor in ("serial", "process"):
        out = tmp_path / executor
        r = _cli_env(
            "run",
            "-p",
            "quadratic-1d",
            "-o",
            "gd[lr=0.5]",
            "-o",
            "impostor-extra",
            "--seeds",
            "3",
            "--budget",
            "20",
            "--executor",
            executor,
            "--jobs",
            "2",
            "--out",
            str(out),
            "--no-report",
            "--quiet",
            cwd=tmp_path,
            env=env,
        )
        assert r.returncode == 0, r.stderr
        warned = [
            line for line in r.stderr.splitlines() if "registers the optimizer name 'gd'" in line
        ]
        assert len(warned) == 1, r.stderr  # once, not once per worker
        assert "skipping that one" in warned[0]
        with contextlib.closing(sqlite3.connect(out / "results.sqlite")) as conn:
            rows = conn.execute("SELECT optimizer, status FROM runs").fetchall()
        # for h = 2, lr = 0.5 = 1/L lands on the minimizer in one step
        assert sorted(rows) == [("gd", "converged")] * 3 + [("impostor-extra", "converged")] * 3


def test_report_filters_match_labels(tmp_path):
    out = tmp_path / "res"
    r = fork_cli(
        "run",
        "-p",
        "quadratic-1d",
        "-p",
        "linear-regression[standardize=true]",
        "-o",
        "gd[lr=[0.05,0.1]]",
        "-o",
        "adam",
        "--seeds",
        "3",
        "--budget",
        "20",
        "--out",
        str(out),
        "--no-report",
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    html = tmp_path / "only.html"
    r = fork_cli(
        "report",
        "--out",
        str(out),
        "--html",
        str(html),
        "-o",
        "gd[lr=5e-2]",
        "-p",
        "linear-regression[standardize=true]",
    )
    assert r.returncode == 0, r.stderr
    # 3 seeds of one label on one problem (of 2 problems x 3 labels x 3 seeds = 18 runs)
    assert "<p>3 runs ·" in html.read_text()
    r = fork_cli("report", "--out", str(out), "--html", str(html), "-o", "gd", "-o", "adam")
    assert r.returncode == 0, r.stderr
    assert "<p>18 runs ·" in html.read_text()  # a name matches every label of it


def _namespace_blocked() -> str | None:
    """Why a private mount namespace cannot be had here, or None: the probe does what the
    tests do (``unshare -rm``, then a tmpfs mount inside) and says what stopped it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "`unshare` (util-linux) is not on PATH"
    return _probe_namespace(unshare)


@functools.cache
def _probe_namespace(unshare: str) -> str | None:
    import tempfile

    with tempfile.TemporaryDirectory() as where:
        try:
            probe = subprocess.run([unshare, "-rm", "sh", "-c", f"mount -t tmpfs tmpfs {where}"],
                                   capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{unshare} -rm` could not be run: {exc}"
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return (f"user and mount namespaces are blocked here (`unshare -rm` then a tmpfs "
                f"mount exited {probe.returncode}: {said})")
    return None


def _namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``script`` with a private mount namespace (no root needed), or skip saying why."""
    blocked = _namespace_blocked()
    if blocked:
        pytest.skip(f"needs a private mount namespace: {blocked}")
    env = dict(os.environ, COLUMNS="200", PYTHONWARNINGS="ignore", PY=sys.executable)
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


def test_a_read_only_store_is_reported_and_exported(tmp_path, baseline):
    """The store on a read-only mount (where even root cannot write): report and export it."""
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    shutil.copy(baseline, shelf / "results.sqlite")
    before, listing = _snapshot(shelf), sorted(os.listdir(shelf))
    r = _namespace(
        f"mount --bind {shelf} {shelf} && mount -o remount,bind,ro {shelf} && "
        f"touch {shelf}/probe 2>/dev/null && exit 7; "
        f'"$PY" -m optbench.cli report --db {shelf}/results.sqlite --html {tmp_path}/r.html && '
        f'"$PY" -m optbench.cli export --format csv --db {shelf}/results.sqlite '
        f"--dest {tmp_path}/csv",
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r.html").is_file() and list((tmp_path / "csv").iterdir())
    assert sorted(os.listdir(shelf)) == listing and _snapshot(shelf) == before


def test_a_full_disk_says_so_and_keeps_what_was_stored(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    r = _namespace(
        # 60 batches (one per problem) of 5 long, slow runs: the disk fills part way
        f"mount -t tmpfs -o size=600k tmpfs {disk} && "
        f'"$PY" -m optbench.cli run -p "quadratic-1d[h=lin(0.001,0.002,60)]" -o "gd[lr=0.01]" '
        f"--seeds 5 --budget 300 --out {disk}/res --no-report --quiet; "
        f"echo rc=$?; cp {disk}/res/results.sqlite {tmp_path}/kept.sqlite; "
        f"cp {disk}/res/results.sqlite-wal {tmp_path}/kept.sqlite-wal",  # committed, not merged
        tmp_path,
    )
    assert "rc=2" in r.stdout, (r.stdout, r.stderr)
    assert "disk full" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1, r.stderr
    tables = _tables(tmp_path / "kept.sqlite")  # what was stored is a readable store
    n = len(tables["runs"])
    assert 0 < n < 300 and n % 5 == 0  # whole batches, each in one transaction
    assert len(tables["blocks"]) == n // 5  # each batch's traces and metrics: one block


BROKEN_OPTIMIZERS = """
import time
import numpy as np
from optbench import Optimizer, Problem, register_optimizer, register_problem

@register_optimizer("in-place-gd", batchable=True)
def in_place_gd(lr: float = 0.1):
    def step(x, state, oracle, t):
        x -= lr * oracle.grad(x)
        return x, state
    return Optimizer(step=step)

@register_optimizer("hanging-gd", batchable=True)
def hanging_gd(lr: float = 0.1):
    def step(x, state, oracle, t):
        while True:  # sleeps rather than spins: only a kill stops it either way
            time.sleep(0.05)
    return Optimizer(step=step)

@register_optimizer("wide-gd", batchable=True)
def wide_gd(lr: float = 0.1):
    def step(x, state, oracle, t):
        return np.repeat(x - lr * oracle.grad(x), 3, axis=1), state
    return Optimizer(step=step)

@register_optimizer("raising-gd", batchable=True)
def raising_gd(lr: float = 0.1):
    def step(x, state, oracle, t):
        raise RuntimeError("kaboom in step")
    return Optimizer(step=step)

@register_problem("hanging-problem")
def hanging_problem():
    def f(X):
        while True:
            time.sleep(0.05)
    return Problem(dim=1, f=f, bounds=([-1.0], [1.0]))

@register_problem("wrong-curvature")
def wrong_curvature():
    # f = 1.1 x^2 has curvature 2.2 everywhere; L = 0.5 is declared and there is no Hessian
    return Problem(dim=1, f=lambda X: 1.1 * X[:, 0] ** 2, grad=lambda X: 2.2 * X,
                   bounds=([-3.0], [3.0]), x_star=[[0.0]], f_star=0.0, L=0.5, mu=0.5)

@register_problem("not-stationary")
def not_stationary():
    return Problem(dim=1, f=lambda X: (X[:, 0] - 1) ** 2, grad=lambda X: 2 * (X - 1),
                   bounds=([-3.0], [3.0]), x_star=[[0.5]], f_star=0.25)
"""


@pytest.mark.waits
def test_check_names_each_broken_behaviour(tmp_path):
    plugin = tmp_path / "broken_behaviour.py"
    plugin.write_text(BROKEN_OPTIMIZERS)
    r = run_cli("check", str(plugin), "--problem", "quadratic-1d", "--timeout", "2", cwd=tmp_path)
    assert r.returncode == 3, (r.stdout, r.stderr)  # failed checks, not a crash
    assert "Traceback" not in r.stdout + r.stderr
    fails = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
    expected = [
        # the runner hands the step read-only iterates: the write fails as the run's error
        "optimizer in-place-gd: runs without error on quadratic-1d: error: ValueError: "
        "step must return a new array",
        "optimizer hanging-gd: runs without error on quadratic-1d: did not finish within 2 s",
        "optimizer wide-gd: runs without error on quadratic-1d: error: ValueError:",
        "optimizer raising-gd: runs without error on quadratic-1d: error: RuntimeError: "
        "kaboom in step",
        "problem hanging-problem: f maps (B, d) to finite (B,): did not finish within 2 s",
        "problem wrong-curvature: declared L and mu are the curvatures at x*: L = 0.5 is "
        "declared, finite differences at x* gives 2.2",
        "problem not-stationary: x* is stationary (gradient 0 there): |grad f(x*)| = 1",
    ]
    for text in expected:
        assert any(line.startswith("FAIL  " + text) for line in fails), (text, r.stdout)
    assert len(fails) == len(expected), fails
    assert f"optbench: {len(expected)} checks failed" in r.stderr
