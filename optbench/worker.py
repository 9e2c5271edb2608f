"""The worker child: where plug-in code runs, so that nothing it does can end the driver.

Every executor runs its batches through a :class:`Worker`: a persistent child process,
started once (``python -m optbench.worker``, never forked, so it is safe from threaded
processes such as Dask workers) and fed whole tasks — many batches per message — through a
pipe. It answers one message per finished batch. The parent owns every fault:

* the child dies (``sys.exit``, ``os._exit``, a segfault, the OOM killer): the batch it was
  running is rerun one run at a time in a fresh child, so only the run that kills its
  process becomes an ``error`` row ("the process exited with code 1 at update 3");
* the child stops answering (an optimizer that stops calling the oracle, so its own
  deadline never fires): past ``1.5 × timeout + KILL_GRACE`` seconds the child is killed
  and every run of that batch becomes a ``timeout`` row at once, so a hang costs one
  kill limit per batch, however many runs the batch has. ``--retry-failed`` reruns such
  rows one at a time, so the runs that did not hang then get their own results.

The child exits when its parent does (``PR_SET_PDEATHSIG`` on Linux, and a thread that
watches the parent everywhere), so killing the driver leaves no worker behind. It ignores
Ctrl-C: the driver handles the interrupt and stops its workers.

The wire format is pickle between this process and its own child, never a file.
"""

from __future__ import annotations

import mmap
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from .plan import Batch
from .spec import Spec

if TYPE_CHECKING:
    from .runner import RunResult

__all__ = ["KILL_GRACE", "ProblemInfo", "Worker", "problem_record"]

KILL_GRACE = 2.0  # seconds past the cooperative deadline before a batch is killed
START_LIMIT = 120.0  # seconds a new child may take to import optbench and say it is ready
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_HEADER = struct.Struct("<Q")
_UPDATE = struct.Struct("<q")  # the update the child is computing, shared through a mapped file


def kill_limit(timeout: float) -> float:
    """Seconds a batch may run before its worker is killed (its runs' deadline plus grace)."""
    return timeout * 1.5 + KILL_GRACE


