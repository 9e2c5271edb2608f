"""Building blocks of the interactive (Vega-Lite) figures, shared by the report's sections.

Every interactive figure of a section is a Vega-Lite spec (a dict, written directly or
with :mod:`optbench.report.vl`) embedded with :func:`optbench.report.vega.chart_html`.
What they have in common is here, so the same optimizer setting looks and behaves the
same in every figure:

- :func:`label_colours`: the report's colour of each run label (:attr:`Context.colours`),
  and a colour of the same palette for any other name (a tuned family, the virtual best).
- legend picking: clicking a legend entry shows that line alone (the others fade),
  shift-click adds entries, a double click on the plot shows all again.
- :func:`step_points`: a right-continuous step function (an ECDF, a profile) cut down to
  the points where it changes (at most ``n``, each one exact), so a spec stays small.
- :func:`sig`: numbers rounded to four significant digits for the embedded data.

- :func:`step_panels`: the spec of panels of step curves (ECDFs, profiles), hover,
  legend picking and zoom included.

Zoom: each panel binds an x (and where useful y) interval to its scales
(an interval selection bound to the scales): drag to pan, wheel to zoom, double click resets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where used: `optbench list` imports the sections
    import numpy as np

__all__ = [
    "HOW_TO_EXPLORE",
    "label_colours",
    "log_labels",
    "sig",
    "step_panels",
    "step_points",
]

HOW_TO_EXPLORE = (
    "Hover a point for its values; click a legend entry to show that line alone (shift-click "
    "for more, double-click the plot for all); drag or scroll on a panel to pan and zoom "
    "(double-click resets); the ⋯ menu saves SVG or PNG."
)


# a log axis's tick label: a plain number (0.2, 0.5, 1, 20), 1e-4 style when small or large
_NUMBER = ("(datum.value >= 0.001 && datum.value < 1e4 ? format(datum.value, '~g') "
           ": replace(format(datum.value, '~e'), 'e+', 'e'))")
# ... only at 1, 2 and 5 of each decade
_AT_125 = ("indexof([1, 2, 5], round(datum.value / pow(10, floor(log(datum.value) / LN10)"
           " + 1e-9))) >= 0 ? " + _NUMBER + " : ''")


def log_labels(values: Any) -> str:
    """The ``labelExpr`` of a log axis over ``values``: over more than four decades a label
    at each power of ten, over more than about half a decade at 1, 2 and 5 of each (at
    least three labels), over a third of a decade at 1, 2, 3, 4, 5 and 7, else at every
    tick: no axis shows a single label, none a crowd."""
    import numpy as np

    v = np.asarray([a for a in np.ravel(np.asarray(values, dtype=float))
                    if np.isfinite(a) and a > 0])
    span = float(np.log10(v.max() / v.min())) if v.size else 0.0
    if span > 4:
        return _AT_125.replace("[1, 2, 5]", "[1]")
    if span > 0.7:
        return _AT_125
    if span > 0.35:  # not 6, 8 and 9: their labels would touch the next one's
        return _AT_125.replace("[1, 2, 5]", "[1, 2, 3, 4, 5, 7]")
    return _NUMBER


def sig(values: Any, digits: int = 4) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (inf and NaN kept)."""
    import numpy as np

    a = np.asarray(values, dtype=float)
    out = a.copy()
    ok = np.isfinite(a) & (a != 0)
    if ok.any():
        mag = np.floor(np.log10(np.abs(a[ok])))
        scale = 10.0 ** (digits - 1 - mag)
        out[ok] = np.round(a[ok] * scale) / scale
    return out


