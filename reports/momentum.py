"""Heavy-ball momentum: a slider over β and the learning rate, and the lr × β phase diagram
(``docs/momentum.md``).

On a deterministic 1-D problem with a constant Hessian (curvature L), heavy ball — an
optimizer that declared the ``heavy-ball`` theory model when it registered — moves the error
``e_t = x_t − x*`` by the linear recurrence ``e_{t+1} = (1 + β − k)·e_t − β·e_{t−1}`` with
``k = η·L``. Its poles solve ``z² − (1 + β − k)·z + β = 0``; the regions of the (k, β) plane
(Goh, "Why Momentum Really Works", Distill 2017):

* ``k ≤ (1 − √β)²``: real positive poles (over-damped), the error never changes sign;
* ``(1 − √β)² < k < (1 + √β)²``: complex poles of modulus √β (under-damped), the run
  oscillates about x* and its rate is √β;
* ``(1 + √β)² ≤ k < 2(1 + β)``: a negative real pole, the error flips sign and converges;
* ``k = 2(1 + β)``: a pole at −1, a period-2 orbit; beyond it the run diverges.

The section places every stored setting (a *cell*: one k and one β, its seeds pooled) on that
plane, coloured by its measured rate over the predicted rate max|z| drawn underneath, says
how many cells behaved as their region predicts, and lets the reader pick a cell with two
sliders to redraw its path on the loss curve, its signed error and its loss, each beside
the theory's path. Everything shown is read from the store (runs, traces, the problem's L
and x*, the optimizer's theory mapping); the theory is :mod:`optbench.theory`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optbench import register_section
from optbench.report import Section, esc, note_html

AGREE = 0.1  # a measured rate within 10 % of the predicted one agrees (as the lesson's)
TARGET = "1e-6"  # the gap the fastest settings are compared at (as the lesson's)
T_SHOW = 200  # updates drawn at most
SETTLED = 1e-5  # the predicted path is cut once |e_t/e_0| stays below this
CLIP = 1e3  # |e_t/e_0| above this is off every axis
GRID_K, GRID_B = 56, 40  # the theory's rate map under the cells

# what each region of the plane predicts, and the behaviour a run of it should show
REGION_TEXT = {
    "over-damped": "over-damped: real positive poles, the error never changes sign",
    "critically-damped": "critically damped: a double pole",
    "under-damped": "under-damped: complex poles of modulus √β, it oscillates about x*",
    "oscillating-convergent": "a negative real pole: the error flips sign and shrinks",
    "period-2": "a pole at −1: a period-2 orbit about x*",
    "divergent": "a pole outside the unit circle: it diverges",
}
SHAPES = {"rate fitted": "circle", "no rate fitted": "square", "diverged or cycled": "cross"}
CLASS_TEXT = {
    "monotone": "never crossed x*",
    "crossing": "crossed x*",
    "cycle": "ended in a cycle",
    "diverged": "diverged",
}


# -- the theory of the (k, β) plane -----------------------------------------------------------


def predicted_rate(k: Any, beta: Any) -> Any:
    """The largest pole modulus of ``z² − (1 + β − k)z + β``, elementwise: the rate per update
    at which heavy ball's error shrinks (grows, above 1)."""
    import numpy as np

    k, beta = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(beta, dtype=float))
    b = 1.0 + beta - k
    disc = b * b - 4.0 * beta
    with np.errstate(invalid="ignore"):
        real = (np.abs(b) + np.sqrt(np.maximum(disc, 0.0))) / 2.0
    out = np.where(disc < 0, np.sqrt(np.maximum(beta, 0.0)), real)
    return out.item() if out.ndim == 0 else out


def phase_region(k: Any, beta: Any, rtol: float = 1e-9) -> Any:
    """The region of ``(k, β)``, elementwise, with :data:`optbench.theory.HEAVY_BALL_REGIMES`'
    names (``over-damped`` … ``divergent``); an edge within ``rtol`` is the edge's own region
    (``critically-damped``, ``period-2``)."""
    import numpy as np

    k, beta = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(beta, dtype=float))
    if np.any(~((beta >= 0) & (beta < 1))):
        raise ValueError(f"beta must be in [0, 1), got {beta[~((beta >= 0) & (beta < 1))][0]}")
    if np.any(~(k > 0)):
        raise ValueError(f"k = lr·L must be > 0, got {k[~(k > 0)][0]}")
    s = np.sqrt(beta)
    lo, hi, edge = (1 - s) ** 2, (1 + s) ** 2, 2 * (1 + beta)
    out = np.select(
        [
            np.abs(k - edge) <= rtol * edge,
            k > edge,
            (np.abs(k - lo) <= rtol * np.maximum(lo, 1e-300)) | (np.abs(k - hi) <= rtol * hi),
            k < lo,
            k < hi,
        ],
        ["period-2", "divergent", "critically-damped", "over-damped", "under-damped"],
        "oscillating-convergent",
    ).astype(object)
    return out.item() if out.ndim == 0 else out


