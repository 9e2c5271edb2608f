"""Executors: where batches run. Serial, local processes, or a Dask cluster, registered here
like any plug-in's (:func:`optbench.register_executor`); the CLI offers what is registered.

The unit of work is a :class:`~optbench.plan.Batch`. Workers import the batch's plug-ins
themselves, compute metrics, and return plain results; they never open the store — the
driver is the single writer. Whatever the executor, a batch computes the same numbers.

Workers receive *tasks*: a few batches each (:func:`chunk`), so a grid of thousands of
one-run batches (scipy owns its loop) does not pay the pool's or Dask's per-task overhead
thousands of times. Grouping changes only the transport: each batch is still run on its own
by :func:`run_batch_guarded`, so results do not depend on the grouping.

This module imports numpy (through the runner) only when a batch runs: a spawned worker
imports it to find ``_pin_blas``, and BLAS reads its thread count once, when numpy loads.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .errors import UnknownNameError, UsageError
from .plan import Batch
from .registry import register_executor

if TYPE_CHECKING:
    from .runner import RunResult

__all__ = ["check_executor", "chunk", "execute", "run_batch_guarded", "run_batches"]

KILL_GRACE = 2.0  # seconds past the cooperative deadline before a batch is killed
TASKS_PER_WORKER = 16  # enough tasks to balance uneven batches, few enough to amortize overhead
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def run_batch_guarded(batch: Batch) -> list[RunResult]:
    """``run_batch``, in a killable child process when the runs have a timeout.

    The oracle's deadline stops an optimizer that keeps calling it; one that stops calling
    it (an endless loop of its own) is caught here: its child process is killed, and the
    members of a killed batch are rerun one at a time, so only the hanging run times out.
    """
    from .runner import run_batch

    timeout = batch.runs[0].timeout
    if not timeout:
        return run_batch(batch)
    results = _in_child(batch, timeout * 1.5 + KILL_GRACE)
    if results is not None:
        return results
    if len(batch.runs) == 1:
        return [_killed(batch.runs[0], timeout)]
    out: list[RunResult] = []
    for run in batch.runs:
        single = Batch(batch.index, [run], batch.batchable, batch.plugins)
        got = _in_child(single, timeout * 1.5 + KILL_GRACE)
        out.extend(got if got is not None else [_killed(run, timeout)])
    return out


def run_batches(batches: list[Batch]) -> list[list[RunResult]]:
    """One task: several batches, each run on its own."""
    return [run_batch_guarded(b) for b in batches]


def chunk(batches: list[Batch], workers: int) -> list[list[Batch]]:
    """Group batches into about ``TASKS_PER_WORKER × workers`` tasks of similar cost.

    The cost of a batch is taken as runs × iteration limit. Largest first, each batch goes to
    the task with the least cost so far (LPT scheduling), so a task of slow runs does not
    finish long after the others; within a task the batches keep their plan order. With
    few batches, each is its own task, as before.
    """
    n_tasks = max(1, TASKS_PER_WORKER * workers)
    if len(batches) <= n_tasks:
        return [[b] for b in batches]
    cost = [len(b.runs) * max(1, b.runs[0].max_iter) for b in batches]
    heap = [(0, i) for i in range(n_tasks)]
    tasks: list[list[int]] = [[] for _ in range(n_tasks)]
    for j in sorted(range(len(batches)), key=lambda j: (-cost[j], j)):
        load, i = heapq.heappop(heap)
        tasks[i].append(j)
        heapq.heappush(heap, (load + cost[j], i))
    return [[batches[j] for j in sorted(t)] for t in tasks if t]


def _killed(run, timeout: float) -> RunResult:
    from .runner import RunResult

    return RunResult(
        run.run_id,
        "timeout",
        f"killed after {timeout * 1.5 + KILL_GRACE:g} s: the optimizer stopped calling "
        f"the oracle (timeout {timeout:g} s)",
    )


def _in_child(batch: Batch, limit: float) -> list[RunResult] | None:
    """Run a batch in a forked child; None if it had to be killed.

    A plain ``os.fork`` with a pipe rather than ``multiprocessing``: Dask's worker
    processes are daemonic, and multiprocessing refuses children to those. The runner is
    imported before the fork, so the child never waits on an import lock held by a thread
    that did not come along.
    """
    import pickle
    import select
    import signal
    import time

    from . import metrics, registry  # noqa: F401 — imported here, not in the child
    from .runner import RunResult, run_batch

    for plugin in batch.plugins:
        registry.load_plugin(plugin)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, answer through the pipe, leave without cleanup handlers
        status = 0
        try:
            os.close(read_fd)
            try:
                payload = ("ok", run_batch(batch))
            except BaseException as exc:  # noqa: BLE001 — reported to the parent, which decides
                payload = ("error", f"{type(exc).__name__}: {exc}")
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    deadline = time.monotonic() + limit
    chunks: list[bytes] = []
    killed = False
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            ready, _, _ = select.select([pipe], [], [], remaining)
            if ready:
                chunk = pipe.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    os.waitpid(pid, 0)
    if killed or not chunks:  # killed, or the child died without answering
        return None
    kind, payload = pickle.loads(b"".join(chunks))  # our own child's answer, never a file
    if kind == "ok":
        return payload
    return [RunResult(r.run_id, "error", payload) for r in batch.runs]


def _pin_blas() -> None:
    """One BLAS thread per worker: parallelism comes from the workers, not from BLAS.

    Runs as the pool's initializer, before the worker's first batch imports numpy (this
    module does not import it), so BLAS sees the setting when it loads.
    """
    for var in BLAS_VARS:
        os.environ.setdefault(var, "1")


def check_executor(executor: str) -> Callable:
    """The registered executor named ``executor``; a usage error naming the known ones."""
    from . import registry

    try:
        return registry.get("executor", executor).factory
    except UnknownNameError as exc:
        known = ", ".join(registry.names("executor"))
        raise UsageError(f"unknown executor {executor!r}; expected one of {known}") from exc


def execute(
    batches: list[Batch],
    executor: str = "serial",
    jobs: int | None = None,
    scheduler: str | None = None,
) -> Iterator[tuple[Batch, list[RunResult]]]:
    """Run batches with the registered ``executor`` and yield ``(batch, results)`` as each
    finishes."""
    run = check_executor(executor)
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if not batches:
        return
    yield from run(batches, jobs, scheduler)


@register_executor("serial")
def _serial(batches: list[Batch], jobs: int | None = None, scheduler: str | None = None):
    """One batch after another, in this process."""
    for batch in batches:
        yield batch, run_batch_guarded(batch)


@register_executor("process")
def _process(
    batches: list[Batch], jobs: int | None = None, scheduler: str | None = None
) -> Iterator[tuple[Batch, list[RunResult]]]:
    """Local worker processes, ``jobs`` of them (one: run here, one batch after another)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if (jobs or 1) == 1:
        yield from _serial(batches)
        return
    ctx = mp.get_context("spawn")  # no fork of a threaded parent (BLAS, progress bar)
    workers = min(jobs, len(batches))
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pin_blas) as pool:
        futures = {pool.submit(run_batches, task): task for task in chunk(batches, workers)}
        try:
            for fut in as_completed(futures):
                yield from zip(futures[fut], fut.result(), strict=True)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


@register_executor("dask")
def _dask(batches: list[Batch], jobs: int | None = None, scheduler: str | None = None):
    """A Dask cluster: a local one with ``jobs`` workers, or the one at ``scheduler``."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UsageError("the dask executor needs Dask: pip install 'optbench[dask]'") from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    else:
        cluster = LocalCluster(
            n_workers=jobs or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            env={var: "1" for var in BLAS_VARS},
        )
        client = Client(cluster)
    try:
        # each Dask task costs milliseconds of scheduler time in this (the driver's) process
        threads = sum(client.nthreads().values()) or jobs or os.cpu_count() or 1
        tasks = chunk(batches, threads)
        futures = client.map(run_batches, tasks, pure=False)
        index = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        for fut in as_completed(futures):
            yield from zip(index[fut.key], fut.result(), strict=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
