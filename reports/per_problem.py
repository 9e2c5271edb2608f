"""Per problem: convergence, trajectories on the landscape, fixed-target, fixed-budget, and
overshoot/oscillation tables (``docs/methodology.md``, ``docs/metrics.md``)."""

from __future__ import annotations

from optbench import register_section
from optbench.metrics import REL_TARGETS, target_key
from optbench.report import (
    Section,
    deferred_html,
    esc,
    note_html,
    prose,
    table_html,
)
from optbench.report.vega import chart_html
from optbench.stats.curves import SEED, TABLE_TARGETS, Traces, compared, top_solvers

MAX_LABELS = 10  # optimizers drawn per problem; the tables show every label

# Overshoot and oscillation metrics (docs/metrics.md), shown where stored.
METRIC_ORDER = (
    "po",
    "po1",
    "n_cross",
    "t_settle_2",
    "sc_rate",
    "zz_cos_mean",
    "n_up",
    "cycle_period",
    "rate_f",
    "aulg",
)
FALLBACK_DESCRIPTIONS = {
    "po": "percent overshoot past x* along the initial direction, 100·max(0, max_t p_t − 1)",
    "po1": "first-peak overshoot, finite also for diverging runs",
    "n_cross": "minimiser crossings: sign changes of the along-track error",
    "t_settle_2": "settling time: first t after which ‖x − x*‖ ≤ 2 % of ‖x₀ − x*‖ for good",
    "sc_rate": "step sign-change rate, 1 = bouncing every step",
    "zz_cos_mean": "mean cosine between consecutive steps, −1 = period-2 bounce",
    "n_up": "number of loss increases f_{t+1} > f_t",
    "cycle_period": "period of a detected limit cycle",
    "rate_f": "empirical linear rate of the gap per iteration",
    "aulg": "area under log10 best gap, lower is better",
}


def _fmt(v: float) -> str:
    import math

    if v != v:
        return "—"
    if math.isinf(v):
        return "∞"
    return f"{v:.3g}"


def fixed_target_table(data, labels, title):
    """aRT per target (optbench.stats.art_table) shown as ``aRT [10 %, 90 %] · succ/runs``,
    best per target in bold; the long CSV has every column of the aggregate."""
    import numpy as np
    import pandas as pd

    from optbench.stats import art_table

    targets = TABLE_TARGETS if data.known else REL_TARGETS
    stats = art_table(
        data.hit_frame(targets),
        targets,
        by=("label",),
        relative=not data.known,
        percentiles=(10, 90),
        seed=SEED,
    )
    at = {(r.label, r.target): r for r in stats.itertuples(index=False)}
    best = {
        eps: min((r.aRT for (_, t), r in at.items() if t == eps), default=np.nan) for eps in targets
    }
    show, bold = [], set()
    for i, lab in enumerate(labels):
        disp = {"optimizer": lab}
        for eps in targets:
            r = at.get((lab, eps))
            col = f"Δf {target_key(eps)}" if data.known else f"τ {target_key(eps)}"
            if r is None:  # every run of this optimizer was skipped
                disp[col] = "— · 0/0"
                continue
            spread = f" [{_fmt(r.restart_p10)}, {_fmt(r.restart_p90)}]" if r.successes else ""
            disp[col] = f"{_fmt(r.aRT)}{spread} · {r.successes}/{r.runs}"
            if np.isfinite(r.aRT) and r.aRT == best[eps]:
                bold.add((i, col))
        show.append(disp)
    long = stats.rename(columns={"label": "optimizer"})
    long.insert(0, "problem", title)
    order = {lab: i for i, lab in enumerate(labels)}
    long = long.sort_values("optimizer", key=lambda c: c.map(order), kind="stable")
    return pd.DataFrame(show), long, bold, targets


def fixed_budget_table(data, labels, title):
    import numpy as np
    import pandas as pd

    top = int(max(data.used.max(), 1)) if len(data.used) else 1
    budgets = [
        m * 10**k for k in range(0, 9) for m in (1, 2, 5) if m * 10**k <= top and m * 10**k >= 10
    ]
    budgets = budgets[-6:] or [top]
    show, rows = [], []
    for lab in labels:
        sub = data.select((data.runs.label == lab).to_numpy() & data.applicable)
        vals = sub.best_at(budgets)
        fin = sub.final_best()
        disp = {"optimizer": lab}
        for j, b in enumerate(budgets + ["final"]):
            col = fin if b == "final" else vals[:, j]
            col = col[~np.isnan(col)]
            if not len(col):
                disp[f"@{b}"] = "—"
                continue
            q = np.percentile(col, [10, 25, 50, 75, 90])
            rows.append(
                {
                    "problem": title,
                    "optimizer": lab,
                    "budget": b,
                    "runs": len(col),
                    **{f"q{p}": v for p, v in zip((10, 25, 50, 75, 90), q, strict=True)},
                }
            )
            disp[f"@{b}"] = f"{_fmt(q[2])} [{_fmt(q[1])}, {_fmt(q[3])}]"
        show.append(disp)
    return pd.DataFrame(show), pd.DataFrame(rows), budgets


