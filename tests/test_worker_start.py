"""How worker children start and what they import.

The ``optbench`` command forks its workers from a fork server it starts before any thread
(``optbench.worker``); the Python API and Dask workers start them fresh. Either way one
import rule holds (``optbench.importpath``): the installed optbench, numpy and the standard
library win over anything in the working folder, and modules in the working folder are
importable (plug-ins, dotted paths). These tests drive the real command in a temporary
folder, as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import optbench

LINUX = Path("/proc/self/task").is_dir()

# a checkout named optbench/ (the repository's root, no __init__.py: a namespace package
# that hid an editable install) whose inner package would fail, and a numpy.py that would
SHADOWS = {
    "optbench/pyproject.toml": "[project]\nname = 'optbench'\n",
    "optbench/optbench/__init__.py": "raise ImportError('the checkout, not the installed one')\n",
    "numpy.py": "raise ImportError('numpy.py of the working folder, not numpy')\n",
}

# an ask/tell object in the working folder, named by a dotted path: each generation asks
# half the current point and moves there, so the iterates are x0 / 2^t exactly
MYMODULE = '''
import numpy as np

class Halver:
    def __init__(self, x0):
        self.x = np.asarray(x0, dtype=float)

    def ask(self):
        return self.x[None] / 2

    def tell(self, points, values):
        self.x = np.asarray(points[0], dtype=float)
'''

# an optimizer that says where it runs: its process, parent and grandparent, its threads,
# its BLAS setting, and one draw of numpy's global generator (to $PROBE_OUT, one line each)
PROBE = '''
import json, os
import numpy as np
from optbench import Optimizer, register_optimizer

def _ppid(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])

@register_optimizer("probe", batchable=True)
def probe(lr: float = 0.1, hang: float = 0.0):
    def step(x, state, oracle, t):
        if t == 0:
            line = {"pid": os.getpid(), "ppid": os.getppid(), "gppid": _ppid(os.getppid()),
                    "threads": len(os.listdir("/proc/self/task")),
                    "blas": os.environ.get("OPENBLAS_NUM_THREADS"),
                    "draw": float(np.random.random())}
            with open(os.environ["PROBE_OUT"], "a") as fh:
                fh.write(json.dumps(line) + "\\n")
            while hang:
                pass
        return x - lr * oracle.grad(x), state
    return Optimizer(step=step)

@register_optimizer("server-killer", batchable=True)
def server_killer(lr: float = 0.1):
    def step(x, state, oracle, t):
        marker = os.environ["PROBE_OUT"] + ".killed"
        if t == 0 and not os.path.exists(marker):  # once: kill this worker's parent
            open(marker, "w").close()
            os.kill(os.getppid(), 9)
            while True:  # the kernel ends this process too (its parent died)
                pass
        return x - lr * oracle.grad(x), state
    return Optimizer(step=step)
'''


def _optbench_command() -> list[str]:
    """The ``optbench`` console script of this interpreter, as a user types it; where it is
    not installed, the same entry point without the working folder in front."""
    script = Path(sys.executable).with_name("optbench")
    return [str(script)] if script.is_file() else [sys.executable, "-P", "-m", "optbench.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                        "PYTHONPATH", "PYTHONSAFEPATH")}
    return {**env, "PYTHONWARNINGS": "ignore", **extra}


def _optbench(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_optbench_command(), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=_env(**env))


def _api(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """The Python API in a user's script (``-P``: a script elsewhere, so the working folder
    is not on the script's own path)."""
    return subprocess.run([sys.executable, "-P", "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=_env())


def _rows(out: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(out / "results.sqlite") as conn:
        return conn.execute("SELECT run_id, status, message FROM runs ORDER BY run_id").fetchall()


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


RUN = ["run", "-p", "quadratic-1d", "-o", "gd[lr=[0.1,0.6]]", "--seeds", "2", "--budget", "30",
       "--no-report", "--quiet"]


@pytest.fixture(scope="module")
def clean_rows(tmp_path_factory) -> list[tuple[str, str, str]]:
    """The runs of ``RUN`` from a folder with nothing in it."""
    folder = tmp_path_factory.mktemp("clean")
    r = _optbench(*RUN, "--out", "out", cwd=folder)
    assert r.returncode == 0, r.stderr
    return _rows(folder / "out")


def test_a_checkout_named_optbench_in_the_working_folder_does_not_shadow_the_installed_one(
        tmp_path, clean_rows):
    _write(tmp_path, SHADOWS)
    r = _optbench(*RUN, "--out", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = _rows(tmp_path / "out")
    assert rows == clean_rows  # the same runs as from an empty folder, none an error row
    assert {status for _, status, _ in rows} <= {"converged", "budget"}


def test_the_api_s_started_workers_follow_the_same_rule(tmp_path, clean_rows):
    # the API starts its workers fresh (no fork server in a user's process)
    _write(tmp_path, {k: v for k, v in SHADOWS.items() if k != "numpy.py"})
    r = _api("import optbench\n"
             "optbench.run(problems='quadratic-1d', optimizers='gd[lr=[0.1,0.6]]', seeds=2, "
             "budget=30, out='out', report=False)", tmp_path)
    assert r.returncode == 0, r.stderr
    assert _rows(tmp_path / "out") == clean_rows


def test_a_module_in_the_working_folder_is_importable_by_dotted_path_and_as_a_plug_in(tmp_path):
    _write(tmp_path, {"mymodule.py": MYMODULE, "myplugin.py": PROBE})
    r = _optbench("run", "-p", "quadratic-1d[c=0]", "-o", "ask-tell[factory=mymodule.Halver]",
                  "-o", "probe", "--plugin", "myplugin", "--seeds", "1", "--budget", "12",
                  "--no-report", "--quiet", "--out", "out", cwd=tmp_path,
                  PROBE_OUT=str(tmp_path / "probe.jsonl"))
    assert r.returncode == 0, r.stdout + r.stderr
    frame = optbench.load(tmp_path / "out")
    assert set(frame.status) <= {"converged", "budget"}, frame[["optimizer", "message"]]
    run_id = frame.run_id[frame.optimizer == "ask-tell"].item()
    x = optbench.load_trace(tmp_path / "out", run_id)["x"][:, 0]
    assert len(x) > 5 and x[0] != 0
    np.testing.assert_array_equal(x, x[0] / 2.0 ** np.arange(len(x)))  # mymodule.Halver's
    assert (tmp_path / "probe.jsonl").is_file()  # the plug-in module ran in the worker


@pytest.mark.skipif(not LINUX, reason="the fork server is Linux's; reads /proc")
def test_the_command_forks_its_workers_from_a_server_with_blas_on_one_thread(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    probe_out = tmp_path / "probe.jsonl"
    proc = subprocess.Popen(
        [*_optbench_command(), "run", "--plugin", "probe.py", "-p", "quadratic-1d", "-p",
         "rosenbrock", "-o", "probe", "--seeds", "1", "--budget", "20", "--no-report",
         "--quiet", "--executor", "process", "--jobs", "2", "--out", "out"],
        cwd=tmp_path, env=_env(PROBE_OUT=str(probe_out)), stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = [json.loads(s) for s in probe_out.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["pid"] != lines[1]["pid"]  # two workers
    for line in lines:
        # the worker's parent is the fork server, a child of the driver
        assert line["ppid"] != proc.pid and line["gppid"] == proc.pid, line
        assert line["threads"] == 2, line  # its own and the parent watcher: no BLAS thread
        assert line["blas"] == "1"
    assert lines[0]["ppid"] == lines[1]["ppid"]  # one server
    assert lines[0]["draw"] != lines[1]["draw"]  # each child's own global generator


@pytest.mark.skipif(not LINUX, reason="the fork server is Linux's; reads /proc")
def test_a_driver_with_threads_starts_its_workers_fresh(tmp_path):
    # BLAS threads asked for: numpy starts them in the driver, which then never forks
    r = subprocess.run([sys.executable, "-c", "import numpy, os; "
                        "print(len(os.listdir('/proc/self/task')))"], capture_output=True,
                       text=True, env=_env(OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2"))
    if int(r.stdout) == 1:
        pytest.skip("this BLAS starts no thread at import")
    (tmp_path / "probe.py").write_text(PROBE)
    probe_out = tmp_path / "probe.jsonl"
    proc = subprocess.Popen(
        [*_optbench_command(), "run", "--plugin", "probe.py", "-p", "quadratic-1d", "-o",
         "probe", "--seeds", "1", "--budget", "20", "--no-report", "--quiet", "--out", "out"],
        cwd=tmp_path, env=_env(PROBE_OUT=str(probe_out), OPENBLAS_NUM_THREADS="2",
                               OMP_NUM_THREADS="2"), stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    (line,) = [json.loads(s) for s in probe_out.read_text().splitlines()]
    assert line["ppid"] == proc.pid  # started by the driver itself
    assert line["blas"] == "2"  # with the BLAS threads the user asked for


FORK_CHECK = """
import threading, sys
import optbench.worker as w
if sys.argv[1] == "thread":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
print(w.start_fork_server())
"""


@pytest.mark.skipif(not LINUX, reason="the fork server is Linux's")
@pytest.mark.parametrize(("how", "expected"), [("none", "True"), ("thread", "False")])
def test_the_fork_server_starts_only_in_a_single_threaded_process(how, expected):
    r = subprocess.run([sys.executable, "-c", FORK_CHECK, how], capture_output=True,
                       text=True, timeout=60, env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out |= {int(c) for c in (task / "children").read_text().split()}
    except OSError:
        pass
    return out.union(*(_descendants(k) for k in out))


def _alive(pids: set[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                out.append(pid)
        except OSError:
            pass
    return out


@pytest.mark.skipif(not LINUX, reason="reads Linux /proc")
def test_ctrl_c_stops_the_forked_worker_and_its_server_and_says_so_in_one_line(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    probe_out = tmp_path / "probe.jsonl"
    # Ctrl-C as a terminal's job gets it: its own process group, Python's Ctrl-C handler
    cli = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)"
           "; sys.argv[0] = 'optbench'; runpy.run_module('optbench.cli', run_name='__main__')")
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", cli, "run", "--plugin", "probe.py", "-p", "quadratic-1d",
         "-o", "probe[hang=1]", "--seeds", "1", "--budget", "20", "--no-report", "--quiet", "--out",
         "out"], cwd=tmp_path, env=_env(PROBE_OUT=str(probe_out)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not probe_out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert probe_out.exists(), "the worker never started its run"
        kids = _descendants(proc.pid)
        assert json.loads(probe_out.read_text())["pid"] in kids
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "optbench: interrupted; every finished batch is stored, rerun to resume"]
    deadline = time.monotonic() + 10
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kids)  # neither the worker nor the server is left behind


DRIVER_PROBE = (
    "import sys\n"
    "from optbench.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    print('EXIT', exc.code)\n"
    "print('LOADED', sorted(m for m in ('scipy', 'tomllib') if m in sys.modules))\n"
)


def test_a_one_run_command_imports_neither_scipy_nor_tomllib_in_the_driver(tmp_path):
    # gradient descent needs no scipy, and a run named by options needs no TOML reader
    r = subprocess.run([sys.executable, "-P", "-c", DRIVER_PROBE, "run", "-p", "quadratic-1d",
                        "-o", "gd", "--seeds", "1", "--no-report", "--quiet", "--out", "out"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env())
    assert "EXIT 0" in r.stdout, r.stdout + r.stderr
    assert "LOADED []" in r.stdout, r.stdout
    # the versions the session records still name the installed scipy
    import scipy

    with sqlite3.connect(tmp_path / "out" / "results.sqlite") as conn:
        (versions,) = conn.execute("SELECT versions FROM sessions").fetchone()
    assert json.loads(versions)["scipy"] == scipy.__version__


@pytest.mark.skipif(not LINUX, reason="the fork server is Linux's")
def test_plug_in_code_that_kills_the_fork_server_is_an_error_row_and_the_rest_run(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    proc = subprocess.Popen(
        [*_optbench_command(), "run", "--plugin", "probe.py", "-p", "quadratic-1d", "-o",
         "server-killer", "-o", "gd[lr=[0.1,0.6]]", "-o", "probe", "--seeds", "1", "--budget",
         "30", "--no-report", "--quiet", "--out", "out"], cwd=tmp_path,
        env=_env(PROBE_OUT=str(tmp_path / "probe.jsonl")), stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err  # some runs ended in error
    frame = optbench.load(tmp_path / "out")
    killer = frame[frame.optimizer == "server-killer"]
    assert list(killer.status) == ["error"] and "SIGKILL" in killer.message.item()
    rest = frame[frame.optimizer != "server-killer"]
    assert len(rest) == 3 and set(rest.status) <= {"converged", "budget"}
    # the batches after it (in the plan's order) ran in workers the driver started itself
    (line,) = [json.loads(s) for s in (tmp_path / "probe.jsonl").read_text().splitlines()]
    assert line["ppid"] == proc.pid