def expected_class(k: float, beta: float) -> str:
    """What a run of the region should do: ``monotone`` (never cross x*), ``crossing``,
    ``cycle`` or ``diverged``. At the lower edge of the band the double pole is positive (no
    crossing), at the upper edge negative."""
    region = phase_region(k, beta)
    if region == "critically-damped":
        return "monotone" if k < 1 + beta else "crossing"
    return {"over-damped": "monotone", "period-2": "cycle", "divergent": "diverged"}.get(
        region, "crossing")


def measured_class(status: str, n_cross: float) -> str:
    """What a run did: ``diverged`` (or went non-finite), ``cycle``, ``crossing`` (crossed x*
    at least once) or ``monotone``."""
    if status in ("diverged", "non-finite"):
        return "diverged"
    if status == "cycle":
        return "cycle"
    return "crossing" if n_cross == n_cross and n_cross > 0 else "monotone"


def predicted_path(k: Any, beta: Any, horizon: int):
    """``e_t/e_0`` of heavy ball (PyTorch form, starting at rest) for t = 0..horizon: shape
    ``(horizon + 1,)``, or ``(horizon + 1, B)`` for arrays of B settings."""
    import numpy as np

    from optbench import theory

    k, beta = np.asarray(k, dtype=float), np.asarray(beta, dtype=float)
    if k.ndim == 0:
        return theory.heavy_ball_error_path(np.full(horizon, k), [1.0], [1.0], beta)[:, 0]
    rates = np.broadcast_to(k, (horizon, k.size))
    return theory.heavy_ball_error_path(rates, [1.0], np.ones((k.size, 1)), beta)[..., 0]


def first_crossing(path) -> int | None:
    """The first update t at which ``e_t/e_0`` is below zero (None: not within the path)."""
    import numpy as np

    below = np.flatnonzero(path < -1e-9)
    return int(below[0]) if below.size else None


# -- the cells --------------------------------------------------------------------------------


@dataclass
class Grid:
    """The heavy-ball cells of one problem, and the constant-rate GD runs beside them."""

    key: str  # problem_key
    optimizer: str  # the heavy-ball optimizer's name
    L: float
    x_star: float
    cells: Any  # DataFrame, one row per (k, β), sorted by β then k
    gd: Any  # DataFrame of the constant-rate GD settings on the problem (may be empty)


def _theory(ctx, name: str) -> dict | None:
    return (ctx.components.get(("optimizer", name)) or {}).get("theory")


def _constant_plain(runs, th: dict):
    """The runs whose update is the model's plain one at a constant rate."""
    from optbench.theory_mapping import is_off

    keep = runs[f"hp.{th['lr']}"].map(lambda v: isinstance(v, int | float) and v > 0)
    for off in th.get("off") or ():
        col = f"hp.{off}"
        if col in runs:
            keep &= runs[col].map(lambda v: is_off(None if v != v else v))
    sched = th.get("schedule")
    if sched and f"hp.{sched}" in runs:
        keep &= runs[f"hp.{sched}"].map(
            lambda v: v is None or v != v or str(v).strip() in ("constant", "constant()"))
    return runs[keep.astype(bool)]


def _eligible(info: dict) -> bool:
    """A deterministic 1-D problem with a constant Hessian, a known L, x* and f*."""
    return (info.get("dim") == 1 and info.get("hessian") is not None and bool(info.get("L"))
            and not info.get("stochastic") and info.get("x_star") is not None
            and info.get("f_star") is not None)


def _median(values) -> float:
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else math.nan


def _reached(g) -> float:
    """The median evaluations to Δf ≤ TARGET when every run got there, else NaN."""
    col = f"hit_cost_{TARGET}"
    if col not in g or g[col].isna().any():
        return math.nan
    return _median(g[col])


