"""Convergence metrics (``docs/metrics.md#convergence``): gaps, targets, rates, AULG.

Targets are tested on the incumbent ``gap⁺_t = min_{s≤t} gap_s``, which never rises, so a
hitting time is a count of rows above the target. Without f* only the relative (Moré–Wild)
targets are measured, against the run's own best value.
"""

from __future__ import annotations

import numpy as np

from ..thresholds import gap_floor
from ._common import Track, accumulate, entry_times
from .catalog import REL_TARGETS, TARGETS, target_key

# rate_x: rounding in x_t is ~1e-16·|x*|, so fit only where dist is well above it
DIST_FLOOR = 1e-7

# COCO's target triggers: the incumbent Δf crossing 10^(k/5), the rows of a .dat file
COCO_POINTS_PER_DECADE = 5


def coco_crossings(f: np.ndarray, f_ref: float) -> tuple[np.ndarray, np.ndarray]:
    """The incumbent ``Δf⁺_t = min_{s≤t} max(f_s − f_ref, 0)`` of one run (non-finite f
    counts as inf) and the iterates ``t ≥ 1`` where it first enters a lower level
    ``⌊5·log10 Δf⁺⌋``: the first hits of COCO's target grid 10^(k/5), every k at once.

    The worker keeps these iterates when it thins a trace for storage, so the COCO export
    (which writes a ``.dat`` row at each of them, with this same function) reads the first
    hits off the stored trace exactly.
    """
    f = np.asarray(f, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        df = np.where(np.isfinite(f), np.maximum(f - f_ref, 0.0), np.inf)
    best = np.minimum.accumulate(df)
    with np.errstate(divide="ignore"):
        level = np.floor(np.log10(np.maximum(best, 1e-300)) * COCO_POINTS_PER_DECADE)
    rows = np.flatnonzero(level[1:] < level[:-1]) + 1
    return best, rows


def convergence(
    out: dict[str, np.ndarray], tk: Track, budget: int | None, max_iter: int | None
) -> None:
    """gap_*, hit_*, rel_hit_*, stay_iter_*, rate_f, rate_f_cost and aulg; fills ``out``."""
    f, cost, end, cols, f_star = tk.f, tk.cost, tk.end, tk.cols, tk.f_star
    if f_star is not None:
        gap = f - f_star
        floor = gap_floor(f_star)
    else:  # Moré–Wild against the best value this run found
        f_l = tk.f_min
        gap = f - f_l
        floor = gap_floor(np.where(np.isfinite(f_l), f_l, 1.0))
    clean = np.where(tk.f_finite, gap, np.inf)
    best = accumulate(np.minimum, clean)
    best_end = best[end, cols]
    gap0 = clean[0]
    for tau in REL_TARGETS:
        k = target_key(tau)
        _hits(out, f"rel_hit_{{}}_{k}", best, best_end, tau * gap0, tk)
    if f_star is None:
        return
    out["gap_final"][:] = gap[end, cols]
    out["gap_best"][:] = np.where(np.isfinite(best_end), best_end, np.nan)
    for eps in TARGETS:
        k = target_key(eps)
        _hits(out, f"hit_{{}}_{k}", best, best_end, eps, tk)
    for eps, stay in zip(TARGETS, entry_times(clean, end, cols, TARGETS), strict=True):
        out[f"stay_iter_{target_key(eps)}"][:] = stay
    # aulg: log10 of the incumbent, frozen after the run's end
    lg = np.log10(np.maximum(best, floor))
    iters = np.arange(f.shape[0], dtype=float)[:, None]
    area = aulg(lg, cost, iters, end, cols, budget, max_iter)
    if area is not None:
        out["aulg"][:] = area
    # rate_f_cost: the same window, fitted against the evaluations spent instead of t
    _rate(out, "rate_f", gap, tk, 1e3 * floor, gap0, {"rate_f_cost": cost.astype(float)})


def aulg(lg, cost, iters, end, cols, budget: int | None, max_iter: int | None):
    """aulg: the area under ``lg = log10(max(gap⁺, floor))`` (rows: recorded iterates, columns:
    runs, frozen after each run's ``end`` row) per unit of horizon, or None without one.

    With a ``budget`` the horizon is that many evaluations on the ``cost`` axis (the
    incumbent holds from one recorded cost to the next, the start value before the first,
    the last value up to the budget); without, ``max_iter`` (default: the last iterate)
    iterations on the ``iters`` axis (the iterate numbers, so a thinned trace integrates
    the same steps as the full one). Both the worker's metric and ``tune`` (for stored,
    possibly thinned traces without f*) call this one function.
    """
    lg_end = lg[end, cols]
    if budget:
        c = cost.astype(float)
        area = lg[0] * c[0] + np.sum(lg[:-1] * np.diff(c, axis=0), axis=0)
        area += lg_end * np.maximum(0.0, budget - c[end, cols])
        return area / budget
    H = float(max_iter) if max_iter else float(np.max(iters[-1]))
    if H <= 0:
        return None
    s = np.minimum(np.asarray(iters, dtype=float), H)
    width = np.diff(s, axis=0)
    steps = np.where(width > 0, lg[:-1] * width, 0.0)
    return (np.sum(steps, axis=0) + lg_end * (H - s[-1])) / H


def distance(out: dict[str, np.ndarray], dist: np.ndarray, tk: Track, x_star) -> None:
    """dist_final, its linear rate rate_x and order order_x from ``dist_t = ‖x_t − x*_ref‖``."""
    out["dist_final"][:] = dist[tk.end, tk.cols]
    lower = DIST_FLOOR * max(1.0, float(np.max(np.abs(x_star))))
    _rate(out, "rate_x", dist, tk, lower, dist[0])
    _rate_pole(out, "rate_x_pole", dist, tk, lower, dist[0])
    _order(out, "order_x", dist, tk, lower)


def _hits(out, key, best, best_end, thr, tk: Track) -> None:
    """hit_*: the first update with ``gap⁺_t ≤ thr`` (``key`` with ``iter``), the
    evaluations spent by then (``cost``) and the batch clock there (``time``: the trace's
    ``time`` at that iterate, read off the full trace, so exact however the stored trace is
    thinned)."""
    thr = np.asarray(thr, dtype=float)
    hit = best_end <= thr
    t = np.sum(best > thr, axis=0)  # the incumbent never rises: the count is the hit index
    at = np.minimum(t, tk.cost.shape[0] - 1)
    out[key.format("iter")][:] = np.where(hit, t, np.nan)
    out[key.format("cost")][:] = np.where(hit, tk.cost[at, tk.cols], np.nan)
    if tk.time is not None:
        out[key.format("time")][:] = np.where(hit, tk.time[at], np.nan)


def _rate(out, key, y, tk: Track, lower, y0, per: dict[str, np.ndarray] | None = None) -> None:
    """rate_*: OLS slope of ln y_t on t over the window lower < y_t < 0.1·y_0 (≥ 5 points).

    ``per`` maps further keys to abscissae ``(T+1, B)`` (the cost) fitted on the same window.
    """
    n = y.shape[0]
    t = np.arange(n, dtype=float)[:, None]
    # both comparisons are False for NaN and ±inf, so the window holds finite values only
    win = tk.valid & (y > lower) & (y < 0.1 * y0)
    cnt = win.sum(axis=0)
    ok = (cnt >= 5) & ~tk.stopped
    if not ok.any():
        return
    ly = np.log(np.where(win, y, 1.0))
    safe = np.maximum(cnt, 1)
    for k, s in [(key, t), *(per or {}).items()]:
        tm = np.sum(np.where(win, s, 0.0), axis=0) / safe
        tc = np.where(win, s - tm, 0.0)  # centred: no cancellation in the normal equations
        sxx = np.sum(tc * tc, axis=0)
        slope = np.sum(tc * ly, axis=0) / np.maximum(sxx, 1e-300)
        # sxx > 0 always holds for s = t; a cost standing still over the window has no slope
        out[k][:] = np.where(ok & (sxx > 0), np.exp(slope), np.nan)


def _rate_pole(out, key, y, tk: Track, lower, y0) -> None:
    """rate_x_pole: ``e^b`` of the OLS fit ``ln y_t = a + b·t + c·ln t`` on rate_x's window.

    A double pole (heavy ball and Nesterov at their optimal tunings on a quadratic) makes
    the error ``∝ t·ρ^t``: the plain fit of ``ln y_t`` on t then reads the slope of
    ``ln t`` as part of the rate (``1 − rate`` too small by about the window's mean
    ``1/t``); the free ``c·ln t`` term takes it up (``c ≈ 1`` there, ``c ≈ 0`` for a simple
    pole), so ``e^b`` estimates ρ for either. None with fewer than :data:`POLE_MIN_POINTS`
    points in the window.
    """
    n = y.shape[0]
    t = np.arange(n, dtype=float)[:, None]
    win = tk.valid & (y > lower) & (y < 0.1 * y0) & (t >= 1)
    cnt = win.sum(axis=0)
    ok = (cnt >= POLE_MIN_POINTS) & ~tk.stopped
    if not ok.any():
        return
    safe = np.maximum(cnt, 1)
    ly = np.log(np.where(win, y, 1.0))
    lt = np.log(np.maximum(t, 1.0))

    def centred(v):
        m = np.sum(np.where(win, v, 0.0), axis=0) / safe
        return np.where(win, v - m, 0.0)

    tc, lc, yc = centred(t), centred(lt), centred(ly)
    stt, sll, stl = np.sum(tc * tc, 0), np.sum(lc * lc, 0), np.sum(tc * lc, 0)
    sty, sly = np.sum(tc * yc, 0), np.sum(lc * yc, 0)
    det = stt * sll - stl * stl
    good = ok & (det > 1e-12 * stt * sll)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        slope = (sll * sty - stl * sly) / np.where(good, det, 1.0)
        out[key][:] = np.where(good, np.exp(slope), np.nan)


POLE_MIN_POINTS = 10  # three parameters: fewer points leave t and ln t hard to tell apart


def _order(out, key, y, tk: Track, lower) -> None:
    """order_x: median of q̂_t = ln(y_{t+1}/y_t) / ln(y_t/y_{t−1}) over the rate window.

    q̂_t is taken at each t with ``lower < y_t < 0.1·y_0`` whose successor is also above
    ``lower`` (below it the ratio is rounding noise) and whose predecessor is finite and
    positive. No ``≥ 5`` count: a quadratically convergent run crosses the window in two or
    three steps. None when no t qualifies or the run stopped.
    """
    n = y.shape[0]
    if n < 3:
        return
    cur, nxt = y[1:-1], y[2:]
    w = tk.valid[2:] & (cur > lower) & (cur < 0.1 * y[0]) & (nxt > lower)
    rows = np.flatnonzero(w.any(axis=1))
    if rows.size == 0:
        return
    r0, r1 = int(rows[0]), int(rows[-1]) + 1  # the windows are short: keep only their rows
    w = w[r0:r1]
    ys = y[r0 : r1 + 2]  # y_{t−1}, y_t, y_{t+1} for t = r0 + 1 … r1
    pos = (ys > 0) & np.isfinite(ys)  # y_t and y_{t+1} are, y_{t−1} may not be
    w &= pos[:-2] & pos[2:]
    ly = np.log(np.where(pos, ys, 1.0))
    num, den = ly[2:] - ly[1:-1], ly[1:-1] - ly[:-2]
    w &= den != 0  # y_t = y_{t−1}: q̂ undefined
    ok = w.any(axis=0) & ~tk.stopped
    q = np.sort(np.where(w, num / np.where(w, den, 1.0), np.nan), axis=0)
    k = w.sum(axis=0)  # NaN sorts last: each column's k values come first
    lo = np.take_along_axis(q, np.maximum((k - 1) // 2, 0)[None], axis=0)[0]
    hi = np.take_along_axis(q, np.minimum(k // 2, q.shape[0] - 1)[None], axis=0)[0]
    # "+ 0.0": a stalled run (y_{t+1} = y_t) gives q̂ = −0.0
    out[key][:] = np.where(ok, 0.5 * (lo + hi), np.nan) + 0.0
