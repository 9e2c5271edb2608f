"""Import order and cost: no scipy optimizer, no ``scipy.optimize``; workers pin BLAS first.

``import scipy.optimize`` alone costs about 0.3 s, more than a small benchmark's whole run,
so only the optimizers that call scipy import it, inside their run. Each check runs in a
fresh interpreter (this test process has imported everything already) and inspects
``sys.modules`` at the end; a positive control proves the probe sees the import when a
scipy optimizer does run.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

HEAVY = ("scipy.optimize", "pandas", "matplotlib")

CLI_PROBE = (
    "import sys\n"
    "from optbench.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print('EXIT', code)\n"
    f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
)

API_PROBE = (
    "import sys, optbench\n"
    "res = optbench.run(problems=['quadratic-1d', 'rosenbrock'], optimizers=['gd', 'adam'],\n"
    "                   seeds=2, budget=25, out=sys.argv[1], report=False)\n"
    "print('EXIT', res.n_failed)\n"
    f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def _loaded(code: str, *args: str) -> tuple[int, list[str]]:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       timeout=120)
    lines = {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in r.stdout.splitlines()
             if ln.startswith(("EXIT ", "LOADED "))}
    assert "LOADED" in lines, r.stdout[-1000:] + r.stderr[-2000:]
    return int(lines["EXIT"]), ast.literal_eval(lines["LOADED"])


def _run_args(out, *optimizers: str) -> list[str]:
    args = ["run", "-p", "quadratic-1d", "-p", "linear-regression", "-p", "rosenbrock",
            "--seeds", "2", "--budget", "25", "--out", str(out), "--no-report", "--quiet"]
    for o in optimizers:
        args += ["-o", o]
    return args


def test_cli_run_without_a_scipy_optimizer_does_not_import_scipy_optimize(tmp_path):
    code, loaded = _loaded(CLI_PROBE, *_run_args(tmp_path / "r", "gd", "adam", "momentum",
                                                 "random-search", "armijo"))
    assert code == 0
    assert "scipy.optimize" not in loaded, loaded
    assert loaded == []  # --no-report: no pandas or matplotlib either


def test_api_run_without_a_scipy_optimizer_does_not_import_scipy_optimize(tmp_path):
    code, loaded = _loaded(API_PROBE, str(tmp_path / "r"))
    assert code == 0
    assert "scipy.optimize" not in loaded, loaded


@pytest.mark.parametrize("optimizer", ["scipy-bfgs"])
def test_a_scipy_optimizer_does_import_it(tmp_path, optimizer):
    # the positive control: the probe above would see the import if it happened
    code, loaded = _loaded(CLI_PROBE, *_run_args(tmp_path / "r", "gd", optimizer))
    assert code == 0
    assert "scipy.optimize" in loaded


PIN_PROBE = """
import os, sys
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp

def blas_threads(_):
    import numpy  # noqa: F401 — loads BLAS, which starts its threads now
    return len(os.listdir("/proc/self/task"))

if __name__ == "__main__":
    from optbench.executors import _pin_blas
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_pin_blas) as p:
        print("PINNED", p.submit(blas_threads, 0).result())
    with ProcessPoolExecutor(1, mp_context=ctx) as p:
        print("FREE", p.submit(blas_threads, 0).result())
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
                    reason="counts threads through Linux /proc; needs 2 cores")
def test_process_workers_run_blas_on_one_thread(tmp_path):
    # A spawned worker imports optbench.executors to find its initializer, _pin_blas. If
    # that import loaded numpy, BLAS would have started its threads before the pin.
    script = tmp_path / "probe.py"
    script.write_text(PIN_PROBE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                       timeout=120)
    counts = dict(ln.split() for ln in r.stdout.splitlines() if ln.startswith(("PINNED", "FREE")))
    assert set(counts) == {"PINNED", "FREE"}, r.stdout + r.stderr
    if int(counts["FREE"]) == 1:
        pytest.skip("this BLAS starts no threads at import: nothing to pin")
    assert int(counts["PINNED"]) == 1, counts


def test_executors_module_does_not_import_numpy():
    r = subprocess.run([sys.executable, "-c", "import sys, optbench.executors; "
                        "print('NUMPY', 'numpy' in sys.modules)"], capture_output=True, text=True)
    assert "NUMPY False" in r.stdout, r.stdout + r.stderr
