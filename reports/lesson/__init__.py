"""The Lesson: the page opens with the classic lesson on gradient descent, each claim told by
one interactive figure and one sentence whose numbers come from the stored runs.

* **(a) Random search against gradient descent** on the line fit (``linear-regression``,
  2-D in (w, b)): both paths of one representative seed on the contour of the loss, and the
  best-so-far gap of both against evaluations (median over seeds, 25–75 % band). The
  sentence says how many evaluations each needed to reach Δf ≤ 1e-6, or what gap it had
  at the end of its budget.
* **(b) The learning rate** (:mod:`optbench.reports.lesson.rate`) on the 1-D quadratic
  (``quadratic-1d``): a slider over the stored constant rates of gradient descent, in
  units of 1/L. It redraws the path on the loss curve, the signed-error step response
  (x_k − x*)/(x₀ − x*) (every run starts at +1; below 0 it is past x*), the gap f − f*
  against the iteration, and the measured against the predicted regime, overshoot,
  crossings and settling of the run drawn; where the line fit ran the same rates, a second
  row shows them there. Every rate's (thinned) data is in the one spec and the slider
  filters it: the page stays offline and the redraw is instant. The sentence: too small is
  slow, past 1/L it overshoots (measured beside predicted), past 2/L it diverges.

* **(c) The regimes on the rate axis** and **(d) minibatches**
  (:mod:`optbench.reports.lesson.regimes`): each run's measured contraction and iterations to
  the target across the rates, over the slow / one step / oscillate / diverge bands; a
  constant rate against decaying schedules on the minibatch line fit, with the floor each
  reaches and a schedule selector.

The section is a package: its claims' modules are its own, shared with no other section.
A claim whose runs the stores do not hold (another suite) says so in one line.
With several stores only the baseline's runs speak here; the Comparison section compares.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from optbench import register_section
from optbench.report import Section, esc
from optbench.report.vega import chart_html

TARGET = 1e-6  # the gap the sentences count evaluations to (a stored hit column)
STEP_ITERS = 40  # the step response shows the first 40 updates
PATH_ITERS = 30  # the path on the loss curve: the first 30 iterates
LOSS_POINTS = 300  # points of the 1-D loss curve drawn
CONTOUR_LEVELS = 12
SIG = 4  # significant digits of the floats a spec carries
STAR = ("M0,-1L0.2245,-0.309L0.951,-0.309L0.363,0.118L0.588,0.809L0,0.382L-0.588,0.809"
        "L-0.363,0.118L-0.951,-0.309L-0.2245,-0.309Z")  # x*, as the other figures mark it


@dataclass
class Claim:
    """One claim of the lesson: its heading, its sentence and its figure (HTML), or a note
    saying why the stores cannot show it."""

    key: str
    heading: str
    sentence: str = ""
    figure: str = ""
    missing: str = ""

    def html(self) -> str:
        head = f"<h3 id='lesson-{self.key}'>{esc(self.heading)}</h3>"
        if self.missing:
            return f"{head}<p class='note'>{esc(self.missing)}</p>"
        # a target such as "Δf ≤ 1e-6" is not broken across lines at its minus sign
        lead = re.sub(r"(Δf ≤ \d(?:\.\d+)?e-\d+)", r"<span style='white-space:nowrap'>\1</span>",
                      esc(self.sentence))
        return f"{head}<p class='lead'>{lead}</p>{self.figure}"


# ------------------------------------------------------------------------------------------
# small helpers


def _r(x: float, sig: int = SIG) -> float | None:
    """A float rounded to ``sig`` significant digits for a spec (None: not finite)."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{sig}g}")


def _n(x: float) -> str:
    """A number for a sentence: integers as integers, others to 3 significant digits."""
    if x is None or not math.isfinite(x):
        return "—"
    if float(x).is_integer() and abs(x) < 1e9:
        return str(int(x))
    return f"{x:.4g}" if abs(x) >= 1 else f"{x:.3g}"


def _median(values) -> float:
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else math.nan


def _k(rate: float) -> str:
    """A rate in units of 1/L as a label writes it: ``1.9/L``, ``1/L``."""
    return f"{rate:g}/L"


def constant_gd(runs):
    """The gradient-descent runs at a constant rate (no schedule, or ``constant()``)."""
    plain = runs.optimizer == "gd"
    if "hp.schedule" in runs:
        sched = runs["hp.schedule"]
        plain &= sched.isna() | sched.astype(str).str.startswith("constant")
    return runs[plain]


