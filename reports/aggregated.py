"""Aggregated views: runtime ECDFs per dimension, performance and data profiles
(``docs/methodology.md``). Never an average of raw losses."""

from __future__ import annotations

from optbench import register_section
from optbench.metrics import REL_TARGETS, target_key
from optbench.report import Section, note_html, table_html
from optbench.report.charts import HOW_TO_EXPLORE, label_colours
from optbench.report.vega import chart_html
from optbench.stats.curves import compared, ecdf_targets, top_solvers

MAX_SOLVERS = 10  # curves per panel; the tables list every solver
PROFILE_TAUS = (1e-3, 1e-7)  # performance profiles drawn for these Moré–Wild tolerances


def ecdf_by_dim(ctx, data, solvers):
    """For each dimension: {solver: [runtimes / dim per (problem, target) pair]}, the virtual
    best solver's, and the evaluations each solver's runs used. On the report's time axis:
    seconds of the batch clock, not divided by the dimension."""
    import numpy as np

    from optbench.stats.average_runtime import art_columns

    timed = ctx.x_axis == "time"
    if timed:
        from optbench.report.timing import on_time

        data = {k: on_time(ctx, d) for k, d in data.items()}

    groups: dict[int, dict] = {}
    for _key, d in data.items():
        ran = d.select(d.applicable)
        if not len(d.runs):
            continue
        g = groups.setdefault(
            d.dim,
            {
                "pairs": 0,
                "rts": {s: [] for s in solvers},
                "vbs": [],
                "used": {s: [] for s in solvers},
                "problems": [],
            },
        )
        targets = ecdf_targets(d.known)
        g["pairs"] += len(targets)
        g["problems"].append(d.title)
        rt = ran.runtimes(targets)
        per = 1 if timed else d.dim
        solver = ran.runs.solver.to_numpy()
        rows = {s: np.flatnonzero(solver == s) for s in solvers}  # once, not per target
        for s, m in rows.items():
            g["used"][s].extend(ran.used[m].tolist())
            g["rts"][s].extend(rt[m].T / per)  # a solver without runs: empty pairs
        arts = {s: art_columns(rt[m], ran.used[m]) for s, m in rows.items() if m.size}
        for j in range(len(targets)):
            finite = {s: a[j] for s, a in arts.items() if np.isfinite(a[j])}
            best = min(finite, key=finite.__getitem__) if finite else None
            g["vbs"].append(rt[rows[best], j] / per if best is not None else np.array([np.inf]))
    return dict(sorted(groups.items()))


VBS = "virtual best (smallest aRT per pair)"


def ecdf_panels(groups, shown, timed=False):
    """Per dimension ``(title, series, marks)``: the ECDF of each shown solver and of the
    virtual best as ``(name, x, y)`` step points (:func:`~optbench.report.charts.step_points`,
    each an exact value; the first at height 0 where the curve rises), and the × of the
    median cost each solver used, on its curve."""
    import numpy as np

    from optbench.report.charts import step_points
    from optbench.stats import ecdf

    out = []
    for dim, g in groups.items():
        series, marks = [], []
        for name, rts in [(s, g["rts"][s]) for s in shown] + [(VBS, g["vbs"])]:
            full_x, full_y = ecdf(rts)
            if not len(full_x):
                continue
            x, y = step_points(full_x, full_y)
            series.append((name, np.r_[x[0], x], np.r_[0.0, y], True))
            used = g["used"].get(name) if name != VBS else None
            if used:
                u = float(np.median(used)) / (1 if timed else dim)
                k = np.searchsorted(full_x, u, side="right")
                marks.append((name, u, float(full_y[k - 1]) if k > 0 else 0.0))
        n_p = len(g["problems"])
        title = (f"{dim}-D: {n_p} problem{'s' if n_p > 1 else ''}, "
                 f"{g['pairs']} (problem, target) pairs")
        out.append((title, series, marks))
    return out


def ecdf_chart(groups, shown, colours, timed=False):
    from optbench.report.charts import step_panels

    panels = ecdf_panels(groups, shown, timed)
    return step_panels(
        [(t, s) for t, s, _ in panels], [*shown, VBS], colours,
        x_title="seconds (batch clock)" if timed else "evaluations / dimension",
        y_title="fraction of (problem, target, run)", dashed=(VBS,),
        marks=[m for _, _, m in panels])


