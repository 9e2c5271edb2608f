"""Two of the Lesson's claims as interactive figures, each with one sentence drawn from the runs.

* :func:`regimes_block`, claim (c), **the regimes on the rate axis**: gradient descent at a
  constant rate η on ``quadratic-1d`` (and on the standardized line fit when it ran), the rate
  in units of 1/L (r = η·L). On a quadratic the error obeys ``e_(t+1) = (1 − η·λ)·e_t`` in
  every eigen-direction λ, so the axis splits at 1/L and 2/L: below 1/L the iterate creeps up
  from one side (slow when r ≪ 1), at 1/L it lands in one step, between 1/L and 2/L it
  overshoots and oscillates yet converges, at 2/L it bounces between two points, above 2/L it
  diverges. Per run the figure shows what was *measured*: the mean contraction per update
  ``ρ̂ = (‖e_T‖/‖e_0‖)^(1/T)`` over the whole stored trace (defined in every regime, unlike
  the windowed rate fit ``rate_x``, which needs a converging run), drawn against the theory
  ``max(|1 − r·μ/L|, |1 − r|)``, and the stored iterations to Δf ≤ 1e-6; each run is coloured
  by its measured regime (:func:`measured_regime`).
* :func:`minibatch_block`, claim (d), **minibatches**: on a problem with minibatch gradients,
  gd at a constant rate against the same base rate with decaying schedules, as smoothed raw
  gaps (:func:`smoothed_gaps`: window means of ``f − f*``, median over seeds with the
  25–75 % band) with the floor each reaches (median ``e_ss_gap``, the mean gap over a run's
  last 10 %, from :func:`optbench.report.noise.floor_table`) drawn as a level. A radio button picks
  one schedule to set against the constant rate (or all of them).

Both return HTML (a figure and a ``<p>``), or None when the store has no such runs. With
several stores only the baseline's runs speak, as in the rest of the Lesson.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from . import constant_gd

__all__ = [
    "LINE_FIT",
    "QUADRATIC",
    "REGIMES",
    "measured_regime",
    "minibatch_block",
    "minibatch_rows",
    "regime_rows",
    "regimes_block",
]

QUADRATIC = "quadratic-1d"
LINE_FIT = "linear-regression[standardize=true]"
TARGET = 1e-6  # the gap the iterations panel counts to (the stored hit_iter_1e-6)
TOL = 1e-3  # |ρ̂ − 1| within this: neither converging nor diverging (a period-2 bounce)
ONE_STEP = 1e-6  # ‖e_1‖ ≤ this·‖e_0‖: the first update landed on the minimum
AGREE = 0.02  # measured ρ̂ within 2 % (of 1) of the theory: "as |1 − r| predicts"

# the measured regimes in the order of the rate axis, with their colours (not run labels)
REGIMES = {
    "monotone": "#4c78a8",
    "one step": "#54a24b",
    "oscillating": "#f58518",
    "period 2": "#b279a2",
    "diverging": "#e45756",
}


def _sig(v: float, n: int = 4) -> float | None:
    """``v`` rounded to ``n`` significant digits (None for NaN/inf: JSON null)."""
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.{n}g}")


def _n(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else "—"


def _rate(r: float) -> str:
    """A rate in units of 1/L as the specs write it: ``0.05/L``, ``1/L``."""
    return f"{r:.4g}/L"


def _baseline(ctx):
    runs = ctx.runs
    if len(ctx.sources) > 1:
        runs = runs[runs.source == ctx.baseline]
    return runs


# --- claim (c): the regimes on the rate axis -------------------------------------------


def measured_regime(status: str, rho: float, first: float, crossings: int) -> str:
    """The regime a run showed, from what was measured.

    Args:
        status: the run's stored status.
        rho: its mean contraction per update, ``(‖e_T‖/‖e_0‖)^(1/T)``.
        first: ``‖e_1‖/‖e_0‖``, the error left after the first update (NaN if unknown).
        crossings: sign changes of the along-track error ``<e_t, e_0>`` (minimum crossings).
    """
    if status in ("diverged", "non-finite") or (math.isfinite(rho) and rho > 1 + TOL):
        return "diverging"
    if math.isfinite(first) and first <= ONE_STEP:
        return "one step"
    if crossings and math.isfinite(rho) and abs(rho - 1) <= TOL:
        return "period 2"
    return "oscillating" if crossings else "monotone"


def _measure(trace: dict | None, x_stars: list, f_star: float | None, status: str):
    """``(ρ̂, ‖e_1‖/‖e_0‖, crossings)`` of one run from its stored trace: from the iterates
    ``x`` where stored, else from the gap (``gap ∝ ‖e‖²`` on a quadratic with κ = 1)."""
    import numpy as np

    nan = (math.nan, math.nan, 0)
    if not trace or "f" not in trace or len(trace["f"]) < 2:
        return nan
    t = np.asarray(trace.get("t", np.arange(len(trace["f"]))), dtype=float)
    if "x" in trace and x_stars:
        x = np.asarray(trace["x"], dtype=float).reshape(len(t), -1)
        ok = np.all(np.isfinite(x), axis=1)
        x, tt = x[ok], t[ok]
        if len(x) < 2:
            return nan
        stars = np.asarray(x_stars, dtype=float).reshape(-1, x.shape[1])
        # the minimizer nearest the end (nearest the start for a run that diverged)
        at = x[0] if status in ("diverged", "non-finite") else x[-1]
        star = stars[np.argmin(np.linalg.norm(stars - at, axis=1))]
        e = x - star
        dist = np.linalg.norm(e, axis=1)
        if dist[0] == 0 or tt[-1] == tt[0]:
            return nan
        along = e @ e[0]
        crossings = int(np.sum(along[:-1] * along[1:] < 0))
        rho = (dist[-1] / dist[0]) ** (1.0 / (tt[-1] - tt[0]))
        first = dist[1] / dist[0] if tt[1] - tt[0] == 1 else math.nan
        return float(rho), float(first), crossings
    if f_star is None:
        return nan
    gap = np.asarray(trace["f"], dtype=float) - f_star
    ok = np.isfinite(gap)
    gap, tt = gap[ok], t[ok]
    if len(gap) < 2 or gap[0] <= 0 or tt[-1] == tt[0]:
        return nan
    rho = (max(gap[-1], 0.0) / gap[0]) ** (1.0 / (2 * (tt[-1] - tt[0])))
    first = math.sqrt(max(gap[1], 0.0) / gap[0]) if tt[1] - tt[0] == 1 else math.nan
    return float(rho), float(first), -1  # crossings unknown: the stored n_cross decides


def _sweep_problems(ctx, runs) -> list[str]:
    """The problem keys of the claim, quadratic-1d first: each with a known L and gd run at
    three or more constant rates."""
    keys: list[str] = []
    if not len(runs) or "problem_key" not in runs:
        return keys
    for want in (QUADRATIC, LINE_FIT):
        for key in dict.fromkeys(runs.problem_key):
            info = ctx.problems.get(key) or {}
            if ctx.problem_title(key) != want or not info.get("L") or "hp.lr" not in runs:
                continue
            gd = constant_gd(runs[runs.problem_key == key])
            if gd["hp.lr"].astype(float).nunique() >= 3:
                keys.append(key)
                break
    return keys


def regime_rows(ctx):
    """One row per gd run of the claim: problem, label, r = η·L, seed, measured ρ̂, the
    theory's contraction, measured regime, iterations to Δf ≤ 1e-6 (NaN: never), status;
    empty when the store has no such sweep."""
    import pandas as pd

    runs = _baseline(ctx)
    rows = []
    for key in _sweep_problems(ctx, runs):
        info = ctx.problems[key]
        L = float(info["L"])
        mu = float(info.get("mu") or L)
        gd = constant_gd(runs[runs.problem_key == key])
        gd = gd[~gd.status.isin(("skipped", "error"))]
        traces = dict(ctx.iter_traces(gd.run_id.tolist(), keys=("x", "f", "t")))
        hits = gd["hit_iter_1e-6"] if "hit_iter_1e-6" in gd else pd.Series(math.nan, gd.index)
        stored_cross = (gd["n_cross"] if "n_cross" in gd else hits * math.nan).tolist()
        for rid, label, seed, status, lr, hit, n_cross in zip(
            gd.run_id.tolist(), gd.label.tolist(), gd.seed.tolist(), gd.status.tolist(),
            gd["hp.lr"].astype(float).tolist(), hits.astype(float).tolist(), stored_cross,
            strict=True,
        ):
            r = lr * L
            rho, first, cross = _measure(traces.get(rid), info.get("x_star") or [],
                                         info.get("f_star"), status)
            if cross < 0:  # no iterates stored: the worker's count of minimum crossings
                cross = int(n_cross) if n_cross is not None and math.isfinite(n_cross) else 0
            rows.append({
                "problem": ctx.problem_title(key),
                "label": label,
                "r": r,
                "seed": int(seed),
                "rho": rho,
                "theory": max(abs(1 - r * mu / L), abs(1 - r)),
                "regime": measured_regime(status, rho, first, cross),
                "iters": hit,
                "status": status,
            })
    return pd.DataFrame(rows, columns=["problem", "label", "r", "seed", "rho", "theory",
                                       "regime", "iters", "status"])


def _per_rate(frame):
    """Per (problem, rate): its majority regime, the count, medians of ρ̂ and iterations."""
    import numpy as np

    out = []
    for (problem, r), g in frame.groupby(["problem", "r"], sort=False):
        counts = g.regime.value_counts()
        order = list(REGIMES)
        top = max(counts.index, key=lambda k: (counts[k], -order.index(k)))
        it = g.iters.to_numpy(dtype=float)
        out.append({
            "problem": problem, "r": float(r), "label": g.label.iloc[0], "n": len(g),
            "regime": top, "n_regime": int(counts[top]),
            "rho": float(np.nanmedian(g.rho)) if g.rho.notna().any() else math.nan,
            "rho_lo": float(g.rho.min()), "rho_hi": float(g.rho.max()),
            "theory": float(g.theory.iloc[0]),
            "reached": int(np.isfinite(it).sum()),
            "iters": float(np.median(it)) if np.isfinite(it).all() else math.nan,
        })
    return sorted(out, key=lambda d: (d["problem"] != frame.problem.iloc[0], d["r"]))


def _span(rates: list[dict]) -> str:
    names = [_rate(d["r"]) for d in rates]
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]}–{names[-1]} ({len(names)} rates)"


def regimes_sentence(frame) -> str:
    """The claim's sentence, from :func:`regime_rows` (the first problem speaks; the second,
    if any, is checked against it rate by rate)."""
    rates = _per_rate(frame)
    first = frame.problem.iloc[0]
    main = [d for d in rates if d["problem"] == first]
    by = {k: [d for d in main if d["regime"] == k] for k in REGIMES}
    parts = []
    done = [d for d in main if d["reached"] == d["n"] and math.isfinite(d["iters"])]
    fastest = min((d["iters"] for d in done), default=math.nan)
    best = [d for d in done if d["iters"] == fastest]
    if by["monotone"]:
        slow = by["monotone"][0]
        tail = (f"{_rate(slow['r'])} needing {_n(slow['iters'])} iterations to Δf ≤ 1e-6"
                if math.isfinite(slow["iters"]) else
                f"{_rate(slow['r'])} not reaching Δf ≤ 1e-6 in {slow['n'] - slow['reached']} "
                f"of {slow['n']} runs")
        parts.append(f"{_span(by['monotone'])} crept up on the minimum from one side, {tail}")
    if by["one step"]:
        parts.append(f"{_span(by['one step'])} landed on it in one step")
    if by["oscillating"]:
        osc = by["oscillating"]
        agree = all(abs(d["rho"] - d["theory"]) <= AGREE for d in osc if math.isfinite(d["rho"]))
        lo, hi = min(d["rho"] for d in osc), max(d["rho"] for d in osc)
        rng = _n(lo) if _n(lo) == _n(hi) else f"{_n(lo)}–{_n(hi)}"
        how = "as |1 − r| predicts" if agree else (
            "against " + ", ".join(_n(d["theory"]) for d in osc) + " from |1 − r|")
        parts.append(f"{_span(osc)} overshot it and oscillated yet converged, the error "
                     f"shrinking by a factor {rng} per step {how}")
    if by["period 2"]:
        parts.append(f"{_span(by['period 2'])} bounced between two points for ever")
    if by["diverging"]:
        div = by["diverging"]
        at = f" at {_rate(div[0]['r'])}" if len(div) > 1 else ""
        parts.append(f"{_span(div)} diverged, the error growing by {_n(div[0]['rho'])} per "
                     f"step{at}")
    text = f"On {first}, gd at " + "; ".join(parts)
    if best:
        text += (f"; the fastest to Δf ≤ 1e-6 was {' and '.join(_rate(d['r']) for d in best)} "
                 f"({_n(fastest)} iteration{'s' if fastest != 1 else ''}, median over seeds)")
    others = [d for d in rates if d["problem"] != first]
    if others:
        regime_of = {d["r"]: d["regime"] for d in main}
        shared = [d for d in others if d["r"] in regime_of]
        same = sum(regime_of[d["r"]] == d["regime"] for d in shared)
        text += (f", and on {others[0]['problem']} the measured regime was the same at "
                 f"{same} of its {len(shared)} shared rates")
    return text + "."


def _schema() -> str:
    from optbench.report.vl import SCHEMA_URL  # the Vega-Lite version the page's JS draws

    return SCHEMA_URL


def _records(frame, columns: dict[str, Any]) -> list[dict]:
    """Rows of ``frame`` as JSON-ready dicts: ``columns`` maps a field to a function of the
    row (floats rounded to 4 significant digits; NaN/inf written as null)."""
    out = []
    for row in frame.to_dict("records"):
        out.append({name: fn(row) for name, fn in columns.items()})
    return out


def regimes_chart(frame) -> dict:
    """The figure as a Vega-Lite spec: per problem (a row) the contraction per step ρ̂
    against r with the theory's curve, and the iterations to Δf ≤ 1e-6, over the regime
    bands; each run a point coloured by its measured regime, its values on hover."""
    import numpy as np

    r_max = max(2.4, float(frame.r.max()) * 1.06)
    y_top = max(1.3, float(np.nanmax(frame.rho.to_numpy(dtype=float), initial=0)) * 1.08)
    grid = np.linspace(0, r_max, 121)
    top = max(1.0, float(np.nanmax(frame.iters.to_numpy(dtype=float), initial=1)))
    never = 10 ** math.ceil(math.log10(top) + 0.25)
    x_scale = {"domain": [0, _sig(r_max)], "nice": False}
    x = {"field": "r", "type": "quantitative", "scale": x_scale,
         "title": "learning rate r = η·L (units of 1/L)"}
    colour = {"field": "regime", "type": "nominal", "title": "measured regime",
              "scale": {"domain": list(REGIMES), "range": list(REGIMES.values())},
              "legend": {"orient": "top", "symbolOpacity": 1}}
    shape = {"field": "reached", "type": "nominal", "title": "Δf ≤ 1e-6 reached",
             "scale": {"domain": ["yes", "never"], "range": ["circle", "triangle-up"]},
             "legend": {"orient": "top", "symbolOpacity": 1}}
    tips = [{"field": "problem", "type": "nominal"},
            {"field": "rate", "type": "nominal"},
            {"field": "seed", "type": "quantitative"},
            {"field": "regime", "type": "nominal", "title": "measured regime"},
            {"field": "rho", "type": "quantitative", "title": "measured ρ̂ per step",
             "format": ".4g"},
            {"field": "theory", "type": "quantitative", "title": "theory's contraction",
             "format": ".4g"},
            {"field": "iters", "type": "quantitative", "title": "iterations to Δf ≤ 1e-6"},
            {"field": "status", "type": "nominal"}]
    bands = {"values": [
        {"a": 0, "b": 1, "name": "monotone (slow when r ≪ 1)", "fill": "#4c78a8"},
        {"a": 1, "b": 2, "name": "overshoot, oscillate", "fill": "#f58518"},
        {"a": 2, "b": _sig(r_max), "name": "diverge", "fill": "#e45756"},
    ]}
    marks = {"values": [{"r": 1, "text": "1/L: one step"}, {"r": 2, "text": "2/L"}]}

    def backdrop(labelled: bool) -> list[dict]:
        layers = [
            {"data": bands, "mark": {"type": "rect", "fillOpacity": 0.09},
             "encoding": {"x": {"field": "a", "type": "quantitative", "scale": x_scale},
                          "x2": {"field": "b"},
                          "fill": {"field": "fill", "type": "nominal", "scale": None},
                          "tooltip": [{"field": "name", "type": "nominal",
                                       "title": "theory's regime"}]}},
            {"data": marks, "mark": {"type": "rule", "color": "#333", "strokeDash": [4, 3]},
             "encoding": {"x": {"field": "r", "type": "quantitative", "scale": x_scale}}},
        ]
        if labelled:
            layers += [
                {"data": bands, "mark": {"type": "text", "align": "left", "dx": 4, "dy": 8,
                                         "baseline": "top", "fontSize": 11, "color": "#555"},
                 "encoding": {"x": {"field": "a", "type": "quantitative"},
                              "y": {"value": 0}, "text": {"field": "name"}}},
                {"data": marks, "mark": {"type": "text", "align": "left", "dx": 3, "dy": -4,
                                         "fontSize": 11, "fontWeight": "bold"},
                 "encoding": {"x": {"field": "r", "type": "quantitative"},
                              "y": {"value": 40}, "text": {"field": "text"}}},
            ]
        return layers

    def points(values: str, y: dict) -> dict:
        return {"data": {"name": values},
                "mark": {"type": "point", "filled": True, "size": 70, "opacity": 0.75},
                "encoding": {"x": x, "y": y, "color": colour, "shape": shape,
                             "tooltip": tips}}

    rows, datasets = [], {}
    for i, problem in enumerate(dict.fromkeys(frame.problem)):
        sub = frame[frame.problem == problem]
        # the theory's max(|1 − r·μ/L|, |1 − r|): μ/L recovered from a stored run
        ratio = 1.0
        for r, th in zip(sub.r, sub.theory, strict=True):
            if r > 0 and abs(th - abs(1 - r)) > 1e-12:
                ratio = (1 - th) / r
                break
        theory = [{"r": _sig(v), "theory": _sig(max(abs(1 - v * ratio), abs(1 - v)))}
                  for v in grid]
        values = f"runs-{i}"  # one copy, drawn in both panels
        datasets[values] = _records(sub, {
            "problem": lambda d: d["problem"],
            "rate": lambda d: _rate(d["r"]),
            "r": lambda d: _sig(d["r"]),
            "seed": lambda d: int(d["seed"]),
            "rho": lambda d: _sig(d["rho"]),
            "theory": lambda d: _sig(d["theory"]),
            "regime": lambda d: d["regime"],
            "iters": lambda d: _sig(d["iters"]),
            "iters_y": lambda d: (max(_sig(d["iters"]) or 0.0, 0.9) if math.isfinite(d["iters"])
                                  else never),
            "reached": lambda d: "yes" if math.isfinite(d["iters"]) else "never",
            "status": lambda d: d["status"],
        })
        left = {
            "title": f"{problem}: error contraction per update", "width": 470, "height": 200,
            "layer": [
                *backdrop(i == 0),
                {"data": {"values": [{"y": 1}]}, "mark": {"type": "rule", "color": "#999",
                                                          "strokeWidth": 0.8},
                 "encoding": {"y": {"field": "y", "type": "quantitative"}}},
                {"data": {"values": theory},
                 "mark": {"type": "line", "color": "black", "strokeDash": [6, 3],
                          "strokeWidth": 1.2},
                 "encoding": {"x": x, "y": {"field": "theory", "type": "quantitative"}}},
                points(values, {"field": "rho", "type": "quantitative",
                                "title": ["measured ρ̂ per step", "(dashed: theory)"],
                                "scale": {"domain": [0, _sig(y_top)], "nice": False}}),
            ],
        }
        right = {
            "title": f"{problem}: iterations to Δf ≤ 1e-6", "width": 400, "height": 200,
            "layer": [
                *backdrop(False),
                {"data": {"values": [{"y": never, "t": "never reached"}]},
                 "mark": {"type": "rule", "color": "#999", "strokeDash": [2, 2]},
                 "encoding": {"y": {"field": "y", "type": "quantitative"}}},
                {"data": {"values": [{"y": never, "t": "never reached"}]},
                 "mark": {"type": "text", "align": "left", "dy": -6, "x": 4,
                          "fontSize": 10, "color": "#666"},
                 "encoding": {"y": {"field": "y", "type": "quantitative"},
                              "text": {"field": "t"}}},
                points(values, {"field": "iters_y", "type": "quantitative",
                                "title": "iterations to Δf ≤ 1e-6",
                                "scale": {"type": "log", "domain": [0.8, never * 1.3],
                                          "nice": False}}),
            ],
        }
        rows.append({"hconcat": [left, right], "resolve": {"scale": {"y": "independent"}}})
    return {
        "$schema": _schema(),
        "datasets": datasets,
        "vconcat": rows,
        "resolve": {"scale": {"color": "shared", "shape": "shared"}},
        "config": {"axis": {"labelFontSize": 11, "titleFontSize": 12},
                   "title": {"fontSize": 13, "anchor": "start"}},
    }


def regimes_block(ctx) -> str | None:
    """Claim (c): the figure over the rate axis and its sentence, or None when the store has
    no gd rate sweep on quadratic-1d or the standardized line fit."""
    from optbench.report import esc
    from optbench.report.vega import chart_html

    frame = regime_rows(ctx)
    if not len(frame):
        return None
    sentence = regimes_sentence(frame)
    problems = " and ".join(dict.fromkeys(frame.problem))
    plain = bool(((frame.theory - (1 - frame.r).abs()).abs() <= 1e-12).all())
    kappa = "; μ = L here, so |1 − r|" if plain else ""
    caption = (
        f"Gradient descent at constant rates on {problems}, the rate in units of 1/L "
        "(r = η·L). Left: the error's mean contraction per update measured over each run, "
        "ρ̂ = (‖x_T − x*‖/‖x_0 − x*‖)^(1/T), one point per run, against the theory's "
        f"max(|1 − r·μ/L|, |1 − r|) (dashed{kappa}); above the grey line at 1 "
        "the error grows. Right: the stored iterations to Δf ≤ 1e-6 (triangles on the "
        "dotted line: never reached). Bands: the theory's regimes — below 1/L the iterate "
        "approaches from one side (slow when r ≪ 1), at 1/L it lands in one step, between "
        "1/L and 2/L it overshoots and oscillates while converging, above 2/L it diverges. "
        "Colour: the regime each run showed (crossings of the minimum, ρ̂ against 1, the "
        "first step). Hover a point for its values."
    )
    return (
        chart_html(regimes_chart(frame), f"the learning-rate regimes on {problems}",
                   caption, name="lesson-regimes")
        + f"<p class='lead'>{esc(sentence)}</p>"
    )


# --- claim (d): minibatches ----------------------------------------------------------


def _schedules(ctx, runs):
    """``(key, constant label, [decaying labels])`` of the first problem with minibatch
    gradients where gd ran at a constant rate and, from the same base rate, decaying."""
    if not len(runs) or "hp.lr" not in runs:
        return None
    for key in dict.fromkeys(runs.problem_key):
        params = (ctx.problems.get(key) or {}).get("params") or {}
        if params.get("batch_size") is None:
            continue
        on = runs[(runs.problem_key == key) & (runs.optimizer == "gd")]
        on = on[~on.status.isin(("skipped", "error"))]
        const = constant_gd(on)
        decay = on[~on.index.isin(const.index)]
        for lr, g in decay.groupby("hp.lr", sort=False):
            same = const[(const["hp.lr"].astype(float) - float(lr)).abs()
                         <= 1e-12 * abs(float(lr))]
            if len(same):
                return key, same.label.iloc[0], list(dict.fromkeys(g.label))
    return None


def minibatch_rows(ctx):
    """What claim (d) draws, or None: ``{"key", "title", "constant", "schedules",
    "batch_size", "curves": DataFrame(label, t, median, q25, q75), "floors":
    DataFrame(label, floor, final, runs)}`` — the floor is the median e_ss_gap, the final
    gap the median gap_final, both over seeds."""
    import pandas as pd

    from optbench.report.noise import floor_table, noise_data

    runs = _baseline(ctx)
    found = _schedules(ctx, runs)
    if found is None:
        return None
    key, constant, schedules = found
    labels = [constant, *schedules]
    data = ctx.problem_data[key]
    chosen = runs[(runs.problem_key == key) & runs.label.isin(labels)]
    payload = noise_data(data.select(data.runs.run_id.isin(set(chosen.run_id)).to_numpy()))
    if not payload["runs"] or constant not in payload["labels"]:
        return None
    payload["labels"] = [lab for lab in labels if lab in payload["labels"]]
    curves = smoothed_gaps(ctx, chosen, payload["labels"], payload["f_ref"] or 0.0)
    floor = payload["floor"]
    for col in ("median", "q25", "q75"):
        curves[col] = curves[col].clip(lower=floor)
    table = floor_table(payload)
    floors = pd.DataFrame({
        "label": table.optimizer, "floor": table.e_ss_gap_median,
        "final": table.gap_final_median, "runs": table.runs,
    })
    return {
        "key": key, "title": ctx.problem_title(key), "constant": constant,
        "schedules": [s for s in schedules if s in payload["labels"]],
        "batch_size": (ctx.problems[key].get("params") or {}).get("batch_size"),
        "curves": curves,
        "floors": floors,
    }


BINS = 50  # log-spaced windows of iterations the smoothed gap is averaged over


def smoothed_gaps(ctx, chosen, labels: list[str], f_ref: float):
    """The smoothed raw gap of each label: per run the mean of ``f(x_t) − f_ref`` over
    log-spaced windows of iterations (one iterate wide at the start, about 13 % of t later),
    then the median and quartiles over seeds; a DataFrame (label, t, median, q25, q75, runs)
    with ``t`` the window's centre (geometric, in ``t + 1``).

    Why not the stored ``f_ema`` (:mod:`optbench.noise`): it starts at ``f_0``, so in a fast
    first descent its memory holds the curve up for about ``span·ln(gap_0/gap)/2`` updates (a
    hundred and more here) — a drop that is not in the runs. A window mean keeps what the
    EMA is for (the mean of a skewed, noisy gap, as the floor ``e_ss_gap`` is a mean) with no
    lag; the floors themselves are the noise module's."""
    import numpy as np
    import pandas as pd

    traces = ctx.traces(chosen.run_id.tolist())
    runs: dict[str, list] = {lab: [] for lab in labels}
    top = 1.0
    for rid, lab in zip(chosen.run_id.tolist(), chosen.label.tolist(), strict=True):
        tr = traces.get(rid)
        if lab not in runs or not tr or "f" not in tr or not len(tr["f"]):
            continue
        t = np.asarray(tr.get("t", np.arange(len(tr["f"]))), dtype=float)
        with np.errstate(invalid="ignore", over="ignore"):
            gap = np.asarray(tr["f"], dtype=float) - f_ref
        runs[lab].append((t, gap))
        top = max(top, float(t[-1]))
    # windows [e_i, e_(i+1)) of t; the first ones one iterate wide
    edges = np.unique(np.round(np.geomspace(1, top + 2, BINS)) - 1)
    centre = np.sqrt(edges[:-1] + 1) * np.sqrt(edges[1:])  # in t + 1, for the log axis
    rows = []
    for lab in labels:
        means = []
        for t, gap in runs[lab]:
            ok = np.isfinite(gap)
            at = np.searchsorted(edges, t[ok], side="right") - 1
            inside = (at >= 0) & (at < len(centre))
            n = np.bincount(at[inside], minlength=len(centre)).astype(float)
            total = np.bincount(at[inside], weights=gap[ok][inside], minlength=len(centre))
            with np.errstate(invalid="ignore", divide="ignore"):
                means.append(np.where(n > 0, total / n, np.nan))
        if not means:
            continue
        m = np.asarray(means)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # windows past every run's end
            q = np.nanpercentile(m, [25, 50, 75], axis=0)
        count = np.sum(np.isfinite(m), axis=0)
        for i in np.flatnonzero(count > 0):
            rows.append({"label": lab, "t": float(centre[i]), "median": float(q[1, i]),
                         "q25": float(q[0, i]), "q75": float(q[2, i]), "runs": int(count[i])})
    return pd.DataFrame(rows, columns=["label", "t", "median", "q25", "q75", "runs"])


