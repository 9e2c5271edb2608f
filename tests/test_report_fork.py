"""The report's workers are forked where that is safe (one thread, Linux): they start with
the report's imports, draw the same page, and leave no process behind; with another
thread running they are started as subprocesses instead."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux")

# pinned as `optbench report` pins them, before numpy and pyarrow start threads
PINNED = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
          "MKL_NUM_THREADS": "1", "JE_ARROW_MALLOC_CONF": "background_thread:false"}


def _python(code: str, *args: str, env=None) -> str:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                       text=True, timeout=300, env=env or PINNED)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout


def test_a_forked_worker_runs_the_jobs_and_is_reaped():
    out = _python("""
        import html, os, time
        import numpy, pandas, matplotlib
        from optbench.report import pool
        assert pool.can_fork()
        r = pool.Renderer(1, fork=True)
        child = r.procs[0]
        assert isinstance(child, pool._Forked) and child.pid != os.getpid()
        tokens = [r.submit("call", (html.escape, (s,))) for s in ("<a>", "&", '"')]
        deadline = time.monotonic() + 60
        while not all((r.dir / f"job{k}.out").exists() for k in range(3)):
            assert time.monotonic() < deadline, "the forked worker ran no job"
            time.sleep(0.01)
        print(r.finish())
        r.close()
        print("reaped", child.poll() is not None)
    """)
    assert "['&lt;a&gt;', '&amp;', '&quot;']" in out and "reaped True" in out


def test_with_a_second_thread_the_workers_are_subprocesses():
    out = _python("""
        import threading, time
        from optbench.report import pool
        stop = threading.Event()
        t = threading.Thread(target=stop.wait); t.start()
        try:
            print("can_fork", pool.can_fork())
            r = pool.Renderer(1, fork=True)
            print("kind", type(r.procs[0]).__name__)
            r.close()
        finally:
            stop.set(); t.join()
    """)
    assert "can_fork False" in out and "kind Popen" in out


def test_optbench_report_forks_its_worker_and_draws_the_same_page(tmp_path):
    """The command (which pins the thread variables itself) forks one worker on a store of
    more than START_RUNS runs; its page equals the page drawn without any worker."""
    import optbench
    from optbench.report import pool, write_report

    res = optbench.run(problems=["quadratic-1d", "rosenbrock"], optimizers=["gd", "adam"],
                       seeds=pool.START_RUNS // 4 + 1, budget=15, out=tmp_path / "o",
                       report=False)
    pins = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "JE_ARROW_MALLOC_CONF")
    env = {k: v for k, v in os.environ.items() if k not in pins}  # the command sets them
    out = _python("""
        import sys
        from optbench.report import pool
        real = pool._Forked.__init__
        count = []
        def counted(self, folder):
            count.append(1)
            real(self, folder)
        pool._Forked.__init__ = counted
        pool._default_workers = lambda: 1
        from optbench.cli import main
        try:
            main(["report", "--out", sys.argv[1], "--html", sys.argv[2], "--quiet"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("forked", len(count))
    """, str(tmp_path / "o"), str(tmp_path / "forked.html"), env=env)
    assert "forked 1" in out
    alone = write_report([res.db], tmp_path / "alone.html", workers=0).read_text("utf-8")
    forked = (tmp_path / "forked.html").read_text("utf-8")
    assert "@@optbench-job" not in forked
    assert _undated(forked) == _undated(alone)


def _undated(page: str) -> str:
    import re

    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "DATE", page)


def test_a_killed_forked_worker_leaves_its_jobs_to_the_report():
    out = _python("""
        import html, os, signal
        import numpy, pandas, matplotlib
        from optbench.report import pool
        r = pool.Renderer(1, fork=True)
        child = r.procs[0]
        assert isinstance(child, pool._Forked)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        for s in ("<x>", "y&"):
            r.submit("call", (html.escape, (s,)))
        print(r.finish())
        r.close()
    """)
    assert "['&lt;x&gt;', 'y&amp;']" in out
