"""Per-problem run data shared by the built-in sections (computed once per report).

For every run: the cost axis ``evaluations = n_f + n_g`` and the best-so-far gap
``gap⁺_t = min_{s≤t} f(x_s) − f_ref`` (``docs/metrics.md#conventions``), from which runtimes
to targets (as ``hit_cost_*``) and values at fixed budgets follow. ``f_ref`` is f* where
known; otherwise the best value any run found, and targets become Moré–Wild relative targets
``gap⁺ ≤ τ·gap_0`` (as ``rel_hit_cost_*``).

The statistics over runs (aRT, spreads, ECDFs, profiles) are :mod:`optbench.stats`', under
its convention (skipped runs left out, every other run counted and charged the evaluations
it used, costs counted from 1): :meth:`ProblemData.hit_frame` hands it the runtimes read here.
A run that stopped early (converged, diverged) keeps its last best value at later budgets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..metrics.catalog import target_key

TABLE_TARGETS = (1e-1, 1e-2, 1e-4, 1e-6, 1e-8)  # fixed-target tables (absolute Δf)
ECDF_DECADES = (2.0, -8.0)  # COCO: 51 targets 10^{2, 1.8, ..., -8}
SAMPLE_RUNS = 3  # full traces (x, raw f) per (problem, label): raw-gap panel, trajectories
SEED = 20240917  # bootstrap and restart samples: the same stores give the same report
UNUSED_PREFIXES = ("hit_iter_", "rel_hit_iter_", "stay_iter_", "pp.", "x_final", "store", "seconds")


def ecdf_targets(known: bool):
    """The target ladder of the runtime ECDF: absolute Δf if f* is known, else relative τ."""
    import numpy as np

    if known:
        return 10.0 ** np.linspace(ECDF_DECADES[0], ECDF_DECADES[1], 51)
    return 10.0 ** np.linspace(0.0, -8.0, 41)


@dataclass
class ProblemData:
    """The runs of one problem, aligned with ``runs`` (a DataFrame slice).

    ``cost`` and ``best_gap`` are ``(n, T)`` matrices of the cost axis and the best-so-far
    gap, each row padded with its last value (a finished run stays where it stopped); ``has``
    marks the rows with a trace. Raw traces (x, raw f) are loaded on demand for a few runs
    per label.
    """

    key: str
    title: str
    info: dict[str, Any]
    f_ref: float | None
    known: bool  # f_ref is f*
    runs: Any
    cost: Any = None  # (n, T) evaluations n_f + n_g
    best_gap: Any = None  # (n, T) best-so-far gap
    length: Any = None  # (n,) stored points per run (0: no trace)
    gap0: Any = None  # (n,) initial gap (nan without a trace)
    used: Any = None  # (n,) evaluations used
    loader: Any = None  # run_ids -> {run_id: full trace} (cached by the report context)
    landscape: Any = None  # the stored landscape (Problem.stored_landscape), None if none

    @property
    def floor(self) -> float:
        from ..thresholds import gap_floor

        return gap_floor(self.f_ref)

    @property
    def dim(self) -> int:
        return int(self.info.get("dim") or 1)

    @property
    def has(self):
        return self.length > 0

    @property
    def applicable(self):
        """Runs that were run (not skipped): these enter aRT, profiles and tests."""
        from .convention import counts

        return counts(self.runs)

    def select(self, mask) -> ProblemData:
        import numpy as np

        idx = np.flatnonzero(np.asarray(mask))
        return replace(
            self,
            runs=self.runs.iloc[idx],
            cost=self.cost[idx],
            best_gap=self.best_gap[idx],
            length=self.length[idx],
            gap0=self.gap0[idx],
            used=self.used[idx],
        )

    def portable(self) -> ProblemData:
        """This data with its sample traces instead of the report's loader, to pickle."""
        ids = _sample_ids(self.runs[self.length > 0])  # the runs samples() picks
        traces = self.loader(sorted(ids)) if self.loader else {}
        return replace(self, loader=Traces(traces))

    def curve(self, i: int):
        """Run i's own (cost, best gap) arrays, without padding."""
        n = int(self.length[i])
        return self.cost[i, :n], self.best_gap[i, :n]

    def samples(self, label: str, n: int = SAMPLE_RUNS) -> list[tuple[Any, dict]]:
        """Up to n ``(row, full trace)`` of a label's runs, lowest seeds first."""
        import numpy as np

        # positions first, rows last: a boolean mask over the whole frame copies every
        # column of every run, for the few rows kept
        idx = np.flatnonzero((self.runs["label"].to_numpy() == label)
                             & (np.asarray(self.length) > 0))
        idx = idx[np.argsort(self.runs["seed"].to_numpy()[idx], kind="stable")][:n]
        rows = self.runs.iloc[idx]
        traces = self.loader(list(rows.run_id)) if self.loader else {}
        return [
            (row, traces[row.run_id])
            for _, row in rows.iterrows()
            if traces.get(row.run_id) is not None
        ]

    def thresholds(self, targets):
        """``(n, k)`` gap thresholds: the targets themselves, or τ·gap_0 when f* is unknown."""
        import numpy as np

        t = np.asarray(targets, dtype=float)[None, :]
        return (
            np.broadcast_to(t, (len(self.runs), t.shape[1]))
            if self.known
            else self.gap0[:, None] * t
        )

    def first_stored_hits(self, targets, relative: bool | None = None):
        """``(n, k)``: the cost axis (:attr:`cost`) at the first stored iterate that meets
        each target (inf: never)."""
        import numpy as np

        if relative:
            thr = self.gap0[:, None] * np.asarray(targets, dtype=float)[None, :]
        else:
            thr = self.thresholds(targets)
        n, k = thr.shape
        out = np.full((n, k), np.inf)
        if n and self.best_gap.shape[1]:
            rows = np.arange(n)
            for j in range(k):
                hit = self.best_gap <= thr[:, j : j + 1]  # best_gap is non-increasing along a row
                first = hit.argmax(axis=1)
                ok = hit[rows, first] & self.has
                out[ok, j] = self.cost[rows[ok], first[ok]]
        return out

    def runtimes(self, targets, relative: bool | None = None):
        """``(n, k)``: evaluations to reach each target (inf: never; nan: skipped run).

        ``relative=True`` applies the Moré–Wild test ``gap⁺ ≤ τ·gap_0`` whatever f_ref is
        (the profiles); the default follows :meth:`thresholds`. Where the worker stored the
        hitting cost of a target (``hit_cost_1e-6``, ``rel_hit_cost_1e-3``: computed on the
        full trace, exact where the stored trace is thinned) that column is used; other
        targets are read off the stored trace.
        """
        import numpy as np

        from .convention import runtimes

        out = self.first_stored_hits(targets, relative)
        if self.known:  # with f* the worker's targets mean the same as these
            for j, eps in enumerate(np.asarray(targets, dtype=float)):
                col = _stored_column(self.runs, eps, bool(relative))
                if col is not None:
                    out[:, j] = np.where(self.has, col, np.inf)
        out = runtimes(out)  # the convention: costs count from 1
        out[~self.applicable] = np.nan
        return out

    def hit_frame(self, targets, relative: bool | None = None):
        """The runs as :mod:`optbench.stats` reads them: ``problem_key, label, solver,
        seed, status, evals`` (evaluations used) and per target the :meth:`runtimes` (NaN:
        never) in column ``hit_cost_<ε>``, or ``rel_hit_cost_<τ>`` for relative targets."""
        import numpy as np
        import pandas as pd

        from .convention import hit_column

        rel = (not self.known) if relative is None else bool(relative)
        rt = self.runtimes(targets, relative)
        runs = self.runs
        frame = pd.DataFrame(
            {
                "problem_key": self.key,
                "label": runs.label.to_numpy(),
                "solver": runs.solver.to_numpy() if "solver" in runs else runs.label.to_numpy(),
                "seed": runs.seed.to_numpy(),
                "status": runs.status.to_numpy(),
                "evals": self.used,
            }
        )
        for j, eps in enumerate(targets):
            frame[hit_column(eps, rel)] = np.where(np.isfinite(rt[:, j]), rt[:, j], np.nan)
        return frame

    def best_at(self, budgets):
        """``(n, k)``: best gap after each budget of evaluations (nan: skipped or no trace)."""
        import numpy as np

        budgets = np.asarray(budgets, dtype=float)
        n, T = self.cost.shape
        out = np.full((n, len(budgets)), np.nan)
        if not n or not T:
            return out
        # one searchsorted for all rows: shift each (sorted) row above the previous one
        top = float(np.nanmax(self.cost, initial=0.0))
        span = top + max(float(budgets.max(initial=0.0)), 0.0) + 2.0
        offset = np.arange(n, dtype=float)[:, None] * span
        flat = (np.nan_to_num(self.cost, nan=0.0) + offset).ravel()
        q = (offset + budgets[None, :]).ravel()
        idx = np.searchsorted(flat, q, side="right") - 1
        base = np.repeat(np.arange(n) * T, len(budgets))
        idx = np.maximum(idx, base)  # a budget below the first cost: the start value
        vals = self.best_gap.ravel()[idx].reshape(n, len(budgets))
        out[self.has] = vals[self.has]
        return out

    def final_best(self):
        import numpy as np

        out = np.full(len(self.runs), np.nan)
        last = np.maximum(self.length - 1, 0)
        if self.best_gap.shape[1]:
            out[self.has] = self.best_gap[np.flatnonzero(self.has), last[self.has]]
        return out


