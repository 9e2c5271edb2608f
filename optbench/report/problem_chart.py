"""One problem's interactive figure: its convergence and its trajectories as one Vega-Lite
chart (embedded with :func:`optbench.report.vega.chart_html`).

The top row has the convergence panels: the best-so-far gap against evaluations (median,
25–75 % band, a few runs faint), the raw gap per iteration, and for 1-D problems the signed
error ``(x_t − x*) / (x₀ − x*)`` (every run starts at +1; below 0 it has crossed x*), for
2-D and 3-D the distance to x*. Below, the trajectories on the loss curve (1-D) or a shaded
contour map (2-D): one panel per regime present among the runs (:func:`regimes`), showing
the run that shows it most (:func:`representatives`), and one panel with the path of every
optimizer the reader picks in the legend.

One legend, bound to a selection: a click on an optimizer fades the others in every panel
(shift-click adds more); the convergence panels zoom and pan (wheel, drag; double-click
resets). Colours come from the report (``Context.colours``), so an optimizer has one
colour on every page figure.

Contract: the input is a :class:`~optbench.stats.curves.ProblemData` whose loader holds the
traces of :meth:`~optbench.stats.curves.ProblemData.samples` and of
:func:`representatives`; nothing is recomputed from the registry. The embedded data is
thinned (a head in full, then log-spaced points) and rounded to four significant digits,
and each row names its optimizer by a small integer looked up in a table of labels, so a
problem's spec stays near 100 KB.
"""

from __future__ import annotations

import math
from typing import Any

GRID = 40  # best-so-far abscissae, log-spaced
FAINT_RUNS = 3  # runs per optimizer drawn faint in the best-so-far panel
CURVE_POINTS = 30  # points per faint best-so-far curve
RAW_POINTS = 40  # points per raw-gap or distance curve
PATH_POINTS = 100  # points per drawn path
SIGNED_STEPS = 40  # iterations of the signed-error panel (a step response)
SIGNED_LIMIT = 2.0  # the signed-error axis spans [−2, 2]; beyond, the line is clipped
IMAGE_PIXELS = 160  # a 2-D panel's contour map, pixels per side
LEVELS = 14  # shading bands of the contour map
PANEL = dict(width=270, height=200)
PATH_PANEL = dict(width=190, height=165)  # four in a row fit a 1400 px window
PANELS_PER_ROW = 4

# the measured regimes, in the order their panels appear, with what each means
REGIMES = {
    "monotone": "no crossing of x*",
    "overshoot": "crosses x* once",
    "oscillating": "crosses x* two or more times",
    "cycle": "ended in a limit cycle",
    "diverged": "diverged or went non-finite",
    "sampler": "a sampler's incumbent (no path metrics)",
}
# which run shows a regime most: the column to maximise (ties: spec order, lowest seed)
STRONGEST = {"monotone": "t_settle_2", "overshoot": "po", "oscillating": "n_cross"}
NOT_A_PATH = ("skipped", "error", "timeout")
_REGIME_INDEX = {g: i for i, g in enumerate(REGIMES)}


def _sig(v: float | None) -> float | None:
    """``v`` to four significant digits (None where not finite: Vega draws a gap)."""
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.4g}")


