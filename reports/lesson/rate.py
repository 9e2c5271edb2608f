"""Claim (b) of the Lesson (:mod:`optbench.reports.lesson`): the learning rate.

A slider over the stored constant rates of gradient descent on the 1-D quadratic, in units
of 1/L, redraws the path on the loss curve, the signed-error step response
(x_k − x*)/(x₀ − x*), the loss against the iteration and, where the line fit ran the same
rates, the same three views there (path on the contours, error along the start direction,
loss), under a strip of each drawn run's measured against predicted regime, overshoot,
crossings and settling. Every rate's thinned data is in the one spec; the slider's value
picks the nearest stored rate through a Vega expression, so the page stays offline and the
redraw is instant. The sentence: too small is slow, past 1/L it overshoots (measured beside
predicted), past 2/L it diverges — each part said only where the runs show it.
"""

from __future__ import annotations

import math
from typing import Any

from optbench.report.vega import chart_html

from . import (
    LOSS_POINTS,
    PATH_ITERS,
    STAR,
    STEP_ITERS,
    Claim,
    Figure,
    _contours,
    _floor,
    _k,
    _median,
    _n,
    _r,
    _thin,
    _window,
    constant_gd,
    hit_summary,
    line_fit_key,
    rates_in_L,
)


def rate_sweep_key(ctx, runs) -> str | None:
    """The 1-D problem with a known L on which gd ran the most constant rates
    (``quadratic-1d`` first)."""
    best = None
    for key in dict.fromkeys(runs.problem_key):
        info = ctx.problems.get(key, {})
        if info.get("dim") != 1 or not info.get("L") or info.get("f_star") is None:
            continue
        if not info.get("x_star") or "hp.lr" not in runs:
            continue
        gd = constant_gd(runs[runs.problem_key == key])
        n = gd.label.nunique()
        if n < 2:
            continue
        rank = (info.get("name") != "quadratic-1d", -n)
        if best is None or rank < best[0]:
            best = (rank, key)
    return best[1] if best else None


def sweep_table(gd, L: float):
    """Per stored rate (in units of 1/L): medians over seeds of what the sentence quotes."""
    import pandas as pd

    rows = []
    gd = gd.assign(k=rates_in_L(gd, L))
    for k, g in gd.groupby("k", sort=True):
        s = hit_summary(g)
        med = {c: _median(g[c]) if c in g else math.nan
               for c in ("po", "po1", "n_cross", "t_settle_2", "th_po", "th_po1", "th_settle_2",
                         "n_iter")}
        every = "n_cross" in g and bool(
            (g.n_cross.astype(float) == g.n_iter.astype(float)).all())
        rows.append({"k": float(k), "label": g.label.iloc[0], **s, **med,
                     "diverged": int((g.status == "diverged").sum()), "every_cross": every})
    return pd.DataFrame(rows)


def rate_sentence(title: str, table) -> str:
    """Too small is slow; past 1/L it overshoots (measured beside predicted); past 2/L it
    diverges — each part said only where the runs show it."""
    parts = []
    ok = table[(table.reached == table.n) & table["median"].notna()]
    if len(ok):
        fast = ok.loc[ok["median"].idxmin()]
        slow = table.iloc[0]
        if slow.k < fast.k:
            if slow.reached == slow.n and math.isfinite(slow["median"]):
                tail = f"but {_n(slow['median'])} at {_k(slow.k)}"
            else:
                tail = (f"but at {_k(slow.k)} {slow.n - slow.reached} of {slow.n} runs never "
                        "got there within the budget")
            unit = "evaluation" if fast["median"] == 1 else "evaluations"
            parts.append(f"gradient descent reached Δf ≤ 1e-6 in a median {_n(fast['median'])} "
                         f"{unit} at {_k(fast.k)} {tail}: too small a rate is slow")
    osc = table[(table.k < 2) & (table.diverged == 0) & (table.po > 0)
                & table.t_settle_2.notna()]
    if len(osc):
        r = osc.iloc[-1]
        every = " (at every update)" if r.every_cross else ""
        parts.append(
            f"at {_k(r.k)} it overshot x* by {_n(r.po)} % (predicted {_n(r.th_po)} %), crossed "
            f"it a median {_n(r.n_cross)} times{every} and settled within 2 % after "
            f"{_n(r.t_settle_2)} updates (predicted {_n(r.th_settle_2)})"
        )
    div = table[table.diverged > 0]
    if len(div):
        r = div.iloc[0]
        who = "every run" if r.diverged == r.n else f"{r.diverged} of {r.n} runs"
        parts.append(f"at {_k(r.k)}, past 2/L, {who} diverged")
    if not parts:
        return ""
    text = "; ".join(parts)
    return f"On {title}, {text}."