def profile_panels(T, dims, solvers, shown):
    """``(performance, data)``: per tolerance ``(title, series)`` with each shown solver's
    Dolan–Moré (resp. Moré–Wild) profile as ``(name, x, y)`` step points, evaluated where
    it steps (the ratios, resp. the costs), so each point is an exact value."""
    import numpy as np

    from optbench.report.charts import step_points
    from optbench.stats import data_profile_matrix, performance_profile_matrix

    idx = [solvers.index(s) for s in shown]

    def series(x, rho):
        return [(s, *step_points(x, rho[:, i])) for i, s in zip(idx, shown, strict=True)]

    perf = []
    for tau in PROFILE_TAUS:
        M = T[tau]
        best = np.where(np.isinf(M), np.nan, M)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = M / np.nanmin(best, axis=1, keepdims=True) if len(M) else M
        fin = ratio[np.isfinite(ratio)]
        rmax = max(float(fin.max()) if fin.size else 2.0, 2.0) * 1.05
        taus = np.unique(np.r_[1.0, fin, rmax])
        perf.append((f"performance profile, τ = {target_key(tau)}",
                     series(taus, performance_profile_matrix(M, taus))))
    data = []
    d1 = np.asarray(dims, dtype=float)[:, None] + 1.0
    for tau in REL_TARGETS:
        M = T[tau]
        costs = (M / d1) if len(M) else M
        fin = costs[np.isfinite(costs)]
        lo, top = (float(fin.min()), float(fin.max()) * 1.2) if fin.size else (1.0, 10.0)
        alphas = np.unique(np.r_[lo, fin, top])
        data.append((f"data profile, τ = {target_key(tau)}",
                     series(alphas, data_profile_matrix(M, alphas, dims))))
    return perf, data


def profile_charts(T, dims, solvers, shown, colours):
    from optbench.report.charts import step_panels

    perf, data = profile_panels(T, dims, solvers, shown)
    c1 = step_panels(perf, shown, colours, log_base=2,
                     x_title="performance ratio r = t / t_best", y_title="fraction of instances")
    c2 = step_panels(data, shown, colours, width=205, x_title="evaluations / (n + 1)",
                     y_title="fraction of instances solved")
    return c1, c2


def profile_table(T, solvers):
    import numpy as np
    import pandas as pd

    from optbench.stats import performance_profile_matrix, profile_area

    cols = {}
    for tau in REL_TARGETS:
        M = T[tau]
        best = M.min(axis=1, keepdims=True) if len(M) else M
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = np.where(np.isfinite(M), M / best, np.inf)
        # ρ steps only at the ratios: on this grid the area is exact
        grid = np.unique(np.r_[1.0, ratios[np.isfinite(ratios)]])
        rho = performance_profile_matrix(M, grid)
        key = target_key(tau)
        cols[f"wins τ={key}"] = rho[0]
        cols[f"solved τ={key}"] = np.isfinite(M).mean(axis=0) if len(M) else rho[0]
        cols[f"B[1,4] τ={key}"] = [profile_area(grid, rho[:, i]) for i in range(len(solvers))]
    frame = pd.DataFrame(cols)
    frame.insert(0, "solver", solvers)
    return frame


