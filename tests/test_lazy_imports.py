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


PIN_PROBE = "import numpy, os; print(len(os.listdir('/proc/self/task')))"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
                    reason="counts threads through Linux /proc; needs 2 cores")
def test_process_workers_run_blas_on_one_thread(tmp_path):
    # a worker child starts with the environment optbench.worker gives it: BLAS reads its
    # thread count once, when numpy loads, so the pin must be in that environment
    from optbench.worker import worker_env

    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}

    def threads(pin: bool) -> int:
        with pytest.MonkeyPatch.context() as mp:
            for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                mp.delenv(k, raising=False)
            child_env = worker_env(pin) if pin else env
        r = subprocess.run([sys.executable, "-c", PIN_PROBE], capture_output=True, text=True,
                           env=child_env, timeout=120)
        return int(r.stdout.strip())

    if threads(False) == 1:
        pytest.skip("this BLAS starts no threads at import: nothing to pin")
    assert threads(True) == 1


def test_executors_module_does_not_import_numpy():
    r = subprocess.run([sys.executable, "-c", "import sys, optbench.executors; "
                        "print('NUMPY', 'numpy' in sys.modules)"], capture_output=True, text=True)
    assert "NUMPY False" in r.stdout, r.stdout + r.stderr