def rates_in_L(runs, L: float):
    """Each run's learning rate in units of 1/L (``lr·L``), to 6 significant digits."""
    return runs["hp.lr"].astype(float).mul(float(L)).map(lambda v: float(f"{v:.6g}"))


def hit_summary(group) -> dict[str, Any]:
    """Evaluations to Δf ≤ :data:`TARGET` over a label's seeds: ``n`` runs, ``reached``
    (how many did), ``median`` (over all seeds; nan unless every seed reached it), and the
    median best gap and evaluations at the end."""
    col = f"hit_cost_{TARGET:.0e}".replace("e-0", "e-")
    hits = group[col].astype(float) if col in group else None
    reached = int(hits.notna().sum()) if hits is not None else 0
    return {
        "n": len(group),
        "reached": reached,
        "median": _median(hits) if hits is not None and reached == len(group) else math.nan,
        "gap_best": _median(group["gap_best"]) if "gap_best" in group else math.nan,
        "evals": _median(group["evals"]),
    }


def _floor(f_star: float) -> float:
    return 1e-16 * max(1.0, abs(float(f_star)))


def _thin(n: int, head: int, points: int):
    """Indices of ``n`` points kept for a spec: the first ``head`` whole, then ``points``
    log-spaced ones and the last."""
    import numpy as np

    if n <= head + points:
        return np.arange(n)
    tail = np.round(np.geomspace(head, n - 1, points)).astype(int)
    return np.unique(np.concatenate([np.arange(head), tail, [n - 1]]))