def heavy_ball_grid(ctx) -> Grid | None:
    """The problem with the most heavy-ball cells (first seen on a tie), or None."""
    runs = ctx.runs
    if not len(runs):
        return None
    if len(ctx.sources) > 1:  # the baseline's runs speak here; Comparison compares
        runs = runs[runs.source == ctx.baseline]
    runs = runs[runs.status != "skipped"]
    models = {n: _theory(ctx, n) for n in dict.fromkeys(runs.optimizer)}
    best = None
    for key in dict.fromkeys(runs.problem_key):
        info = ctx.problems.get(key) or {}
        if not _eligible(info):
            continue
        here = runs[runs.problem_key == key]
        for name, th in models.items():
            if not th or th.get("model") != "heavy-ball" or f"hp.{th['beta']}" not in here:
                continue
            hb = _constant_plain(here[here.optimizer == name], th)
            if not len(hb):
                continue
            cells = _cells(hb, th, float(info["L"]))
            if best is None or len(cells) > len(best[2]):
                best = (key, name, cells, info)
    if best is None:
        return None
    key, name, cells, info = best
    here = runs[runs.problem_key == key]
    gd = [_gd_cells(_constant_plain(here[here.optimizer == n], th), th, float(info["L"]))
          for n, th in models.items() if th and th.get("model") == "gd"]
    import pandas as pd

    gd = pd.concat(gd, ignore_index=True) if gd else pd.DataFrame()
    x_star = float(sum(info["x_star"], [])[0]) if isinstance(info["x_star"][0], list) \
        else float(info["x_star"][0])
    return Grid(key, name, float(info["L"]), x_star, cells, gd)


def _cells(hb, th: dict, L: float):
    """One row per (k, β) of the heavy-ball runs ``hb``: what was measured (medians over the
    seeds) beside what the theory predicts."""
    import numpy as np
    import pandas as pd

    hb = hb.assign(_k=(hb[f"hp.{th['lr']}"].astype(float) * L).round(10),
                   _b=hb[f"hp.{th['beta']}"].astype(float).round(10))
    hb = hb[(hb._b >= 0) & (hb._b < 1)]
    rows = []
    for (k, b), g in hb.groupby(["_k", "_b"], sort=True):
        first = g.sort_values("seed").iloc[0]
        classes = [measured_class(s, n) for s, n in
                   zip(g.status, g.get("n_cross", pd.Series(np.nan, index=g.index)), strict=True)]
        seen = max(set(classes), key=lambda c: (classes.count(c), -list(CLASS_TEXT).index(c)))
        want = expected_class(k, b)
        verdict, cross = "agrees" if seen == want else "differs", None
        if want == "crossing" and seen == "monotone" and (g.status == "converged").all():
            # did the runs stop (on reaching the tolerance) before the first crossing?
            horizon = min(int(np.nanmax(g.n_iter.astype(float))) + 2, 4096)
            cross = first_crossing(predicted_path(k, b, horizon))
            if cross is not None and int(g.n_iter.max()) < cross:
                verdict = "stopped early"
        rate, th_rate = _median(g.get("rate_x", [])), float(predicted_rate(k, b))
        statuses = g.status.value_counts()
        rows.append({
            "k": float(k), "beta": float(b), "label": str(first.label),
            "run_id": str(first.run_id), "n": len(g),
            "status": ", ".join(f"{n} {s}" for s, n in statuses.items()),
            "region": phase_region(k, b), "expected": want, "seen": seen, "verdict": verdict,
            "first_cross": cross, "n_iter": _median(g.n_iter),
            "rate": rate, "th_rate": th_rate,
            "rate_ok": (abs(rate - th_rate) <= AGREE * th_rate
                        if math.isfinite(rate) and th_rate > 0 else None),
            "po": _median(g.get("po", [])), "th_po": _median(g.get("th_po", [])),
            "n_cross": _median(g.get("n_cross", [])), "reach": _reached(g),
        })
    cells = pd.DataFrame(rows)
    if len(cells):
        cells = cells.sort_values(["beta", "k"], ignore_index=True)
        cells["c"] = range(len(cells))
    return cells


def _gd_cells(gd, th: dict, L: float):
    import pandas as pd

    rows = []
    groups = (gd.groupby((gd[f"hp.{th['lr']}"].astype(float) * L).round(10), sort=True)
              if len(gd) else ())
    for k, g in groups:
        rows.append({"k": float(k), "label": str(g.label.iloc[0]), "n": len(g),
                     "rate": _median(g.get("rate_x", [])), "reach": _reached(g)})
    return pd.DataFrame(rows)


# -- the words --------------------------------------------------------------------------------


