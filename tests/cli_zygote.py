"""A CLI process forked per call, for the many tests about what the CLI says (the bad-input
catalogue, the command line's answers): the same ``main`` and the same error paths as
``python -m optbench.cli``, without an interpreter's start-up each time.

The server is a fresh interpreter, started with the environment :func:`conftest.run_cli`
gives its subprocesses, that has imported ``optbench.cli`` as ``python -m`` does before
``main`` runs, and the modules ``main`` imports next (BLAS pinned first, as ``main`` pins
it), the libraries a store's reading and a report load (pandas, matplotlib, jinja2), and
the built-in catalogs with the installed entry points, which every command loads first
(``registry.load_builtins``: 40 ms a call; a call's plug-ins are its own). It has no
threads, so forking it is safe. Each
call forks one child, which becomes what a new process would be at that point: the call's
extra environment variables, the working folder as the call's (first on ``sys.path``, as
``python -m`` puts it), stdin from ``/dev/null``, stdout and stderr to files, then
``main(args)`` and the interpreter's own ending: the exit code of ``SystemExit``, a
traceback and 1 for anything else, the ``atexit`` functions, the flushed streams. A child
killed by a signal gives its negative number, as ``subprocess`` does.

Only imports and the built-in catalogs are shared with earlier calls, so a case about how
a fresh interpreter imports optbench, or finds entry points, from a working folder does not
belong here; those run in a real subprocess (:func:`conftest.run_cli`).
"""

from __future__ import annotations

SERVER = r'''
import json, os, sys
import optbench.cli
# what main imports before it reads its arguments, as main does: BLAS pinned first; then
# the built-in catalogs and the installed entry points, which every command loads first and
# a call's arguments cannot change (a call's plug-ins register in its own child)
from optbench.worker import BLAS_VARS
for var in BLAS_VARS:
    os.environ.setdefault(var, "1")
import importlib.metadata, numpy.random
import optbench.api, optbench.runner, optbench.worker, optbench.registry, optbench.report
# the libraries that reading a store and drawing a report load: imported, never configured
# (no backend chosen, no figure), so each call pays for what is its own
import jinja2, matplotlib, pandas, PIL.Image
optbench.registry.load_builtins()

def child(req):
    for name in req["unset"]:
        os.environ.pop(name, None)
    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    sys.path[0] = os.getcwd()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, name in ((1, "out"), (2, "err")):
        os.dup2(os.open(req[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    sys.stdin = open(os.devnull)
    sys.argv = [optbench.cli.__file__, *req["args"]]
    code = 0
    try:
        optbench.cli.main(req["args"])
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    import atexit, threading
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code & 0xFF)

for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            child(req)
        finally:
            os._exit(70)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
'''


class Zygote:
    """The server above, and calls to it that return a ``subprocess.CompletedProcess``."""

    def __init__(self, env: dict[str, str], folder) -> None:
        import subprocess
        import sys

        self.folder = folder
        self.env = dict(env)
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=folder)
        self.calls = 0

    def run(self, *args: str, cwd=None, timeout: float = 300, env: dict[str, str] | None = None,
            unset: tuple[str, ...] = ()):
        """``optbench ARGS`` in a new child, in folder ``cwd`` (the caller's by default, as
        ``subprocess.run``), with the variables ``unset`` removed from its environment and
        ``env`` added (as a subprocess started with that environment would have)."""
        import json
        import os
        import signal
        import subprocess
        import threading

        cwd = os.getcwd() if cwd is None else cwd

        self.calls += 1
        out, err = self.folder / f"{self.calls}.out", self.folder / f"{self.calls}.err"
        request = {"args": list(args), "cwd": str(cwd), "out": str(out), "err": str(err),
                   "env": dict(env or {}), "unset": list(unset)}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        pid = int(self.proc.stdout.readline())
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            os.kill(pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            timer.cancel()
        if not line:
            raise RuntimeError("the CLI zygote died")
        if killed.is_set():  # as subprocess.run(timeout=...) does
            raise subprocess.TimeoutExpired(list(args), timeout)
        return subprocess.CompletedProcess(list(args), int(line), out.read_text(),
                                           err.read_text())

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc.wait(timeout=60)
