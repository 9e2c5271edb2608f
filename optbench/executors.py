"""Executors: where batches run. Serial, local processes, or a Dask cluster, registered here
like any plug-in's (:func:`optbench.register_executor`); the CLI offers what is registered.

The unit of work is a :class:`~optbench.plan.Batch`. Whatever the executor, a batch runs in
a persistent worker child (:class:`optbench.worker.Worker`), never in the driver or in a
pool's or Dask's own worker process, so that plug-in code that exits, crashes or hangs
becomes rows, not a dead driver, a BrokenProcessPool or a KilledWorker. Workers import the
batch's plug-ins themselves, compute metrics, and return plain results; they never open the
store — the driver is the single writer. Whatever the executor, a batch computes the same
numbers.

Workers receive *tasks*: a few batches each (:func:`chunk`), so a grid of thousands of
one-run batches (scipy owns its loop) does not pay the per-message or Dask's per-task
overhead thousands of times. Grouping changes only the transport: each batch is still run on
its own, so results do not depend on the grouping.
"""

from __future__ import annotations

import heapq
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .errors import UnknownNameError, UsageError
from .plan import Batch
from .registry import register_executor

if TYPE_CHECKING:
    from .runner import RunResult

__all__ = ["check_executor", "chunk", "execute", "run_batch_guarded", "run_batches"]

TASKS_PER_WORKER = 16  # enough tasks to balance uneven batches, few enough to amortize overhead

_local = threading.local()  # each thread's worker child, started on first use


def _worker():
    """This thread's persistent worker child (one per thread: a Dask worker's, the driver's),
    started on first use and kept for the next batches, so it starts once."""
    import atexit

    from .worker import Worker

    worker = getattr(_local, "worker", None)
    if worker is None or worker.closed:
        worker = _local.worker = Worker()
        atexit.register(worker.close)
    return worker


def close_worker() -> None:
    """Stop this thread's worker child, if it has one (an executor whose workers are its own
    leaves it idle)."""
    worker = getattr(_local, "worker", None)
    if worker is not None:
        worker.close()


def run_batch_guarded(batch: Batch) -> list[RunResult]:
    """Run one batch in this thread's worker child; its results, whatever its code does."""
    return run_batches([batch])[0]


def run_batches(
    batches: list[Batch], sources: dict[str, bytes] | None = None
) -> list[list[RunResult]]:
    """One task: several batches, each run on its own in this thread's worker child.

    ``sources`` maps plug-in paths to their source, for workers that do not share the
    driver's files (a Dask cluster elsewhere): the batches then load the shipped copies.
    """
    if sources:
        batches = _with_shipped_plugins(batches, sources)
    return [results for _, results in _worker().run(batches)]


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


def portable(kind: str, spec) -> bool:
    """Whether a worker child can find the component a spec names: built-ins, installed
    entry points and plug-ins load there; a name registered by code in the driver alone
    (a notebook, a test module) does not."""
    from . import registry
    from .spec import Spec

    if spec.dotted:
        return True
    entry = registry.get(kind, spec.name)
    if entry.origin == "builtin" and not getattr(entry.factory, "__module__", "").startswith(
        "optbench"
    ):
        return False
    return all(portable("schedule", v) for v in spec.params.values() if isinstance(v, Spec))


def _portable(batch: Batch) -> bool:
    """Whether a worker child can find everything the batch names (:func:`portable`)."""
    run = batch.runs[0]
    return portable("problem", run.problem) and portable("optimizer", run.optimizer)


@register_executor("serial")
def _serial(batches: list[Batch], jobs: int | None = None, scheduler: str | None = None):
    """One batch after another, in one worker child (a batch whose optimizer or problem was
    registered in this process alone runs here, unguarded)."""
    from .runner import run_batch

    here = [b for b in batches if not _portable(b)]
    if here:
        for batch in here:
            yield batch, run_batch(batch)
        batches = [b for b in batches if _portable(b)]
    if batches:
        yield from _worker().run(batches)


