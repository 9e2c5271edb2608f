"""Per-problem run data shared by the built-in sections (computed once per report).

For every run: the cost axis ``evaluations = n_f + n_g`` and the best-so-far gap
``gap⁺_t = min_{s≤t} f(x_s) − f_ref`` (``reference/dynamics.md`` C1), from which runtimes to
targets (C3) and values at fixed budgets follow. ``f_ref`` is f* where known; otherwise the
best value any run found, and targets become Moré–Wild relative targets
``gap⁺ ≤ τ·gap_0`` (C3r).

Conventions, stated in the report's Setup section:
  * a runtime is the cost at the first iterate whose best gap meets the target, counted as
    at least 1 evaluation (COCO numbers its first evaluation 1);
  * an unsuccessful run is charged the evaluations it used, at least 1 (COCO), a run that stopped early
    (converged, diverged) keeps its last best value at later budgets;
  * skipped runs were never run: they count in the run totals, not in aRT.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

TABLE_TARGETS = (1e-1, 1e-2, 1e-4, 1e-6, 1e-8)  # fixed-target tables (absolute Δf)
REL_TARGETS = (1e-1, 1e-3, 1e-5, 1e-7)  # Moré–Wild τ: data profiles, f*-unknown tables
ECDF_DECADES = (2.0, -8.0)  # COCO: 51 targets 10^{2, 1.8, ..., -8}
SAMPLE_RUNS = 20  # raw traces kept per (problem, label) for the faint lines and trajectories
FAILED = ("error", "timeout", "non-finite", "diverged")


def ecdf_targets(known: bool):
    """The target ladder of the runtime ECDF: absolute Δf if f* is known, else relative τ."""
    import numpy as np

    if known:
        return 10.0 ** np.linspace(ECDF_DECADES[0], ECDF_DECADES[1], 51)
    return 10.0 ** np.linspace(0.0, -8.0, 41)


def fmt_target(eps: float) -> str:
    return f"{eps:.0e}".replace("e-0", "e-").replace("e+0", "e")


@dataclass
class ProblemData:
    """The runs of one problem, aligned with ``runs`` (a DataFrame slice)."""

    key: str
    title: str
    info: dict[str, Any]
    f_ref: float | None
    known: bool  # f_ref is f*
    runs: Any
    cost: list = field(default_factory=list)  # per run: int array or None
    best: list = field(default_factory=list)  # per run: best-so-far gap or None
    gap0: Any = None  # (n,) initial gap (nan without a trace)
    used: Any = None  # (n,) evaluations used
    raw: dict[str, dict] = field(default_factory=dict)  # run_id -> full trace (samples only)

    @property
    def floor(self) -> float:
        return 1e-16 * max(1.0, abs(self.f_ref or 0.0))

    @property
    def dim(self) -> int:
        return int(self.info.get("dim") or 1)

    @property
    def applicable(self):
        """Runs that were run (not skipped): these enter aRT, profiles and tests."""
        return (self.runs.status != "skipped").to_numpy()

    def select(self, mask) -> ProblemData:
        import numpy as np

        idx = np.flatnonzero(np.asarray(mask))
        return replace(self, runs=self.runs.iloc[idx], cost=[self.cost[i] for i in idx],
                       best=[self.best[i] for i in idx], gap0=self.gap0[idx], used=self.used[idx],
                       raw={rid: self.raw[rid] for rid in self.runs.run_id.iloc[idx] if rid in self.raw})

    def thresholds(self, targets):
        """``(n, k)`` gap thresholds: the targets themselves, or τ·gap_0 when f* is unknown."""
        import numpy as np

        t = np.asarray(targets, dtype=float)[None, :]
        return np.broadcast_to(t, (len(self.runs), t.shape[1])) if self.known else self.gap0[:, None] * t

    def runtimes(self, targets, relative: bool | None = None):
        """``(n, k)``: evaluations to reach each target (inf: never; nan: skipped run).

        ``relative=True`` applies the Moré–Wild test ``gap⁺ ≤ τ·gap_0`` whatever f_ref is
        (the profiles); the default follows :meth:`thresholds`.
        """
        import numpy as np

        if relative:
            thr = self.gap0[:, None] * np.asarray(targets, dtype=float)[None, :]
        else:
            thr = self.thresholds(targets)
        out = np.full(thr.shape, np.inf)
        for i, (c, b) in enumerate(zip(self.cost, self.best, strict=True)):
            if self.runs.status.iloc[i] == "skipped":
                out[i] = np.nan
                continue
            if b is None:
                continue
            # best is non-increasing, so -best is sorted: the first index with best <= thr
            idx = np.searchsorted(-b, -thr[i], side="left")
            ok = idx < len(b)
            out[i, ok] = np.maximum(c[idx[ok]], 1)
        return out

    def best_at(self, budgets):
        """``(n, k)``: best gap after each budget of evaluations (nan: skipped or no trace)."""
        import numpy as np

        out = np.full((len(self.runs), len(budgets)), np.nan)
        for i, (c, b) in enumerate(zip(self.cost, self.best, strict=True)):
            if b is None:
                continue
            idx = np.searchsorted(c, np.asarray(budgets), side="right") - 1
            out[i] = np.where(idx >= 0, b[np.clip(idx, 0, None)], b[0])
        return out

    def final_best(self):
        import numpy as np

        return np.array([np.nan if b is None else b[-1] for b in self.best])


def _gap(trace: dict, f_ref: float):
    import numpy as np

    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.where(np.isfinite(trace["f"]), trace["f"] - f_ref, np.inf)
    return np.maximum(gap, 0.0)  # round-off below f* is no progress past it


def problem_data(ctx) -> dict[str, ProblemData]:
    """Every problem's :class:`ProblemData` over all runs of the report (cached on ctx)."""
    if "problem_data" in ctx.cache:
        return ctx.cache["problem_data"]
    import numpy as np

    runs = ctx.runs
    out: dict[str, ProblemData] = {}
    if not len(runs):
        ctx.cache["problem_data"] = out
        return out
    order = runs.sort_values(["problem_key", "label", "seed"], kind="stable")
    ran = order[order.status != "skipped"]
    sample = set(ran.groupby(["problem_key", "label"], sort=False).head(SAMPLE_RUNS).run_id)
    if ctx.tuning is not None:  # the compared (final) runs get their own samples
        final = ran[ran.phase == "final"]
        sample |= set(final.groupby(["problem_key", "label"], sort=False).head(SAMPLE_RUNS).run_id)
    pos = {rid: i for i, rid in enumerate(runs.run_id)}
    cost: list = [None] * len(runs)
    best: list = [None] * len(runs)
    gap0 = np.full(len(runs), np.nan)
    raw: dict[str, dict] = {}
    refs = {key: ctx.f_ref(key) for key in ctx.problem_keys}
    keys = runs.problem_key.to_numpy()
    for rid, tr in ctx.iter_traces(ran.run_id):
        if tr is None or not len(tr["f"]):
            continue
        i = pos[rid]
        f_ref = refs[keys[i]][0]
        if f_ref is None:
            continue
        gap = _gap(tr, f_ref)
        b = np.minimum.accumulate(gap)
        cost[i] = (tr["n_f"] + tr["n_g"]).astype(np.int64)
        best[i] = b
        gap0[i] = gap[0]
        if rid in sample:
            raw[rid] = tr
    evals = runs["evals"].astype(float).to_numpy() if "evals" in runs else np.zeros(len(runs))
    # a run that started used at least its first evaluation (COCO numbers it 1)
    used = np.array([max(float(c[-1]), 0.0 if not np.isfinite(e) else e, 1.0) if c is not None
                     else (0.0 if not np.isfinite(e) else e) for c, e in zip(cost, evals, strict=True)])
    for key in ctx.problem_keys:
        mask = keys == key
        idx = np.flatnonzero(mask)
        f_ref, known = refs[key]
        out[key] = ProblemData(
            key, ctx.problem_title(key), ctx.problems.get(key, {}), f_ref, known, runs.iloc[idx],
            [cost[i] for i in idx], [best[i] for i in idx], gap0[idx], used[idx],
            {rid: raw[rid] for rid in runs.run_id.iloc[idx] if rid in raw})
    ctx.cache["problem_data"] = out
    return out


def compared(ctx) -> dict[str, ProblemData]:
    """:func:`problem_data` restricted to the compared runs (tuned winners when tuned)."""
    data = problem_data(ctx)
    if ctx.tuning is None:
        return data
    if "compared_data" not in ctx.cache:
        ctx.cache["compared_data"] = {k: d.select((d.runs.phase == "final").to_numpy())
                                      for k, d in data.items()}
    return ctx.cache["compared_data"]


def solvers_of(frame) -> list[str]:
    """Solver names in first-seen order."""
    return list(dict.fromkeys(frame.solver)) if len(frame) else []


def palette(n: int) -> list:
    """Distinguishable colours (seaborn's colorblind palette, then tab20)."""
    base = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4",
            "#949494", "#ece133", "#56b4e9"]
    if n <= len(base):
        return base[:n]
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return base + [cmap(i % 20) for i in range(n - len(base))]


def top_solvers(scores: dict[str, float], n: int) -> list[str]:
    """The ``n`` best by score (lower is better), keeping their given order."""
    import math

    if len(scores) <= n:
        return list(scores)
    ranked = sorted(scores, key=lambda s: (math.inf if scores[s] != scores[s] else scores[s]))
    keep = set(ranked[:n])
    return [s for s in scores if s in keep]
