"""The runner: owns the loop, records every iterate, decides each run's status live.

A batch of ``B`` runs steps together. After every update the runner evaluates the new
iterates itself (uncharged), records them, and decides statuses for the runs still going,
first match wins (``docs/methodology.md#run-statuses``)::

    skipped, error, timeout, non-finite, diverged, converged, cycle, stalled, budget, max-iter

A finished run is frozen inside its batch; the others go on. If the batch raises, its runs
are retried one at a time, so only the run that fails becomes an ``error`` row.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import registry
from .errors import BudgetExhausted, DeadlineExceeded, StopRun
from .oracle import Oracle, RunRNG
from .plan import Batch, RunSpec, build_problem, run_seed, start_point
from .spec import Spec
from .store import (
    Summary,
    batch_trace_columns,
    pack_metric_arrays,
    pack_trace,
    plain_metric_columns,
    run_summary,
    split_traces,
    summary_columns,
    unpack_trace,
)
from .thresholds import DIVERGE_DIST, DIVERGE_GAP, gap_floor

__all__ = ["BatchResults", "BatchTrace", "Block", "RunResult", "STATUSES", "run_batch"]

STATUSES = (
    "skipped",
    "error",
    "timeout",
    "non-finite",
    "diverged",
    "converged",
    "cycle",
    "stalled",
    "budget",
    "max-iter",
)
STALL_WINDOW = 200  # updates without progress before a run is stalled, at least ...
STALL_FRACTION = 100  # ... and at least 1/100 of its iteration limit (:func:`stall_window`)
HELD_OUT = ("test_f", "test_acc")  # per-iterate held-out quantities a problem may give
STORE_X_MAX_DIM = 3  # x is recorded always, stored for low dimension (the report draws it)
IN_PLACE = "step must return a new array: it wrote into the x it was given (as in x -= lr * g)"
on_update: Any = None  # a worker process's hook, called with each update's number


class RunResult:
    """What a worker returns for one run (plain data: no problem or optimizer objects).

    The runs of a batch share one :class:`Block` (their metrics, traces and summaries as
    columns): it travels from a worker as one object and is stored as one block, and a
    run's own ``metrics``, ``trace`` and ``summary`` are read out of it when first asked for.
    """

    def __init__(
        self,
        run_id: str,
        status: str,
        message: str = "",
        summary: Summary | None = None,
        metrics: dict[str, Any] | None = None,
        trace: dict[str, np.ndarray] | None = None,
        seconds: float = 0.0,
        *,
        block: Block | None = None,
        row: int = -1,
    ):
        self.run_id, self.status, self.message = run_id, status, message
        self.seconds = seconds
        self.block, self.row = block, row
        self._summary = summary if summary is not None or block is not None else Summary()
        self._metrics = metrics if metrics is not None or block is not None else {}
        self._trace = trace

    @property
    def summary(self) -> Summary:
        if self._summary is None:
            assert self.block is not None
            self._summary = self.block.run_summary(self.row)
        return self._summary

    @summary.setter
    def summary(self, value: Summary) -> None:
        self._detach()
        self._summary = value

    @property
    def metrics(self) -> dict[str, Any]:
        if self._metrics is None:
            assert self.block is not None
            self._metrics = self.block.run_metrics(self.row)
        return self._metrics

    @metrics.setter
    def metrics(self, value: dict[str, Any]) -> None:
        self._detach()
        self._metrics = value

    @property
    def trace(self) -> dict[str, np.ndarray] | None:
        if self._trace is None and self.block is not None:
            self._trace = self.block.run_trace(self.row)
        return self._trace

    @trace.setter
    def trace(self, value: dict[str, np.ndarray] | None) -> None:
        self._detach()
        self._trace = value

    @property
    def attached(self) -> bool:
        """Whether what this run holds is still its block's row (nothing changed by hand)."""
        return self.block is not None

    def _detach(self) -> None:
        """Own copies of what the block holds: a result changed by hand is stored as it is."""
        if self.block is not None:
            self._metrics, self._trace, self._summary = self.metrics, self.trace, self.summary
            self.block = None

    def __getstate__(self) -> dict[str, Any]:  # what a block holds travels once, with it
        state = dict(self.__dict__)
        if self.block is not None:
            state["_metrics"] = state["_trace"] = state["_summary"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "summary" in state:  # a result pickled by an earlier version (a remote worker)
            state = dict(state)
            state["_summary"] = state.pop("summary")
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"RunResult({self.run_id!r}, {self.status!r}, {self.message!r})"


class BatchResults(list):
    """The results of one batch, in order (a list of :class:`RunResult`). While every run is
    still its block's row, it is pickled as columns: the block (packed as the store writes
    it, :meth:`Block.__getstate__`) and each run's id, status, message and seconds, not an
    object per run; the runs are rebuilt as they unpickle."""

    def __reduce__(self):
        block = self[0].block if self else None
        if block is None or len(block) != len(self) or not all(
            r.block is block and r.row == i and type(r) is RunResult for i, r in enumerate(self)
        ):
            return (list, (list(self),))
        return (_batch_results, (
            block,
            [r.run_id for r in self],
            [r.status for r in self],
            [r.message for r in self],
            [r.seconds for r in self],
        ))


def _batch_results(block: Block, run_ids, statuses, messages, seconds) -> BatchResults:
    """:class:`BatchResults` from its columns (what :meth:`BatchResults.__reduce__` sends)."""
    out = BatchResults()
    new = RunResult.__new__
    for i, rid in enumerate(run_ids):
        r = new(RunResult)
        r.__dict__ = {"run_id": rid, "status": statuses[i], "message": messages[i],
                      "seconds": seconds[i], "block": block, "row": i, "_summary": None,
                      "_metrics": None, "_trace": None}
        out.append(r)
    return out


class Block:
    """A batch's metrics, traces and summaries as columns, shared by its :class:`RunResult` s.

    ``metric_arrays`` holds one array per metric (:func:`optbench.metrics.batch.
    batch_metric_arrays`: float with NaN for None, counts in ``ints``, text as objects; row
    ``b`` is run ``b``'s); ``traces`` the stored (thinned) traces, one array per quantity
    with the runs one after another, as :func:`optbench.store.trace_columns` lays them out;
    ``summaries`` each run's :class:`~optbench.store.Summary` fields as columns
    (:func:`optbench.store.summary_columns`).

    A block travels between processes packed (:meth:`pack`): the two archives the store
    writes for it, made once, where the batch ran; the arrays are read back from them only
    if a run's metrics or trace are asked for.
    """

    def __init__(
        self,
        metric_arrays: dict[str, np.ndarray] | None,
        ints: Collection[str],
        traces: dict[str, np.ndarray] | None,
        summaries: dict[str, Any] | None = None,
        packed: tuple[bytes, bytes] | None = None,
    ):
        self.metric_arrays, self.ints, self._traces = metric_arrays, ints, traces
        self.summaries, self.packed = summaries, packed
        self._metrics: dict[str, list[Any]] | None = None
        self._split: Any = None
        self._size = len(traces["length"]) if traces is not None else None

    def __len__(self) -> int:
        if self._size is None:
            self._size = len(self.traces["length"])
        return self._size

    @property
    def traces(self) -> dict[str, np.ndarray]:
        if self._traces is None:
            assert self.packed is not None
            self._traces = unpack_trace(self.packed[1])
        return self._traces

    def pack(self) -> tuple[bytes, bytes]:
        """The metrics and traces archives the store writes for this block (made once)."""
        if self.packed is None:
            assert self.metric_arrays is not None and self._traces is not None
            self.packed = (pack_metric_arrays(self.metric_arrays, self.ints),
                           pack_trace(self._traces))
        return self.packed

    @property
    def metrics(self) -> dict[str, list[Any]]:
        """The JSON-ready columns (worked out once, when a run's metrics are first read)."""
        if self._metrics is None:
            if self.metric_arrays is not None:
                from .metrics.batch import json_ready

                self._metrics = json_ready(self.metric_arrays)
            else:
                assert self.packed is not None
                self._metrics = plain_metric_columns(unpack_trace(self.packed[0]))
        return self._metrics

    def run_metrics(self, row: int) -> dict[str, Any]:
        return {k: col[row] for k, col in self.metrics.items()}

    def run_trace(self, row: int) -> dict[str, np.ndarray] | None:
        if self._split is None:
            self._split = split_traces(self.traces)
        return self._split(row)

    def run_summary(self, row: int) -> Summary:
        if self.summaries is None:
            return Summary()
        return run_summary(self.summaries, row)

    def __getstate__(self) -> dict[str, Any]:
        return {"packed": self.pack(), "ints": self.ints, "summaries": self.summaries,
                "size": len(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "packed" not in state:  # the arrays themselves (an earlier version's worker)
            self.__init__(state["metric_arrays"], state["ints"], state["traces"])  # type: ignore[misc]
            return
        self.__init__(None, state["ints"], None, state["summaries"], state["packed"])  # type: ignore[misc]
        self._size = state["size"]


@dataclass
class BatchTrace:
    """The full record of a batch: index ``t`` is the iterate after ``t`` updates.

    Arrays: ``x (T+1, B, d)``, ``f``, ``gnorm``, ``n_f``, ``n_g`` ``(T+1, B)``, ``lr (T, B)``
    (the rate of update t), ``time (T+1,)``; ``end[b]`` is run b's last recorded index;
    ``test_f (T+1, B)`` the held-out loss and ``test_acc (T+1, B)`` the held-out accuracy
    where the problem has them (else None); ``f_ema (T+1, B)`` the smoothed loss on a
    stochastic problem (:mod:`optbench.noise`).
    """

    x: np.ndarray
    f: np.ndarray
    gnorm: np.ndarray
    n_f: np.ndarray
    n_g: np.ndarray
    lr: np.ndarray
    time: np.ndarray
    end: np.ndarray
    f_star: float | None
    x_star: np.ndarray | None
    test_f: np.ndarray | None = None
    test_acc: np.ndarray | None = None
    f_ema: np.ndarray | None = None

    def held_out(self) -> dict[str, np.ndarray]:
        """The held-out quantities recorded (``test_f``, ``test_acc``), by name."""
        return {k: v for k in HELD_OUT if (v := getattr(self, k)) is not None}

    def run(self, b: int) -> dict[str, np.ndarray]:
        """Run ``b``'s own arrays, cut at its end."""
        e = int(self.end[b]) + 1
        extra = {k: v[:e, b] for k, v in self.held_out().items()}
        if self.f_ema is not None:
            extra["f_ema"] = self.f_ema[:e, b]
        return {
            **extra,
            "x": self.x[:e, b],
            "f": self.f[:e, b],
            "gnorm": self.gnorm[:e, b],
            "n_f": self.n_f[:e, b],
            "n_g": self.n_g[:e, b],
            "lr": self.lr[: e - 1, b],
            "time": self.time[:e],
        }


def stack_params(specs: list[Spec], entry: registry.Entry, batchable: bool) -> dict[str, Any]:
    """The factory arguments of a batch: real values that differ become ``(B, 1)`` columns.

    Runs of one setting share their spec object (a sweep's seeds): each parameter is read
    once per distinct spec, and a column gathered from those."""
    first = dict(specs[0].params)
    if not batchable or len(specs) == 1:
        return first
    index: dict[int, int] = {}
    distinct: list[Spec] = []
    which = []
    for sp in specs:
        i = index.get(id(sp))
        if i is None:
            i = index[id(sp)] = len(distinct)
            distinct.append(sp)
        which.append(i)
    out: dict[str, Any] = {}
    decl = entry.params
    for k, v in first.items():
        values = [s.params[k] for s in distinct]
        if isinstance(v, Spec) and v.dotted:
            out[k] = v  # a library object by import path: structural, equal within a batch
        elif isinstance(v, Spec):
            nested = registry.get("schedule", v.name)
            out[k] = Spec(v.name, stack_params([values[i] for i in which], nested, True))
        elif all(x == v for x in values):
            out[k] = v
        elif decl[k].is_float if k in decl else isinstance(v, float):
            out[k] = np.asarray(values, dtype=float)[np.asarray(which)].reshape(-1, 1)
        else:
            out[k] = v  # structural: equal within a batch by construction
    return out


def _build_optimizer(entry: registry.Entry, params: dict[str, Any]):
    return entry.build(**params)


def _error_result(run: RunSpec, exc: BaseException, seconds: float = 0.0) -> RunResult:
    tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return RunResult(run.run_id, "error", tb.splitlines()[-1][:500], seconds=seconds)


def run_batch(batch: Batch) -> list[RunResult]:
    """Execute one batch; never raises for a failing run."""
    for plugin in batch.plugins:
        registry.load_plugin(plugin)
    try:
        return _run(batch.runs, batch.batchable)
    except Exception as exc:
        if len(batch.runs) == 1:
            return [_error_result(batch.runs[0], exc)]
    results = []
    for run in batch.runs:
        try:
            results.extend(_run([run], batch.batchable))
        except Exception as exc:  # noqa: BLE001 — the whole point: one bad run is a row
            results.append(_error_result(run, exc))
    return results


def _run(runs: list[RunSpec], batchable: bool) -> list[RunResult]:
    t_start = time.perf_counter()
    first = runs[0]
    problem = build_problem(first.problem)
    entry = registry.get("optimizer", first.optimizer.name)
    B = len(runs)
    # a batch shares its problem, so a start point depends on the seed alone: a sweep of
    # 200 learning rates over 5 seeds draws 5 start points, not 1000
    starts: dict[int, np.ndarray] = {}
    for r in runs:
        if r.seed not in starts:
            starts[r.seed] = start_point(problem, first.problem, r.seed)
    x0 = np.stack([starts[r.seed] for r in runs])
    rng = RunRNG.from_seeds([run_seed(r.run_id) for r in runs])  # generators made on first draw
    timeout = first.timeout
    deadline = time.monotonic() + timeout if timeout else None
    oracle = Oracle(problem, B, first.budget, rng, deadline)
    params = stack_params([r.optimizer for r in runs], entry, batchable)
    optimizer = _build_optimizer(entry, params)
    rec = _Recording(problem, x0, oracle)
    judge = _Judge(problem, rec, first.max_iter, first.tol, first.noisy_stops)
    if optimizer.run is not None:
        if B != 1:
            raise ValueError("an optimizer that owns its loop runs one run at a time")
        _drive_owned(optimizer, oracle, rec, judge, x0[0])
    else:
        _drive_steps(optimizer, oracle, rec, judge, x0)
    judge.close()
    trace = rec.trace()
    if problem.stochastic:  # the smoothed loss its noise floor is read from
        from .noise import ema

        trace.f_ema = ema(trace.f)
    seconds = (time.perf_counter() - t_start) / B
    return _results(runs, problem, trace, rec, judge, seconds)


class _Recording:
    """Evaluates the iterates and records them: the batch's trace, and ``<g_{t-1}, g_t>``
    per run for the metrics' gradient reversals (grad_*), from gradients evaluated anyway."""

    def __init__(self, problem, x0: np.ndarray, oracle: Oracle):
        self.problem, self.oracle = problem, oracle
        self.f_star = problem.f_star
        self.xs: list[np.ndarray] = []
        self.fs: list[np.ndarray] = []
        self.gs: list[np.ndarray] = []
        self.nfs: list[np.ndarray] = []
        self.ngs: list[np.ndarray] = []
        self.lrs: list[np.ndarray] = []
        # the held-out quantities a problem gives (test loss, test accuracy), per iterate
        self.tests: dict[str, list[np.ndarray]] = {
            k: [] for k in HELD_OUT if getattr(problem, k, None) is not None
        }
        self.times: list[float] = []
        self.end = np.zeros(x0.shape[0], dtype=np.int64)  # each run's last update
        self.gdots: list[np.ndarray] = []
        self.g_prev: np.ndarray | None = None  # the last gradient, once a dot is recorded
        self.t0 = time.perf_counter()
        f, g = self.evaluate(x0, np.ones(x0.shape[0], dtype=bool), None, None)
        self.push(x0, f, g, None)

    def evaluate(self, x, rows, f_prev, g_prev):
        """f and the gradient at ``x`` for ``rows``; the other rows keep ``f_prev``."""
        problem = self.problem
        with np.errstate(all="ignore"):
            if rows.all():
                if problem.has_gradient:
                    f, g = problem.value_and_grad(x)
                    f, g = np.asarray(f, dtype=float), np.asarray(g, dtype=float)
                else:
                    f, g = np.asarray(problem.f(x), dtype=float), None
            else:
                f = f_prev.copy()
                g = None if g_prev is None else g_prev.copy()
                if rows.any():
                    xr = x[rows]
                    if problem.has_gradient:
                        f[rows], g[rows] = problem.value_and_grad(xr)
                    else:
                        f[rows] = problem.f(xr)
        if f.shape != (x.shape[0],):
            raise ValueError(f"problem f returned shape {f.shape}, expected {(x.shape[0],)}")
        return f, g

    def push(self, x, f, g, lr) -> None:
        """Record one iterate of every run, and show it to the oracle."""
        self.xs.append(x)
        self.fs.append(f)
        self.gs.append(_row_norms(g) if g is not None else np.full(f.shape, np.nan))
        self.nfs.append(self.oracle.n_f.copy())
        self.ngs.append(self.oracle.n_g.copy())
        if lr is not None:
            self.lrs.append(lr)
        for k, values in self.tests.items():
            values.append(np.asarray(getattr(self.problem, k)(x), dtype=float))
        self.times.append(time.perf_counter() - self.t0)
        self.oracle.observe(x, f, g)

    @property
    def t(self) -> int:
        return len(self.fs) - 1

    def nan_g(self):
        # rows that did not move are frozen: their gradient is never read again
        return None if not self.problem.has_gradient else np.full_like(self.xs[-1], np.nan)

    def grad_dot(self, g: np.ndarray) -> None:
        """Record ``<g_{t-1}, g_t>`` per run (NaN once a run is frozen)."""
        prev = self.g_prev
        with np.errstate(all="ignore"):
            if prev is None:
                try:  # the start's gradient was not kept: evaluate it once, uncharged
                    prev = np.asarray(self.problem.grad(self.xs[0]), dtype=float).reshape(g.shape)
                except Exception:  # noqa: BLE001 — the metrics re-evaluate or leave grad_* empty
                    prev = np.full_like(g, np.nan)
            self.gdots.append(np.einsum("bd,bd->b", prev, g))
        self.g_prev = g

    def trace(self) -> BatchTrace:
        B, d = self.xs[0].shape
        T = len(self.fs) - 1
        lrs = np.stack(self.lrs) if len(self.lrs) == T and T else np.full((T, B), np.nan)
        return BatchTrace(
            x=np.stack(self.xs),
            f=np.stack(self.fs),
            gnorm=np.stack(self.gs),
            n_f=np.stack(self.nfs),
            n_g=np.stack(self.ngs),
            lr=lrs,
            time=np.asarray(self.times),
            end=self.end.copy(),
            f_star=self.f_star,
            x_star=self.problem.x_star,
            **{k: np.stack(v) for k, v in self.tests.items()},
        )


def stall_window(max_iter: int) -> int:
    """Updates without any progress of the best value after which a run is ``stalled``:
    ``max(200, max_iter // 100)``. A long run gets a proportionally longer window: heavy
    ball at its optimal tuning on κ = 10⁴ (a double pole, error ∝ t·ρ^t) spends some 300
    updates above its start value before it converges, inside a budget of 1.4·10⁵."""
    return max(STALL_WINDOW, int(max_iter) // STALL_FRACTION)


class _Judge:
    """Decides each run's status from the recorded iterates, first match wins
    (``docs/methodology.md#run-statuses``); the single place statuses are decided. A run
    with a status is frozen: the oracle refuses it further evaluations.

    On a stochastic problem (``Problem.stochastic``) the rules that read the progress of
    the noisy iterates, ``stalled`` and ``cycle``, are off unless ``noisy_stops``: a
    constant rate's best-so-far stops improving at its noise floor, and a noisy path's
    returns are chance, so those runs use their budget. ``converged`` reads the recorded
    value, the full-data (noise-free) loss, so it means the full-data gap went below ``tol``.
    """

    def __init__(
        self, problem, record: _Recording, max_iter: int, tol: float, noisy_stops: bool = False
    ):
        self.record, self.oracle = record, record.oracle
        self.max_iter, self.tol = max_iter, tol
        self.progress_stops = noisy_stops or not problem.stochastic
        self.stall_window = stall_window(max_iter)
        x0, f0 = record.xs[0], record.fs[0]
        B = x0.shape[0]
        self.status = np.array([""] * B, dtype=object)
        self.open = np.ones(B, dtype=bool)  # no status yet (comparing object arrays is slow)
        self.message = np.array([""] * B, dtype=object)
        self.f_star, self.x_star = problem.f_star, problem.x_star
        self.f0 = f0.copy()
        self.floor = gap_floor(self.f_star)
        self.gap0 = None if self.f_star is None else f0 - self.f_star
        self.ref0 = self.dist0 = None
        if self.x_star is not None:
            d0 = np.linalg.norm(x0[:, None, :] - self.x_star[None, :, :], axis=2)
            self.ref0 = np.argmin(d0, axis=1)  # nearest minimizer to x0 (divergence test)
            self.dist0 = d0[np.arange(B), self.ref0]
        # the divergence thresholds, per run (fixed by its start)
        if self.gap0 is not None:
            self.div_f = DIVERGE_GAP * np.maximum(self.gap0, self.floor)
        else:  # no f*: a rise of a million-fold the start's scale
            self.div_f = DIVERGE_GAP * np.maximum(np.abs(self.f0), 1.0)
        if self.x_star is not None and self.dist0 is not None:
            self.x_ref = self.x_star[self.ref0]
            self.div_dist = DIVERGE_DIST * np.maximum(self.dist0, 1.0)
        self.scale = max(1.0, abs(self.f_star)) if self.f_star is not None else 1.0
        from .metrics._common import TAIL_MIN

        self.tail_min = TAIL_MIN  # the cycle test's shortest window (judge_cycle)
        self.best = f0.copy()
        self.best_hist: list[np.ndarray] = [self.best.copy()]
        self.xabs: np.ndarray | None = None  # each run's largest |x| so far (cycle screen)
        self.xabs_n = 0  # iterates folded into xabs
        bad = ~np.isfinite(f0) | ~np.all(np.isfinite(x0), axis=1)
        self.decide(bad, "non-finite", "the start point evaluates to a non-finite value")

    def decide(self, mask: np.ndarray, status: str, message: str = "") -> None:
        mask = mask & self.open
        if mask.any():
            self.open &= ~mask
            self.status[mask] = status
            if message:
                self.message[mask] = message
            self.oracle.stop(mask)

    def judge(self, x, f, g, moved, t) -> None:
        """The statuses after update ``t`` of the runs that ``moved``."""
        with np.errstate(all="ignore"):
            finite = np.isfinite(f) & np.logical_and.reduce(np.isfinite(x), axis=1)
            if g is not None:
                finite &= np.logical_and.reduce(np.isfinite(g), axis=1)
            self.decide(moved & ~finite, "non-finite", "a non-finite iterate, value or gradient")
            self.best = np.where(moved, np.fmin(self.best, f), self.best)
            self.best_hist.append(self.best.copy())
            if self.gap0 is not None:
                div = f - self.f_star > self.div_f
            else:  # no f*: a rise of a million-fold the start's scale
                div = f - self.f0 > self.div_f
            if self.x_star is not None and self.dist0 is not None:
                div |= _row_norms(x - self.x_ref) > self.div_dist
            self.decide(moved & div, "diverged", f"diverged at update {t}")
            if self.f_star is not None:
                self.decide(moved & (self.best - self.f_star <= self.tol), "converged")
            if self.progress_stops:  # stalled and cycle (off on a stochastic problem)
                self.judge_progress(moved, t)
            if self.oracle.budget is not None:
                self.decide(moved & (self.oracle.cost >= self.oracle.budget), "budget")
            if t >= self.max_iter:
                self.decide(moved, "max-iter")

    def judge_progress(self, moved: np.ndarray, t: int) -> None:
        """``cycle`` and ``stalled``: no progress of the best value over the stall window."""
        stalled = _NONE
        scale = self.scale
        window = self.stall_window
        if t >= window:
            stalled = self.best_hist[t - window] - self.best < 1e-12 * scale
        self.judge_cycle(moved, stalled, t)
        if t >= window:
            self.decide(
                moved & stalled,
                "stalled",
                f"the best value improved by less than {1e-12 * scale:g} "
                f"over the last {window} updates",
            )

    def judge_cycle(self, moved: np.ndarray, stalled: np.ndarray, t: int) -> None:
        """cycle_period live: the metric's own test on the tail window of the last ``t + 1``
        iterates.

        The window grows with t, so it is checked every half-window and whenever a run
        would otherwise stop as ``stalled``; a cheap screen first (does the last iterate
        return to within tolerance of one P = 2..8 updates back, with the tolerance taken
        from the run's largest |x| so far) leaves the full check to the few runs that might
        cycle. A run's check times depend on t alone, so a batch and its runs alone agree.
        """
        xs = self.record.xs
        n = t + 1
        tail_min = self.tail_min
        if n < tail_min:
            return
        from .metrics._common import tail_window

        W = tail_window(n)
        if t % max(1, W // 2):
            if not stalled.any():
                return
            due = moved & stalled & self.open
        else:
            due = moved & self.open
        rows = np.flatnonzero(due)
        if not rows.size:
            return
        from .metrics._common import accumulate as _accumulate
        from .metrics._common import dot as _dot
        from .metrics._common import maxabs as _maxabs
        from .metrics.oscillation import CYCLE_PERIODS, CYCLE_RTOL, cycle_period

        every = rows.size == moved.size  # all runs: no gather
        # each run's largest |x| so far bounds the window's: a screen never stricter than the test
        m = np.abs(xs[self.xabs_n])
        for a in xs[self.xabs_n + 1 :]:  # the max over the new iterates (NaN propagates)
            np.maximum(m, np.abs(a), out=m)
        xabs = _maxabs(m)
        self.xabs = xabs if self.xabs is None else np.fmax(self.xabs, xabs)
        self.xabs_n = len(xs)
        tol2 = (CYCLE_RTOL * np.maximum(1.0, self.xabs if every else self.xabs[rows])) ** 2
        K = min(max(CYCLE_PERIODS), W - 1)
        recent = np.stack(xs[-1 : -K - 2 : -1])  # newest first: recent[P] = x_{t-P}
        if not every:
            recent = recent[:, rows]
        step = recent[:-1] - recent[1:]
        # [P-1]: a step longer than tol within the last P updates
        moved_within = _accumulate(np.logical_or, _dot(step, step) > tol2)
        back = recent[1:] - recent[0]
        back = _dot(back, back) <= tol2  # [P-1]: x_t within tol of x_{t-P}
        # back within tol after P updates, having moved meanwhile, for some P = 2..K
        candidate = np.any((back & moved_within)[1:], axis=0)
        rows = rows[candidate]
        if not rows.size:
            return
        period = cycle_period(np.stack([a[rows] for a in xs[-W:]]))
        for P in np.unique(period[period > 0]):
            mask = np.zeros_like(moved)
            mask[rows[period == P]] = True
            self.decide(mask, "cycle", f"a period-{int(P)} orbit (limit cycle) at update {t}")

    def close(self) -> None:
        """The runs still going at the end stopped at the iteration limit."""
        self.decide(self.open, "max-iter")


_NONE = np.zeros(0, dtype=bool)  # judge_progress before the stall window: nothing stalled


def _row_norms(a: np.ndarray) -> np.ndarray:
    """``numpy.linalg.norm(a, axis=1)`` of a real float array, the same arithmetic
    without its checks."""
    return np.sqrt(np.add.reduce(a * a, axis=1))


def _step(rec: _Recording, judge: _Judge, x_new, state: Any, alive_before) -> np.ndarray:
    """Record and judge the iterates after one update; returns the iterates to continue from."""
    oracle = rec.oracle
    x_prev, f_prev = rec.xs[-1], rec.fs[-1]
    moved = alive_before & oracle.active
    refused = alive_before & ~oracle.active
    x_new = _real(x_new)
    if not x_new.flags.owndata:  # a view of the optimizer's own buffers: recorded as a copy
        x_new = x_new.copy()
    if x_new.shape != x_prev.shape:
        raise ValueError(
            f"the optimizer returned iterates of shape {x_new.shape}, expected {x_prev.shape}"
        )
    x = np.where(moved[:, None], x_new, x_prev) if not moved.all() else x_new
    # a run refused inside the update keeps its iterate, but what it spent there is spent:
    # it gets one last point, its unchanged iterate at the full charge
    spent = refused & (oracle.cost > rec.nfs[-1] + rec.ngs[-1])
    recorded = moved | spent
    f, g = rec.evaluate(x, recorded, f_prev, rec.nan_g())
    lr = _lr_of(state, x.shape[0])
    rec.push(x, f, g, lr)
    t = rec.t
    if on_update is not None:
        on_update(t)
    rec.end[recorded] = t
    if oracle.timed_out:
        judge.decide(refused, "timeout", "the run passed its wall-clock deadline")
    judge.decide(refused, "budget", "the evaluation budget ran out during the update")
    if g is not None:
        rec.grad_dot(g)
    judge.judge(x, f, g, moved, t)
    return x


def _real(x) -> np.ndarray:
    """The iterates as float64; complex ones are an error (never cast to real silently)."""
    if np.iscomplexobj(x):
        raise ValueError("the optimizer returned complex iterates; expected real values")
    return np.asarray(x, dtype=float)


def _lr_of(state: Any, B: int) -> np.ndarray:
    if isinstance(state, dict) and "lr" in state:
        return np.broadcast_to(np.asarray(state["lr"], dtype=float).reshape(-1), (B,)).copy()
    return np.full(B, np.nan)


def _drive_steps(optimizer, oracle: Oracle, rec: _Recording, judge: _Judge, x0) -> None:
    """The step loop. The step is handed read-only iterates: the recorded ones, so a step
    that updates x in place fails (an ``error`` row) instead of rewriting the trace."""
    x = x0
    x.flags.writeable = False
    try:
        state = optimizer.init(x0) if optimizer.init is not None else None
        with np.errstate(all="ignore"):
            for t in range(judge.max_iter):
                if not oracle.active.any():
                    break
                alive = oracle.active.copy()
                x_new, state = optimizer.step(x, state, oracle, t)
                x = _step(rec, judge, x_new, state, alive)
                x.flags.writeable = False
    except ValueError as exc:
        if "read-only" in str(exc):
            raise ValueError(IN_PLACE) from exc
        raise


def _drive_owned(optimizer, oracle: Oracle, rec: _Recording, judge: _Judge, x0) -> None:
    """One run of an optimizer that owns its loop; iterates arrive through ``callback``."""
    if not oracle.active[0]:
        return
    alive = np.ones(1, dtype=bool)

    def callback(x, *args, **kwargs) -> None:
        x = _real(getattr(x, "x", x)).reshape(1, -1)
        _step(rec, judge, x.copy(), None, alive)
        if not oracle.active[0]:
            raise StopRun(judge.status[0])

    def spent_point() -> None:
        # evaluations made since the last reported iterate (inside an update the budget or
        # the deadline interrupted) are spent: the last iterate is recorded at their charge
        if oracle.cost[0] > rec.nfs[-1][0] + rec.ngs[-1][0]:
            _step(rec, judge, rec.xs[-1], None, alive)

    try:
        message = optimizer.run(x0.copy(), oracle, callback)
    except StopRun:
        return
    except BudgetExhausted:
        spent_point()
        judge.decide(np.ones(1, bool), "budget", "the evaluation budget ran out")
        return
    except DeadlineExceeded:
        spent_point()
        judge.decide(np.ones(1, bool), "timeout", "the run passed its wall-clock deadline")
        return
    # the optimizer stopped on its own criterion before any of ours
    judge.decide(np.ones(1, bool), "stalled", str(message or "the optimizer stopped by itself"))


def _hyper(runs) -> list[dict[str, Any]]:
    """Each run's hyperparameters as a dict; runs that share their optimizer spec (a
    sweep's seeds) share one dict, so the metrics read each distinct setting once."""
    made: dict[int, dict[str, Any]] = {}
    out = []
    for r in runs:
        h = made.get(id(r.optimizer))
        if h is None:
            h = made[id(r.optimizer)] = dict(r.optimizer.params)
        out.append(h)
    return out


def _results(
    runs, problem, trace: BatchTrace, rec: _Recording, judge: _Judge, seconds: float
) -> list[RunResult]:
    from .metrics.batch import batch_metric_arrays
    from .metrics.catalog import INT_KEYS

    metrics = batch_metric_arrays(
        trace,
        problem,
        list(judge.status),
        runs[0].optimizer.name,
        _hyper(runs),
        budget=runs[0].budget,
        max_iter=runs[0].max_iter,
        grad_dots=rec.gdots or None,  # None: no gradient dot recorded
    )
    f_star = trace.f_star if trace.f_star is not None else problem.f_star
    hits = None
    if f_star is not None:  # thinning keeps the first hits of COCO's grid: exact runtimes
        from .metrics.convergence import coco_crossings

        def hits(f: np.ndarray) -> np.ndarray:
            return coco_crossings(f, f_star)[1]

    stored = batch_trace_columns(trace, problem.dim <= STORE_X_MAX_DIM, hits)
    end = np.asarray(trace.end, dtype=np.int64)
    cols = np.arange(end.size)
    f = np.asarray(trace.f, dtype=float)
    valid = np.arange(f.shape[0])[:, None] <= end[None, :]
    # per run: the least of its recorded values (NaN ignored), NaN when none is finite
    f_best = np.fmin.reduce(np.where(valid, f, np.nan), axis=0)
    f_best = np.where(np.any(valid & np.isfinite(f), axis=0), f_best, np.nan)
    summaries = summary_columns(
        n_iter=end,
        n_f=np.asarray(trace.n_f)[end, cols],
        n_g=np.asarray(trace.n_g)[end, cols],
        f_final=f[end, cols],
        f_best=f_best,
        x_final=np.asarray(trace.x, dtype=float)[end, cols, :16],
        batch_size=len(runs),  # the runs sharing its clock (trace time, seconds)
    )
    block = Block(metrics, INT_KEYS, stored, summaries)
    return _batch_results(
        block,
        [run.run_id for run in runs],
        [str(s) for s in judge.status.tolist()],
        [str(m) for m in judge.message.tolist()],
        [seconds] * len(runs),
    )


def skipped_result(run: RunSpec, reason: str) -> RunResult:
    return RunResult(run.run_id, "skipped", reason)