def metrics_table(data, labels):
    import pandas as pd

    cols = [m for m in METRIC_ORDER if m in data.runs.columns]
    if not cols:
        return None, []
    ran = data.runs[data.applicable]
    values = ran[cols].apply(pd.to_numeric, errors="coerce").astype(float)
    grouped = values.groupby(ran.label.to_numpy(), sort=False)
    med = grouped.median().reindex(labels)
    counts = ran.groupby("label", sort=False).size().reindex(labels).fillna(0).astype(int)
    frame = med.reset_index(names="optimizer")
    frame.insert(1, "runs", counts.to_numpy())
    return frame, cols


def metric_descriptions(cols) -> str:
    try:
        from optbench.metrics import METRICS
    except ImportError:
        METRICS = {}
    items = []
    for m in cols:
        desc = METRICS.get(m, FALLBACK_DESCRIPTIONS.get(m, ""))
        if isinstance(desc, dict):
            desc = desc.get("description", "")
        items.append(f"<dt>{esc(m)}</dt><dd>{prose(desc)}</dd>")
    return f"<dl class='defs'>{''.join(items)}</dl>"


def problem_block(data, timed=None, colours=None) -> str:
    """Figures and tables of one problem (run by a report worker where it can be); ``timed``
    (the same runs on the batch clock) puts the best-so-far panel on seconds; ``colours``
    (label -> colour, the report's :attr:`~optbench.report.Context.colours`)."""
    import numpy as np

    from optbench.report.problem_chart import FAINT_RUNS, REGIMES, SIGNED_STEPS, problem_chart

    title = data.title
    labels = list(dict.fromkeys(data.runs.label))
    ran = data.select(data.applicable)
    parts = []
    if not len(ran.runs):
        return note_html(f"Every run on {title} was skipped (see Run status).")
    scores = {}
    for lab in labels:
        fin = ran.select((ran.runs.label == lab).to_numpy()).final_best()
        scores[lab] = float(np.median(np.where(np.isnan(fin), np.inf, fin))) if len(fin) else np.inf
    # the best few, and the optimizer of each regime's trajectory panel wherever it ranks
    picked = set(top_solvers(scores, MAX_LABELS)) | _regime_labels(ran)
    shown = [lab for lab in labels if lab in picked and (ran.runs.label == lab).any()]
    if colours is None:
        from optbench.report.figures import palette

        colours = dict(zip(labels, palette(len(labels)), strict=True))
    ref = "f*" if data.known else "the best value any run found (f* unknown)"
    axis = "evaluations (n_f + n_g)" if timed is None else "seconds of the batch clock"
    spec, n_runs, notes, regimes, no_paths = problem_chart(
        ran, shown, colours, None if timed is None else timed.select(timed.applicable)
    )
    more = (
        f" {len(labels) - len(shown)} more optimizers are in the tables."
        if len(shown) < len(labels)
        else ""
    )
    third = (
        f"right, the signed error (x_t − x*)/(x₀ − x*) over the first {SIGNED_STEPS} "
        "iterations, a step response: every run starts at +1, 0 is x*, below 0 the run has "
        "crossed x* (overshoot) and each sign flip is a crossing"
        if data.dim == 1
        else "right, the distance ‖x_t − x*‖"
    )
    if no_paths is None:
        kind = "loss curve" if data.dim == 1 else "shaded contour map (log-spaced levels)"
        which = "; ".join(f"{g}: {REGIMES[g]}" for g in regimes)
        below = (
            f" Below, trajectories on the {kind}: one panel per regime the runs show ({which}), "
            "each with the run that shows it most (the slowest monotone one, the largest "
            "overshoot, the most crossings); the circle is the start, the diamond x*. The last "
            "panel draws the lowest-seed run of each optimizer picked in the legend."
        )
    else:
        below = f" No trajectory panels: {no_paths}."
    caption = (
        f"{title}: top left, best-so-far gap to {ref} against {axis}, log–log: median over "
        f"seeds with the 25–75 % band and up to {FAINT_RUNS} runs per optimizer faint; middle, "
        "the raw gap |f(x_t) − f_ref| per iteration (up to 3 runs each, log axes), where loss "
        f"increases show; {third}.{below} Hover a point for its values; click an optimizer in "
        "the legend to pick it in every panel (shift-click for more); drag or scroll a "
        f"convergence panel to pan or zoom, double-click to reset. {n_runs} runs.{more} "
        + " ".join(notes)
    )
    parts.append(
        chart_html(spec, f"convergence and trajectories on {title}", caption,
                   name=f"problem-{data.key}")
    )
    if no_paths is not None:
        parts.append(note_html(f"No trajectory plot: {no_paths}."))
    frame, long, bold, targets = fixed_target_table(data, labels, title)
    what = (
        "absolute targets f − f* ≤ ε"
        if data.known
        else "Moré–Wild relative targets f − f_best ≤ τ·(f(x₀) − f_best), f* unknown"
    )
    parts.append(
        table_html(
            frame,
            (
                f"Fixed target, {title}: per target, aRT [10 %, 90 %] · successes/runs. aRT is "
                "COCO's average runtime (evaluations of all runs / successes; unsuccessful runs "
                "charged the evaluations they used), the spread the 10–90 % percentiles of 1000 "
                f"simulated restarts (the CSV adds bootstrap percentiles of aRT itself and the "
                f"median evaluations of unsuccessful runs), for {what}. Best aRT per target in "
                f"bold; ∞ = no run reached the target; {int(data.applicable.sum())} runs (failed "
                "runs count as unsuccessful; skipped ones never ran and are left out)."
            ),
            f"fixed-target-{data.key}.csv",
            csv=long,
            bold=bold,
        )
    )
    frame, long, budgets = fixed_budget_table(data, labels, title)
    parts.append(
        table_html(
            frame,
            (
                f"Fixed budget, {title}: median [25 %, 75 %] over runs of the best-so-far gap to "
                f"{ref} after {', '.join(str(b) for b in budgets)} evaluations and at the end of "
                "each run (the CSV has the 10/25/50/75/90 % quantiles); a run that stopped early "
                f"keeps its last value; {int(data.applicable.sum())} runs (skipped ones have no "
                "values)."
            ),
            f"fixed-budget-{data.key}.csv",
        )
    )
    mframe, cols = metrics_table(data, labels)
    if mframe is None:
        parts.append(note_html("No overshoot or oscillation metrics are stored for these runs."))
    else:
        parts.append(
            table_html(
                mframe,
                (
                    f"Overshoot and oscillation, {title}: median over the runs of each optimizer "
                    "('—' where not applicable, e.g. random search is a sampler, not a "
                    "trajectory). The columns are defined once, in the metric glossary at the "
                    "end of this section."
                ),
                f"dynamics-{data.key}.csv",
            )
        )
        parts.append("<p class='caption'><a href='#metric-glossary'>Metric glossary</a></p>")
    return "".join(parts)


