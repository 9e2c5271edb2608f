"""Aggregated views: runtime ECDFs per dimension, performance and data profiles
(``docs/methodology.md``). Never an average of raw losses."""

from __future__ import annotations

from optbench import register_section
from optbench.metrics import REL_TARGETS, target_key
from optbench.report import Section, figure_html, note_html, plain, table_html
from optbench.report.figures import palette
from optbench.stats.curves import compared, ecdf_targets, top_solvers

MAX_SOLVERS = 10  # curves per panel; the tables list every solver
PROFILE_TAUS = (1e-3, 1e-7)  # performance profiles drawn for these Moré–Wild tolerances


def ecdf_by_dim(ctx, data, solvers):
    """For each dimension: {solver: [runtimes / dim per (problem, target) pair]}, the virtual
    best solver's, and the evaluations each solver's runs used. On the report's time axis:
    seconds of the batch clock, not divided by the dimension."""
    import numpy as np

    from optbench.stats import art

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
        used = {s: ran.used[m] for s, m in rows.items()}
        for j in range(len(targets)):
            arts = {s: art(rt[m, j], used[s]) for s, m in rows.items() if m.size}
            finite = {s: a for s, a in arts.items() if np.isfinite(a)}
            best = min(finite, key=finite.__getitem__) if finite else None
            g["vbs"].append(rt[rows[best], j] / per if best is not None else np.array([np.inf]))
    return dict(sorted(groups.items()))


def ecdf_figure(groups, solvers, shown, timed=False):
    import matplotlib.pyplot as plt
    import numpy as np

    from optbench.report.figures import layout, log_axes
    from optbench.stats import ecdf

    n = len(groups)
    rows_leg = -(-(len(shown) + 1) // 4)
    fig, axes = plt.subplots(
        1, n, figsize=(max(5.2 * n, 6.0), 3.5 + 0.17 * rows_leg), squeeze=False
    )
    layout(fig, bottom=0.55 + 0.17 * rows_leg + 0.1, wspace=0.25)
    colors = dict(zip(shown, palette(len(shown)), strict=True))
    handles = []
    for ax, (dim, g) in zip(axes[0], groups.items(), strict=True):
        top = 1.0
        for s in shown:
            x, y = ecdf(g["rts"][s])
            top = max(top, float(x.max()) if len(x) else 1.0)
            if len(x):
                (h,) = ax.step(
                    np.concatenate([[x[0]], x]),
                    np.concatenate([[0], y]),
                    where="post",
                    color=colors[s],
                    lw=1.5,
                    label=plain(s),
                )
                used = np.median(g["used"][s]) / (1 if timed else dim) if g["used"][s] else None
                if used:
                    k = np.searchsorted(x, used, side="right")
                    ax.plot(
                        [used],
                        [y[k - 1] if k > 0 else 0],
                        marker="x",
                        color=colors[s],
                        ms=7,
                        mew=1.5,
                    )
            else:
                (h,) = ax.plot(
                    [], [], color=colors[s], lw=1.5, label=plain(f"{s} (nothing solved)")
                )
            if dim == next(iter(groups)):
                handles.append(h)
        x, y = ecdf(g["vbs"])
        if len(x):
            (h,) = ax.step(
                np.concatenate([[x[0]], x]),
                np.concatenate([[0], y]),
                where="post",
                color="#444",
                lw=1.0,
                ls="--",
                label="virtual best (smallest aRT per pair)",
            )
            if dim == next(iter(groups)):
                handles.append(h)
        log_axes(ax, y=False)
        ax.set(
            ylim=(-0.02, 1.02),
            xlabel="seconds (batch clock)" if timed else "evaluations / dimension",
            ylabel="fraction of (problem, target, run)",
            title=f"{dim}-D: {len(g['problems'])} problem{'s' if len(g['problems']) > 1 else ''}, "
            f"{g['pairs']} (problem, target) pairs",
        )
        ax.grid(True, which="major", alpha=0.3)
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7.5, frameon=False)
    return fig


