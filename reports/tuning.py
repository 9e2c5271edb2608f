"""Tuning: the protocol that made the comparison fair, its grid, criterion and winners.

Present only for stores written by ``optbench tune`` (a ``<store>.tuning.json`` record)."""

from __future__ import annotations

from optbench import register_section
from optbench.report import Section, esc, figure_html, plain, table_html
from optbench.report.figures import palette

MAX_PANELS = 6


def _grid_text(values) -> str:
    v = list(values)
    if len(v) <= 6:
        return ", ".join(f"{x:g}" for x in v)
    return f"{len(v)} log-spaced values from {v[0]:g} to {v[-1]:g}"


def criterion_figure(tuning, titles):
    import matplotlib.pyplot as plt
    import numpy as np

    from optbench.report.figures import layout, log_axes

    by_problem: dict[str, list] = {}
    for r in tuning.get("results", []):
        by_problem.setdefault(r["problem_key"], []).append(r)
    keys = list(by_problem)[:MAX_PANELS]
    if not keys:
        return None
    families = list(dict.fromkeys(r["family"] for r in tuning["results"]))
    colors = dict(zip(families, palette(len(families)), strict=True))
    n = len(keys)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    legend_rows = -(-len(families) // 3)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.3 * ncols, 3.1 * nrows + 0.17 * legend_rows), squeeze=False
    )
    layout(fig, bottom=0.55 + 0.17 * legend_rows + 0.1, wspace=0.3, hspace=0.6)
    handles = {}
    for ax, key in zip(axes.ravel(), keys, strict=False):
        for r in by_problem[key]:
            x = np.array(r["values"], dtype=float)
            y = np.array([np.nan if s is None else s for s in r["scores"]], dtype=float)
            (h,) = ax.plot(
                x, y, color=colors[r["family"]], marker="o", ms=3, lw=1.3, label=plain(r["family"])
            )
            handles[r["family"]] = h
            j = int(np.argmin(np.abs(x - r["winner"])))
            ax.plot([x[j]], [y[j]], marker="*", ms=11, color=colors[r["family"]], mec="k", mew=0.5)
            failed = np.isnan(y)
            if failed.any():
                top = np.nanmax(y) if np.isfinite(y).any() else 0.0
                ax.scatter(
                    x[failed],
                    np.full(failed.sum(), top),
                    marker="x",
                    color=colors[r["family"]],
                    s=25,
                )
        kind = by_problem[key][0]["grid_kind"]
        log_axes(ax, y=False, minor_x=True)
        ax.set(
            xlabel="k in lr = k/L" if kind == "per-L" else "learning rate",
            ylabel=tuning["criterion"],
            title=plain(titles.get(key, key)),
        )
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.legend(
        handles=list(handles.values()), loc="lower center", ncol=3, fontsize=7.5, frameon=False
    )
    return fig, n, len(by_problem)


@register_section("tuning", order=15)
def tuning(ctx) -> Section | None:
    """The tuning protocol and its winners."""
    import pandas as pd

    t = ctx.tuning
    if t is None or t.get("mode") == "trials":  # trials: reports/tuning_trials.py
        return None
    n_tune = int((ctx.runs.phase == "tuning").sum())
    n_final = int((ctx.runs.phase == "final").sum())
    ts, fs = t.get("tuning_seeds", []), t.get("final_seeds", [])
    t_range = f"{ts[0]}–{ts[-1]}" if ts else "—"
    f_range = f"{fs[0]}–{fs[-1]}" if fs else "—"
    baselines = ", ".join(t.get("baselines", [])) or "none"
    protocol = (
        "<p>The comparison below is between <b>tuned</b> optimizers (the protocol of DeepOBS, "
        "docs/methodology.md): for every problem and optimizer family, the learning rate was "
        f"swept over a grid — k/L for k in {esc(_grid_text(t.get('grid_L', [])))} where the "
        f"problem's L is known, else {esc(_grid_text(t.get('grid', [])))} — on the tuning seeds "
        f"{esc(t_range)}; the winner is the grid value with the best criterion, "
        f"<b>{esc(t.get('criterion'))}</b>: {esc(t.get('criterion_text', ''))}. Runs that "
        "diverged, went non-finite, errored or timed out score +∞; ties go to the smaller rate. "
        f"Each winner was rerun on fresh seeds {esc(f_range)} (disjoint from the tuning seeds, "
        "the same for every family, so the final runs are paired by start point); families "
        f"without a learning rate ({esc(baselines)}) ran on the final seeds untuned. Budget "
        f"{esc(t.get('budget'))} evaluations per run. {n_tune} tuning runs and {n_final} final "
        "runs are in the store; the per-problem, aggregated and statistics sections use the "
        "final runs only, the learning-rate section shows the sweep.</p>"
    )
    rows = []
    for w in t.get("winners", []):
        rows.append(
            {
                "problem": ctx.problem_title(w["problem_key"])
                if w["problem_key"] in ctx.problems
                else w["problem"],
                "family": w["family"],
                "winner": w["label"],
                "grid": "k/L" if w["grid_kind"] == "per-L" else "absolute",
                "k or lr": w["value"],
                "lr": w["lr"],
                t.get("criterion", "criterion"): w["score"],
                "note": "edge of the grid: widen it" if w.get("edge") else "",
            }
        )
    parts = [
        protocol,
        table_html(
            pd.DataFrame(rows),
            (
                f"The winner per problem and family, from {n_tune} tuning runs: its grid value "
                f"and resolved learning rate, and its criterion (median over {len(ts)} tuning "
                "seeds; '—' = every seed failed)."
            ),
            "tuning-winners.csv",
        ),
    ]
    titles = {k: ctx.problem_title(k) for k in ctx.problems}
    res = criterion_figure(t, titles)
    if res is not None:
        fig, n, total = res
        more = f" (first {n} of {total} problems)" if n < total else ""
        parts.append(
            figure_html(
                fig,
                "tuning criterion against the grid",
                (
                    f"The criterion (median over the tuning seeds; {n_tune} tuning runs) against "
                    f"the grid value per family{more}; the star is the winner, × a grid value "
                    "where most seeds failed."
                ),
                tight=False,
            )
        )
    return Section("Tuning", "".join(parts))