def _n(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if isinstance(x, int | float) and math.isfinite(x) else "—"


def sentences(grid: Grid, title: str) -> list[str]:
    """What the cells show, in a few sentences drawn from them."""
    cells = grid.cells
    n = len(cells)
    seeds = sorted(set(cells.n))
    seeds_text = f"{seeds[0]} seed{'s' if seeds[0] > 1 else ''}" if len(seeds) == 1 else \
        f"{seeds[0]}–{seeds[-1]} seeds"
    agree = int((cells.verdict == "agrees").sum())
    early = int((cells.verdict == "stopped early").sum())
    differ = n - agree - early
    setting = "setting" if n == 1 else "settings"
    out = [
        f"On {title} (L = {_n(grid.L)}), {grid.optimizer} ran at {n} {setting} of lr × β "
        f"({seeds_text} each): {agree} of {n} behaved as the theory's region predicts "
        "(no crossing of x* below lr = (1 − √β)²/L, crossings above it, divergence past "
        "lr = 2(1 + β)/L)"
        + (f"; {early} reached Δf ≤ the tolerance and stopped before the first crossing the "
           "theory predicts" if early else "")
        + (f"; {differ} did not" if differ else "") + "."
    ]
    fitted = cells[cells.rate_ok.notna()]
    if len(fitted):
        ok = int(fitted.rate_ok.astype(bool).sum())
        worst = fitted.assign(err=(fitted.rate - fitted.th_rate).abs() / fitted.th_rate)
        worst = worst.sort_values("err").iloc[-1]
        out.append(
            f"Where a rate could be fitted ({len(fitted)} of {n}), {ok} measured rates are "
            f"within {AGREE:.0%} of the predicted largest pole modulus"
            + (f"; the farthest, {worst.label}, measured {_n(worst.rate)} against "
               f"{_n(worst.th_rate)}" if ok < len(fitted) else "") + "."
        )
    reach = cells[cells.reach.notna()]
    if len(reach):
        fast = reach.sort_values(["reach", "k"]).iloc[0]
        why = ("; it reached the tolerance before its first predicted crossing"
               if fast.verdict == "stopped early" else
               "; β = 0, gradient descent itself" if fast.beta == 0 else "")
        text = (f"Fastest to Δf ≤ {TARGET}: {fast.label}, {_n(fast['reach'])} evaluations "
                f"(median{why})")
        gd = grid.gd[grid.gd.reach.notna()] if len(grid.gd) else grid.gd
        if len(gd):
            g = gd.sort_values(["reach", "k"]).iloc[0]
            text += f"; the fastest constant-rate gradient descent, {g.label}, {_n(g['reach'])}"
        out.append(text + ".")
    return out


# -- the figure -------------------------------------------------------------------------------


def _r(x: float, digits: int = 4) -> float | None:
    """A float rounded to ``digits`` significant digits for the spec (None: not finite)."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _bins(values: list[float], name: str) -> str:
    """A Vega expression: the index of the value of ``values`` (sorted) nearest to ``name``."""
    mids = [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    return "(" + "+".join(["0"] + [f"({name}>={m:.10g})" for m in mids]) + ")"


def _step(values: list[float]) -> float:
    """The slider's step: the coarsest of 0.1, 0.05, 0.01, … on which every value lies."""
    for step in (0.1, 0.05, 0.01, 0.005, 0.001):
        if all(abs(v / step - round(v / step)) < 1e-6 for v in values):
            return step
    return 0.001


def _cell_lookup(cells, ks: list[float], bs: list[float]) -> list[int]:
    """For every (β, k) pair of the sliders' values, the cell shown: the stored one, else the
    nearest stored cell (in units of each axis' range)."""
    span_k = (max(ks) - min(ks)) or 1.0
    span_b = (max(bs) - min(bs)) or 1.0
    out = []
    for b in bs:
        for k in ks:
            d = ((cells.k - k) / span_k) ** 2 + ((cells.beta - b) / span_b) ** 2
            out.append(int(cells.c.iloc[int(d.to_numpy().argmin())]))
    return out


def _traces(ctx, grid: Grid):
    """Per cell, the first seed's signed error e_t/e_0 and the predicted one (continued past
    the run's end, up to T_SHOW updates, until it settles below SETTLED or leaves CLIP), as
    short lists; and per cell the axes drawn: the last update shown and the largest |e|
    (within [1.1, 3]). On a 1-D quadratic the gap relative to its start is (e_t/e_0)², so
    the figure draws the loss from these."""
    import numpy as np

    cells = grid.cells
    traces = ctx.traces(cells.run_id.tolist())
    rows, t_end, e_lim = [], [], []
    paths = predicted_path(cells.k.to_numpy(), cells.beta.to_numpy(), T_SHOW)
    for c, rid in zip(cells.c, cells.run_id, strict=True):
        e = np.empty(0)
        tr = traces.get(rid)
        if tr and "x" in tr and "f" in tr:
            x = np.asarray(tr["x"], dtype=float).reshape(len(tr["f"]), -1)[:, 0]
            if x[0] != grid.x_star:
                with np.errstate(all="ignore"):
                    e = (x - grid.x_star) / (x[0] - grid.x_star)
                keep = np.isfinite(e) & (np.abs(e) <= CLIP)
                if "t" in tr:  # a long trace is stored thinned: its every-update start only
                    keep &= np.asarray(tr["t"]) == np.arange(len(e))
                e = e[: int(np.argmin(keep)) if not keep.all() else len(e)][: T_SHOW + 1]
        p = paths[:, c]
        out = np.flatnonzero(~(np.abs(p) <= CLIP))
        p = p[: out[0]] if out.size else p
        moving = np.flatnonzero(np.abs(p) >= SETTLED)
        p = p[: moving[-1] + 2] if moving.size else p[:2]
        rows.append({"c": int(c), "label": cells.label.iloc[c],
                     "e": [_r(v, 3) for v in e], "p": [_r(v, 3) for v in p]})
        t_end.append(max(8, len(e) - 1, min(len(p) - 1, 2 * max(len(e) - 1, 1))))
        shown = np.abs(np.concatenate([e, p]))
        e_lim.append(round(float(min(3.0, max(1.1, 1.05 * shown.max()))), 2))
    return rows, t_end, e_lim


def _background(k_max: float):
    """The theory's rate on a GRID_K × GRID_B grid of cells over k ∈ (0, k_max], β ∈ [0, 1)."""
    import numpy as np

    dk, db = k_max / GRID_K, 1.0 / GRID_B
    k = (np.arange(GRID_K) + 0.5) * dk
    b = (np.arange(GRID_B) + 0.5) * db
    kk, bb = np.meshgrid(k, b)  # row-major: β outer, k inner
    rate = predicted_rate(kk, bb).reshape(-1)
    return [{"r": [_r(min(v, 9.9), 2) for v in rate]}], dk, db


EDGES = {  # the region boundaries, as the legend names them: k(β)
    "(1 − √β)²: over-damped below": lambda b: (1 - b**0.5) ** 2,
    "(1 + √β)²: sign flips above": lambda b: (1 + b**0.5) ** 2,
    "2(1 + β): diverges beyond": lambda b: 2 * (1 + b),
}


def _curves(k_max: float) -> list[dict]:
    """The three boundaries of :data:`EDGES` as points (k, β), denser where √β bends."""
    import numpy as np

    b = np.concatenate([[0, 0.002, 0.01, 0.03], np.linspace(0.06, 0.96, 13), [0.99, 0.999]])
    rows = []
    for name, edge in EDGES.items():
        k = edge(b)
        rows += [{"w": name, "k": _r(x), "b": _r(y)}
                 for x, y in zip(k, b, strict=True) if x <= k_max * 1.05]
    return rows


def _lines(cells) -> list[dict]:
    """The text panel: a few lines per cell, measured beside predicted."""
    rows = []
    for r in cells.itertuples():
        verdict = {
            "agrees": "as its region predicts",
            "stopped early": (f"it reached the tolerance at update {_n(r.n_iter)}, before "
                              f"its first predicted crossing (update {r.first_cross})"),
            "differs": "not as its region predicts",
        }[r.verdict]
        rows.append({"c": int(r.c), "s": [
            f"{r.label}   (lr = {_n(r.k)}/L, β = {_n(r.beta)})",
            f"theory: {REGION_TEXT[r.region]}",
            f"rate per update: measured {_n(r.rate)}, predicted {_n(r.th_rate)}",
            f"overshoot: measured {_n(r.po)} %, predicted {_n(r.th_po)} %",
            f"runs: {r.status}; {CLASS_TEXT[r.seen]} ({_n(r.n_cross)} crossings, median)",
            f"→ {verdict}",
        ]})
    return rows


def _named(name: str, *transforms: dict) -> dict:
    """A view's data: the named dataset, through the transforms given."""
    return {"data": {"name": name}, **({"transform": list(transforms)} if transforms else {})}


def _q(field: str, title: str | None = None, **extra) -> dict:
    """A quantitative field definition."""
    out = {"field": field, "type": "quantitative", **extra}
    if title is not None:
        out["title"] = title
    return out


def _tip(field: str, title: str, kind: str = "quantitative") -> dict:
    return {"field": field, "type": kind, "title": title,
            **({"format": ".4g"} if kind == "quantitative" else {})}


def momentum_chart(ctx, grid: Grid) -> dict:
    """The figure's Vega-Lite spec: the phase diagram with the chosen cell ringed and its
    story beside it, then the chosen cell's path on the loss curve, signed error and loss,
    with two sliders (β, lr) where the cells span more than one value of each. Every view
    reads named datasets held once at the top of the spec; the chosen cell is the parameter
    ``cell``, worked out from the sliders.

    Written as the Vega-Lite JSON itself: Altair's layer and concat constructors deep-copy
    every sub-chart to merge parameters, about two seconds for a figure of this many layers.
    """
    cells = grid.cells
    ks, bs = sorted(set(cells.k)), sorted(set(cells.beta))
    k_max = max(2.2, 1.08 * max(ks), min(2 * (1 + max(bs)) + 0.3, 4.2))
    traces, t_end, e_lim = _traces(ctx, grid)
    bg, dk, db = _background(k_max)
    datasets = {
        "hb-theory": bg,
        "hb-edges": _curves(k_max),
        "hb-regions": _region_words(k_max),
        "hb-cells": _cell_rows(cells),
        "hb-story": _lines(cells),
        "hb-traces": traces,
        "hb-bowl": [{"u": i / 40 - 1} for i in range(81)],
    }
    start = cells.iloc[_start_cell(cells)]
    params: list[dict] = []
    for name, values, first, label in (("beta", bs, start.beta, "momentum β "),
                                       ("lrL", ks, start.k, "learning rate × L ")):
        params.append({"name": name, "value": float(first)})
        if len(values) > 1:
            params[-1]["bind"] = {"input": "range", "min": values[0], "max": values[-1],
                                  "step": _step(values), "name": label}
    table = _cell_lookup(cells, ks, bs)
    params += [
        {"name": "cell",
         "expr": f"{table}[{_bins(bs, 'beta')}*{len(ks)}+{_bins(ks, 'lrL')}]"},
        {"name": "tmax", "expr": f"{t_end}[cell]"},
        {"name": "elim", "expr": f"{e_lim}[cell]"},
    ]

    rate_scale = {"scheme": "viridis", "domain": [0, 1], "reverse": True}
    chosen = {"filter": "datum.c == cell"}
    cell_of, row_of = f"(datum.i - 1) % {GRID_K}", f"floor((datum.i - 1) / {GRID_K})"
    rate_colour = {"condition": {"test": "datum.r >= 1", "value": "#e4e4e4"},
                   **_q("r", "rate per update", scale=rate_scale,
                        legend={"orient": "bottom", "direction": "horizontal",
                                "gradientLength": 150})}
    background = {
        **_named("hb-theory", {"flatten": ["r"]},
                 {"window": [{"op": "row_number", "as": "i"}]},
                 {"calculate": f"({cell_of}) * {dk!r}", "as": "k"},
                 {"calculate": f"({cell_of} + 1) * {dk!r}", "as": "k2"},
                 {"calculate": f"{row_of} * {db!r}", "as": "beta"},
                 {"calculate": f"({row_of} + 1) * {db!r}", "as": "b2"}),
        "mark": {"type": "rect", "strokeWidth": 0.6},
        "encoding": {
            "x": _q("k", "learning rate × L", scale={"domain": [0, k_max], "nice": False}),
            "x2": {"field": "k2"},
            "y": _q("beta", "momentum β", scale={"domain": [0, 1], "nice": False}),
            "y2": {"field": "b2"},
            "color": rate_colour,
            "stroke": {**rate_colour, "legend": None},
            "tooltip": [_tip("r", "predicted rate")],
        },
    }
    edges = {
        **_named("hb-edges"),
        "mark": {"type": "line", "color": "#222", "strokeWidth": 1.3, "clip": True},
        "encoding": {"x": _q("k"), "y": _q("b"), "order": _q("b"),
                     "strokeDash": {"field": "w", "type": "nominal", "title": "theory",
                                    "sort": list(EDGES),
                                    "legend": {"orient": "bottom", "direction": "vertical",
                                               "labelLimit": 260}}},
    }
    regions = {
        **_named("hb-regions"),
        "mark": {"type": "text", "fontSize": 12, "fontWeight": "bold", "color": "#fff"},
        "encoding": {"x": _q("k"), "y": _q("b"), "text": {"field": "s"},
                     "color": {"field": "ink", "type": "nominal", "scale": None}},
    }
    tips = [_tip("label", "setting", "nominal"), _tip("k", "lr × L"), _tip("beta", "β"),
            _tip("region", "theory", "nominal"), _tip("rate", "rate measured"),
            _tip("th_rate", "rate predicted"), _tip("po", "overshoot % measured"),
            _tip("th_po", "overshoot % predicted"), _tip("n_cross", "crossings (median)"),
            _tip("status", "runs", "nominal"), _tip("verdict", "verdict", "nominal")]
    shape = {"field": "shape", "type": "nominal", "title": "measured",
             "scale": {"domain": list(SHAPES), "range": list(SHAPES.values())},
             "legend": {"orient": "bottom", "direction": "vertical"}}
    point = {"type": "point", "filled": True, "size": 150, "stroke": "#fff",
             "strokeWidth": 1.2, "opacity": 1}
    fitted = {
        **_named("hb-cells", {"filter": "isValid(datum.rate)"}), "mark": point,
        "encoding": {"x": _q("k"), "y": _q("beta"), "tooltip": tips, "shape": shape,
                     "color": _q("rate", scale=rate_scale)},
    }
    unfitted = {
        **_named("hb-cells", {"filter": "!isValid(datum.rate)"}),
        "mark": {**point, "color": "#444"},
        "encoding": {"x": _q("k"), "y": _q("beta"), "tooltip": tips, "shape": shape},
    }
    ring = {
        **_named("hb-cells", chosen),
        "mark": {"type": "point", "size": 520, "filled": False, "color": "#d62728",
                 "strokeWidth": 2.5},
        "encoding": {"x": _q("k"), "y": _q("beta")},
    }
    diagram = {"layer": [background, edges, regions, fitted, unfitted, ring],
               "width": 470, "height": 320,
               "title": "lr × β: measured rate (markers) over the predicted"}
    story = {
        **_named("hb-story", chosen, {"flatten": ["s"]},
                 {"window": [{"op": "row_number", "as": "i"}]}),
        "mark": {"type": "text", "align": "left", "baseline": "top", "fontSize": 12,
                 "limit": 480},
        "encoding": {"x": {"value": 0},
                     "y": {"field": "i", "type": "ordinal", "axis": None},
                     "text": {"field": "s"},
                     "color": {"condition": {"test": "datum.i == 1", "value": "#111"},
                               "value": "#555"}},
        "width": 480, "height": 150, "title": "the chosen setting",
    }

    labels = list(cells.label)
    colour = {"field": "label", "type": "nominal", "legend": None,
              "scale": {"domain": labels,
                        "range": [ctx.colours.get(lab, "#1f77b4") for lab in labels]}}

    def flat(column: str) -> dict:
        return _named("hb-traces", chosen, {"flatten": [column]},
                      {"window": [{"op": "row_number", "as": "t"}]},
                      {"calculate": "datum.t - 1", "as": "t"},
                      {"filter": f"isValid(datum.{column}) && datum.t <= tmax"},
                      {"calculate": f"max(datum.{column} * datum.{column}, 1e-16)", "as": "g"})

    t_axis = _q("t", "update t", scale={"domainMin": 0, "domainMax": {"expr": "tmax"},
                                        "nice": False})
    e_scale = {"domainMin": {"expr": "-elim"}, "domainMax": {"expr": "elim"}, "nice": False}
    e_title, g_title = "(x − x*)/(x₀ − x*)", "(f − f*)/(f₀ − f*)"
    g_scale = {"type": "log", "domain": [1e-12, 1e4], "nice": False}
    run_line = {"type": "line", "strokeWidth": 1.6, "clip": True}
    theory_line = {"type": "line", "color": "#333", "strokeDash": [4, 3], "strokeWidth": 1.2,
                   "clip": True}
    path = {"layer": [
        {**_named("hb-bowl", {"calculate": "datum.u * elim", "as": "e"},
                  {"calculate": "datum.e * datum.e", "as": "g"}),
         "mark": {"type": "line", "color": "#bbb"},
         "encoding": {"x": _q("e", e_title, scale=e_scale),
                      "y": _q("g", g_title, scale={"domainMin": 0, "nice": False,
                                                   "domainMax": {"expr": "elim * elim"}})}},
        {**flat("e"), "mark": {"type": "line", "strokeWidth": 1, "opacity": 0.6, "clip": True},
         "encoding": {"x": _q("e"), "y": _q("g"), "order": _q("t"), "color": colour}},
        {**flat("e"), "mark": {"type": "point", "filled": True, "size": 28, "clip": True},
         "encoding": {"x": _q("e"), "y": _q("g"), "color": colour,
                      "tooltip": [_tip("t", "update"), _tip("e", "error"), _tip("g", "gap")]}},
    ], "width": 260, "height": 220, "title": "the path on the loss curve"}
    step = {"layer": [
        {"data": {"values": [{"y": 0}]}, "mark": {"type": "rule", "color": "#999"},
         "encoding": {"y": _q("y")}},
        {**flat("p"), "mark": theory_line,
         "encoding": {"x": t_axis, "y": _q("p", e_title, scale=e_scale)}},
        {**flat("e"), "mark": run_line,
         "encoding": {"x": _q("t"), "y": _q("e"), "color": colour,
                      "tooltip": [_tip("t", "update"), _tip("e", "error")]}},
    ], "width": 260, "height": 220, "title": "signed error: run (colour), theory (dashed)"}
    loss = {"layer": [
        {**flat("p"), "mark": theory_line,
         "encoding": {"x": t_axis, "y": _q("g", g_title, scale=g_scale)}},
        {**flat("e"), "mark": run_line,
         "encoding": {"x": _q("t"), "y": _q("g"), "color": colour,
                      "tooltip": [_tip("t", "update"), _tip("g", "gap")]}},
    ], "width": 260, "height": 220, "title": "loss (log scale): run, theory (dashed)"}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "params": params,
        "datasets": datasets,
        "vconcat": [{"hconcat": [diagram, story]}, {"hconcat": [path, step, loss]}],
        "resolve": {"scale": {"color": "independent", "shape": "independent",
                              "strokeDash": "independent"}},
        "config": {"view": {"stroke": None}},
    }


