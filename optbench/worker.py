"""The worker child: where plug-in code runs, so that nothing it does can end the driver.

Every executor runs its batches through a :class:`Worker`: a persistent child process,
started once and fed whole tasks — many batches per message — through a pipe. It answers one
message per finished batch. The parent owns every fault:

* the child dies (``sys.exit``, ``os._exit``, a segfault, the OOM killer): the batch it was
  running is rerun one run at a time in a fresh child, so only the run that kills its
  process becomes an ``error`` row ("the process exited with code 1 at update 3");
* the child stops answering (an optimizer that stops calling the oracle, so its own
  deadline never fires): past ``1.5 × timeout + KILL_GRACE`` seconds the child is killed
  and every run of that batch becomes a ``timeout`` row at once, so a hang costs one
  kill limit per batch, however many runs the batch has. ``--retry-failed`` reruns such
  rows one at a time, so the runs that did not hang then get their own results.

How a child starts. The ``optbench`` command starts a *fork server* first
(:func:`start_fork_server`, before any thread of its own: progress bar, Dask client,
executor threads): a copy of the driver made with ``os.fork`` while the driver has one
thread, with optbench, numpy and the built-in catalogs already imported. The server never
starts a thread, imports the runner's modules once, and forks one worker child per need,
so a child costs a ``fork``, not an interpreter that imports everything again. BLAS runs
on one thread in all of them: the command sets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``
... to 1 (unless set) before numpy loads, so no BLAS thread exists when it forks. Anywhere
else — the Python API in a user's process, a Dask worker (threaded), a driver that already
runs threads (BLAS threads asked for through the environment), macOS, Windows — a child is
started fresh (``python -P -m optbench.worker``, never forked from a threaded process), with
BLAS pinned through its environment before numpy loads. Both kinds follow the import rule of
:mod:`optbench.importpath` and behave the same:

* a forked child's exit code comes from the server, which reaps it, so a crash row names
  its signal as a spawned child's does;
* the child exits when its parent does (``PR_SET_PDEATHSIG`` on Linux, and a thread that
  watches the parent everywhere); the server dies with the driver the same way and kills
  its children when the driver's end of its socket closes, so killing the driver leaves
  no worker behind;
* the child and the server ignore Ctrl-C: the driver handles the interrupt and stops its
  workers.

The wire format is pickle between this process and its own child, never a file.
"""

from __future__ import annotations

import mmap
import os
import pickle
import select
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, NamedTuple, NoReturn

from . import importpath
from .plan import Batch
from .spec import Spec

if TYPE_CHECKING:
    import subprocess

    from .runner import RunResult

__all__ = ["KILL_GRACE", "ProblemInfo", "Worker", "problem_record", "start_fork_server"]

KILL_GRACE = 2.0  # seconds past the cooperative deadline before a batch is killed
START_LIMIT = 120.0  # seconds a new child may take to import optbench and say it is ready
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_HEADER = struct.Struct("<Q")


def pin_blas() -> None:
    """Ask BLAS for one thread, unless the user said otherwise: before numpy loads, so its
    BLAS starts no thread and this process can fork safely."""
    for var in BLAS_VARS:
        os.environ.setdefault(var, "1")

_UPDATE = struct.Struct("<q")  # the update the child is computing, shared through a mapped file


def kill_limit(timeout: float) -> float:
    """Seconds a batch may run before its worker is killed (its runs' deadline plus grace)."""
    return timeout * 1.5 + KILL_GRACE


def worker_env(pin_blas: bool = True) -> dict[str, str]:
    """The environment of a started (not forked) worker child: the driver's, with its import
    path under :mod:`optbench.importpath`'s rule (a plug-in or entry point the driver found,
    the child finds) and, unless set, one BLAS thread (parallelism comes from the workers)."""
    env = importpath.child_env()
    if pin_blas:
        env.update({var: env.get(var, "1") for var in BLAS_VARS})
    return env


