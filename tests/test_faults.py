"""Faults of plug-in code, end to end through the CLI: whatever an optimizer does — exit,
crash, hang, rewrite its iterate in place — the run is a row with a status and a message,
the command's exit code says so, and nothing else is lost. Under every executor.

The commands run in the forked CLI (``forked_cli``), a new interpreter only where the test
signals or kills the driver itself."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import without_clock

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="needs Dask (pip install 'optbench[dask]')")

HOSTILE = '''
import ctypes, os, sys
import numpy as np
from optbench import Optimizer, register_optimizer

def _gd(lr, fault, bad):
    def step(x, state, oracle, t):
        g = oracle.grad(x)
        if t == 2 and np.any(np.asarray(lr) == bad):
            fault()
        return x - lr * g, state
    return Optimizer(step=step)

@register_optimizer("sys-exit", batchable=True)
def sys_exit(lr: float = 0.1, bad: float = 0.2):
    return _gd(lr, lambda: sys.exit(0), bad)

@register_optimizer("os-exit", batchable=True)
def os_exit(lr: float = 0.1, bad: float = 0.2):
    return _gd(lr, lambda: os._exit(1), bad)

@register_optimizer("segfault", batchable=True)
def segfault(lr: float = 0.1, bad: float = 0.2):
    return _gd(lr, lambda: ctypes.string_at(0), bad)

def _spin():
    marker = os.environ.get("OPTBENCH_TEST_SPINNING")  # tells a test the hang has begun
    if marker:
        open(marker, "w").close()
    while True:
        pass

@register_optimizer("hang", batchable=True)
def hang(lr: float = 0.1, bad: float = 0.2):
    return _gd(lr, _spin, bad)

@register_optimizer("in-place", batchable=True)
def in_place(lr: float = 0.1):
    def step(x, state, oracle, t):
        x -= lr * oracle.grad(x)
        return x, state
    return Optimizer(step=step)
'''

EXECUTORS = {
    "serial": ["--executor", "serial"],
    "process": ["--executor", "process", "--jobs", "2"],
    "dask": ["--executor", "dask", "--jobs", "2"],
}


def optbench(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optbench.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def rows(db: Path, table: str = "runs") -> list[dict]:
    with sqlite3.connect(db) as conn:
        cur = conn.execute(f"SELECT * FROM {table}")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]


def by_lr(db: Path) -> dict[tuple[str, float], list[dict]]:
    out: dict[tuple[str, float], list[dict]] = {}
    for r in rows(db):
        key = (r["optimizer"], json.loads(r["optimizer_params"]).get("lr"))
        out.setdefault(key, []).append(r)
    return out


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    (tmp_path / "hostile.py").write_text(HOSTILE)
    return tmp_path


@pytest.mark.parametrize("executor", [
    pytest.param(name, marks=[needs_dask] if name == "dask" else []) for name in EXECUTORS])
def test_exits_and_crashes_become_error_rows_and_the_batch_keeps_the_rest(hostile, executor,
                                                                         forked_cli):
    # each faulty optimizer runs a batch of three rates, two seeds; only the runs with
    # lr = 0.2 reach the fault, so the batch dies and its members are rerun alone
    lrs = "[0.1,0.2,0.3]"
    specs = [f"{name}[lr={lrs}]" for name in ("sys-exit", "os-exit", "segfault")]
    r = forked_cli("run", "--plugin", "hostile.py", "-p", "quadratic-1d",
                 *[a for s in [*specs, "in-place", f"gd[lr={lrs}]"] for a in ("-o", s)],
                 "--seeds", "2", "--budget", "20", "--no-report", *EXECUTORS[executor],
                 cwd=hostile)
    assert r.returncode == 3, r.stderr
    assert "26 of 26 runs stored (26 new)" in r.stdout, r.stdout
    assert "Traceback" not in r.stderr and "BrokenProcessPool" not in r.stderr
    got = by_lr(hostile / "optbench-results" / "results.sqlite")
    assert {row["message"] for row in got[("sys-exit", 0.2)]} == {
        "the optimizer or problem called sys.exit(0)"}
    assert {row["message"] for row in got[("os-exit", 0.2)]} == {
        "the process exited with code 1 at update 3"}
    assert {row["message"] for row in got[("segfault", 0.2)]} == {
        "the process was killed by SIGSEGV (a segmentation fault) at update 3"}
    assert {(row["status"], row["message"]) for row in got[("in-place", 0.1)]} == {
        ("error", "ValueError: step must return a new array: it wrote into the x it was "
                  "given (as in x -= lr * g)")}
    # the faulty optimizers' other runs are plain gradient descent: their stored results are
    # those of the built-in gd with the same rate and seed, bit for bit
    for name in ("sys-exit", "os-exit", "segfault"):
        for lr in (0.1, 0.3):
            # alone after the crash, or in the batch: the same run but for its batch's clock
            mine = sorted((row["seed"], row["status"], without_clock(row["summary"]))
                          for row in got[(name, lr)])
            ref = sorted((row["seed"], row["status"], without_clock(row["summary"]))
                         for row in got[("gd", lr)])
            assert mine == ref, (name, lr)
        assert all(row["status"] == "error" for row in got[(name, 0.2)])


@pytest.mark.waits
def test_a_hang_costs_one_kill_per_batch_and_retry_failed_supersedes_the_rows(hostile, forked_cli):
    out = hostile / "optbench-results"
    args = ["run", "--plugin", "hostile.py", "-p", "quadratic-1d", "-o", "hang[lr=[0.1,0.2]]",
            "--seeds", "2", "--budget", "20", "--timeout", "0.5", "--no-report"]
    t0 = time.monotonic()
    r = forked_cli(*args, cwd=hostile)
    elapsed = time.monotonic() - t0
    assert r.returncode == 3, r.stderr
    first = rows(out / "results.sqlite")
    assert len(first) == 4 and {row["status"] for row in first} == {"timeout"}
    assert all("killed after 2.75 s: a run of its batch of 4" in row["message"] for row in first)
    assert elapsed < 60  # one kill (2.75 s) for the batch, not one per run
    r = forked_cli(*args, "--retry-failed", cwd=hostile)
    assert r.returncode == 3, r.stderr  # the hanging runs hang again, alone
    now = by_lr(out / "results.sqlite")
    assert {row["status"] for row in now[("hang", 0.1)]} == {"budget"}
    assert {row["message"] for row in now[("hang", 0.2)]} == {
        "killed after 2.75 s: the optimizer stopped calling the oracle (timeout 0.5 s); "
        "--retry-failed reruns it alone"}
    old = rows(out / "results.sqlite", "superseded")
    assert sorted(o["run_id"] for o in old) == sorted(row["run_id"] for row in first)
    assert {json.loads(o["row"])["status"] for o in old} == {"timeout"}


def test_a_plug_in_that_exits_at_import_is_one_line_not_a_silent_success(tmp_path, forked_cli):
    (tmp_path / "quitter.py").write_text("import sys\nsys.exit(0)\n")
    for cmd in (["run", "--plugin", "quitter.py", "-p", "quadratic-1d", "-o", "gd"],
                ["check", "quitter.py"]):
        r = forked_cli(*cmd, cwd=tmp_path)
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr.strip().splitlines() == [
            "optbench: error: plug-in 'quitter.py' called sys.exit(0) while importing; "
            "a plug-in should only register its problems and optimizers"]


def test_check_reports_an_optimizer_that_exits_as_a_failure(hostile, forked_cli):
    (hostile / "exits.py").write_text(
        "import sys\nfrom optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('leaver', batchable=True)\n"
        "def leaver():\n"
        "    def step(x, state, oracle, t):\n"
        "        sys.exit(0)\n"
        "    return Optimizer(step=step)\n")
    r = forked_cli("check", "exits.py", "--problem", "quadratic-1d", cwd=hostile)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "FAIL  optimizer leaver: runs without error on quadratic-1d: " in r.stdout
    assert "sys.exit(0)" in r.stdout


@pytest.mark.parametrize(
    "body,how",
    [("os._exit(0)", "exited with code 0"),
     ("ctypes.string_at(0)", "was killed by signal SIGSEGV")],
)
def test_check_names_the_component_whose_code_ended_the_process(tmp_path, body, how, forked_cli):
    # the checks run in a child: a plug-in that ends its process cannot end `optbench check`
    # without a word (exit 0 and no line, as it did when the checks ran in this process)
    (tmp_path / "ender.py").write_text(
        "import ctypes, os\nfrom optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('fine', batchable=True)\n"
        "def fine(lr: float = 0.1):\n"
        "    return Optimizer(step=lambda x, state, oracle, t: (x - lr * oracle.grad(x), state))\n"
        "@register_optimizer('ender', batchable=True)\n"
        "def ender():\n"
        "    def step(x, state, oracle, t):\n"
        f"        {body}\n"
        "    return Optimizer(step=step)\n")
    r = forked_cli("check", "ender.py", "--problem", "quadratic-1d", cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert "PASS  optimizer fine: runs without error on quadratic-1d" in lines
    assert lines[-1] == (
        f"FAIL  optimizer ender: the process running its checks {how} (its code ended the "
        "process: os._exit, a crash or the OOM killer); the checks after it did not run")
    assert r.stderr.strip() == "optbench: the checks did not finish"
    assert "\x00" not in r.stdout


def test_check_of_a_plug_in_that_ends_its_process_while_importing_is_one_line(tmp_path, forked_cli):
    (tmp_path / "gone.py").write_text("import os\nos._exit(1)\n")
    r = forked_cli("check", "gone.py", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [
        "optbench: error: the process loading the plug-in exited with code 1 (its code ended "
        "the process while importing: os._exit or a crash)"]


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out |= {int(c) for c in (task / "children").read_text().split()}
    except OSError:  # it ended meanwhile
        pass
    return out


def _descendants(pid: int) -> set[int]:
    kids = _children(pid)
    return kids.union(*(_descendants(k) for k in kids))


@pytest.mark.waits
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux /proc")
def test_killing_the_driver_leaves_no_worker_behind(hostile):
    proc = subprocess.Popen(
        [sys.executable, "-m", "optbench.cli", "run", "--plugin", "hostile.py", "-p",
         "quadratic-1d", "-p", "rosenbrock", "-o", "hang[lr=0.2]", "--seeds", "1",
         "--budget", "20", "--no-report", "--executor", "process",
         "--jobs", "2"], cwd=hostile, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        kids: set[int] = set()
        workers: set[int] = set()
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            kids = _descendants(proc.pid)  # the workers, and the fork server they come from
            workers = {k for k in kids if not _children(k)}
        assert len(workers) == 2, kids  # two worker children, both spinning in `hang`
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{k}").exists() for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [k for k in kids if Path(f"/proc/{k}").exists()
             and "Z" not in Path(f"/proc/{k}/stat").read_text().split()[2]]
    assert not alive


@pytest.mark.waits
@needs_dask
def test_ctrl_c_under_dask_prints_one_line(hostile):
    spinning = hostile / "spinning"
    # Ctrl-C as a terminal's job gets it: its own process group, with Python's Ctrl-C
    # handler (a shell's background job, as a CI runner may be, inherits an ignored SIGINT,
    # which Python then leaves alone; no preexec_fn: forking this process warns under JAX)
    cli = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
           "sys.argv[0] = 'optbench'; runpy.run_module('optbench.cli', run_name='__main__')")
    proc = subprocess.Popen(
        [sys.executable, "-c", cli, "run", "--plugin", "hostile.py", "-p",
         "quadratic-1d", "-o", "hang[lr=0.2]", "--seeds", "2", "--budget", "20",
         "--no-report", "--timeout", "60", "--executor", "dask", "--jobs", "1"],
        cwd=hostile, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OPTBENCH_TEST_SPINNING": str(spinning)},
        start_new_session=True)
    try:
        # the cluster is up and its worker's child is in `hang` (a cold start of Dask in a
        # fresh environment takes far longer than a warm one: wait for the hang itself)
        deadline = time.monotonic() + 120
        while not spinning.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert spinning.exists(), "the hanging step never started"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()  # reaped, its pipes read and closed
    assert proc.returncode == 130
    progress = re.compile(r"optbench: \d+/2 runs \(")  # the progress lines off a terminal
    said = [line for line in err.strip().splitlines() if not progress.match(line)]
    assert said == ["optbench: interrupted; every finished batch is stored, rerun to resume"], err


@needs_dask
@pytest.mark.slow
@pytest.mark.waits  # for a scheduler and a worker started as commands
def test_a_plug_in_travels_to_a_dask_cluster_started_elsewhere(hostile, tmp_path_factory,
                                                              forked_cli):
    # a scheduler and a worker as separate processes, in a folder that has no plug-in
    elsewhere = tmp_path_factory.mktemp("cluster")
    address_file = elsewhere / "scheduler.json"
    dask = [str(Path(sys.executable).with_name("dask"))]
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(address_file)],
                              cwd=elsewhere, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.3)
        address = json.loads(address_file.read_text())["address"]
        procs.append(subprocess.Popen([*dask, "worker", address, "--nthreads", "1",
                                       "--nworkers", "1", "--no-dashboard",
                                       "--host", "127.0.0.1"],
                                      cwd=elsewhere, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        r = forked_cli("run", "--plugin", "hostile.py", "-p", "quadratic-1d", "-o",
                     "os-exit[lr=[0.1,0.2]]", "--seeds", "2", "--budget", "20", "--no-report",
                     "--executor", "dask", "--scheduler", address, cwd=hostile)
        assert "4 of 4 runs stored (4 new)" in r.stdout, r.stdout + r.stderr
        got = by_lr(hostile / "optbench-results" / "results.sqlite")
        assert {row["status"] for row in got[("os-exit", 0.1)]} == {"budget"}
        assert {row["message"] for row in got[("os-exit", 0.2)]} == {
            "the process exited with code 1 at update 3"}
        assert r.returncode == 3
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