def _csv(rows: list[dict]) -> str:
    """Rows of numbers as CSV (a third of their JSON: no key repeated per row); None is an
    empty field, which Vega reads as null."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = [",".join(keys)]
    lines += [",".join("" if r[k] is None else str(r[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def _thin(n: int, points: int, head: int = 20):
    """Indices kept of ``n``: the first ``head``, then log-spaced ones, and the last."""
    import numpy as np

    if n <= points:
        return np.arange(n)
    tail = np.geomspace(head, n - 1, max(points - head, 2))
    return np.unique(np.concatenate([np.arange(head), np.round(tail).astype(int), [n - 1]]))


def regimes(runs) -> list[str]:
    """Each run's measured regime (:data:`REGIMES`) from its stored status and crossings
    count ``n_cross``; ``None`` for runs that never ran or failed (no path to show)."""
    import pandas as pd

    n_cross = (
        pd.to_numeric(runs["n_cross"], errors="coerce")
        if "n_cross" in runs
        else pd.Series(float("nan"), index=runs.index)
    )
    out: list[Any] = []
    for status, n in zip(runs["status"].tolist(), n_cross.tolist(), strict=True):
        if status in NOT_A_PATH:
            out.append(None)
        elif status in ("diverged", "non-finite"):
            out.append("diverged")
        elif status == "cycle":
            out.append("cycle")
        elif n != n:
            out.append("sampler")
        else:
            out.append("oscillating" if n >= 2 else "overshoot" if n == 1 else "monotone")
    return out


def representatives(runs) -> dict[str, Any]:
    """regime -> the ``run_id`` of the run that shows it most, for each regime present
    among ``runs`` (the runs with a stored trace): the slowest to settle of the monotone
    ones (never settled counts slowest), the largest overshoot, the most crossings; for the
    other regimes the first. Ties go to the first label in spec order, then the lowest
    seed."""
    import numpy as np
    import pandas as pd

    if not len(runs):
        return {}
    # only the columns used: a copy of the whole frame (every metric) is most of the cost
    used = ["run_id", "label", "seed", "status", "n_cross", *STRONGEST.values()]
    runs = runs[[c for c in dict.fromkeys(used) if c in runs]]
    frame = runs.assign(_regime=regimes(runs), _order=np.arange(len(runs)))
    first = {lab: i for i, lab in enumerate(dict.fromkeys(frame.label))}
    frame = frame.assign(_label=frame.label.map(first))
    out = {}
    for regime in REGIMES:
        sub = frame[frame._regime == regime]
        if not len(sub):
            continue
        col = STRONGEST.get(regime)
        score = (
            pd.to_numeric(sub[col], errors="coerce").fillna(np.inf).to_numpy()
            if col is not None and col in sub
            else np.zeros(len(sub))
        )
        order = np.lexsort((sub._order.to_numpy(), sub.seed.to_numpy(), sub._label.to_numpy(),
                            -score))
        out[regime] = sub.run_id.iloc[order[0]]
    return out


def signed_error(xs, x_ref: float):
    """``(x_t − x*) / (x₀ − x*)`` of a 1-D path: +1 at the start, 0 at x*, below 0 after
    a crossing of x* (overshoot); None where the start is x* itself."""
    import numpy as np

    xs = np.asarray(xs, dtype=float).reshape(-1)
    e0 = xs[0] - x_ref
    if not e0:
        return None
    return (xs - x_ref) / e0


def _nearest_star(stars, xs):
    """The minimiser nearest the path's last finite iterate (the one it went to)."""
    import numpy as np

    fin = np.all(np.isfinite(xs), axis=1)
    last = xs[fin][-1] if fin.any() else xs[0]
    return stars[np.argmin(np.linalg.norm(stars - last, axis=1))]


def _cost_grid(data, timed: bool):
    import numpy as np

    if timed:
        return np.asarray(data.grid(GRID), dtype=float)
    top = float(np.nanmax(data.cost, initial=1.0)) if data.cost.size else 1.0
    return np.unique(np.round(np.geomspace(1, max(top, 1.0), GRID)))


