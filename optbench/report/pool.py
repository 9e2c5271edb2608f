"""The report's worker pool: figures saved and blocks drawn while the sections go on.

The workers are plain ``python -c`` subprocesses fed through files, not a
``ProcessPoolExecutor``: a multiprocessing child (spawn or forkserver) imports the parent's
``__main__`` again, so a user's script that writes a report without an ``if __name__ ==
"__main__"`` guard would run once more in every worker; and a forked child would inherit
the state of a process that may hold threads. A plain subprocess imports only this module.
:func:`optbench.report.write_report` forks its workers instead where that is safe (Linux,
and this process runs a single thread): a forked worker starts with the modules already
imported here (numpy, pandas, matplotlib: about a second of CPU a subprocess pays again),
runs no interpreter shutdown (it leaves by ``os._exit``), and otherwise works as a
subprocess worker does.

A job travels pickled. Jobs and results are files in a temporary folder, each job announced
by one short line on a worker's stdin, so neither side ever waits on the other's pipe. Both
sides claim a job atomically (one claim file), so at the end the report process runs,
newest first, every job no worker has started, and any a worker could not run (e.g. a
plug-in's figure whose module it cannot import): the page never depends on the workers,
only the time does.

:func:`optbench.report.write_report` starts a :class:`Renderer` and makes it current with
:func:`using`; :func:`figure_data` and :func:`deferred_html` then hand their work to it and
return a placeholder, which :meth:`Renderer.fill` replaces once the page is written.
"""

from __future__ import annotations

import base64
import io
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from html import escape
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

__all__ = ["Renderer", "deferred_html", "figure_data", "start", "using"]

_RENDERER: ContextVar[Renderer | None] = ContextVar("optbench_renderer", default=None)
_OWN_RC = ("backend", "backend_fallback", "interactive")  # a worker keeps its own
# Default workers start when the stores hold more than START_RUNS runs (the report calls
# Renderer.start once it has read them), or with the page's 13th job: a small page's few
# figures are saved here in less CPU time than starting a worker takes (an interpreter and
# matplotlib's import, about a second); benchmarks/bench_report.py measures both sides.
START_AFTER = 12
START_RUNS = 200


@contextmanager
def using(renderer: Renderer | None) -> Iterator[None]:
    """Within the block, figures and deferred parts go to ``renderer`` (None: drawn here)."""
    token = _RENDERER.set(renderer)
    try:
        yield
    finally:
        _RENDERER.reset(token)


def figure_data(fig, fmt: str, dpi: int, tight: bool) -> str:
    """The figure as base64 SVG or PNG, or a placeholder while a renderer saves it."""
    renderer = _RENDERER.get()
    data = renderer.submit("figure", (fig, fmt, dpi, tight)) if renderer is not None else None
    return _save(fig, fmt, dpi, tight) if data is None else data


def deferred_html(fn, *args: Any) -> str:
    """``fn(*args)``, a part of a section's HTML, computed by a worker process inside
    :func:`~optbench.report.write_report` (a placeholder until the page is written), else
    here and now.

    ``fn`` must be a module-level function that a fresh interpreter can import, and the
    arguments picklable; otherwise it runs here. It must not depend on state of this process
    (e.g. a plug-in registered here): the result must be the same wherever it runs.
    """
    renderer = _RENDERER.get()
    token = renderer.submit("call", (fn, args)) if renderer is not None else None
    return fn(*args) if token is None else token


def start(workers: int | None, fork: bool = False) -> Renderer | None:
    """A renderer with ``workers`` processes, started at once, or with the default (one per
    further core, up to 4), started once the page has more than :data:`START_AFTER` jobs;
    None when there are to be none or no interpreter can be started (e.g. an embedded
    Python): then everything is drawn in this process. ``fork``: fork them where
    :func:`can_fork` allows it."""
    lazy = workers is None
    workers = _default_workers() if workers is None else workers
    if workers <= 0:
        return None
    try:
        return Renderer(workers, start_after=START_AFTER if lazy else 0, fork=fork)
    except OSError:
        return None