class Traces:
    """A loader over traces read before (picklable, unlike the report's context)."""

    def __init__(self, traces: dict[str, dict | None]) -> None:
        self.traces = traces

    def __call__(self, run_ids) -> dict[str, dict | None]:
        return {r: self.traces.get(r) for r in run_ids}


def _stored_column(runs, eps: float, relative: bool, kind: str = "cost"):
    """The worker's hitting costs (``kind="time"``: clock times) for target ``eps``
    (NaN = never), or None if not stored."""
    import numpy as np

    key = target_key(eps)
    if float(key) != eps:  # only the exact decades the worker records
        return None
    name = f"{'rel_' if relative else ''}hit_{kind}_{key}"
    if name not in runs:
        return None
    return np.asarray(runs[name].astype(float).to_numpy(), dtype=float)


def _gap(trace: dict, f_ref: float):
    import numpy as np

    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.where(np.isfinite(trace["f"]), trace["f"] - f_ref, np.inf)
    return np.maximum(gap, 0.0)  # round-off below f* is no progress past it


def _sample_ids(runs) -> set[str]:
    """The run_ids :meth:`ProblemData.samples` picks: the lowest seeds per problem and label."""
    first = (
        runs.sort_values("seed", kind="stable").groupby(["problem_key", "label"]).head(SAMPLE_RUNS)
    )
    return set(first.run_id)


