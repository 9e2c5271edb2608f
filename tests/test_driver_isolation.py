"""Problem code never runs in the ``optbench`` process itself: a problem's landscape (its f on
a grid of thousands of points, drawn in the report) is computed in the worker child, under
the runs' guard, end to end through the CLI. A problem whose f ends its process, raises,
crashes or hangs on that grid leaves its runs stored and its landscape out, with one line
naming the problem and exit code 3."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PLUGIN = '''
import ctypes, os, time
import numpy as np
from optbench import Problem, register_problem

PIDS = os.environ.get("OPTBENCH_TEST_PIDS")  # where f notes the process that runs a grid


def _bowl(action, dim=1):
    def f(X):
        X = np.asarray(X)
        if X.shape[0] > 100:  # the landscape's grid; runs evaluate a few rows at a time
            if PIDS:
                with open(PIDS, "a") as out:
                    out.write(f"{os.getpid()}\\n")
            action()
        return np.sum(np.sin(3 * X) + X ** 2, axis=1)
    return Problem(f=f, grad=lambda X: 3 * np.cos(3 * np.asarray(X)) + 2 * np.asarray(X),
                   dim=dim, bounds=([-1.0] * dim, [1.0] * dim))


def _raise():
    raise RuntimeError("no grid today")


register_problem("fine-bowl")(lambda: _bowl(lambda: None))
register_problem("fine-bowl-2d")(lambda: _bowl(lambda: None, dim=2))
register_problem("exit-bowl")(lambda: _bowl(lambda: os._exit(0)))
register_problem("raise-bowl")(lambda: _bowl(_raise))
register_problem("segv-bowl")(lambda: _bowl(lambda: ctypes.string_at(0)))
register_problem("hang-bowl")(lambda: _bowl(lambda: time.sleep(600)))
'''


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "bowls.py").write_text(PLUGIN)
    return tmp_path


def _run(folder: Path, *extra: str) -> tuple[subprocess.CompletedProcess, int]:
    args = ["run", "--plugin", "bowls.py", "-o", "gd[lr=0.05]", "--seeds", "2", "--budget", "20",
            "--no-report", "--quiet", "--out", "out", *extra]
    env = dict(os.environ, OPTBENCH_TEST_PIDS=str(folder / "pids"), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "optbench.cli", *args], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


def _table(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


HOSTILE = {
    "exit-bowl": "the process exited with code 0",
    "raise-bowl": "RuntimeError: no grid today",
    "segv-bowl": "the process was killed by SIGSEGV (a segmentation fault)",
    "hang-bowl": "it did not finish within 5 s (timeout 2 s)",
}


@pytest.mark.waits  # a landscape that hangs is killed at its limit
def test_problems_whose_f_fails_on_the_grid_keep_their_runs(folder):
    problems = [a for p in HOSTILE for a in ("-p", p)]
    r, driver = _run(folder, *problems, "--timeout", "2")
    assert r.returncode == 3, r.stdout + r.stderr
    assert sorted(r.stderr.strip().splitlines()) == sorted(
        f"optbench: no landscape stored for problem '{problem}': computing it failed ({why}); "
        "its runs are stored" for problem, why in HOSTILE.items())
    db = folder / "out" / "results.sqlite"
    statuses = _table(db, "SELECT problem, status FROM runs")
    assert sorted(statuses) == sorted((p, "budget") for p in HOSTILE for _ in range(2))
    assert _table(db, "SELECT count(*) FROM landscapes") == [(0,)]
    infos = dict(_table(db, "SELECT key, info FROM problems"))
    assert len(infos) == 4  # each problem's info is stored all the same
    assert all(json.loads(info)["dim"] == 1 for info in infos.values())
    pids = [int(p) for p in (folder / "pids").read_text().split()]
    assert len(pids) == 4 and driver not in pids  # f met its grid in worker children only


def test_a_healthy_problems_stored_landscape_is_its_f_on_the_grid(folder):
    from optbench.problem import LANDSCAPE_POINTS, landscape_axes
    from optbench.store import Store

    r, driver = _run(folder, "-p", "fine-bowl", "-p", "fine-bowl-2d")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    with Store(folder / "out" / "results.sqlite") as s:
        grids, infos = s.landscapes(), s.problem_info()
    assert sorted(infos[k]["dim"] for k in grids) == [1, 2]
    for key, grid in grids.items():
        dim = infos[key]["dim"]
        axes = landscape_axes(grid)
        assert [len(a) for a in axes] == [LANDSCAPE_POINTS[dim]] * dim
        for ax in axes:  # the problem's bounds, gridded evenly
            np.testing.assert_allclose(ax, np.linspace(-1.0, 1.0, LANDSCAPE_POINTS[dim]))
        pts = np.stack([a.ravel() for a in np.meshgrid(*axes)], axis=1)
        truth = np.sum(np.sin(3 * pts) + pts**2, axis=1)  # f, written out independently
        stored = float(grid["offset"]) + grid["f"].astype(float).ravel()
        assert float(grid["offset"]) == truth.min()
        np.testing.assert_allclose(stored, truth, rtol=0, atol=1e-6 * np.ptp(truth))
    pids = {int(p) for p in (folder / "pids").read_text().split()}
    assert pids and driver not in pids