def convergence_rows(data, labels: list[str], clock=None):
    """The rows of the three convergence panels: ``(quantiles, faint, raw, third)`` lists
    of dicts (``k`` indexes ``labels``), the runs counted and notes for the caption. Given
    ``clock`` (the same runs as a :class:`~optbench.report.timing.TimeData`) the best-so-far
    rows are on the batch clock."""
    import numpy as np

    from .figures import identical_groups

    timed = clock is not None
    curves_of = clock if timed else data
    grid = _cost_grid(curves_of, timed)
    x_lo = grid[0] if timed else 1.0
    floor = data.floor
    x_star = data.info.get("x_star")
    q_rows, faint, raw, third = [], [], [], []
    medians, notes, n_runs = {}, [], 0
    for k, lab in enumerate(labels):
        sub = curves_of.select((curves_of.runs.label == lab).to_numpy())
        curves = sub.best_at(grid)
        curves = curves[~np.isnan(curves).all(axis=1)]
        if len(curves):
            n_runs += len(curves)
            q1, med, q3 = np.percentile(np.clip(curves, floor, 1e300), [25, 50, 75], axis=0)
            medians[lab] = med
            for x, m, a, b in zip(grid, med, q1, q3, strict=True):
                q_rows.append({"k": k, "x": _sig(x), "m": _sig(m), "a": _sig(a), "b": _sig(b)})
            order = np.argsort(sub.runs.seed.to_numpy(), kind="stable")
            seeds = sub.runs.seed.to_numpy()
            for i in [i for i in order if sub.length[i] > 0][:FAINT_RUNS]:
                cst, best = sub.curve(i)
                keep = _thin(len(cst), CURVE_POINTS)
                for c, b in zip(np.maximum(cst[keep], x_lo), np.clip(best[keep], floor, 1e300),
                                strict=True):
                    faint.append({"k": k, "s": int(seeds[i]), "x": _sig(c), "y": _sig(b)})
        for row, tr in data.samples(lab):
            seed = int(row.seed)
            t = np.asarray(tr.get("t", np.arange(len(tr["f"]))))
            with np.errstate(invalid="ignore", over="ignore"):
                gap = np.clip(np.abs(np.asarray(tr["f"], dtype=float) - data.f_ref), floor, 1e300)
            keep = _thin(len(t), RAW_POINTS)
            for ti, g in zip(t[keep], gap[keep], strict=True):
                raw.append({"k": k, "s": seed, "x": int(ti) + 1, "y": _sig(g)})
            if x_star is None or "x" not in tr:
                continue
            xs = np.asarray(tr["x"], dtype=float).reshape(len(t), -1)
            stars = np.asarray(x_star, dtype=float).reshape(-1, xs.shape[1])
            ref = _nearest_star(stars, xs)
            if xs.shape[1] == 1:
                e = signed_error(xs[:, 0], ref[0])
                if e is None:
                    continue
                n = int(np.searchsorted(t, SIGNED_STEPS, side="right"))
                for ti, v in zip(t[:n], e[:n], strict=True):
                    # beyond the axis the value is only "off the chart": keep the sign
                    v = float(np.clip(v, -1e6, 1e6)) if np.isfinite(v) else None
                    third.append({"k": k, "s": seed, "x": int(ti), "y": _sig(v)})
            else:
                with np.errstate(invalid="ignore", over="ignore"):
                    dist = np.clip(np.linalg.norm(xs - ref, axis=1), 1e-16, 1e300)
                for ti, v in zip(t[keep], dist[keep], strict=True):
                    third.append({"k": k, "s": seed, "x": int(ti) + 1, "y": _sig(v)})
    for group in identical_groups(medians):
        if len(group) > 1:
            notes.append(
                f"{' and '.join(group)} have best-so-far medians within 1 % of each other, "
                "one line over the other: pick one in the legend to see it alone."
            )
    return q_rows, faint, raw, third, n_runs, notes


def _picked_runs(data, labels):
    """run_id -> (k, regime, representative of it?, the picker's run?) for every path the
    figure draws: the representatives of each regime and each label's lowest-seed run."""
    ran = data.runs[(data.length > 0)]
    reg = dict(zip(ran.run_id, regimes(ran), strict=True))
    reps = {rid: g for g, rid in representatives(ran[[r is not None for r in reg.values()]])
            .items()}
    picked = {}
    for rid, g in reps.items():
        lab = ran.label[ran.run_id == rid].iloc[0]
        if lab in labels:
            picked[rid] = [labels.index(lab), g, True, False]
    for k, lab in enumerate(labels):
        rows = data.samples(lab, 1)
        if rows:
            rid = rows[0][0].run_id
            picked.setdefault(rid, [k, reg.get(rid), False, False])[3] = True
    return picked


def _window(info, path):
    from .figures import path_box

    return path_box(info, [path])