@register_executor("process")
def _process(
    batches: list[Batch], jobs: int | None = None, scheduler: str | None = None
) -> Iterator[tuple[Batch, list[RunResult]]]:
    """Local worker children, ``jobs`` of them, each fed whole tasks by its own thread."""
    import queue

    from .worker import Worker

    n_workers = jobs or 1
    if n_workers == 1:
        yield from _serial(batches)
        return
    tasks = chunk(batches, n_workers)
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for task in tasks:
        todo.put(task)
    done: queue.SimpleQueue = queue.SimpleQueue()
    workers = [Worker() for _ in range(min(n_workers, len(tasks)))]

    def work(worker: Worker) -> None:
        try:
            while not worker.closed:
                try:
                    task = todo.get_nowait()
                except queue.Empty:
                    break
                for item in worker.run(task):
                    done.put(item)
        except BaseException as exc:  # noqa: BLE001 — raised again in the driver's thread
            done.put(exc)
        finally:
            done.put(None)

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    try:
        running = len(threads)
        while running:
            try:
                item = done.get(timeout=0.5)  # a timeout keeps Ctrl-C responsive
            except queue.Empty:
                continue
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                if not any(w.closed for w in workers):
                    raise item
            else:
                yield item
    finally:
        for w in workers:
            w.close()
        for t in threads:
            t.join(timeout=5)


def _plugin_sources(batches: list[Batch]) -> dict[str, bytes]:
    """The source of every plug-in file the batches load, to ship to workers elsewhere."""
    from pathlib import Path

    out: dict[str, bytes] = {}
    for batch in batches:
        for plugin in batch.plugins:
            if plugin not in out and Path(plugin).is_file():
                out[plugin] = Path(plugin).read_bytes()
    return out


def _with_shipped_plugins(batches: list[Batch], sources: dict[str, bytes]) -> list[Batch]:
    """The batches, loading the shipped copies of their plug-in files.

    Each copy is written once under the temporary folder, named by its content's hash, so
    it loads as the same module (and the same runs) as in the driver.
    """
    import hashlib
    import tempfile
    from pathlib import Path

    local: dict[str, str] = {}
    for plugin, source in sources.items():
        digest = hashlib.sha256(source).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / "optbench-plugins" / digest
        path = folder / Path(plugin).name
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            part = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}"
            part.write_bytes(source)
            os.replace(part, path)
        local[plugin] = str(path)
    return [
        Batch(b.index, b.runs, b.batchable, tuple(local.get(p, p) for p in b.plugins))
        for b in batches
    ]


@register_executor("dask")
def _dask(batches: list[Batch], jobs: int | None = None, scheduler: str | None = None):
    """A Dask cluster: a local one with ``jobs`` workers, or the one at ``scheduler``.

    Each Dask worker runs its tasks in its own worker child, and plug-in files travel with
    the tasks, so a cluster started elsewhere (another folder, another machine) runs them.
    A local cluster is started with Ctrl-C ignored, so an interrupt reaches the driver alone,
    which says so in one line and stops the cluster quietly.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UsageError("the dask executor needs Dask: pip install 'optbench[dask]'") from None
    import logging
    import signal

    from .worker import BLAS_VARS

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    else:
        # the cluster's processes inherit an ignored Ctrl-C: it is the driver's alone
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            cluster = LocalCluster(
                n_workers=jobs or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",
                env={var: "1" for var in BLAS_VARS},
                silence_logs=logging.ERROR,  # a cancelled task on Ctrl-C is no news
            )
        finally:
            signal.signal(signal.SIGINT, previous)
        client = Client(cluster)
    interrupted = False
    try:
        # each Dask task costs milliseconds of scheduler time in this (the driver's) process
        threads = sum(client.nthreads().values()) or jobs or os.cpu_count() or 1
        tasks = chunk(batches, threads)
        sources = _plugin_sources(batches)
        futures = client.map(run_batches, tasks, sources=sources, pure=False)
        index = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        for fut in as_completed(futures):
            yield from zip(index[fut.key], fut.result(), strict=True)
    except BaseException:
        interrupted = True
        raise
    finally:
        if interrupted:  # the cluster's shutdown chatter would bury the one line that matters
            for name in ("distributed", "tornado", "asyncio"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        client.close()
        if cluster is not None:
            cluster.close()