def problem_data(ctx) -> dict[str, ProblemData]:
    """Every problem's :class:`ProblemData` over all runs of the report, read once per report
    (:attr:`optbench.report.Context.problem_data`)."""
    return ctx.problem_data


def read_problem_data(ctx) -> dict[str, ProblemData]:
    """Every problem's :class:`ProblemData` read from the stores of ``ctx`` (what
    :attr:`~optbench.report.Context.problem_data` computes once; call that instead)."""
    import numpy as np

    from .convention import charged, counted

    runs = ctx.runs
    out: dict[str, ProblemData] = {}
    if not len(runs):
        return out
    ran = counted(runs)
    pos = {rid: i for i, rid in enumerate(runs.run_id.tolist())}
    curves: list = [None] * len(runs)
    refs = {key: ctx.f_ref(key) for key in ctx.problem_keys}
    keys = runs.problem_key.to_numpy()
    # the traces the figures draw in full (ProblemData.samples) come in the same pass
    full = _sample_ids(ran)
    if ctx.tuning is not None:
        full |= _sample_ids(ran[ran.phase == "final"])
    for rid, tr in ctx.iter_traces(ran.run_id.tolist(), keys=("f", "n_f", "n_g"), full=full):
        if tr is None or not len(tr["f"]):
            continue
        at = pos[rid]
        f_ref = refs[keys[at]][0]
        if f_ref is None:
            continue
        curves[at] = ((tr["n_f"] + tr["n_g"]).astype(float), np.minimum.accumulate(_gap(tr, f_ref)))
    evals = runs["evals"].astype(float).to_numpy() if "evals" in runs else np.zeros(len(runs))
    # the per-problem slices are taken hundreds of times: leave out the columns no section
    # here reads (iteration counts per target, problem parameters, ...), which halves that
    narrow = runs[[c for c in runs.columns if not c.startswith(UNUSED_PREFIXES)]]
    evals = np.where(np.isfinite(evals), evals, 0.0)
    for key in ctx.problem_keys:
        idx = np.flatnonzero(keys == key)
        length = np.array(
            [0 if curves[i] is None else len(curves[i][0]) for i in idx], dtype=np.int64
        )
        T = int(length.max(initial=0))
        cost = np.full((len(idx), T), np.nan)
        best = np.full((len(idx), T), np.nan)
        for r, i in enumerate(idx):
            if curves[i] is not None:
                c, b = curves[i]
                cost[r, : len(c)], cost[r, len(c) :] = c, c[-1]
                best[r, : len(b)], best[r, len(b) :] = b, b[-1]
        has = length > 0
        gap0 = np.where(has, best[:, 0] if T else np.nan, np.nan)
        last = cost[np.arange(len(idx)), np.maximum(length - 1, 0)] if T else np.zeros(len(idx))
        # the larger of the stored counter and the trace's last cost, at least 1 (charged())
        used = charged(np.maximum(np.nan_to_num(last), evals[idx]))
        f_ref, known = refs[key]
        out[key] = ProblemData(
            key,
            ctx.problem_title(key),
            ctx.problems.get(key, {}),
            f_ref,
            known,
            narrow.iloc[idx],
            cost,
            best,
            length,
            gap0,
            used,
            ctx.traces,
            ctx.landscapes.get(key),
        )
    return out