def _contour_image(grid, lo, hi, f_ref, log: bool) -> str:
    """The stored landscape on the box as a small PNG of shaded bands (a filled contour
    map, light at the bottom of the valley), as a data URI."""
    import base64
    import io

    import matplotlib
    import numpy as np
    from matplotlib.image import imsave

    from .figures import zoom

    _, _, fz = zoom(grid, lo, hi, IMAGE_PIXELS)
    fmin = float(np.nanmin(fz)) if f_ref is None else min(float(np.nanmin(fz)), f_ref)
    z = np.nan_to_num(fz - fmin, nan=np.nanmax(fz) - fmin)
    pos = z[z > 0]
    if log and len(pos):
        levels = np.geomspace(max(pos.min(), 1e-9 * pos.max()), pos.max(), LEVELS)
    else:
        levels = np.linspace(0, float(z.max()) or 1.0, LEVELS)
    band = np.digitize(z, levels) / LEVELS
    rgba = matplotlib.colormaps["Greys"](0.02 + 0.3 * band)
    buf = io.BytesIO()
    imsave(buf, rgba[::-1], format="png")  # row 0 of the image is the top of the box
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def trajectory_rows(data, labels):
    """The path rows (``k``, seed ``s``, ``t``, ``x``, ``y`` and, in 2-D, ``f``; ``g`` the
    run's regime, ``r`` 1 for a regime's representative, ``p`` 1 for the picker's run),
    and each panel's ``(title, regime or None, lo, hi)``; or ``(None, reason)``."""
    import numpy as np

    info = data.info
    d = int(info.get("dim") or 0)
    if d not in (1, 2):
        return None, f"trajectories are drawn for 1-D and 2-D problems; this one has dimension {d}"
    if data.landscape is None:
        return None, (
            "no landscape stored with this problem (its f failed on the grid when it ran, "
            "or the store was written before optbench stored landscapes)"
        )
    picked = _picked_runs(data, labels)
    traces = data.loader(list(picked)) if data.loader else {}
    rows, paths, seeds = [], {}, {}
    for rid, (k, g, rep, pick) in picked.items():
        tr = traces.get(rid)
        if tr is None or "x" not in tr:
            continue
        xs = np.asarray(tr["x"], dtype=float).reshape(len(tr["f"]), d)
        t = np.asarray(tr.get("t", np.arange(len(xs))))
        fin = np.all(np.isfinite(xs), axis=1)
        xs, t, f = xs[fin], t[fin], np.asarray(tr["f"], dtype=float)[fin]
        if not len(xs):
            continue
        paths[rid] = xs
        seed = int(data.runs.seed[data.runs.run_id == rid].iloc[0])
        seeds[rid] = seed
        for i in _thin(len(xs), PATH_POINTS):
            row = {"k": k, "s": seed, "t": int(t[i]), "x": _sig(xs[i, 0]),
                   "y": _sig(xs[i, 1] if d == 2 else f[i]), "g": _REGIME_INDEX.get(g, -1),
                   "r": int(rep), "p": int(pick)}
            if d == 2:
                row["f"] = _sig(f[i])
            rows.append(row)
    if not rows:
        return None, "no stored trajectory (x) to draw"
    panels = []
    for regime in REGIMES:
        rid = next((r for r, v in picked.items() if v[2] and v[1] == regime and r in paths), None)
        if rid is None:
            continue
        lo, hi = _window(info, paths[rid])
        lab = labels[picked[rid][0]]
        panels.append((f"{regime}: {lab}, seed {seeds[rid]}", regime, lo, hi))
    mine = [p for r, p in paths.items() if picked[r][3]]
    lo, hi = _window(info, np.concatenate(mine) if mine else next(iter(paths.values())))
    panels.append(("your pick: click optimizers in the legend", None, lo, hi))
    return rows, panels


# -- the Vega-Lite spec, written as plain dicts (Altair's chart objects cost seconds here) --


def _data(name: str, datasets: dict) -> dict:
    """A reference to the dataset ``name`` of the spec: read as CSV with its numbers
    parsed, or as JSON where it is an image's (a data URI holds a comma)."""
    rows = datasets[name]
    if _as_json(rows):
        return {"name": name}
    parse = {k: "number" for k in (rows[0] if rows else {})}
    return {"name": name, "format": {"type": "csv", "parse": parse}}


def _as_json(rows: list[dict]) -> bool:
    return not rows or "u" in rows[0] or "label" in rows[0]


def _fade(on: float, off: float, empty: bool = True) -> dict:
    """Opacity ``on`` for the picked optimizers (all of them while none is picked, unless
    not ``empty``), ``off`` for the others."""
    return {"condition": {"param": "pick", "empty": empty, "value": on}, "value": off}