def _default_workers() -> int:
    """Workers beside this process: one per further core, up to 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(0, min(cores - 1, 4))


def _save(fig, fmt: str, dpi: int, tight: bool) -> str:
    """The figure as base64 SVG or PNG, without a timestamp."""
    buf = io.BytesIO()
    fig.savefig(
        buf,
        format=fmt,
        dpi=dpi,
        bbox_inches="tight" if tight else None,
        metadata={"Date": None} if fmt == "svg" else {"Software": None},
    )
    return base64.b64encode(buf.getvalue()).decode()


def _run_job(kind: str, payload: tuple) -> str:
    """One job: save a figure, or call a function for its HTML."""
    import warnings

    if kind == "call":
        fn, args = payload
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # as the report's sections
            return fn(*args)
    fig, *options = payload
    try:
        return _save(fig, *options)
    finally:
        close_figure(fig)


def close_figure(fig) -> None:
    """Let pyplot forget a figure it made (a ``matplotlib.figure.Figure`` made directly is
    not pyplot's: nothing to do, and no need to import pyplot for it)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def _claim(path: Path) -> bool:
    """Take a job: exactly one process succeeds in creating its claim file."""
    try:
        os.close(os.open(path.with_suffix(".claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _job_pipe(proc: subprocess.Popen[str] | _Forked) -> IO[str]:
    """A worker's stdin, the pipe its job names arrive on (always a pipe: Renderer)."""
    assert proc.stdin is not None
    return proc.stdin


def can_fork() -> bool:
    """Whether a worker may be forked from this process: on Linux, with one thread running
    (a fork copies only the calling thread; a lock another thread held stays held)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


class _Forked:
    """A forked worker, with the part of :class:`subprocess.Popen` a :class:`Renderer`
    uses: its job pipe, ``poll``, ``kill`` and ``wait``."""

    def __init__(self, folder: Path) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: run the jobs named on the pipe, then leave at once
            code = 1
            try:
                _RENDERER.set(None)  # forked inside write_report: its jobs draw here
                os.close(write)
                with os.fdopen(read, encoding="utf-8") as jobs:
                    _work(folder, jobs)
                code = 0
            finally:
                os._exit(code)
        os.close(read)
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: IO[str] | None = os.fdopen(write, "w", encoding="utf-8")

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            import signal

            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class Renderer:
    """Worker processes that run the report's jobs (saving figures, drawing whole blocks)
    while the sections go on; see the module docstring for how."""

    def __init__(self, workers: int, start_after: int = 0, fork: bool = False) -> None:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="optbench-report-")
        self.dir = Path(self._tmp.name)
        self.workers = workers
        # the processes start once more than ``start_after`` jobs are queued: a worker costs an
        # interpreter and matplotlib's import (about a second of CPU), more than a small page's
        # few figures take to save here
        self.start_after = start_after
        self.fork = fork  # fork the workers where can_fork() allows it
        self.procs: list[subprocess.Popen[str] | _Forked] = []
        self.jobs: list[str] = []
        self.started = False
        # a placeholder no store text can spell by accident
        self.tag = f"@@optbench-job-{os.urandom(6).hex()}-"
        if start_after <= 0:
            self._spawn()

    def _spawn(self) -> None:
        if self.fork and can_fork():
            self.procs = [_Forked(self.dir) for _ in range(self.workers)]
            return
        import subprocess

        from ..importpath import child_env

        code = ("from optbench import importpath; importpath.apply(); "
                "from optbench.report.pool import _worker; _worker()")
        # the workers import what this process imports (a script may have extended sys.path),
        # under optbench's import rule (the working folder last: optbench.importpath)
        cmd = [sys.executable, "-P", "-c", code, str(self.dir)]
        env = child_env()
        self.procs = [
            subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
            for _ in range(self.workers)
        ]

    def _announce(self, k: int) -> None:
        jobs = _job_pipe(self.procs[k % len(self.procs)])
        try:
            jobs.write(self.jobs[k] + "\n")
            jobs.flush()
        except OSError:  # a worker that died: the job runs here at the end
            pass

    def submit(self, kind: str, payload: tuple) -> str | None:
        """Queue a job; returns its placeholder, or None to run it here and now."""
        import pickle

        if not self.started:  # the workers draw with this process's settings, style included
            import matplotlib

            settings = {k: v for k, v in matplotlib.rcParams.items() if k not in _OWN_RC}
            (self.dir / "rc.pkl").write_bytes(pickle.dumps(settings))
            self.started = True
        try:
            data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # e.g. a plug-in's lambda: not picklable
            return None
        k = len(self.jobs)
        name = f"job{k}"
        (self.dir / f"{name}.pkl").write_bytes(data)
        self.jobs.append(name)
        if self.procs:
            self._announce(k)
        elif len(self.jobs) > self.start_after:
            self.start()
        return f"{self.tag}{k}@@"

    def start(self) -> None:
        """Start the worker processes now (if not yet), handing them the jobs queued so far."""
        if self.procs:
            return
        try:
            self._spawn()
        except OSError:  # no interpreter to start: every job runs here at the end
            self.start_after = 2**62
            return
        for k in range(len(self.jobs)):  # oldest first
            self._announce(k)

    def _run_here(self, name: str) -> str:
        import pickle

        try:
            return _run_job(*pickle.loads((self.dir / f"{name}.pkl").read_bytes()))
        except Exception as exc:  # noqa: BLE001 — one broken part must not take the page down
            return (
                f"<p class='error'>This part failed: {escape(type(exc).__name__)}: "
                f"{escape(str(exc))}</p>"
            )

    def finish(self) -> list[str]:
        """Every job's HTML, in submission order."""
        import time

        out: dict[int, str] = {}
        for k in reversed(range(len(self.jobs))):
            if _claim(self.dir / self.jobs[k]):
                out[k] = self._run_here(self.jobs[k])
        for proc in self.procs:
            try:
                _job_pipe(proc).close()
            except OSError:
                pass
        for k, name in enumerate(self.jobs):
            if k in out:
                continue
            done, failed = self.dir / f"{name}.out", self.dir / f"{name}.err"
            while not (done.exists() or failed.exists()):
                if all(p.poll() is not None for p in self.procs):
                    break
                time.sleep(0.005)
            out[k] = done.read_text() if done.exists() else self._run_here(name)
        return [out[k] for k in range(len(self.jobs))]

    def fill(self, page: str, results: list[str]) -> str:
        """``page`` with each job's placeholder replaced by its result (from :meth:`finish`)."""
        tag = re.compile(re.escape(self.tag) + r"(\d+)@@")
        return tag.sub(lambda m: results[int(m.group(1))], page)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdin and not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        self._tmp.cleanup()


def _worker() -> None:
    """A worker of :class:`Renderer` started as a subprocess: runs the pickled jobs named
    on stdin."""
    _work(Path(sys.argv[1]), sys.stdin)


def _work(folder: Path, lines: Iterator[str] | IO[str]) -> None:
    """Run the pickled jobs of ``folder`` named by ``lines``, each claimed first."""
    import pickle
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    # loaded while the report prepares the first job: what the built-in sections' jobs use
    import matplotlib.pyplot  # noqa: F401
    import pandas  # noqa: F401

    settings = None
    for line in lines:
        if settings is None:  # written before the first job was announced
            settings = pickle.loads((folder / "rc.pkl").read_bytes())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated keys set by the user
                matplotlib.rcParams.update(settings)
        job = folder / line.strip()
        if not _claim(job):
            continue
        try:
            text = _run_job(*pickle.loads(job.with_suffix(".pkl").read_bytes()))
        except Exception:  # noqa: BLE001 — the report runs this job itself
            job.with_suffix(".err").touch()
            continue
        job.with_suffix(".tmp").write_text(text)
        job.with_suffix(".tmp").replace(job.with_suffix(".out"))