def _start_cell(cells) -> int:
    """The cell shown first: an under-damped one that agrees, with the largest overshoot
    below 100 % (a visible oscillation), else the first cell."""
    ok = cells[(cells.region == "under-damped") & (cells.verdict == "agrees")
               & (cells.po < 100)]
    if len(ok):
        return int(ok.sort_values(["po", "k"]).index[-1])
    return 0


def _region_words(k_max: float) -> list[dict]:
    """Names of the two roomy regions, inside them; the boundaries' legend names the rest."""
    rows = [{"k": min(1.45, 0.36 * k_max), "b": 0.62, "s": "under-damped: rate √β",
             "ink": "#fff"}]
    if k_max > 2.6:
        rows.append({"k": min(k_max - 0.45, 3.5), "b": 0.1, "s": "divergent", "ink": "#333"})
    return rows


def _cell_rows(cells) -> list[dict]:
    rows = []
    for r in cells.itertuples():
        shape = ("diverged or cycled" if r.seen in ("diverged", "cycle")
                 else "rate fitted" if math.isfinite(r.rate) else "no rate fitted")
        rows.append({
            "c": int(r.c), "k": _r(r.k), "beta": _r(r.beta), "label": r.label,
            "region": r.region, "rate": _r(r.rate), "th_rate": _r(r.th_rate),
            "po": _r(r.po), "th_po": _r(r.th_po), "n_cross": _r(r.n_cross),
            "status": r.status, "verdict": r.verdict, "shape": shape,
        })
    return rows