_LOOKUP = {"lookup": "k", "from": {"data": {"name": "labels"}, "key": "k", "fields": ["label"]}}
_COLOUR = {"field": "label", "type": "nominal"}
_EXP = {"format": ".0e"}  # a log axis of gaps: 1e-8, not 0.00000001


def _q(field: str, title: str | None = None, log: bool = False, **extra) -> dict:
    enc: dict[str, Any] = {"field": field, "type": "quantitative", **extra}
    if title is not None:
        enc["title"] = title
    if log:
        enc.setdefault("scale", {})["type"] = "log"
    return enc


def _tip(field: str, title: str, fmt: str | None = None, kind: str = "quantitative") -> dict:
    out = {"field": field, "type": kind, "title": title}
    if fmt:
        out["format"] = fmt
    return out


_TIP_RUN = [_tip("label", "optimizer", kind="nominal"), _tip("s", "seed", kind="nominal")]


def _zoom(name: str) -> list[dict]:
    return [{"name": name, "select": {"type": "interval"}, "bind": "scales"}]


def problem_chart(data, labels: list[str], colours: dict[str, str], clock=None):
    """The problem's Vega-Lite spec (a dict) and what its caption needs:
    ``(spec, n_runs, notes, regimes_shown, trajectory_note)``; ``trajectory_note`` is the
    reason there are no trajectory panels, else None. ``clock``: the same runs on the
    batch clock (:class:`~optbench.report.timing.TimeData`) for the best-so-far panel."""
    from .html import plain
    from .timing import TimeData

    names = [plain(lab) for lab in labels]
    datasets: dict[str, list] = {"labels": [{"k": k, "label": n} for k, n in enumerate(names)]}
    q_rows, faint, raw, third, n_runs, notes = convergence_rows(data, labels, clock)
    datasets.update(q=q_rows, faint=faint, raw=raw, third=third)
    timed = clock is not None
    colour = {
        **_COLOUR,
        "scale": {"domain": names, "range": [colours.get(lab, "#888888") for lab in labels]},
        "legend": {
            "title": "optimizer: click to pick, shift-click for more, click an empty spot "
            "of a panel to clear",
            "orient": "top", "columns": 4, "labelLimit": 320, "symbolType": "stroke",
            "symbolStrokeWidth": 3, "symbolOpacity": 1, "titleLimit": 900,
        },
    }

    def unit(name, mark, encoding, *, params=None, transform=()):
        out = {"data": _data(name, datasets), "transform": [_LOOKUP, *transform],
               "mark": mark, "encoding": encoding}
        if params:
            out["params"] = params
        return out

    ref = "f*" if data.known else "best found"
    x_title = TimeData.axis_label if timed else "evaluations (n_f + n_g)"
    tip_q = [
        _tip("label", "optimizer", kind="nominal"),
        _tip("x", "seconds" if timed else "evaluations", ".4~g"),
        _tip("m", "median gap", ".3~e"), _tip("a", "25 %", ".3~e"), _tip("b", "75 %", ".3~e"),
    ]
    step = {"interpolate": "step-after"}
    best = {
        "title": "best so far: median, 25–75 %, runs faint",
        **PANEL,
        "layer": [
            # the legend's layer first: a merged legend takes the first layer's look
            unit("q", {"type": "line", "strokeWidth": 2, **step}, {
                "x": _q("x", x_title, log=True),
                "y": _q("m", f"best-so-far f − {ref}", log=True, axis=_EXP),
                "color": colour, "opacity": _fade(1.0, 0.1)},
                params=[{"name": "pick", "select": {"type": "point", "fields": ["label"]},
                         "bind": "legend"}, *_zoom("zoom_best")]),
            unit("q", {"type": "area", **step}, {
                "x": _q("x"), "y": _q("a"),
                "y2": {"field": "b"}, "color": _COLOUR, "opacity": _fade(0.16, 0.03)}),
            unit("faint", {"type": "line", "strokeWidth": 0.6, **step}, {
                "x": _q("x"), "y": _q("y"), "color": _COLOUR, "detail": {"field": "s"},
                "opacity": _fade(0.35, 0.04)}),
            unit("q", {"type": "circle", "size": 24}, {
                "x": _q("x"), "y": _q("m"), "color": _COLOUR, "opacity": {"value": 0},
                "tooltip": tip_q}),
        ],
    }
    raw_p = {
        "title": "raw gap (non-monotone)",
        **PANEL,
        "layer": [unit("raw", {"type": "line", "strokeWidth": 0.9, "point": {"size": 6}}, {
            "x": _q("x", "iteration t + 1", log=True),
            "y": _q("y", f"|f(x_t) − {ref}|", log=True, axis=_EXP),
            "color": _COLOUR, "detail": {"field": "s"}, "opacity": _fade(0.85, 0.06),
            "tooltip": [*_TIP_RUN, _tip("x", "t + 1"), _tip("y", "gap", ".3~e")]},
            params=_zoom("zoom_raw"))],
    }
    panels = [best, raw_p]
    if third and data.dim == 1:
        panels.append({
            "title": "signed error: starts at +1, below 0 = past x*",
            **PANEL,
            "layer": [
                {"data": {"values": [{"zero": 0}]}, "mark": {"type": "rule", "color": "black",
                                                             "strokeWidth": 0.6},
                 "encoding": {"y": _q("zero")}},
                unit("third", {"type": "line", "strokeWidth": 1, "clip": True,
                               "point": {"size": 10}}, {
                    "x": _q("x", "iteration t"),
                    "y": _q("y", "(x_t − x*) / (x₀ − x*)",
                            scale={"domain": [-SIGNED_LIMIT, SIGNED_LIMIT]}),
                    "color": _COLOUR, "detail": {"field": "s"}, "opacity": _fade(0.9, 0.06),
                    "tooltip": [*_TIP_RUN, _tip("x", "t"), _tip("y", "signed error", ".3~g")]},
                    params=_zoom("zoom_signed")),
            ],
        })
    elif third:
        panels.append({
            "title": "distance to x*",
            **PANEL,
            "layer": [unit("third", {"type": "line", "strokeWidth": 0.9}, {
                "x": _q("x", "iteration t + 1", log=True),
                "y": _q("y", "‖x_t − x*‖", log=True, axis=_EXP),
                "color": _COLOUR, "detail": {"field": "s"}, "opacity": _fade(0.85, 0.06),
                "tooltip": [*_TIP_RUN, _tip("x", "t + 1"), _tip("y", "distance", ".3~e")]},
                params=_zoom("zoom_dist"))],
        })
    else:
        notes.append("No distance panel: x is stored for dimension ≤ 3 and needs a known x*.")
    rows: list[dict] = [{"hconcat": panels, "spacing": 28}]
    path_rows, panels_info = trajectory_rows(data, labels)
    shown: list[str] = []
    traj_note = None
    if path_rows is None:
        traj_note = panels_info
    else:
        datasets["path"] = path_rows
        tiles = _trajectory_panels(data, panels_info, unit, datasets)
        shown = [g for _, g, _, _ in panels_info if g]
        rows.append({"concat": tiles, "columns": PANELS_PER_ROW, "spacing": 22})
    spec = {
        "vconcat": rows,
        "spacing": 26,
        "config": {
            "view": {"stroke": "#ccc"},
            "axis": {"labelFontSize": 10, "titleFontSize": 11},
            "title": {"fontSize": 12, "fontWeight": "normal", "anchor": "start", "limit": 300},
        },
        "datasets": {
            name: rows if _as_json(rows) else _csv(rows) for name, rows in datasets.items()
        },
    }
    return spec, n_runs, notes, shown, traj_note