class Worker:
    """A persistent child process that runs batches; restarted after it dies or is killed."""

    def __init__(self, blas_threads: bool = True):
        self.proc: subprocess.Popen[bytes] | _Forked | None = None
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
        server = _fork_server() if self.blas_threads else None
        self.proc = server.fork(self._update_path) if server is not None else None
        if self.proc is None:  # no fork server here: a fresh interpreter
            import subprocess

            self.proc = subprocess.Popen(
                importpath.command("optbench.worker", self._update_path, str(os.getpid())),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=worker_env(self.blas_threads),
            )
        self._buffer = bytearray()
        if self.proc.stdout is not None:
            _big_pipe(self.proc.stdout.fileno())
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
        """The child's next message; ``EOFError`` if it died, ``TimeoutError`` past deadline.

        Once a message's length is known, the rest of it is read straight into place (a
        batch's answer is megabytes: no chunk is copied twice)."""
        fd = self._pipes()[1].fileno()
        buf = self._buffer
        have = len(buf)
        while True:
            if have >= _HEADER.size:
                (n,) = _HEADER.unpack_from(buf)
                size = _HEADER.size + n
                if have >= size:
                    with memoryview(buf) as view:
                        obj = pickle.loads(view[_HEADER.size : size])  # our own child's answer
                    del buf[:size]
                    return obj
                if len(buf) < size:
                    buf.extend(bytes(size - len(buf)))
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                del buf[have:]
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                continue
            if len(buf) - have < 1 << 16:  # room for what the pipe holds
                buf.extend(bytes((1 << 16) - (len(buf) - have)))
            with memoryview(buf) as view:
                got = os.readv(fd, [view[have:]])
            if not got:
                del buf[have:]
                raise EOFError
            have += got
            if have >= _HEADER.size and have >= _HEADER.size + _HEADER.unpack_from(buf)[0]:
                del buf[have:]  # the whole message (and perhaps the next one's start)

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
                end = time.monotonic() + 1.0  # its exit code, not the kill's: it is ending
                while self.proc.poll() is None and time.monotonic() < end:
                    time.sleep(0.01)
            code = self._stop()
            if isinstance(exc, TimeoutError) and timeout:
                why = f"it did not finish within {kill_limit(timeout):g} s (timeout {timeout:g} s)"
            else:
                why = _exit_how(code)
            return got.get("info"), None, why
        return got["info"], got["landscape"], ""