def claim_learning_rate(ctx, runs) -> Claim:
    """(b): the slider over the stored rate sweep."""
    claim = Claim("learning-rate", "(b) The learning rate decides the step")
    key = rate_sweep_key(ctx, runs)
    if key is None:
        claim.missing = ("This claim needs gradient descent at two or more constant rates on a "
                         "1-D problem with a known curvature L (quadratic-1d in the default "
                         "suite); these stores hold none.")
        return claim
    info = ctx.problems[key]
    L = float(info["L"])
    gd = constant_gd(runs[runs.problem_key == key])
    table = sweep_table(gd, L)
    title = ctx.problem_title(key)
    claim.sentence = rate_sentence(title, table) or (
        f"On {title} gradient descent ran at {_n(len(table))} constant rates; drag the slider "
        "to compare them.")
    fit = line_fit_key(ctx, runs)
    fit_gd = constant_gd(runs[runs.problem_key == fit]) if fit else runs.iloc[:0]
    fit_info = ctx.problems.get(fit, {}) if fit else {}
    second = None
    if (fit_gd.label.nunique() >= 2 and fit_info.get("L") and fit_info.get("x_star")
            and fit_info.get("f_star") is not None):
        second = (fit, fit_info, fit_gd.assign(k=rates_in_L(fit_gd, float(fit_info["L"]))))
    claim.figure = _rate_figure(ctx, key, info, gd.assign(k=rates_in_L(gd, L)), second)
    return claim


def _starts(ctx, gd) -> dict[int, Any]:
    """seed -> x₀ for the seeds every rate ran (the start depends on the problem and the
    seed only), read from the traces of the smallest rate's runs."""
    import numpy as np

    per_rate = gd.groupby("k").seed.apply(set)
    common = set.intersection(*per_rate) if len(per_rate) else set()
    first = gd[(gd.k == gd.k.min()) & gd.seed.isin(common or set(gd.seed))]
    seed_of = dict(zip(first.run_id, first.seed.astype(int), strict=True))
    starts = {}
    for rid, tr in ctx.traces(list(first.run_id)).items():
        if tr is not None and "x" in tr and len(tr["x"]):
            starts[seed_of[rid]] = np.asarray(tr["x"], dtype=float)[0]
    return starts