def compared(ctx) -> dict[str, ProblemData]:
    """:func:`problem_data` restricted to the compared runs (tuned winners when tuned, else
    the main cross products' runs), once per report
    (:attr:`optbench.report.Context.compared_data`)."""
    return ctx.compared_data


def select_compared(ctx) -> dict[str, ProblemData]:
    """:func:`problem_data` restricted to the compared runs (what
    :attr:`~optbench.report.Context.compared_data` computes once; call that instead)."""
    data = ctx.problem_data
    if ctx.tuning is None:
        if len(ctx.main) == len(ctx.runs):
            return data
        main = set(ctx.main.run_id)  # the pairings only a sweep ran are left out
        picked = {k: d.select(d.runs.run_id.isin(main).to_numpy()) for k, d in data.items()}
        return {k: d for k, d in picked.items() if len(d.runs)}
    return {k: d.select((d.runs.phase == "final").to_numpy()) for k, d in data.items()}


def solvers_of(frame) -> list[str]:
    """Solver names in first-seen order."""
    return list(dict.fromkeys(frame.solver)) if len(frame) else []


def top_solvers(scores: dict[str, float], n: int) -> list[str]:
    """The ``n`` best by score (lower is better), keeping their given order."""
    import math

    if len(scores) <= n:
        return list(scores)
    ranked = sorted(scores, key=lambda s: math.inf if scores[s] != scores[s] else scores[s])
    keep = set(ranked[:n])
    return [s for s in scores if s in keep]