def _schedule_of(label: str) -> str:
    """The schedule as its label writes it: ``gd[lr=0.5/L,schedule=cosine(T=400)]`` ->
    ``cosine(T=400)``; ``constant`` without one."""
    at = label.find("schedule=")
    if at < 0:
        return "constant"
    depth, start = 0, at + len("schedule=")
    for i in range(start, len(label)):
        ch = label[i]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            if depth == 0:
                return label[start:i]
            depth -= 1
        elif ch == "," and depth == 0:
            return label[start:i]
    return label[start:]


def minibatch_sentence(m: dict) -> str:
    floors = m["floors"].set_index("label")
    c = floors.loc[m["constant"]]
    parts = []
    for s in m["schedules"]:
        fin = float(floors.loc[s, "final"])
        ratio = float(c["floor"]) / fin if fin > 0 else math.nan
        word = "below" if fin < c["floor"] else "above"
        times = f", {_n(ratio)}× {word}" if math.isfinite(ratio) and word == "below" else \
            f", {word} it"
        parts.append(f"with {_schedule_of(s)} it ended at {_n(fin)}{times}")
    return (
        f"On {m['title']} (minibatch gradients of {m['batch_size']} points), "
        f"{m['constant']} at a constant rate levelled off at a floor of "
        f"{_n(float(c['floor']))} (median over {int(c['runs'])} seeds of the mean gap over "
        f"a run's last 10 %), where its gradient noise holds it, while from the same rate "
        + "; ".join(parts) + " (median final gap f − f*)."
    )