def _trajectory_panels(data, panels_info, unit, datasets) -> list[dict]:
    import numpy as np

    from .figures import zoom

    info = data.info
    d = data.dim
    grid = data.landscape
    log = bool((info.get("draw") or {}).get("log", d == 2))
    named = (info.get("draw") or {}).get("axes") or ("x₁", "x₂")
    x_star = info.get("x_star")
    stars = None if x_star is None else np.asarray(x_star, dtype=float).reshape(-1, d)
    tip = [*_TIP_RUN, _tip("t", "t"), _tip("x", "x" if d == 1 else named[0]),
           _tip("y", "f(x)" if d == 1 else named[1])]
    if d == 2:
        tip.append(_tip("f", "f", ".4~g"))
    if stars is not None and d == 1 and "f_x_star" in grid:
        datasets["star"] = [{"x": _sig(s[0]), "y": _sig(float(grid["f_x_star"][0]))}
                            for s in stars]
    elif stars is not None and d == 2:
        datasets["star"] = [{"x": _sig(s[0]), "y": _sig(s[1])} for s in stars]
    backgrounds: dict[str, str] = {}  # the same window is drawn once
    tiles = []
    for title, regime, lo, hi in panels_info:
        if d == 1:
            xs, fs = zoom(grid, lo, hi, 150)
            bg: list[dict[str, Any]] = [{"x": _sig(a), "y": _sig(b)}
                                        for a, b in zip(xs, fs, strict=True)]
            lo_f, hi_f = float(np.nanmin(fs)), float(np.nanmax(fs))
            pad = 0.05 * (hi_f - lo_f) or 1.0
            x_enc = _q("x", "x", scale={"domain": [lo[0], hi[0]], "nice": False})
            y_enc = _q("y", "f(x)", scale={"domain": [lo_f - pad, hi_f + pad], "nice": False})
        else:
            x_enc = _q("x", named[0], scale={"domain": [lo[0], hi[0]], "nice": False})
            y_enc = _q("y", named[1], scale={"domain": [lo[1], hi[1]], "nice": False})
            bg = [{"u": _contour_image(grid, lo, hi, data.f_ref, log),
                   "x": _sig(lo[0]), "x2": _sig(hi[0]), "y": _sig(hi[1]), "y2": _sig(lo[1])}]
        name = backgrounds.setdefault(repr(bg), f"bg{len(backgrounds)}")
        datasets[name] = bg
        if d == 1:
            layers = [{"data": _data(name, datasets),
                       "mark": {"type": "line", "color": "#999", "strokeWidth": 1.2, "clip": True},
                       "encoding": {"x": x_enc, "y": y_enc}}]
        else:
            layers = [{"data": _data(name, datasets),
                       "mark": {"type": "image", "aspect": False, "align": "left",
                                "baseline": "top"},
                       "encoding": {"x": x_enc, "y": y_enc, "x2": {"field": "x2"},
                                    "y2": {"field": "y2"},
                                    "url": {"field": "u", "type": "nominal"}}}]
        if regime is None:
            keep = [{"filter": "datum.p == 1"}]
            line, dots = _fade(0.95, 0.0, empty=False), _fade(0.9, 0.0, empty=False)
        else:
            keep = [{"filter": f"datum.r == 1 && datum.g == {_REGIME_INDEX[regime]}"}]
            line, dots = _fade(0.9, 0.15), _fade(0.85, 0.12)
        xy = {"x": _q("x"), "y": _q("y")}
        layers += [
            unit("path", {"type": "line", "strokeWidth": 1, "clip": True},
                 {**xy, "order": _q("t"), "color": _COLOUR, "detail": {"field": "s"},
                  "opacity": line}, transform=keep),
            unit("path", {"type": "circle", "size": 16, "clip": True},
                 {**xy, "color": _COLOUR, "opacity": dots, "tooltip": tip}, transform=keep),
            unit("path", {"type": "point", "size": 60, "color": "black", "filled": False,
                          "clip": True},
                 {**xy, "opacity": dots}, transform=[*keep, {"filter": "datum.t == 0"}]),
        ]
        if "star" in datasets:
            layers.append({"data": _data("star", datasets),
                           "mark": {"type": "point", "shape": "diamond", "size": 90,
                                    "filled": True, "color": "#d55e00", "clip": True},
                           "encoding": {**xy, "tooltip": [_tip("x", "x*")]}})
        if regime is None:
            # a row without a label: in the selection only while nothing is picked
            layers.append({"data": {"values": [{"hint": 1}]},
                           "mark": {"type": "text", "text": "click optimizers in the legend",
                                    "color": "#5b6475", "fontSize": 11},
                           "encoding": {"x": {"value": PATH_PANEL["width"] / 2},
                                        "y": {"value": PATH_PANEL["height"] / 2},
                                        "opacity": _fade(1, 0)}})
        tiles.append({"title": title, **PATH_PANEL, "layer": layers})
    return tiles