@register_section("aggregated", order=40)
def aggregated(ctx) -> Section | None:
    """ECDFs and profiles."""
    import numpy as np

    data = compared(ctx)
    solvers = ctx.solvers
    if not data or not solvers:
        return None
    parts = []
    if ctx.tuning is not None:
        parts.append(
            note_html(
                "Solvers here are optimizer families, each at its tuned learning rate per "
                "problem, rerun on fresh seeds (see Tuning)."
            )
        )
    groups = ecdf_by_dim(ctx, data, solvers)

    def solved(rts) -> float:
        both = np.concatenate(rts) if rts else np.array([])
        return float(np.mean(np.isfinite(both))) if len(both) else 0.0

    areas = {s: -float(np.mean([solved(g["rts"][s]) for g in groups.values()])) for s in solvers}
    shown = top_solvers(areas, MAX_SOLVERS)
    more = (
        f" Only the {len(shown)} solvers that solve the most pairs are drawn; the table lists all "
        f"{len(solvers)}."
        if len(shown) < len(solvers)
        else ""
    )
    n_runs = int(len(ctx.compare))
    parts.append("<h3 id='agg-ecdf'>Runtime ECDFs</h3>")
    timed = ctx.x_axis == "time"
    if timed:
        from optbench.report.timing import clock_warning

        parts.append(clock_warning(ctx))
    axis, used = (
        ("seconds of the batch clock", "seconds")
        if timed
        else ("evaluations (n_f + n_g) divided by the dimension", "evaluations")
    )
    colours = label_colours(ctx.colours, [*solvers, VBS])
    colours[VBS] = "#444444"
    nothing = [s for s in shown if not any(np.isfinite(np.concatenate(g["rts"][s])).any()
                                           for g in groups.values() if g["rts"][s])]
    none_solved = (f" Solved nothing (no line): {', '.join(nothing)}." if nothing else "")
    parts.append(
        chart_html(
            ecdf_chart(groups, shown, colours, timed),
            "runtime ECDFs per dimension",
            (
                "Runtime ECDF per dimension (problems of different dimension are never pooled): "
                "the fraction of (problem, target, run) triples whose best-so-far gap reached the "
                f"target, against {axis}. Targets: "
                "COCO's 51 precisions Δf ∈ 10^{2…−8} where f* is known, else 41 Moré–Wild "
                "tolerances τ ∈ 10^{0…−8}; each (problem, target) pair weighs the same, "
                "unsuccessful and failed runs stay in the denominator, no simulated restarts (the "
                f"curve ends at the budget). × marks the median {used} a solver used; the "
                "dashed line takes, per pair, the runs of the solver with the smallest aRT. "
                f"{n_runs} runs.{more}{none_solved} {HOW_TO_EXPLORE}"
            ),
            name="runtime-ecdf",
        )
    )
    T, dims, missing = ctx.profiles
    if not len(dims):
        parts.append(note_html("No run was run (all skipped): no profiles."))
        return Section("Aggregated", "".join(parts))
    fig1, fig2 = profile_charts(T, dims, solvers, shown, colours)
    miss = (
        f" {missing} (instance, solver) combinations have no run and count as failures."
        if missing
        else ""
    )
    parts.append("<h3 id='agg-profiles'>Performance and data profiles</h3>")
    parts.append(
        chart_html(
            fig1,
            "performance profiles",
            (
                f"Dolan–Moré performance profiles of {n_runs} runs over {len(dims)} instances = "
                "(problem, seed) pairs, which pair the solvers on the same start point: ρ_s(r) "
                "is the fraction of instances solver s solves within r times the evaluations of "
                "the fastest solver on that instance. 'Solved' is the Moré–Wild test f − f_ref ≤ "
                "τ·(f(x₀) − f_ref) with f_ref = f* where known, else the best value found. "
                "ρ_s(1) is the share of wins; the right end is the share solved. A performance "
                "profile compares each solver with the best only — read it with the data "
                f"profiles, not as a full ranking.{miss} {HOW_TO_EXPLORE}"
            ),
            name="performance-profiles",
        )
    )
    parts.append(
        chart_html(
            fig2,
            "data profiles",
            (
                f"Moré–Wild data profiles of the same {n_runs} runs over {len(dims)} instances: "
                "the fraction solved (test above, four tolerances τ) within a budget of α "
                "simplex gradients, i.e. evaluations divided by (dimension + 1), which puts "
                "problems of different dimension on one axis."
            ),
            name="data-profiles",
        )
    )
    parts.append(
        table_html(
            profile_table(T, solvers),
            (
                f"Per solver and tolerance τ: share of the {len(dims)} instances it wins (ρ(1), "
                "ties count for every tied solver), share it solves, and the normalized area B = "
                "∫₁⁴ ρ(r) dr / 3 of its performance profile (AlgoPerf's score; 1 = fastest "
                "everywhere)."
            ),
            "profiles.csv",
        )
    )
    toc = [("agg-ecdf", "Runtime ECDFs"), ("agg-profiles", "Profiles")]
    return Section("Aggregated", "".join(parts), toc=toc)