def _regime_labels(data) -> set:
    """The labels of the runs the trajectory panels show, one per regime
    (:func:`optbench.report.problem_chart.representatives`)."""
    from optbench.report.problem_chart import regimes, representatives

    if data.dim not in (1, 2) or data.landscape is None:
        return set()
    ran = data.runs[data.length > 0]
    ran = ran[[r is not None for r in regimes(ran)]]
    ids = set(representatives(ran).values())
    return set(ran.label[ran.run_id.isin(ids)])


def portable(data):
    """``data`` to pickle for a worker: the traces its figure draws (the sample runs and
    each regime's representative, :func:`optbench.report.problem_chart.representatives`)
    read here, in place of the report's loader."""
    from dataclasses import replace

    from optbench.report.problem_chart import regimes, representatives

    out = data.portable()
    if data.dim not in (1, 2) or data.landscape is None:  # no trajectory panels
        return out
    ran = data.runs[data.length > 0]
    ran = ran[[r is not None for r in regimes(ran)]]
    extra = [r for r in representatives(ran).values() if r not in out.loader.traces]
    if extra and data.loader is not None:
        out = replace(out, loader=Traces({**out.loader.traces, **data.loader(extra)}))
    return out


@register_section("per-problem", order=20, early=True)
def per_problem(ctx) -> Section | None:
    """Per-problem views."""
    data = compared(ctx)
    if not data:
        return None
    parts, toc = [], []
    if ctx.tuning is not None:
        parts.append(
            note_html(
                "These views show the tuned winners rerun on fresh seeds (the tuning runs are in "
                "the Learning rate section)."
            )
        )
    if ctx.tuning is None and ctx.swept:
        parts.append(note_html(f"Settings only a dense sweep ran ({ctx.swept}) are left out "
                               "here; the Lesson and the Momentum sections show them."))
    timed = ctx.x_axis == "time"
    if timed:
        from optbench.report.timing import clock_warning

        parts.append(clock_warning(ctx))
    for key, d in data.items():
        if not len(d.runs):
            continue
        anchor = f"problem-{key}"
        toc.append((anchor, d.title))
        parts.append(f"<h3 id='{esc(anchor)}'>{esc(d.title)}</h3>")
        desc = d.info.get("description")
        if desc:
            parts.append(f"<p class='caption'>{prose(desc)}</p>")
        if timed:
            from optbench.report.timing import on_time

            parts.append(deferred_html(problem_block, portable(d), portable(on_time(ctx, d)),
                                       ctx.colours))
        else:
            parts.append(deferred_html(problem_block, portable(d), None, ctx.colours))
        if d.info.get("stochastic"):  # noisy gradients: the floors their noise sets
            from optbench.report.noise import noise_block, noise_data

            parts.append(deferred_html(noise_block, noise_data(d, ctx.colours)))
    cols = [m for m in METRIC_ORDER if m in ctx.runs.columns]
    if cols:
        parts.append("<h3 id='metric-glossary'>Metric glossary</h3>")
        parts.append(metric_descriptions(cols))
        toc.append(("metric-glossary", "Metric glossary"))
    return Section("Per problem", "".join(parts), toc=toc)