class Figure:
    """One figure's spec, assembled as a dict (:mod:`optbench.report.vl`): each view a unit
    chart (:meth:`unit`), its rows kept once in the spec's top-level ``datasets`` (named,
    not inline), layers and concatenations put together here, and parameters given to the
    view that owns them (:meth:`params`)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def data(self, name: str, rows) -> str:
        """A named dataset for :class:`optbench.report.vl.Chart` (rows: records or a
        DataFrame); non-finite numbers become null."""
        if hasattr(rows, "to_dict"):
            rows = rows.to_dict("records")
        self.rows[name] = [
            {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in r.items()}
            for r in rows
        ]
        return name

    @staticmethod
    def unit(chart) -> dict[str, Any]:
        return chart.to_dict()

    def layer(self, *charts, **props) -> dict[str, Any]:
        return {"layer": [self.unit(c) for c in charts], **props}

    def hconcat(self, *specs, **props) -> dict[str, Any]:
        return {"hconcat": list(specs), **props}

    def vconcat(self, *specs, **props) -> dict[str, Any]:
        return {"vconcat": list(specs), **props}

    @staticmethod
    def params(view: dict[str, Any], *params) -> None:
        """Give a view (or the whole figure) its parameters (:class:`vl.Param`)."""
        view.setdefault("params", []).extend(p.to_dict() for p in params)

    def spec(self, top: dict[str, Any]) -> dict[str, Any]:
        from optbench.report import vl

        return {"$schema": vl.SCHEMA_URL, **top, "datasets": self.rows}


def _scale(labels: list[str], colours: dict[str, str]):
    from optbench.report import vl

    return vl.Scale(domain=list(labels), range=[colours.get(lab, "#444444") for lab in labels])


# ------------------------------------------------------------------------------------------
# (a) random search against gradient descent


def line_fit_key(ctx, runs) -> str | None:
    """The line fit in (w, b) with full-batch gradients the runs hold: the plain
    ``linear-regression`` first, else any 2-D deterministic variant of it."""
    held = set(runs.problem_key)
    cands = [
        k for k, info in ctx.problems.items()
        if k in held and info.get("name") == "linear-regression" and info.get("dim") == 2
        and not info.get("stochastic")
    ]
    cands.sort(key=lambda k: (bool(ctx.problems[k].get("params", {}).get("standardize")),
                              ctx.problem_title(k)))
    return cands[0] if cands else None


def _representative_seed(gd, rs) -> int:
    """The seed both optimizers ran whose runs sit nearest their medians (gd's evaluations
    to the target, random search's best gap), on a log scale; the lowest seed on a tie."""
    import numpy as np

    col = f"hit_cost_{TARGET:.0e}".replace("e-0", "e-")
    seeds = sorted(set(gd.seed) & set(rs.seed))
    g_val = gd.set_index("seed")[col if col in gd else "gap_best"].astype(float)
    r_val = rs.set_index("seed")["gap_best"].astype(float)

    def off(series, s):
        v, m = series.get(s, np.nan), _median(series)
        if not (np.isfinite(v) and np.isfinite(m)) or v <= 0 or m <= 0:
            return 0.0 if np.isfinite(v) == np.isfinite(m) else 1e9
        return abs(math.log10(v) - math.log10(m))

    return min(seeds, key=lambda s: (off(g_val, s) + off(r_val, s), s))


def _pick_gd(gd):
    """The constant rate of gd that reached the target in every seed with the fewest
    evaluations (median), else the one with the lowest median best gap: ``(label, summary)``."""
    best = None
    for lab, g in gd.groupby("label", sort=False):
        s = hit_summary(g)
        key = (0, s["median"]) if math.isfinite(s["median"]) else (1, s["gap_best"])
        if not math.isfinite(key[1]):
            continue
        if best is None or key < best[0]:
            best = (key, lab, s)
    return (best[1], best[2]) if best else (None, None)


def _says(who: str, s: dict[str, Any], what: str) -> str:
    """How one optimizer did against the target ``what`` (its name, or "it")."""
    if s["reached"] == s["n"] and math.isfinite(s["median"]):
        unit = "evaluation" if s["median"] == 1 else "evaluations"
        return f"{who} reached {what} in a median {_n(s['median'])} {unit} (all {s['n']} seeds)"
    part = (f"in none of its {s['n']} runs" if not s["reached"]
            else f"in only {s['reached']} of its {s['n']} runs")
    return (f"{who} reached {what} {part}: after a median {_n(s['evals'])} evaluations its "
            f"best gap was still a median {_n(s['gap_best'])}")


def claim_random_search(ctx, runs) -> Claim:
    """(a): random search against gradient descent on the line fit."""
    claim = Claim("random-search", "(a) Random guessing against following the slope")
    key = line_fit_key(ctx, runs)
    on = runs[runs.problem_key == key] if key else runs.iloc[:0]
    rs = on[on.optimizer == "random-search"]
    info = ctx.problems.get(key, {}) if key else {}
    gd = constant_gd(on)
    if key is None or not len(rs) or not len(gd) or info.get("f_star") is None:
        claim.missing = ("This claim needs random search and gradient descent at a constant "
                         "rate on the line fit (linear-regression); these stores hold no such "
                         "runs (the default suite has them).")
        return claim
    rs_label = rs.label.iloc[0]
    rs = rs[rs.label == rs_label]
    gd_label, gd_sum = _pick_gd(gd)
    if gd_label is None:
        claim.missing = "Gradient descent left no finite result on the line fit to compare."
        return claim
    gd = gd[gd.label == gd_label]
    rs_sum = hit_summary(rs)
    title = ctx.problem_title(key)
    target = f"Δf ≤ {TARGET:.0e}".replace("e-0", "e-")
    rs_who = "random search" + ("" if rs_label == "random-search" else f" ({rs_label})")
    both = all(x["reached"] == x["n"] and math.isfinite(x["median"]) for x in (gd_sum, rs_sum))
    if both:
        rs_part = (f"{rs_who} needed a median {_n(rs_sum['median'])}, "
                   f"{_n(rs_sum['median'] / gd_sum['median'])} times as many")
    else:
        rs_part = _says(rs_who, rs_sum, "it")
    claim.sentence = (
        f"On {title}, the line fit in (w, b), gradient descent at its "
        f"{'fastest' if math.isfinite(gd_sum['median']) else 'best'} stored constant rate, "
        f"{gd_label}, {_says('', gd_sum, target).strip()}; {rs_part}."
    )
    seed = _representative_seed(gd, rs)
    claim.figure = _random_search_figure(ctx, key, info, gd_label, rs_label, gd, rs, seed)
    return claim


def _incumbents(trace, f_star: float, head: int = 40, points: int = 80):
    """The iterates of a trace as rows (iteration, w, b, evaluations, gap), consecutive
    repeats (a sampler keeping its incumbent) dropped, thinned for the spec."""
    import numpy as np

    x = np.asarray(trace["x"], dtype=float)
    f = np.asarray(trace["f"], dtype=float)
    t = np.asarray(trace.get("t", np.arange(len(f))), dtype=int)
    cost = np.asarray(trace["n_f"], dtype=float) + np.asarray(trace["n_g"], dtype=float)
    keep = np.ones(len(f), dtype=bool)
    keep[1:] = np.any(x[1:] != x[:-1], axis=1)
    keep[-1] = True
    idx = np.flatnonzero(keep & np.all(np.isfinite(x), axis=1))
    idx = idx[_thin(len(idx), head, points)]
    return [
        {"it": int(t[i]), "w": _r(x[i, 0]), "b": _r(x[i, 1]), "evals": int(cost[i]),
         "gap": _r(max(f[i] - f_star, 0.0), 3)}
        for i in idx
    ]


def _window(points, x_star, lo, hi, pad: float = 0.12):
    """A square box (equal units on both axes) around the paths and x*, inside the stored
    landscape's window [lo, hi]."""
    import numpy as np

    pts = np.vstack([points, np.asarray(x_star, dtype=float)[None, :]])
    a, b = pts.min(axis=0), pts.max(axis=0)
    span = float(max((b - a).max(), 1e-9)) * (1 + 2 * pad)
    centre = (a + b) / 2
    span = min(span, float((hi - lo).min()))
    start = np.clip(centre - span / 2, lo, hi - span)
    return start, start + span


def _contours(land, f_star: float, box_lo, box_hi, levels: int = CONTOUR_LEVELS,
              points: int = 50):
    """Contour lines of the stored 2-D landscape's gap inside a box, at log-spaced levels:
    rows (line id, point order, w, b, level)."""
    import contourpy
    import numpy as np

    window = np.asarray(land["window"], dtype=float)
    f = np.asarray(land["f"], dtype=float) + float(land.get("offset", 0.0) or 0.0)
    n = f.shape[0]
    ax = [np.linspace(lo, hi, n) for lo, hi in window]
    ix = np.flatnonzero((ax[0] >= box_lo[0]) & (ax[0] <= box_hi[0]))
    iy = np.flatnonzero((ax[1] >= box_lo[1]) & (ax[1] <= box_hi[1]))
    if len(ix) < 3 or len(iy) < 3:
        return []
    ix = np.arange(max(ix[0] - 1, 0), min(ix[-1] + 2, n))
    iy = np.arange(max(iy[0] - 1, 0), min(iy[-1] + 2, n))
    gap = np.maximum(f[np.ix_(iy, ix)] - f_star, _floor(f_star))  # row i at the 2nd axis
    finite = gap[np.isfinite(gap)]
    if not finite.size:
        return []
    lo_level = max(float(np.quantile(finite, 0.002)), _floor(f_star) * 10)
    hi_level = float(np.quantile(finite, 0.9))
    if not hi_level > lo_level:
        return []
    gen = contourpy.contour_generator(ax[0][ix], ax[1][iy], gap, line_type="Separate")
    rows, line = [], 0
    for level in np.geomspace(lo_level, hi_level, levels):
        for seg in gen.lines(float(level)):
            if len(seg) < 2:
                continue
            step = max(1, len(seg) // points)
            arr = np.asarray(seg, dtype=float)
            for j, (w, b) in enumerate(np.vstack([arr[::step], arr[-1:]])):
                rows.append({"line": line, "o": j, "w": _r(w, 3), "b": _r(b, 3),
                             "level": _r(level, 2)})
            line += 1
    return rows


def _random_search_figure(ctx, key, info, gd_label, rs_label, gd, rs, seed) -> str:
    import numpy as np
    import pandas as pd

    from optbench.report import vl

    fig = Figure()
    f_star = float(info["f_star"])
    pair = [gd[gd.seed == seed].run_id.iloc[0], rs[rs.seed == seed].run_id.iloc[0]]
    traces = ctx.traces(pair)
    labels = [gd_label, rs_label]
    paths = []
    for lab, rid in zip(labels, pair, strict=True):
        tr = traces.get(rid)
        if tr is None or "x" not in tr:
            return "<p class='note'>The runs drawn here have no stored iterates.</p>"
        paths += [{**row, "label": lab} for row in _incumbents(tr, f_star)]
    path = pd.DataFrame(paths)
    x_star = np.asarray(info.get("x_star") or [[math.nan, math.nan]], dtype=float)[0]
    axes = (info.get("draw") or {}).get("axes") or ["w", "b"]
    colour = _scale(labels, ctx.colours)
    legend = vl.selection_point(fields=["label"], bind="legend", name="shown_label")
    fade = vl.condition(legend, vl.value(1.0), vl.value(0.12))

    layers = []
    land = ctx.landscapes.get(key)
    if land is not None and np.ndim(land.get("f")) == 2:
        lo = np.asarray(land["window"], dtype=float)[:, 0]
        hi = np.asarray(land["window"], dtype=float)[:, 1]
        box = _window(path[["w", "b"]].to_numpy(dtype=float), x_star, lo, hi)
    else:
        pts = path[["w", "b"]].to_numpy(dtype=float)
        box = _window(pts, x_star, pts.min(axis=0) - 1, pts.max(axis=0) + 1)
    xs = vl.Scale(domain=[_r(box[0][0]), _r(box[1][0])], nice=False, zero=False)
    ys = vl.Scale(domain=[_r(box[0][1]), _r(box[1][1])], nice=False, zero=False)
    if land is not None:
        cont = pd.DataFrame(_contours(land, f_star, box[0], box[1]))
        if len(cont):
            layers.append(
                vl.Chart(fig.data("contours", cont))
                .mark_line(strokeWidth=0.8, clip=True, color="#b8bec9").encode(
                    x=vl.X("w:Q", scale=xs, title=axes[0]),
                    y=vl.Y("b:Q", scale=ys, title=axes[1]),
                    detail="line:N", order="o:Q",
                    tooltip=[vl.Tooltip("level:Q", title="f − f* on this line", format=".2g")],
                )
            )
    enc = dict(
        x=vl.X("w:Q", scale=xs, title=axes[0]),
        y=vl.Y("b:Q", scale=ys, title=axes[1]),
        color=vl.Color("label:N", scale=colour, title=None,
                        legend=vl.Legend(orient="bottom", direction="vertical")),
        opacity=fade,
    )
    tips = [vl.Tooltip("label:N"), vl.Tooltip("it:Q", title="iteration"),
            vl.Tooltip("evals:Q", title="evaluations"),
            vl.Tooltip("gap:Q", title="f − f*", format=".3g"),
            vl.Tooltip("w:Q", format=".4g"), vl.Tooltip("b:Q", format=".4g")]
    base = vl.Chart(fig.data("paths", path))
    layers.append(base.mark_line(strokeWidth=1.4, clip=True).encode(order="it:Q", **enc))
    layers.append(base.mark_circle(size=22, clip=True).encode(tooltip=tips, **enc))
    what = ["x* (least squares)", f"start (seed {seed})"]
    marks = pd.DataFrame([
        {"w": _r(x_star[0]), "b": _r(x_star[1]), "what": what[0]},
        {"w": path.w.iloc[0], "b": path.b.iloc[0], "what": what[1]},
    ])
    layers.append(
        vl.Chart(fig.data("marks", marks))
        .mark_point(size=150, filled=True, clip=True, color="#222").encode(
            x=vl.X("w:Q", scale=xs), y=vl.Y("b:Q", scale=ys),
            shape=vl.Shape("what:N", title=None,
                            scale=vl.Scale(domain=what, range=[STAR, "circle"]),
                            legend=vl.Legend(orient="bottom", direction="vertical")),
            tooltip=["what:N", vl.Tooltip("w:Q", format=".4g"), vl.Tooltip("b:Q", format=".4g")],
        )
    )
    contour = fig.layer(
        *layers, width=340, height=340,
        title=vl.Title(f"{ctx.problem_title(key)}: seed {seed}'s paths",
                        subtitle="contours of f − f*, log-spaced"),
    )

    conv = _convergence_rows(ctx, key, labels, f_star)
    band = vl.Chart(fig.data("convergence", conv))
    yscale = vl.Scale(type="log")
    last = int(conv.evals.max()) if len(conv) else 10
    xscale = vl.Scale(type="log", domain=[1, max(last, 2)], nice=False)
    curve = fig.layer(
        band.mark_area(opacity=0.18).encode(
            x=vl.X("evals:Q", scale=xscale, title="evaluations (n_f + n_g)"),
            y=vl.Y("q25:Q", scale=yscale, title="best-so-far f − f*",
                    axis=vl.Axis(format="~e")),
            y2="q75:Q", color=vl.Color("label:N", scale=colour, legend=None), opacity=fade,
        ),
        band.mark_line(strokeWidth=2).encode(
            x="evals:Q", y="median:Q",
            color=vl.Color("label:N", scale=colour, legend=None),
            opacity=fade,
            tooltip=["label:N", "evals:Q", vl.Tooltip("median:Q", format=".3g"),
                     vl.Tooltip("q25:Q", format=".3g"), vl.Tooltip("q75:Q", format=".3g")],
        ),
        vl.Chart(fig.data("target", [{"y": TARGET}])).mark_rule(strokeDash=[4, 3], color="#888")
        .encode(y="y:Q"),
        width=420, height=340,
        title=vl.Title("Convergence over all seeds",
                        subtitle="median, 25–75 % band; dashed: Δf = 1e-6 (drag to pan, wheel "
                                 "to zoom)"),
    )
    # the legend picks an optimizer in both panels; wheel and drag zoom the convergence
    fig.params(contour["layer"][-2], legend)
    fig.params(curve["layer"][1], vl.selection_interval(bind="scales", name="zoom_a"))
    chart = fig.spec(fig.hconcat(contour, curve))
    n = int(len(gd))
    return chart_html(
        chart,
        f"random search against gradient descent on {ctx.problem_title(key)}",
        f"Left: the paths of {gd_label} and of {rs_label} from the same start (seed {seed}, "
        "the seed nearest both medians) on the contours of the loss in (w, b); random search "
        "is drawn through its incumbents (each point a new best guess). Right: best-so-far "
        f"gap to f* against evaluations, median over {n} seeds with the 25–75 % band. Click "
        "a legend entry to pick one optimizer; hover a point for its values.",
        name="lesson-random-search",
    )


def _convergence_rows(ctx, key, labels, f_star):
    """Best-so-far gap at log-spaced budgets per label: median and 25/75 % over seeds
    (from the report's shared per-problem curves)."""
    import numpy as np
    import pandas as pd

    data = ctx.problem_data.get(key)
    if data is None:
        return pd.DataFrame(columns=["label", "evals", "median", "q25", "q75"])
    top = float(np.nanmax(data.used)) if len(data.used) else 1.0
    grid = np.unique(np.round(np.geomspace(1, max(top, 2.0), 60)))
    floor = _floor(f_star)
    rows = []
    for lab in labels:
        mask = (data.runs.label == lab).to_numpy(copy=True)
        if ctx.baseline is not None and "source" in data.runs:
            mask = mask & (data.runs.source == ctx.baseline).to_numpy()
        sub = data.select(mask)
        vals = np.maximum(sub.best_at(grid), floor)
        vals = vals[np.isfinite(vals).any(axis=1)]
        if not len(vals):
            continue
        q25, med, q75 = np.nanquantile(vals, [0.25, 0.5, 0.75], axis=0)
        for e, a, m, c in zip(grid, q25, med, q75, strict=True):
            rows.append({"label": lab, "evals": int(e), "median": _r(m, 3), "q25": _r(a, 3),
                         "q75": _r(c, 3)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# the section


@register_section("lesson", order=2)
def lesson(ctx) -> Section | None:
    """The lesson on gradient descent, one claim at a time, from the stored runs."""
    runs = ctx.runs
    if not len(runs):
        return None
    if len(ctx.sources) > 1:
        runs = runs[runs.source == ctx.baseline]
    from .rate import claim_learning_rate
    from .regimes import minibatch_block, regimes_block

    claims = [claim_random_search(ctx, runs), claim_learning_rate(ctx, runs)]
    if all(c.missing for c in claims):
        return None
    note = (f" From the baseline's runs ({ctx.baseline})." if len(ctx.sources) > 1 else "")
    blocks = [
        "<p>The classic lesson on gradient descent, told by these runs: random guessing "
        "against following the slope, and the learning rate that decides the step. Every "
        f"number below is computed from the stored runs.{esc(note)}</p>",
        *(c.html() for c in claims),
    ]
    toc = [(f"lesson-{c.key}", c.heading) for c in claims if not c.missing]
    # (c) and (d): figure and sentence as one block each, or None where the runs are missing
    for key, heading, block in (
        ("regimes", "(c) The regimes on the rate axis", regimes_block(ctx)),
        ("minibatch", "(d) Minibatches: a constant rate stalls, a decaying one settles",
         minibatch_block(ctx)),
    ):
        if block is not None:
            blocks.append(f"<h3 id='lesson-{key}'>{esc(heading)}</h3>{block}")
            toc.append((f"lesson-{key}", heading))
    return Section("Lesson", "".join(blocks), toc=toc)
