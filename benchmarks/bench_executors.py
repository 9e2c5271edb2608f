"""Target 4: two worker processes run a Python-bound grid at least 1.6× faster than serial.

The grid is ``scipy-bfgs`` (one run per batch: scipy owns its loop, so the work is Python,
not BLAS) over several n-D problems and many seeds, about 20 s serially. It runs in a
subprocess whose environment pins BLAS to one thread (``OMP_NUM_THREADS=1`` and friends), so
every mode computes with one thread per process and the speedup comes from the workers
alone. Each mode consumes ``optbench.executors.execute`` (the driver's store writes are not
part of it). Dask's ``LocalCluster`` is started first and timed on its own; the grid then
runs on it through ``scheduler=<its address>``, so its start-up is reported separately.

A speedup on 2 cores can only be measured when nothing else uses them. The driver measures,
for each mode, the CPU the *other* processes used meanwhile (the machine's busy time from
``/proc/stat`` minus this process tree's own CPU time); the ratio is judged only when that
stayed below ``MAX_FOREIGN_CPUS``. A disturbed mode is measured again (up to ``ATTEMPTS``
times, after waiting for idle CPUs), keeping its least disturbed attempt; if that was still
disturbed, the test is skipped with what it measured.
Beside it, the driver measures the machine's own ceiling: a pure-Python loop in one process
twice versus in two processes at once (a virtual machine's two vCPUs need not give 2×).
"""

from __future__ import annotations

import json
import os
import sys

import pytest

PROBLEMS = ["rosenbrock[d=2]", "rosenbrock[d=6]", "beale", "himmelblau", "styblinski-tang[d=4]",
            "ill-conditioned-quadratic[d=10,kappa=100.0]"]
SEEDS = 200
JOBS = 2
TARGET = 1.6
MAX_FOREIGN_CPUS = 0.3
ATTEMPTS = 3  # per mode, while other processes keep using the CPUs

DRIVER = r"""
import json, os, sys, time
import psutil
from optbench.executors import execute
from optbench.plan import make_plan

TICK = os.sysconf("SC_CLK_TCK")
me = psutil.Process()

def sample():
    # CPU seconds the whole machine was busy, and the part this process tree used
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    busy = (sum(v) - v[3] - v[4]) / TICK
    t = me.cpu_times()
    own = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            own += c.user + c.system
        except psutil.Error:
            pass
    return busy, own

def spin(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

def ceiling(pool, jobs, n=4_000_000):
    # what 2 processes of pure Python get on this machine right now: the best any executor can do
    t0 = time.perf_counter()
    for _ in range(jobs):
        spin(n)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    pool.map(spin, [n] * jobs)
    return one / (time.perf_counter() - t0)

def timed(mode, **kw):
    b0, o0 = sample()
    t0 = time.perf_counter()
    n = 0
    statuses = {}
    for _, results in execute(batches, mode, **kw):
        for r in results:
            n += 1
            statuses[r.status] = statuses.get(r.status, 0) + 1
    wall = time.perf_counter() - t0
    b1, o1 = sample()
    foreign = max(0.0, (b1 - b0) - (o1 - o0)) / wall
    return {"s": wall, "runs": n, "statuses": statuses, "foreign_cpus": round(foreign, 2)}

def wait_quiet(patience=60.0):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < patience:
        b0, o0 = sample()
        time.sleep(1.0)
        b1, o1 = sample()
        if (b1 - b0) - (o1 - o0) < 0.1:
            return

def dask_timed():
    from dask.distributed import Client, LocalCluster
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                           dashboard_address="127.0.0.1:0")
    client = Client(cluster)
    client.wait_for_workers(jobs)
    startup = time.perf_counter() - t0
    got = timed("dask", scheduler=cluster.scheduler_address)
    t0 = time.perf_counter()
    client.close()
    cluster.close()
    return {**got, "startup_s": startup, "shutdown_s": time.perf_counter() - t0}

def measure(fn, attempts):
    # the attempt that other processes disturbed least; retried while they used the CPUs
    best = None
    for _ in range(attempts):
        wait_quiet()
        got = fn()
        if best is None or got["foreign_cpus"] < best["foreign_cpus"]:
            best = got
        if best["foreign_cpus"] <= MAX_FOREIGN:
            break
    return best

if __name__ == "__main__":
    import multiprocessing as mp
    problems, seeds, jobs = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    attempts, MAX_FOREIGN = int(sys.argv[4]), float(sys.argv[5])
    batches = make_plan(problems, ["scipy-bfgs"], seeds=seeds, budget=2000).batches
    pool = mp.get_context("spawn").Pool(jobs)
    pool.map(spin, [10] * jobs)
    out = {"batches": len(batches), "machine_ceiling_before": round(ceiling(pool, jobs), 2)}
    out["serial"] = measure(lambda: timed("serial"), attempts)
    out["process"] = measure(lambda: timed("process", jobs=jobs), attempts)
    out["dask"] = measure(dask_timed, attempts)
    out["machine_ceiling_after"] = round(ceiling(pool, jobs), 2)
    pool.close()
    print("RESULT " + json.dumps(out))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a parallel speedup needs 2 cores")
def test_process_and_dask_speedup_over_serial(benchmark, tools, tmp_path):
    pytest.importorskip("dask.distributed")
    quiet = tools.wait_for_quiet(max_busy=0.2, patience=120)
    result = {}

    driver = tmp_path / "driver.py"  # a file, not -c: spawned workers re-import it
    driver.write_text(DRIVER)

    def grid():
        wall, _, proc = tools.run_measured(
            [sys.executable, str(driver), json.dumps(PROBLEMS), str(SEEDS), str(JOBS),
             str(ATTEMPTS), str(MAX_FOREIGN_CPUS)], cwd=tmp_path, env=tools.pinned_env())
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
        result.update(json.loads(line[len("RESULT "):]), total_s=wall)

    benchmark.pedantic(grid, rounds=1, iterations=1)
    r = result
    serial, process, dask = r["serial"], r["process"], r["dask"]
    assert serial["runs"] == process["runs"] == dask["runs"] == len(PROBLEMS) * SEEDS
    process_x = serial["s"] / process["s"]
    dask_x = serial["s"] / dask["s"]
    foreign = {f"foreign_cpus_{k}": r[k]["foreign_cpus"] for k in ("serial", "process", "dask")}
    tools.report(benchmark, runs=serial["runs"], batches=r["batches"], serial_s=serial["s"],
                 process_s=process["s"], dask_s=dask["s"], dask_startup_s=dask["startup_s"],
                 dask_shutdown_s=dask["shutdown_s"], process_speedup=process_x,
                 dask_speedup=dask_x,
                 dask_speedup_with_startup=serial["s"] / (dask["s"] + dask["startup_s"]),
                 machine_ceiling_before=r["machine_ceiling_before"],
                 machine_ceiling_after=r["machine_ceiling_after"], statuses=serial["statuses"],
                 target=TARGET, **foreign, **quiet)
    if max(foreign.values()) > MAX_FOREIGN_CPUS:
        pytest.skip(f"machine busy (other processes used {foreign} CPUs while it ran, after "
                    f"{ATTEMPTS} attempts): speedups process {process_x:.2f}×, "
                    f"dask {dask_x:.2f}× measured, not judged")
    assert serial["s"] >= 10, "the grid is too small to measure a speedup"
    assert process_x >= TARGET, f"process executor {process_x:.2f}× serial"
    assert dask_x >= TARGET, f"dask executor {dask_x:.2f}× serial"
