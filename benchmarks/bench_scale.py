"""Target 2: a 10,000-run sweep fits in a few hundred MB of RAM and of disk.

GD on the lesson's ``linear-regression`` over 100 learning rates × 100 seeds, 1,000
iterations each (most runs use them all: small rates do not converge in 1,000 steps), run
through the command line exactly as a user types it, with ``--no-report``. Measured: wall
time, the process's peak resident memory (``ru_maxrss`` of that very child, via
``os.wait4``), and the store's size on disk. Batches are capped by memory in the planner
(``MAX_BATCH_RUNS``, ``MAX_BATCH_FLOATS``); long traces are stored thinned by the runner.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

RUNS = ("-p", "linear-regression", "-o", "gd[lr=log(1e-3,0.3,100)]", "--seeds", "100",
        "--max-iter", "1000", "--budget", "1000")
N_RUNS = 100 * 100
RAM_LIMIT_MB = 400.0  # "a few hundred MB"
DISK_LIMIT_MB = 400.0


def test_ten_thousand_run_sweep_memory_and_disk(benchmark, tools, tmp_path):
    quiet = tools.wait_for_quiet()
    out = tmp_path / "sweep"
    measured = {}

    def sweep():
        wall, rss, proc = tools.run_measured([*tools.cli, "run", *RUNS, "--out", str(out),
                                              "--no-report", "--quiet", "--fresh"])
        assert proc.returncode == 0, proc.stderr[-2000:]
        measured.update(wall=wall, rss=rss, cpu=proc.cpu_s)

    benchmark.pedantic(sweep, rounds=1, iterations=1)
    db = out / "results.sqlite"
    files = [p for p in out.iterdir() if p.name.startswith("results.sqlite")]
    disk_mb = sum(p.stat().st_size for p in files) / 2**20
    with closing(sqlite3.connect(db)) as conn, conn:  # closed, and committed
        n_runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        trace_mb = conn.execute("SELECT SUM(LENGTH(traces)) FROM blocks").fetchone()[0] / 2**20
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"))
    tools.report(benchmark, runs=n_runs, wall_s=measured["wall"], cpu_s=measured["cpu"],
                 peak_rss_mb=measured["rss"],
                 store_mb=disk_mb, trace_blobs_mb=trace_mb,
                 kb_per_run=disk_mb * 1024 / max(n_runs, 1), statuses=statuses,
                 busy_cpus_after=round(tools.busy_cpus(), 2), **quiet)
    assert n_runs == N_RUNS
    assert measured["rss"] < RAM_LIMIT_MB, f"peak RSS {measured['rss']:.0f} MB"
    assert disk_mb < DISK_LIMIT_MB, f"store {disk_mb:.0f} MB"