def step_points(x: Any, y: Any, n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """The points of a right-continuous step function worth drawing.

    ``(x, y)`` samples the function at increasing ``x``; the result keeps the first sample,
    every sample where ``y`` changes, and the last one, so a ``step-after`` line through
    them draws the same function. Past ``n`` such points it keeps ``n`` of them, evenly
    spread over ``log x`` (ends included): each kept point is still an exact value.
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) <= 2:
        return x, y
    keep = np.flatnonzero(np.r_[True, np.diff(y) != 0])
    keep = np.unique(np.r_[keep, len(x) - 1])
    if len(keep) > n:
        lx = np.log10(np.maximum(x[keep], np.finfo(float).tiny))
        grid = np.linspace(lx[0], lx[-1], n)
        pick = np.unique(np.clip(np.searchsorted(lx, grid), 0, len(keep) - 1))
        keep = keep[np.unique(np.r_[0, pick, len(keep) - 1])]
    return x[keep], y[keep]


def label_colours(colours: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """name -> colour: the report's colour of a run label, else the next unused colour of
    the same palette (names that are not labels: a tuned family, a source)."""
    from matplotlib.colors import to_hex

    from .figures import palette

    names = list(dict.fromkeys(names))
    out = {n: colours[n] for n in names if n in colours}
    rest = [n for n in names if n not in out]
    if rest:
        used = set(out.values())
        pool = [to_hex(c) for c in palette(len(colours) + len(rest) + 10)]
        spare = [c for c in pool if c not in used] or pool
        out.update({n: spare[i % len(spare)] for i, n in enumerate(rest)})
    return out


def step_panels(
    panels: Sequence[tuple[str, Sequence[tuple[str, Any, Any]]]],
    order: Sequence[str],
    colours: Mapping[str, str],
    *,
    x_title: str,
    y_title: str,
    log_base: int = 10,
    dashed: Sequence[str] = (),
    marks: Sequence[Sequence[tuple[str, float, float]]] | None = None,
    width: int | None = None,
    height: int = 260,
    y_format: str = ".0%",
) -> dict:
    """A Vega-Lite spec: panels side by side, each with a step line per name.

    Args:
        panels: per panel ``(title, [(name, x, y), ...])``, the points of each name's
            right-continuous step function (:func:`step_points`), x > 0 (log axis); a
            fourth element True marks a first point that is only the rise from 0 (not
            hovered).
        order: the names of the legend, in order; ``colours`` gives each its colour.
        dashed: names drawn dashed (a reference such as the virtual best).
        marks: per panel ``[(name, x, y), ...]`` drawn as × (e.g. the median cost used).

    Hover a line's points for their values; the legend picks lines;
    each panel zooms on x. Written as a dict, not through Altair: building a concatenated
    chart of layers in Altair copies it deeply for every parameter (seconds per figure).
    The data are one table of arrays (one row per line, flattened in the spec), so a name
    is written once per line, not once per point.
    """
    rows: list[dict[str, Any]] = []
    for p, (_, series) in enumerate(panels):
        rise: list[Any]
        for name, x, y, *rise in series:
            row = {"p": p, "k": "line", "name": name, "x": sig(x).tolist(),
                   "y": sig(y).tolist()}
            # a first point that is only the rise from 0 is not a value: not hovered ("h" is
            # flattened beside x and y: 0 at the first point, null after; flatten needs it)
            row["h"] = [0] if rise and rise[0] else []
            rows.append(row)
        for name, x, y in (marks[p] if marks is not None else ()):
            rows.append({"p": p, "k": "used", "name": name,
                         "x": [float(sig(x))], "y": [float(sig(y))], "h": []})
    width = width or max(200, min(480, 1000 // max(len(panels), 1) - 70))
    colour = {"field": "name", "type": "nominal", "sort": list(order),
              "scale": {"domain": list(order), "range": [colours[n] for n in order]},
              "legend": {"title": None, "orient": "bottom", "columns": 4, "labelLimit": 320,
                         "symbolType": "stroke"}}
    faded = {"condition": {"param": "pick", "value": 1.0}, "value": 0.12}
    solid = [n for n in order if n not in dashed]
    views, charts = [], []
    for p, (title, _) in enumerate(panels):
        x = {"field": "x", "type": "quantitative", "title": x_title,
             "scale": {"type": "log", "base": log_base},
             "axis": {"format": "~g", "tickCount": 5, "labelOverlap": "greedy"}}
        y = {"field": "y", "type": "quantitative", "title": y_title if p == 0 else None,
             "scale": {"domain": [0, 1], "nice": False}, "axis": {"format": y_format}}
        enc = {"x": x, "y": y, "color": colour}

        def layer(kind, names, mark, extra, p=p, enc=enc):
            return {"transform": [{"filter": f"datum.p == {p} && datum.k == '{kind}'"},
                                  {"filter": {"field": "name", "oneOf": list(names)}},
                                  {"flatten": ["x", "y", "h"]}],
                    "mark": mark, "encoding": {**enc, **extra}}

        view = f"panel{p}"
        views.append(view)
        line = {"opacity": faded, "order": {"value": None}}
        layers = [{**layer("line", solid, {"type": "line", "interpolate": "step-after",
                                           "strokeWidth": 1.6}, line),
                   "name": view,
                   "params": [{"name": f"zoom{p}", "select": {"type": "interval",
                                                              "encodings": ["x"]},
                               "bind": "scales"}]}]
        if dashed:
            layers.append(layer("line", dashed, {"type": "line", "interpolate": "step-after",
                                                 "strokeWidth": 1.1, "strokeDash": [5, 3]},
                                line))
        tip = [{"field": "name", "type": "nominal", "title": "solver"},
               {"field": "x", "type": "quantitative", "title": x_title, "format": ".4~g"},
               {"field": "y", "type": "quantitative", "title": y_title, "format": ".4~g"}]
        hover = layer("line", order, {"type": "circle", "size": 40, "opacity": 0},
                      {"tooltip": tip})
        hover["transform"].append({"filter": "datum.h !== 0"})
        layers.append(hover)
        if marks is not None:
            layers.append(layer("used", order, {"type": "point", "shape": "cross", "angle": 45,
                                                "size": 70, "filled": True},
                                {"opacity": faded, "tooltip": tip[:2]}))
        charts.append({"title": title, "width": width, "height": height, "layer": layers})
    return {
        "datasets": {"steps": rows},
        "data": {"name": "steps"},
        "params": [{"name": "pick", "select": {"type": "point", "fields": ["name"]},
                    "bind": "legend", "views": views}],
        "hconcat": charts,
        "config": {"view": {"stroke": None}},
    }
