"""Executors: where batches run. Serial, local processes, or a Dask cluster.

The unit of work is a :class:`~optbench.plan.Batch`. Workers import the batch's plug-ins
themselves, compute metrics, and return plain results; they never open the store — the
driver is the single writer. Whatever the executor, a batch computes the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from .errors import UsageError
from .plan import Batch
from .runner import RunResult, run_batch

__all__ = ["EXECUTORS", "execute", "run_batch_guarded"]

EXECUTORS = ("serial", "process", "dask")
KILL_GRACE = 2.0  # seconds past the cooperative deadline before a batch is killed


def run_batch_guarded(batch: Batch) -> list[RunResult]:
    """``run_batch``, in a killable child process when the runs have a timeout.

    The oracle's deadline stops an optimizer that keeps calling it; one that stops calling
    it (an endless loop of its own) is caught here: its child process is killed, and the
    members of a killed batch are rerun one at a time, so only the hanging run times out.
    """
    timeout = batch.runs[0].timeout
    if not timeout:
        return run_batch(batch)
    import multiprocessing as mp

    if mp.current_process().daemon:  # daemonic workers (Dask) may not fork: cooperative only
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


def _killed(run, timeout: float) -> RunResult:
    return RunResult(run.run_id, "timeout",
                     f"killed after {timeout * 1.5 + KILL_GRACE:g} s: the optimizer stopped calling "
                     f"the oracle (timeout {timeout:g} s)")


def _child_main(batch: Batch, conn) -> None:
    try:
        conn.send(("ok", run_batch(batch)))
    except BaseException as exc:  # noqa: BLE001 — reported to the parent, which decides
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _in_child(batch: Batch, limit: float) -> list[RunResult] | None:
    """Run a batch in a forked child; None if it had to be killed."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(batch, send), daemon=True)
    proc.start()
    send.close()
    try:
        if recv.poll(limit):
            kind, payload = recv.recv()
            proc.join()
            if kind == "ok":
                return payload
            return [RunResult(r.run_id, "error", payload) for r in batch.runs]
        return None
    except EOFError:  # the child died without answering (e.g. killed by the OS)
        return None
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
        recv.close()


def _pin_blas() -> None:
    """One BLAS thread per worker: parallelism comes from the workers, not from BLAS."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def execute(batches: list[Batch], executor: str = "serial", jobs: int | None = None,
            scheduler: str | None = None) -> Iterator[tuple[Batch, list[RunResult]]]:
    """Run batches and yield ``(batch, results)`` as each finishes."""
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if not batches:
        return
    if executor == "serial" or (executor == "process" and (jobs or 1) == 1):
        for batch in batches:
            yield batch, run_batch_guarded(batch)
    elif executor == "process":
        yield from _process(batches, jobs or os.cpu_count() or 1)
    else:
        yield from _dask(batches, jobs, scheduler)


def _process(batches: list[Batch], jobs: int) -> Iterator[tuple[Batch, list[RunResult]]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")  # no fork of a threaded parent (BLAS, progress bar)
    with ProcessPoolExecutor(max_workers=min(jobs, len(batches)), mp_context=ctx,
                             initializer=_pin_blas) as pool:
        futures = {pool.submit(run_batch_guarded, b): b for b in batches}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _dask(batches: list[Batch], jobs: int | None, scheduler: str | None):
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
        cluster = LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address="127.0.0.1:0",
                               env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                                    "MKL_NUM_THREADS": "1"})
        client = Client(cluster)
    try:
        futures = client.map(run_batch_guarded, batches, pure=False)
        index = {f.key: b for f, b in zip(futures, batches, strict=True)}
        for fut in as_completed(futures):
            yield index[fut.key], fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