def minibatch_chart(m: dict, colours: dict[str, str]) -> dict:
    """Smoothed raw gap against iterations (log–log), the floor of each label a dashed level
    with its value, and a radio button choosing the schedule set against the constant rate;
    as a Vega-Lite spec."""
    labels = [m["constant"], *m["schedules"]]
    palette = [colours.get(lab, "#333333") for lab in labels]
    curves = _records(m["curves"], {
        "label": lambda d: d["label"],
        "schedule": lambda d: _schedule_of(d["label"]),
        "t": lambda d: _sig(d["t"]),
        "median": lambda d: _sig(d["median"]),
        "q25": lambda d: _sig(d["q25"]),
        "q75": lambda d: _sig(d["q75"]),
        "runs": lambda d: int(d["runs"]),
    })
    t_end = float(m["curves"].t.max()) if len(m["curves"]) else 1.0
    floors = m["floors"][m["floors"].label.isin(labels) & (m["floors"]["floor"] > 0)]
    heights = _spread([float(v) for v in floors["floor"]], m["curves"])
    levels = [
        {"label": lab, "schedule": _schedule_of(lab), "floor": _sig(fl), "final": _sig(fin),
         "text": f"floor {_n(fl)}", "text_y": y, "t0": 1, "t1": _sig(t_end)}
        for lab, fl, fin, y in zip(floors.label, floors["floor"], floors.final, heights,
                                   strict=True)
    ]
    shown = {"filter": f"datum.label == {_js(m['constant'])} || schedule == 'all' "
                       "|| datum.label == schedule"}
    scale = {"domain": labels, "range": palette}
    colour = {"field": "label", "type": "nominal", "title": None, "scale": scale,
              "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 600,
                         "symbolType": "stroke", "symbolOpacity": 1,
                         "symbolStrokeWidth": 3}}
    quiet = {"field": "label", "type": "nominal", "scale": scale, "legend": None}
    x = {"field": "t", "type": "quantitative", "title": "iteration t + 1",
         "scale": {"type": "log"}}
    y_title = "smoothed f(x_t) − f*"
    y = {"field": "median", "type": "quantitative", "title": y_title,
         "scale": {"type": "log"}}
    log_x = {"type": "quantitative", "scale": {"type": "log"}}
    return {
        "$schema": _schema(),
        "datasets": {"curves": curves},
        "title": f"{m['title']}: constant rate against decaying schedules",
        "width": 720, "height": 300,
        "params": [{
            "name": "schedule", "value": m["schedules"][0],
            "bind": {"input": "radio", "options": ["all", *m["schedules"]],
                     "labels": ["all", *(_schedule_of(s) for s in m["schedules"])],
                     "name": "decaying schedule: "},
        }],
        "layer": [
            {"data": {"name": "curves"}, "transform": [shown],
             "mark": {"type": "area", "opacity": 0.15},
             "encoding": {"x": x, "y": {"field": "q75", "type": "quantitative",
                                        "title": y_title, "scale": {"type": "log"}},
                          "y2": {"field": "q25"}, "color": colour}},
            {"data": {"name": "curves"}, "transform": [shown],
             "mark": {"type": "line", "strokeWidth": 2},
             "encoding": {"x": x, "y": y, "color": colour}},
            {"data": {"values": levels}, "transform": [shown],
             "mark": {"type": "rule", "strokeDash": [6, 3], "strokeWidth": 1.5},
             "encoding": {
                 "x": {"field": "t0", **log_x}, "x2": {"field": "t1"},
                 "y": {"field": "floor", "type": "quantitative"}, "color": quiet,
                 "tooltip": [{"field": "schedule", "type": "nominal"},
                             {"field": "floor", "type": "quantitative",
                              "title": "floor (median e_ss_gap)", "format": ".3g"},
                             {"field": "final", "type": "quantitative",
                              "title": "median final gap", "format": ".3g"}]}},
            {"data": {"values": levels}, "transform": [shown],
             "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11,
                      "fontWeight": "bold"},
             "encoding": {"x": {"field": "t1", **log_x},
                          "y": {"field": "text_y", "type": "quantitative"},
                          "text": {"field": "text"}, "color": quiet}},
            {"data": {"name": "curves"}, "transform": [shown],
             "mark": {"type": "circle", "size": 45, "opacity": 0.01},
             "encoding": {
                 "x": x, "y": y, "color": quiet,
                 "tooltip": [{"field": "schedule", "type": "nominal"},
                             {"field": "t", "type": "quantitative", "title": "iteration t + 1",
                              "format": ".3g"},
                             {"field": "median", "type": "quantitative",
                              "title": "smoothed gap (median)", "format": ".3g"},
                             {"field": "q25", "type": "quantitative", "title": "25 %",
                              "format": ".3g"},
                             {"field": "q75", "type": "quantitative", "title": "75 %",
                              "format": ".3g"},
                             {"field": "runs", "type": "quantitative", "title": "seeds"}]}},
        ],
        "config": {"axis": {"labelFontSize": 11, "titleFontSize": 12},
                   "title": {"fontSize": 13, "anchor": "start"}, "view": {"strokeWidth": 0}},
    }


