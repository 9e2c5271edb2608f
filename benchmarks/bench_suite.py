"""Target 5: ``optbench run`` with no arguments — the default suite and its report — in
under 30 s on a 2-core machine.

Run exactly as a user types it, in an empty folder, so it writes
``optbench-results/results.sqlite`` and ``optbench-results/report.html``. The report is then
re-rendered from the store alone (``optbench report``) to show how the time splits between
running the suite and drawing the report.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

TARGET_S = 30.0


def test_default_suite_end_to_end(benchmark, tools, tmp_path):
    quiet = tools.wait_for_quiet()
    measured = {}

    def suite():
        out = tmp_path / "optbench-results"
        if out.exists():  # a rerun would only resume: start from an empty folder each round
            for p in out.iterdir():
                p.unlink()
            out.rmdir()
        wall, rss, proc = tools.run_measured([*tools.cli, "run", "--quiet"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        measured.update(wall=wall, rss=rss, cpu=proc.cpu_s)

    benchmark.pedantic(suite, rounds=1, iterations=1)
    out = tmp_path / "optbench-results"
    report = out / "report.html"
    assert report.is_file() and report.stat().st_size > 10_000
    with closing(sqlite3.connect(out / "results.sqlite")) as conn, conn:  # closed, and committed
        n_runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    report.unlink()
    report_s, _, proc = tools.run_measured([*tools.cli, "report", "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0 and report.is_file(), proc.stderr[-2000:]
    tools.report(benchmark, runs=n_runs, wall_s=measured["wall"], cpu_s=measured["cpu"],
                 peak_rss_mb=measured["rss"],
                 report_alone_s=report_s, report_alone_cpu_s=proc.cpu_s, report_mb=report.stat().st_size / 2**20,
                 target_s=TARGET_S, busy_cpus_after=round(tools.busy_cpus(), 2), **quiet)
    assert measured["wall"] < TARGET_S, f"the default suite took {measured['wall']:.1f} s"