def profile_figures(T, dims, solvers, shown):
    import matplotlib.pyplot as plt
    import numpy as np

    from optbench.report.figures import layout, log_axes
    from optbench.stats import data_profile_matrix, performance_profile_matrix

    colors = dict(zip(shown, palette(len(shown)), strict=True))
    idx = [solvers.index(s) for s in shown]
    rows_leg = -(-len(shown) // 4)
    fig1, axes = plt.subplots(1, len(PROFILE_TAUS), figsize=(10.5, 3.4 + 0.17 * rows_leg))
    layout(fig1, bottom=0.55 + 0.17 * rows_leg + 0.1, wspace=0.25)
    finite = np.concatenate([t[np.isfinite(t)] for t in T.values()] + [np.array([1.0])])
    for ax, tau in zip(axes, PROFILE_TAUS, strict=True):
        M = T[tau]
        best = np.where(np.isinf(M), np.nan, M)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = M / np.nanmin(best, axis=1, keepdims=True) if len(M) else M
        rmax = np.nanmax(ratio[np.isfinite(ratio)], initial=2.0)
        taus = np.unique(
            np.concatenate(
                [
                    [1.0],
                    np.geomspace(1, max(rmax, 2.0) * 1.05, 200),
                    ratio[np.isfinite(ratio)].ravel(),
                ]
            )
        )
        rho = performance_profile_matrix(M, taus)
        for i, s in zip(idx, shown, strict=True):
            ax.step(taus, rho[:, i], where="post", color=colors[s], lw=1.5, label=plain(s))
        log_axes(ax, y=False, base=2)
        ax.set(
            ylim=(-0.02, 1.02),
            xlabel="performance ratio r = t / t_best (log2)",
            ylabel="fraction of instances",
            title=f"performance profile, τ = {target_key(tau)}",
        )
        ax.grid(True, which="major", alpha=0.3)
    fig1.legend(
        *axes[0].get_legend_handles_labels(),
        loc="lower center",
        ncol=4,
        fontsize=7.5,
        frameon=False,
    )
    fig2, axes = plt.subplots(1, len(REL_TARGETS), figsize=(13.0, 3.2 + 0.17 * rows_leg))
    layout(fig2, bottom=0.55 + 0.17 * rows_leg + 0.1, wspace=0.22)
    top = float(np.max(finite / (dims.max() + 1.0))) if len(dims) else 10.0
    alphas = np.geomspace(1 / (dims.max() + 1.0) if len(dims) else 0.1, max(top, 1.0) * 1.2, 200)
    for ax, tau in zip(axes, REL_TARGETS, strict=True):
        d = data_profile_matrix(T[tau], alphas, dims)
        for i, s in zip(idx, shown, strict=True):
            ax.step(alphas, d[:, i], where="post", color=colors[s], lw=1.5, label=plain(s))
        log_axes(ax, y=False)
        ax.set(
            ylim=(-0.02, 1.02),
            xlabel="evaluations / (n + 1)",
            title=f"data profile, τ = {target_key(tau)}",
        )
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("fraction of instances solved")
    fig2.legend(
        *axes[0].get_legend_handles_labels(),
        loc="lower center",
        ncol=4,
        fontsize=7.5,
        frameon=False,
    )
    return fig1, fig2


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
    parts.append(
        figure_html(
            ecdf_figure(groups, solvers, shown, timed),
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
                f"{n_runs} runs.{more}"
            ),
            tight=False,
        )
    )
    T, dims, missing = ctx.profiles
    if not len(dims):
        parts.append(note_html("No run was run (all skipped): no profiles."))
        return Section("Aggregated", "".join(parts))
    fig1, fig2 = profile_figures(T, dims, solvers, shown)
    miss = (
        f" {missing} (instance, solver) combinations have no run and count as failures."
        if missing
        else ""
    )
    parts.append("<h3 id='agg-profiles'>Performance and data profiles</h3>")
    parts.append(
        figure_html(
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
                f"profiles, not as a full ranking.{miss}"
            ),
            tight=False,
        )
    )
    parts.append(
        figure_html(
            fig2,
            "data profiles",
            (
                f"Moré–Wild data profiles of the same {n_runs} runs over {len(dims)} instances: "
                "the fraction solved (test above, four tolerances τ) within a budget of α "
                "simplex gradients, i.e. evaluations divided by (dimension + 1), which puts "
                "problems of different dimension on one axis."
            ),
            tight=False,
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