def _big_pipe(fd: int) -> None:
    """Let a pipe hold 1 MB where the system allows (Linux): a batch's answer of megabytes
    then crosses in a few reads instead of one per 64 KB."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass


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
def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent thread exits (Linux), and end now
    if the parent is already gone."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _watch_parent(parent: int) -> None:
    """End this process when the parent is gone (the driver was killed)."""
    _die_with(parent)

    def poll() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=poll, daemon=True).start()


def _main(update_path: str, parent: int, inp_fd: int = 0, out_fd: int = 1) -> None:
    """Serve batches read from ``inp_fd`` until the parent closes it; answers go to
    ``out_fd`` (a started child's stdin and stdout; a forked one's own pipes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _watch_parent(parent)
    importpath.apply()
    # the protocol has the pipes to itself: plug-in output goes to stderr
    inp = os.fdopen(os.dup(inp_fd), "rb")
    out = os.fdopen(os.dup(out_fd), "wb")
    for fd in {inp_fd, out_fd} - {0, 1, 2}:
        os.close(fd)
    _quiet_stdio()
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
        out.write(_HEADER.pack(len(data)))
        out.write(data)  # not joined to the header: a batch's answer is megabytes
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


def _quiet_stdio() -> None:
    """Nothing read from the terminal, and whatever plug-in code prints goes to stderr."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


# -- the fork server ---------------------------------------------------------------------------
_server: _ForkServer | None = None


def _threads() -> int:
    """This process's threads, native ones included (BLAS, OpenMP); 0 if unknown."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def start_fork_server() -> bool:
    """Start the fork server worker children are forked from, if this process can fork
    safely now; whether there is one. Call it first, before any thread starts.

    It pins BLAS to one thread through the environment (unless set), imports what driver
    and workers share (numpy, optbench's engine, the built-in catalogs and installed
    plug-ins), and forks the server only if this process then has a single thread (Linux):
    a BLAS asked for more threads has started them, and then children are started fresh.
    """
    global _server
    if _fork_server() is not None:
        return True
    if not sys.platform.startswith("linux") or not hasattr(socket, "send_fds"):
        return False
    pin_blas()
    from . import registry, runner  # noqa: F401 — shared with the children, imported once

    registry.load_builtins()
    if threading.active_count() != 1 or _threads() != 1:
        return False
    _server = _ForkServer()
    import atexit

    atexit.register(_server.close)  # after the workers' own close (atexit runs last first)
    return True


def _fork_server() -> _ForkServer | None:
    """This process's running fork server, if any (never one inherited through a fork)."""
    server = _server
    if server is None or server.owner != os.getpid() or server.dead:
        return None
    return server


class _ForkServer:
    """The driver's end of the fork server: one request and its answer at a time, over a
    Unix socket that carries the new child's pipes."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.owner = os.getpid()
        for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        pid = os.fork()
        if pid == 0:  # the server
            try:
                mine.close()
                _serve(theirs, self.owner)
            except BaseException:  # noqa: BLE001 — said on stderr; the driver starts fresh ones
                import traceback

                traceback.print_exc()
            finally:
                os._exit(1)
        theirs.close()
        self.pid, self.sock = pid, mine
        self.lock = threading.Lock()
        self.dead = False

    def request(self, *message, fds: tuple[int, ...] = ()):
        """The server's answer to ``message``; ``OSError`` if the server is gone. Interrupted
        half-way (Ctrl-C), the socket is closed, and with it the server and its children."""
        with self.lock:
            if self.dead:
                raise OSError("the fork server is gone")
            try:
                socket.send_fds(self.sock, [pickle.dumps(message)], list(fds))
                data = self.sock.recv(1 << 16)
            except BaseException:
                self._close()
                raise
            if not data:
                self._close()
                raise OSError("the fork server is gone")
        ok, value = pickle.loads(data)  # our own child's answer
        if not ok:
            raise OSError(value)
        return value

    def _close(self) -> None:
        self.dead = True
        self.sock.close()

    def close(self) -> None:
        """Stop the server (it kills the children left) and reap it, so that its time and
        its children's count in this process's (``os.wait4``, ``time``)."""
        self.dead = True  # without the lock: a daemon thread may hold it at exit
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a thread waiting for an answer
        except OSError:
            pass
        self.sock.close()
        if self.owner == os.getpid():
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass

    def fork(self, update_path: str) -> _Forked | None:
        """A new worker child, forked by the server; None if the server cannot fork."""
        to_child, from_child = os.pipe(), os.pipe()
        _big_pipe(from_child[0])
        try:
            pid = self.request("fork", update_path, fds=(to_child[0], from_child[1]))
        except OSError:
            os.close(to_child[1])
            os.close(from_child[0])
            return None
        finally:
            os.close(to_child[0])
            os.close(from_child[1])
        return _Forked(self, pid, to_child[1], from_child[0])


class _Forked:
    """A worker child forked by the fork server, with what :class:`Worker` uses of a
    ``Popen``: its pipes, ``poll``, ``kill`` and ``wait`` (the server reaps it)."""

    def __init__(self, server: _ForkServer, pid: int, stdin: int, stdout: int):
        self.server, self.pid = server, pid
        self.stdin: IO[bytes] | None = os.fdopen(stdin, "wb")
        self.stdout: IO[bytes] | None = os.fdopen(stdout, "rb")
        self.returncode: int | None = None

    def _ask(self, what: str) -> int | None:
        try:
            return self.server.request(what, self.pid)
        except OSError:  # the server is gone, and its children with it (PR_SET_PDEATHSIG)
            return -signal.SIGKILL

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._ask("poll")
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            self._ask("kill")

    def wait(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._ask("wait")
        return self.returncode


def _serve(sock: socket.socket, driver: int) -> NoReturn:
    """The fork server's loop: fork a worker child per request, report and reap children;
    when the driver's end closes, kill the children left and exit. Never starts a thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _die_with(driver)
    _quiet_stdio()
    import warnings

    warnings.filterwarnings("ignore", message="optbench: the installed plug-in")
    import numpy.random  # noqa: F401 — the children's modules, imported once

    from . import runner  # noqa: F401
    from .metrics import batch  # noqa: F401

    exits: dict[int, int | None] = {}  # child -> its exit code once reaped

    def reap(pid: int, flags: int) -> int | None:
        if exits.get(pid, 0) is None:
            done, status = os.waitpid(pid, flags)
            if done:
                exits[pid] = os.waitstatus_to_exitcode(status)
        return exits.get(pid)

    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 2)
        except OSError:
            data, fds = b"", []
        if not data:
            break
        what, *args = pickle.loads(data)  # our own parent's request
        try:
            if what == "fork":
                if _threads() != 1:
                    raise OSError("the fork server has threads; not forking")
                pid = os.fork()
                if pid == 0:
                    _forked_child(sock, fds, args[0])
                exits[pid] = None
                answer: int | None = pid
            elif what == "poll":
                answer = reap(args[0], os.WNOHANG)
            elif what == "kill":
                if exits.get(args[0], 0) is None:  # never a pid already reaped (reusable)
                    os.kill(args[0], signal.SIGKILL)
                answer = None
            else:  # "wait"
                answer = reap(args[0], 0)
                exits.pop(args[0], None)
            reply: tuple[bool, int | str | None] = (True, answer)
        except OSError as exc:
            reply = (False, f"{type(exc).__name__}: {exc}")
        finally:
            for fd in fds:
                os.close(fd)
        try:
            sock.send(pickle.dumps(reply))
        except OSError:
            break
    for pid, code in exits.items():
        if code is None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
    os._exit(0)


def _forked_child(sock: socket.socket, fds: list[int], update_path: str) -> NoReturn:
    """A worker child forked by the server: serve batches on the pipes received, then exit
    without running the driver's exit handlers."""
    code = 1
    try:
        parent = os.getppid()
        sock.close()
        random = sys.modules.get("numpy.random")
        if random is not None:  # a fresh global generator, as a started child has
            random.seed()
        _main(update_path, parent, fds[0], fds[1])
        code = 0
    except BaseException:  # noqa: BLE001 — said on stderr, as a started child's traceback
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    _main(sys.argv[1], int(sys.argv[2]))