def _spread(levels: list, curves) -> list:
    """Heights for the floors' labels: at their levels, pushed apart (on the log axis) so
    that no label covers another."""
    import numpy as np

    vals = [v for v in (*levels, *curves.q25, *curves.q75) if v is not None and v > 0]
    if not vals:
        return list(levels)
    span = max(np.log10(max(vals)) - np.log10(min(vals)), 1.0)
    gap = 0.05 * span
    order = sorted((i for i, v in enumerate(levels) if v is not None and v > 0),
                   key=lambda i: levels[i])
    out = [_sig(v) for v in levels]
    last = -math.inf
    for i in order:
        y = max(math.log10(levels[i]), last + gap)
        out[i], last = _sig(10**y), y
    return out


def _js(text: str) -> str:
    import json

    return json.dumps(text).replace("'", "\\'")


def minibatch_block(ctx) -> str | None:
    """Claim (d): the figure with its schedule selector and its sentence, or None when the
    store has no gd at a constant and a decaying rate on a minibatch problem."""
    from optbench.report import esc
    from optbench.report.vega import chart_html

    m = minibatch_rows(ctx)
    if m is None:
        return None
    caption = (
        f"Minibatch gradients on {m['title']}: the raw gap f(x_t) − f* of the full-data "
        "loss, smoothed: per run its mean over log-spaced windows of iterations (one iterate "
        "wide at first, about 13 % of t later), then the median over seeds with the 25–75 % "
        "band, log–log. The dashed level and its value at the right: "
        "the floor each reaches, the median over seeds of e_ss_gap (the mean gap over a "
        "run's last 10 %). The constant rate stalls at the floor its gradient noise sets; a "
        "decaying rate shrinks the noise's steps and goes on down. Pick a schedule to set "
        "against the constant rate, or all; hover for values."
    )
    return (
        chart_html(minibatch_chart(m, ctx.colours), f"constant against decaying rates on "
                   f"{m['title']}", caption, name="lesson-minibatch")
        + f"<p class='lead'>{esc(minibatch_sentence(m))}</p>"
    )