def worker_env(pin_blas: bool = True) -> dict[str, str]:
    """The environment of a worker child: the driver's, with its import path (a plug-in or
    entry point the driver found, the child finds) and, unless set, one BLAS thread
    (parallelism comes from the workers)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if pin_blas:
        env.update({var: env.get(var, "1") for var in BLAS_VARS})
    return env


class Worker:
    """A persistent child process that runs batches; restarted after it dies or is killed."""

    def __init__(self, blas_threads: bool = True):
        self.proc: subprocess.Popen[bytes] | None = None
        self.closed = False  # closed from another thread: stop, no recovery
        self.blas_threads = blas_threads
        self._buffer = bytearray()
        fd, self._update_path = tempfile.mkstemp(prefix="optbench-worker-")
        os.write(fd, b"\0" * _UPDATE.size)
        os.close(fd)
        with open(self._update_path, "r+b") as f:
            self._update = mmap.mmap(f.fileno(), _UPDATE.size)

    # -- the child's life ---------------------------------------------------------------------
    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "optbench.worker", self._update_path, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=worker_env(self.blas_threads),
        )
        self._buffer = bytearray()
        if self._receive(time.monotonic() + START_LIMIT) != "ready":
            code = self._stop()
            raise RuntimeError(f"the optbench worker process did not start (exit code {code})")

    def _stop(self) -> int | None:
        """Kill the child (if it still runs) and reap it; its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:  # both are pipes (_start); None only to the type checker
                    pipe.close()
            except OSError:
                pass
        return proc.wait()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stop()
        self._update.close()
        try:
            os.unlink(self._update_path)
        except OSError:
            pass

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- messages -------------------------------------------------------------------------
    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        """The running child's stdin and stdout (messages are only sent after _start)."""
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        return proc.stdin, proc.stdout

    def _send(self, obj) -> bool:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        stdin, _ = self._pipes()
        try:
            stdin.write(_HEADER.pack(len(data)) + data)
            stdin.flush()
        except (BrokenPipeError, OSError):
            return False  # the child is gone; the read that follows sees it
        return True

    def _receive(self, deadline: float | None):
        """The child's next message; ``EOFError`` if it died, ``TimeoutError`` past deadline."""
        fd = self._pipes()[1].fileno()
        while True:
            if len(self._buffer) >= _HEADER.size:
                (n,) = _HEADER.unpack_from(self._buffer)
                if len(self._buffer) >= _HEADER.size + n:
                    data = bytes(self._buffer[_HEADER.size : _HEADER.size + n])
                    del self._buffer[: _HEADER.size + n]
                    return pickle.loads(data)  # our own child's answer
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise EOFError
            self._buffer += chunk

    # -- running ----------------------------------------------------------------------------
    def run(self, batches: list[Batch]) -> Iterator[tuple[Batch, list[RunResult]]]:
        """Run batches in the child, in order; yields ``(batch, results)`` as each finishes."""
        pending = list(batches)
        while pending and not self.closed:
            if self.proc is not None and self.proc.poll() is not None:
                self._stop()  # ended between tasks (its parent thread ended, say)
            if self.proc is None:
                self._start()
            self._send(pending)
            started = time.monotonic()
            for i, batch in enumerate(pending):
                timeout = batch.runs[0].timeout
                deadline = started + kill_limit(timeout) if timeout else None
                try:
                    results = self._receive(deadline)
                except (EOFError, TimeoutError, OSError, ValueError) as exc:
                    if self.closed:
                        return
                    update = _UPDATE.unpack(self._update[:])[0]
                    code = self._stop()
                    if isinstance(exc, TimeoutError) and timeout:
                        yield batch, [_killed(r, timeout, len(batch.runs)) for r in batch.runs]
                    elif len(batch.runs) == 1:
                        yield batch, [_died(batch.runs[0], code, update)]
                    else:
                        yield batch, self._alone(batch)
                    pending = pending[i + 1 :]
                    break
                started = time.monotonic()  # the child goes on with the next batch now
                yield batch, results
            else:
                pending = []

    def _alone(self, batch: Batch) -> list[RunResult]:
        """The runs of a batch whose process died, each rerun alone in a fresh child."""
        out: list[RunResult] = []
        for run in batch.runs:
            single = Batch(batch.index, [run], batch.batchable, batch.plugins)
            for _, results in self.run([single]):
                out.extend(results)
        return out

    def problem_info(
        self, task: ProblemInfo, timeout: float | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
        """A problem's info and landscape, computed in the child under the runs' guard:
        ``(info, landscape, why)``; what could not be had is None, and ``why`` says why (the
        child raised, died, or ran past the kill limit of ``timeout``, and is then stopped)."""
        if self.proc is not None and self.proc.poll() is not None:
            self._stop()
        if self.proc is None:
            self._start()
        self._send(task)
        deadline = time.monotonic() + kill_limit(timeout) if timeout else None
        got: dict[str, Any] = {}
        try:
            for part in ("info", "landscape"):
                kind, value = self._receive(deadline)
                if kind == "error":
                    return got.get("info"), None, value
                got[part] = value
        except (EOFError, TimeoutError, OSError, ValueError) as exc:
            if isinstance(exc, EOFError) and self.proc is not None:
                try:  # its exit code, not the kill's: it is ending on its own
                    self.proc.wait(1.0)
                except subprocess.TimeoutExpired:
                    pass
            code = self._stop()
            if isinstance(exc, TimeoutError) and timeout:
                why = f"it did not finish within {kill_limit(timeout):g} s (timeout {timeout:g} s)"
            else:
                why = _exit_how(code)
            return got.get("info"), None, why
        return got["info"], got["landscape"], ""


def problem_record(problem) -> dict[str, Any]:
    """What a store keeps about a built problem, but its landscape (JSON-ready)."""
    return {
        "name": problem.name,
        "params": dict(problem.params),
        "description": problem.description,
        **problem.info(),
        "hessian": None if problem.hessian is None else problem.hessian.tolist(),
    }


class ProblemInfo(NamedTuple):
    """A task for the child: the info and landscape of a problem (``optbench.api`` stores
    them), computed there because its ``f`` is plug-in code like any run's."""

    problem: Spec
    plugins: tuple[str, ...] = ()


def _killed(run, timeout: float, size: int) -> RunResult:
    from .runner import RunResult

    who = "the optimizer" if size == 1 else f"a run of its batch of {size}"
    return RunResult(
        run.run_id,
        "timeout",
        f"killed after {kill_limit(timeout):g} s: {who} stopped calling the oracle "
        f"(timeout {timeout:g} s); --retry-failed reruns it alone",
    )


def _died(run, code: int | None, update: int) -> RunResult:
    from .runner import RunResult

    return RunResult(run.run_id, "error", f"{_exit_how(code)} at update {update + 1}")


def _exit_how(code: int | None) -> str:
    """How a child ended, from its exit code (negative: the signal that killed it)."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"the process was killed by {name}"
        if -code == signal.SIGKILL:
            how += " (out of memory?)"
        elif -code == signal.SIGSEGV:
            how += " (a segmentation fault)"
    else:
        how = f"the process exited with code {code}"
    return how


# -- the child ---------------------------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    """End this process when the parent is gone (the driver was killed)."""
    import threading

    try:  # Linux: the kernel sends SIGKILL when the parent thread exits
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def poll() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=poll, daemon=True).start()


def _main(update_path: str, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _watch_parent(parent)
    # the protocol has the pipes to itself: plug-in output goes to stderr
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import warnings

    # the driver already said it once
    warnings.filterwarnings("ignore", message="optbench: the installed plug-in")
    from . import metrics, runner  # noqa: F401 — imported once, before the first batch

    with open(update_path, "r+b") as f:
        shared = mmap.mmap(f.fileno(), _UPDATE.size)

    def on_update(t: int) -> None:
        _UPDATE.pack_into(shared, 0, t)

    runner.on_update = on_update

    def send(obj) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(data)) + data)
        out.flush()

    send("ready")
    while True:
        header = inp.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the parent closed the pipe
        (n,) = _HEADER.unpack(header)
        batches = pickle.loads(inp.read(n))  # our own parent's message
        if isinstance(batches, tuple):  # a ProblemInfo (this module runs as __main__ here)
            _problem_info(ProblemInfo(*batches), send)
            continue
        for batch in batches:
            results = _guarded(batch, on_update)
            if results is None:  # a run raised SystemExit or the like: find which, alone
                results = []
                for run in batch.runs:
                    single = Batch(batch.index, [run], batch.batchable, batch.plugins)
                    results.extend(_guarded(single, on_update) or [])
            send(results)


def _problem_info(task: ProblemInfo, send) -> None:
    """Send ``("info", dict)`` then ``("landscape", dict or None)``, or ``("error", why)``."""
    from .plan import build_problem
    from .registry import load_plugin

    part = "info"  # what is being computed, for the message
    try:
        for plugin in task.plugins:
            load_plugin(plugin)
        problem = build_problem(task.problem)
        send(("info", problem_record(problem)))
        part = "landscape"
        send(("landscape", problem.stored_landscape()))
    except BaseException as exc:  # noqa: BLE001 — whatever plug-in code raises is a message
        why = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SystemExit):
            why = f"the problem called sys.exit({exc.code!r})"
        send(("error", (why if part == "landscape" else f"building it: {why}")[:500]))


def _guarded(batch: Batch, on_update) -> list[RunResult] | None:
    """``run_batch``; a one-run batch that raises what the runner does not catch (plug-in
    code calling ``sys.exit``) is an ``error`` row; a bigger one is None (rerun alone)."""
    from .runner import RunResult, run_batch

    on_update(0)
    try:
        return run_batch(batch)
    except BaseException as exc:  # noqa: BLE001 — whatever plug-in code raises is a row
        if len(batch.runs) > 1:
            return None
        why = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SystemExit):
            why = f"the optimizer or problem called sys.exit({exc.code!r})"
        return [RunResult(batch.runs[0].run_id, "error", why[:500])]


if __name__ == "__main__":
    _main(sys.argv[1], int(sys.argv[2]))