def _median_start(starts: dict[int, Any], x_star) -> int | None:
    """The seed whose start is the median distance from x* (the lower median; ties: the
    lowest seed); None if every start is x*."""
    import numpy as np

    dist = {s: float(np.linalg.norm(x0 - x_star)) for s, x0 in starts.items()}
    order = sorted((s for s in dist if dist[s] > 0), key=lambda s: (dist[s], s))
    return order[(len(order) - 1) // 2] if order else None


def _rate_figure(ctx, key, info, gd, second=None) -> str:
    """The slider's figure: the 1-D problem's row (path on the loss curve, signed error,
    loss), and where the line fit ran the same rates, its row below (path on the contour,
    the error along the start direction, loss), under one strip of measured against
    predicted values."""
    import numpy as np
    import pandas as pd

    from optbench.report import vl

    fig = Figure()
    f_star = float(info["f_star"])
    x_star = float(np.asarray(info["x_star"], dtype=float).ravel()[0])
    L = float(info["L"])
    starts = _starts(ctx, gd)
    seed = _median_start(starts, np.array([x_star]))
    if seed is None:
        return "<p class='note'>The runs of this sweep have no stored iterates to draw.</p>"
    e0 = float(starts[seed][0]) - x_star
    shown = gd[gd.seed == seed].sort_values("k")
    traces = ctx.traces(list(shown.run_id))
    floor = _floor(f_star)
    paths, steps, losses, facts = [], [], [], []
    for row in shown.itertuples():
        tr = traces.get(row.run_id)
        if tr is None or "x" not in tr:
            continue
        x = np.asarray(tr["x"], dtype=float)[:, 0]
        f = np.asarray(tr["f"], dtype=float)
        t = np.asarray(tr.get("t", np.arange(len(f))), dtype=int)
        k = _r(row.k)
        with np.errstate(all="ignore"):
            gap = f - f_star
            err = (x - x_star) / e0
        for i in np.flatnonzero(t <= PATH_ITERS):
            if np.isfinite(x[i]) and np.isfinite(gap[i]):
                paths.append({"k": k, "it": int(t[i]), "x": _r(x[i]), "gap": _r(max(gap[i], 0))})
        for i in np.flatnonzero(t <= STEP_ITERS):
            if np.isfinite(err[i]):
                steps.append({"k": k, "it": int(t[i]), "e": _r(err[i])})
        keep = _thin(len(f), 30, 40)
        for i in keep:
            if np.isfinite(gap[i]):
                losses.append({"k": k, "it": int(t[i]), "gap": _r(max(gap[i], floor), 3)})
        facts.append(_facts(row, k, 1))
    if not paths:
        return "<p class='note'>The runs of this sweep have no stored iterates to draw.</p>"
    label_of = {_r(k): lab for k, lab in zip(shown.k, shown.label, strict=True)}
    row2 = _line_fit_rows(ctx, second) if second is not None else None
    if row2 is not None:
        for k, lab in row2["labels"].items():
            label_of.setdefault(k, lab)
        title = ctx.problem_title(key)
        for rows in facts:
            for r in rows:
                r["col"] = f"{title} · {r['col']}"
        facts.append(row2["facts"])

    # the slider: a rate in units of 1/L; the figure shows the stored rate nearest to it
    ks: list[float] = sorted(k for k in label_of if k is not None)
    step = 0.05 if all(abs(k / 0.05 - round(k / 0.05)) < 1e-6 for k in ks) else 0.01
    start = min(ks, key=lambda k: (abs(k - 1.5), k))
    slider = vl.param(
        name="rate", value=start,
        bind=vl.binding_range(min=ks[0], max=ks[-1], step=step, name="learning rate × L  "),
    )
    nearest = " : ".join(
        f"rate < {(a + b) / 2:.6g} ? {a!r}" for a, b in zip(ks[:-1], ks[1:], strict=True)
    )
    nearest = f"({nearest} : {ks[-1]!r})" if len(ks) > 1 else repr(ks[0])
    picked = vl.param(name="shown_rate", expr=nearest)
    only = "abs(datum.k - shown_rate) < 1e-9"
    others = "abs(datum.k - shown_rate) >= 1e-9"  # the grey rates of the loss panel
    # coloured by the rate (rows carry k, not the label: a fifth of the data), in the
    # colour of the rate's label (Context.colours)
    col = vl.Color("k:N", legend=None, scale=vl.Scale(
        domain=ks, range=[ctx.colours.get(label_of[k], "#444444") for k in ks]))
    size = dict(width=230, height=200)

    # the loss curve, zoomed to x* ± 1.3 |x0 − x*|
    land = ctx.landscapes.get(key)
    half = 1.3 * abs(e0)
    grid = np.linspace(x_star - half, x_star + half, LOSS_POINTS)
    if land is not None and np.ndim(land.get("f")) == 1:
        w_lo, w_hi = (float(v) for v in np.asarray(land["window"], dtype=float)[0])
        lx = np.linspace(w_lo, w_hi, len(land["f"]))
        lf = np.asarray(land["f"], dtype=float) + float(land.get("offset", 0.0) or 0.0)
        curve_gap = np.interp(grid, lx, lf) - f_star
        inside = (grid >= lx[0]) & (grid <= lx[-1])
        grid, curve_gap = grid[inside], curve_gap[inside]
    else:  # no stored landscape: the path alone
        grid, curve_gap = np.array([]), np.array([])
    xs = vl.Scale(domain=[_r(x_star - half), _r(x_star + half)], nice=False, zero=False)
    top = (float(np.nanmax(curve_gap)) if len(curve_gap)
           else max(float(r["gap"]) for r in paths if r["gap"] is not None))
    ys = vl.Scale(domain=[0, float(f"{top * 1.05:.4g}")], nice=False)
    loss_curve = pd.DataFrame({"x": [_r(v) for v in grid],
                               "gap": [_r(max(v, 0.0)) for v in curve_gap]})
    path_tips = [vl.Tooltip("k:Q", title="lr·L"), vl.Tooltip("it:Q", title="iteration"),
                 vl.Tooltip("x:Q", format=".4g"), vl.Tooltip("gap:Q", title="f − f*",
                                                                format=".3g")]
    path_base = vl.Chart(fig.data("paths", paths)).transform_filter(only)
    on_curve = fig.layer(
        vl.Chart(fig.data("loss_curve", loss_curve)).mark_line(color="#9aa1ad", clip=True).encode(
            x=vl.X("x:Q", scale=xs, title="x"), y=vl.Y("gap:Q", scale=ys, title="f − f*")),
        path_base.mark_line(strokeWidth=1.2, clip=True).encode(
            x=vl.X("x:Q", scale=xs), y=vl.Y("gap:Q", scale=ys), order="it:Q", color=col),
        path_base.mark_circle(size=30, clip=True).encode(
            x=vl.X("x:Q", scale=xs), y=vl.Y("gap:Q", scale=ys), color=col, tooltip=path_tips),
        vl.Chart(fig.data("x_star", [{"x": _r(x_star)}]))
        .mark_rule(strokeDash=[3, 3], color="#555")
        .encode(x="x:Q"),
        title=vl.Title("Path on the loss curve",
                        subtitle=f"{ctx.problem_title(key)}: first {PATH_ITERS} iterates; "
                                 "dashed: x*"),
        **size)

    step_all = vl.Chart(fig.data("steps", steps))
    es = vl.Scale(domain=[-1.6, 1.6], nice=False)
    its = vl.Scale(domain=[0, STEP_ITERS], nice=False)
    response = fig.layer(
        vl.Chart(fig.data("zero", [{"y": 0.0}])).mark_rule(color="#555").encode(
            y=vl.Y("y:Q", scale=es, title="(x_k − x*)/(x₀ − x*)")),
        step_all.transform_filter(only).mark_line(strokeWidth=1.6, clip=True, point=True).encode(
            x=vl.X("it:Q", scale=its, title="update k"), y=vl.Y("e:Q", scale=es), color=col,
            tooltip=[vl.Tooltip("k:Q", title="lr·L"), vl.Tooltip("it:Q", title="update"),
                     vl.Tooltip("e:Q", title="signed error", format=".3g")]),
        title=vl.Title("Signed error: a step response",
                        subtitle="starts at +1; below 0 = past x*"),
        **size)

    falling = _loss_panel(fig, "losses", losses, floor, only, others, col, size,
                          f"log scale, 0 drawn at {floor:.0e}; grey: other rates")

    if row2 is not None:
        lower = _line_fit_panels(fig, row2, only, others, col, size)
    fact_rows = [r for rows in facts for r in rows]
    columns = list(dict.fromkeys(r["col"] for r in fact_rows))
    # each row's name is a cell of the first column, not an axis label: an axis would push
    # the strip's plot, and with it the panels below, to the right
    fact_rows += [{"k": k, "what": "", "col": c, "text": c}
                  for k, c in dict.fromkeys((r["k"], r["col"]) for r in fact_rows)]
    cells = vl.Chart(fig.data("facts", fact_rows)).transform_filter(only)
    order = ["", *(what for what, _ in FACTS)]
    table = fig.unit(cells.mark_text(fontSize=13).encode(
        x=vl.X("what:N", sort=order, title=None,
                scale=vl.Scale(paddingInner=0.05, paddingOuter=0),
                axis=vl.Axis(orient="top", labelAngle=0, labelFontSize=12, labelFontWeight="bold",
                              ticks=False, domain=False, labelLimit=220)),
        y=vl.Y("col:N", sort=columns, title=None, axis=None),
        text="text:N",
        color=vl.condition("indexof(datum.col, 'measured') >= 0 && datum.what != ''",
                            vl.value("#111"), vl.value("#666")),
    ).properties(
        width=900, height=22 * len(columns),
        title=vl.Title(vl.expr("'lr = ' + shown_rate + '/L: the runs drawn, measured against "
                                 "predicted'"), anchor="start", fontSize=14),
    ))
    rows = [table, fig.hconcat(on_curve, response, falling, spacing=24)]
    if row2 is not None:
        rows.append(fig.hconcat(*lower, spacing=24))
    # align="none": each row keeps its own axes' room (the strip's row labels are wide)
    whole = fig.vconcat(*rows, spacing=14, align="none")
    fig.params(whole, slider, picked)
    chart = fig.spec(whole)
    return chart_html(
        chart,
        f"the learning rate on {ctx.problem_title(key)}",
        "Drag the slider: it picks the stored rate nearest to it "
        f"({', '.join(_k(k) for k in ks)}). "
        f"The run drawn is seed {seed} (the start at the median distance from x*, "
        f"x₀ = {_n(float(starts[seed][0]))}, x* = {_n(x_star)}). Measured is this run's stored "
        "metric; predicted is the theory of gradient descent on a quadratic with curvature "
        f"L = {_n(L)} (crossings: one at every update when lr·L > 1, none below; overshoot of "
        "a diverged run: its first peak)." + (row2["caption"] if row2 is not None else ""),
        name="lesson-learning-rate",
    )


def _line_fit_rows(ctx, second) -> dict[str, Any] | None:
    """The line fit's data for the slider's second row: each rate's path in (w, b) from the
    seed at the median start distance, its error along the start direction
    ⟨x_k − x*, e₀⟩/‖e₀‖² (+1 at the start, below 0 past x* along that line), its loss, the
    contours around x* and the measured against predicted values."""
    import numpy as np

    key, info, gd = second
    f_star = float(info["f_star"])
    x_star = np.asarray(info["x_star"], dtype=float)[0]
    starts = _starts(ctx, gd)
    seed = _median_start(starts, x_star)
    if seed is None:
        return None
    e0 = starts[seed] - x_star
    shown = gd[gd.seed == seed].sort_values("k")
    traces = ctx.traces(list(shown.run_id))
    floor = _floor(f_star)
    title = ctx.problem_title(key)
    paths, steps, losses, facts, labels = [], [], [], [], {}
    for row in shown.itertuples():
        tr = traces.get(row.run_id)
        if tr is None or "x" not in tr:
            continue
        x = np.asarray(tr["x"], dtype=float)
        f = np.asarray(tr["f"], dtype=float)
        t = np.asarray(tr.get("t", np.arange(len(f))), dtype=int)
        k = _r(row.k)
        labels[k] = row.label
        with np.errstate(all="ignore"):
            gap = f - f_star
            along = (x - x_star) @ e0 / float(e0 @ e0)
        for i in np.flatnonzero(t <= PATH_ITERS):
            if np.all(np.isfinite(x[i])) and np.isfinite(gap[i]):
                paths.append({"k": k, "it": int(t[i]), "w": _r(x[i, 0]), "b": _r(x[i, 1]),
                              "gap": _r(max(gap[i], 0), 3)})
        for i in np.flatnonzero(t <= STEP_ITERS):
            if np.isfinite(along[i]):
                steps.append({"k": k, "it": int(t[i]), "e": _r(along[i])})
        for i in _thin(len(f), 30, 40):
            if np.isfinite(gap[i]):
                losses.append({"k": k, "it": int(t[i]), "gap": _r(max(gap[i], floor), 3)})
        for r in _facts(row, k, 2):
            facts.append({**r, "col": f"{title} · {r['col']}"})
    if not paths:
        return None
    half = 1.3 * float(np.linalg.norm(e0))
    land = ctx.landscapes.get(key)
    lo, hi = x_star - half, x_star + half
    contours = []
    if land is not None and np.ndim(land.get("f")) == 2:
        window = np.asarray(land["window"], dtype=float)
        box = _window(np.vstack([lo, hi]), x_star, window[:, 0], window[:, 1], pad=0.0)
        lo, hi = box
        contours = [{k: v for k, v in r.items() if k != "level"}
                    for r in _contours(land, f_star, lo, hi, levels=9, points=30)]
    axes = (info.get("draw") or {}).get("axes") or ["w", "b"]
    return {
        "title": title, "paths": paths, "steps": steps, "losses": losses, "facts": facts,
        "labels": labels, "contours": contours, "lo": lo, "hi": hi, "x_star": x_star,
        "axes": axes, "floor": floor,
        "caption": (f" Below, the same rates on {title} (seed {seed}, the start at the median "
                    "distance from x*): the path on the contours of its loss, the error along "
                    "the start direction ⟨x_k − x*, x₀ − x*⟩/‖x₀ − x*‖² and the loss (L is "
                    "its steepest curvature)."),
    }


def _line_fit_panels(fig, d, only, others, col, size) -> list[dict[str, Any]]:
    """The three panels of the line fit's row (see :func:`_line_fit_rows`)."""
    from optbench.report import vl

    name = d["title"]
    xs = vl.Scale(domain=[_r(d["lo"][0]), _r(d["hi"][0])], nice=False, zero=False)
    ys = vl.Scale(domain=[_r(d["lo"][1]), _r(d["hi"][1])], nice=False, zero=False)
    x = vl.X("w:Q", scale=xs, title=d["axes"][0])
    y = vl.Y("b:Q", scale=ys, title=d["axes"][1])
    layers = []
    if d["contours"]:
        layers.append(vl.Chart(fig.data("fit_contours", d["contours"])).mark_line(
            strokeWidth=0.8, clip=True, color="#b8bec9").encode(
                x=x, y=y, detail="line:N", order="o:Q"))
    path = vl.Chart(fig.data("fit_paths", d["paths"])).transform_filter(only)
    layers += [
        path.mark_line(strokeWidth=1.2, clip=True).encode(x=x, y=y, order="it:Q", color=col),
        path.mark_circle(size=26, clip=True).encode(
            x=x, y=y, color=col,
            tooltip=[vl.Tooltip("k:Q", title="lr·L"), vl.Tooltip("it:Q", title="iteration"),
                     vl.Tooltip("w:Q", format=".4g"), vl.Tooltip("b:Q", format=".4g"),
                     vl.Tooltip("gap:Q", title="f − f*", format=".3g")]),
        vl.Chart(fig.data("fit_x_star", [{"w": _r(d["x_star"][0]), "b": _r(d["x_star"][1])}]))
        .mark_point(shape=STAR, size=140, filled=True, color="#222", clip=True)
        .encode(x=x, y=y),
    ]
    on_contour = fig.layer(*layers, title=vl.Title(
        "Path on the contours", subtitle=f"{name}: first {PATH_ITERS} iterates; star: x*"),
        **size)
    es = vl.Scale(domain=[-1.6, 1.6], nice=False)
    its = vl.Scale(domain=[0, STEP_ITERS], nice=False)
    along = fig.layer(
        vl.Chart(fig.data("fit_zero", [{"y": 0.0}])).mark_rule(color="#555").encode(
            y=vl.Y("y:Q", scale=es, title="⟨x_k − x*, e₀⟩/‖e₀‖²")),
        vl.Chart(fig.data("fit_steps", d["steps"])).transform_filter(only)
        .mark_line(strokeWidth=1.6, clip=True, point=True).encode(
            x=vl.X("it:Q", scale=its, title="update k"), y=vl.Y("e:Q", scale=es), color=col,
            tooltip=[vl.Tooltip("k:Q", title="lr·L"), vl.Tooltip("it:Q", title="update"),
                     vl.Tooltip("e:Q", title="along-track error", format=".3g")]),
        title=vl.Title("Error along the start direction", subtitle="e₀ = x₀ − x*; +1 at the "
                        "start"),
        **size)
    falling = _loss_panel(fig, "fit_losses", d["losses"], d["floor"], only, others, col, size,
                          f"{name}; grey: other rates")
    return [on_contour, along, falling]


def _loss_panel(fig, dataset, rows, floor, only, others, col, size, subtitle):
    """Loss against iteration, log scale: the picked rate coloured, the others grey."""
    from optbench.report import vl

    top = max((r["gap"] for r in rows), default=1.0)
    last = max((r["it"] for r in rows), default=1)
    gs = vl.Scale(type="log", domain=[floor, _r(top * 10)], nice=False)
    lx = vl.Scale(domain=[0, last], nice=False)
    loss = vl.Chart(fig.data(dataset, rows))
    return fig.layer(
        loss.transform_filter(others).mark_line(color="#d6d9de", strokeWidth=0.8, clip=True)
        .encode(x=vl.X("it:Q", scale=lx, title="iteration"),
                y=vl.Y("gap:Q", scale=gs, title="f − f*", axis=vl.Axis(format="~e")),
                detail="k:N"),
        loss.transform_filter(only).mark_line(strokeWidth=1.6, clip=True).encode(
            x=vl.X("it:Q", scale=lx), y=vl.Y("gap:Q", scale=gs), color=col,
            tooltip=[vl.Tooltip("k:Q", title="lr·L"), "it:Q",
                     vl.Tooltip("gap:Q", title="f − f*", format=".3g")]),
        title=vl.Title("Loss against iteration", subtitle=subtitle),
        **size)


FACTS = [
    ("regime", "what the run did (status, crossings) against th_regime"),
    ("overshoot %", "po against th_po (a diverged run: po1 against th_po1)"),
    ("crossings of x*", "n_cross against one per update above 1/L, none below"),
    ("2 % settling (updates)", "t_settle_2 against th_settle_2"),
    ("status", "how the run ended"),
]


def _observed_regime(status: str, n_cross: float, n_iter: float, period: float) -> str:
    """What the run did, in the theory's words: from its status and its crossings of x*."""
    if status in ("diverged", "non-finite"):
        return "divergent"
    if status == "cycle":
        return "period-2" if period == 2 else "cycle"
    if not math.isfinite(n_cross):
        return "—"
    if n_cross == 0:
        return "one-step" if n_iter == 1 and status == "converged" else "monotone"
    return "oscillating-convergent" if status == "converged" else "oscillating"


def _facts(row, k, dim: int) -> list[dict[str, Any]]:
    """The measured and predicted rows of the table beside the figure, for one run."""

    def get(name):
        v = getattr(row, name, None)
        try:
            v = float(v)
        except (TypeError, ValueError):
            return math.nan
        return v

    regime = getattr(row, "th_regime", None)
    regime = regime if isinstance(regime, str) and regime else None
    diverged = row.status == "diverged"
    po, th_po = (get("po1"), get("th_po1")) if diverged else (get("po"), get("th_po"))
    n_iter = get("n_iter")
    if dim > 1:  # along the start direction the eigen-directions mix: no simple count
        cross = math.nan
    elif regime in ("oscillating-convergent", "period-2", "divergent"):
        cross = n_iter
    elif regime in ("monotone", "one-step"):
        cross = 0.0
    else:
        cross = math.nan
    th_status = {"divergent": "diverged", "period-2": "cycle"}.get(
        regime or "", "converges" if regime else "—")
    values = {
        "regime": (_observed_regime(row.status, get("n_cross"), n_iter, get("cycle_period")),
                   regime or "—"),
        "overshoot %": (_n(po) + (" (1st peak)" if diverged else ""), _n(th_po)),
        "crossings of x*": (f"{_n(get('n_cross'))} in {_n(n_iter)} updates", _n(cross)),
        "2 % settling (updates)": (_n(get("t_settle_2")), _n(get("th_settle_2"))),
        "status": (str(row.status), th_status),
    }
    out = []
    for what, (measured, predicted) in values.items():
        out.append({"k": k, "what": what, "col": "measured", "text": measured})
        out.append({"k": k, "what": what, "col": "predicted", "text": predicted})
    return out
