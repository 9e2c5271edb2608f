"""Shared helpers for the performance suite: a quiet machine, pinned BLAS, subprocess timing.

Every benchmark here states its target as a *ratio* (or a bound) measured in the same
session, records what it measured in ``benchmark.extra_info`` and prints it, so a run of
``python -m pytest benchmarks/ --benchmark-only -q -s`` shows the numbers beside the verdict.

The machine may be shared (the 2-core box this was written on runs other jobs), so each
benchmark waits a little for the CPUs to go idle and records the load it ran under; a
parallel-speedup target is only judged when the machine was quiet enough to measure it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def pinned_env(**extra: str) -> dict[str, str]:
    """The environment for a benchmark subprocess: one BLAS thread, no warnings noise."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", COLUMNS="200")
    env.update({v: "1" for v in BLAS_VARS})
    env.update(extra)
    return env


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields), idle


def busy_cpus(window: float = 1.0) -> float:
    """How many CPUs other processes keep busy, averaged over ``window`` seconds.

    Unlike the load average (a one-minute moving average), this sees the machine as it is
    now; 0.0 is an idle machine, ``os.cpu_count()`` a saturated one.
    """
    if not os.path.exists("/proc/stat"):
        return os.getloadavg()[0]
    total0, idle0 = _cpu_times()
    time.sleep(window)
    total1, idle1 = _cpu_times()
    total = max(total1 - total0, 1)
    return (os.cpu_count() or 1) * (1.0 - (idle1 - idle0) / total)


def wait_for_quiet(max_busy: float = 0.3, patience: float = 90.0) -> dict[str, float]:
    """Wait (up to ``patience`` seconds) until fewer than ``max_busy`` CPUs are busy.

    Returns what was measured: ``busy_cpus`` just before the benchmark, ``loadavg_1min``,
    and the seconds waited.
    """
    t0 = time.monotonic()
    busy = busy_cpus()
    while busy > max_busy and time.monotonic() - t0 < patience:
        time.sleep(4.0)
        busy = busy_cpus()
    return {"busy_cpus_before": round(busy, 2), "loadavg_1min": round(os.getloadavg()[0], 2),
            "waited_s": round(time.monotonic() - t0, 1)}


def run_measured(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
                 timeout: float = 900) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run a command; returns (wall seconds, its peak RSS in MB, the completed process).

    The process also carries ``cpu_s``: user + system seconds of the child and of the
    grandchildren it waited for, which, unlike the wall time, does not grow when other
    processes share the machine; it comes from ``os.wait4`` on this very child. The peak RSS
    is the child's ``VmHWM`` from ``/proc``, sampled every 20 ms: ``ru_maxrss`` would be
    wrong here, since Linux keeps the high-water mark across ``execve`` and the child starts
    as a copy of this (large) pytest process. Output goes to temporary files, not pipes, so
    nothing has to drain them while we wait.
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=env or pinned_env(), stdout=fout, stderr=ferr,
                                text=True)
        killer = threading.Timer(timeout, proc.kill)  # a hung child fails, never hangs us
        killer.start()
        peak = [0.0]
        stop = threading.Event()
        sampler = threading.Thread(target=_sample_hwm, args=(proc.pid, peak, stop), daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            stop.set()
            sampler.join()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fout.seek(0)
        ferr.seek(0)
        done = subprocess.CompletedProcess(args, proc.returncode, fout.read(), ferr.read())
    done.cpu_s = usage.ru_utime + usage.ru_stime
    if peak[0] == 0.0:  # no /proc (not Linux): ru_maxrss, in bytes on macOS
        peak[0] = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return wall, peak[0], done


def _sample_hwm(pid: int, peak: list[float], stop: threading.Event) -> None:
    """Keep the largest ``VmHWM`` (MB) of a running process until ``stop`` is set."""
    path = f"/proc/{pid}/status"
    while not stop.is_set():
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]) / 1024)
                        break
        except (OSError, ValueError):
            pass
        stop.wait(0.02)


def report(benchmark, **numbers) -> None:
    """Record numbers in the benchmark's JSON (``extra_info``) and print them."""
    for k, v in numbers.items():
        benchmark.extra_info[k] = round(v, 4) if isinstance(v, float) else v
    name = getattr(benchmark, "name", "benchmark")
    print(f"\n[{name}] " + ", ".join(f"{k}={benchmark.extra_info[k]}" for k in numbers))


@pytest.fixture
def tools() -> SimpleNamespace:
    """The helpers above, for benchmark modules (importlib mode cannot import conftest)."""
    return SimpleNamespace(busy_cpus=busy_cpus, pinned_env=pinned_env, report=report,
                           run_measured=run_measured, wait_for_quiet=wait_for_quiet,
                           cli=[sys.executable, "-m", "optbench.cli"], root=ROOT)