# -- the section ------------------------------------------------------------------------------


@register_section("momentum", order=3)
def momentum(ctx) -> Section | None:
    """Heavy-ball momentum on a 1-D quadratic: the lr × β phase diagram and a slider."""
    grid = heavy_ball_grid(ctx)
    if grid is None or not len(grid.cells):
        return None
    from optbench.report.vega import chart_html

    title = ctx.problem_title(grid.key)
    words = sentences(grid, title)
    cells = grid.cells
    sliders = cells.beta.nunique() > 1 or cells.k.nunique() > 1
    chart = momentum_chart(ctx, grid)
    alt_text = (f"Phase diagram of {grid.optimizer} on {title}: {len(cells)} "
                f"setting{'s' if len(cells) > 1 else ''} of "
                "learning rate and momentum over the theory's regions and predicted rate"
                + ("; sliders pick a setting whose path, signed error and loss are drawn"
                   if sliders else "; the setting's path, signed error and loss"))
    caption = (
        "Top: each stored setting at (lr × L, β), coloured by its measured rate per update "
        "(rate_x, median over seeds; a square where the run was too short to fit one, a cross "
        "where it diverged or cycled) over the predicted rate, the largest |z| of "
        "z² − (1 + β − lr·L)z + β = 0 (grey: above 1). The curves bound the under-damped band "
        "(1 ∓ √β)² and the stable region lr·L < 2(1 + β); hover a marker for measured against "
        "predicted. Bottom: the ringed setting's first seed, as (x − x*)/(x₀ − x*) on the "
        "loss curve, against the update, and its loss, beside the theory's path (dashed, "
        "continued past the run's end)."
        + (" Drag the sliders below to choose the setting (the nearest stored one is shown)."
           if sliders else "")
    )
    if len(ctx.sources) > 1:
        words.append(f"(The runs of the baseline, {ctx.baseline}; the Comparison section "
                     "compares the stores.)")
    body = f"<p class='lead'>{esc(' '.join(words))}</p>"
    body += chart_html(chart, alt_text, caption, name="momentum-phase-diagram")
    if not sliders:
        body += note_html(
            "One heavy-ball setting is stored, so there is nothing to slide over: a grid such "
            f"as optbench run -p {title} -o '{grid.optimizer}[lr=[0.05/L,0.3/L,0.8/L,1.5/L,"
            "2.2/L,2.9/L,3.5/L],momentum=[0,0.2,0.5,0.8,0.9]]' --seeds 2 fills the diagram.")
    return Section("Momentum: the lr × β phase diagram", body)
