"""Convergence metrics C1–C7 (``reference/dynamics.md`` §1.1): gaps, targets, rates, AULG.

Targets are tested on the incumbent ``gap⁺_t = min_{s≤t} gap_s``, which never rises, so a
hitting time is a count of rows above the target. Without f* only the relative (Moré–Wild)
targets are measured, against the run's own best value.
"""

from __future__ import annotations

import numpy as np

from ._common import Track, accumulate, entry_times
from .catalog import REL_TARGETS, TARGETS, target_key

# C5 on dist: rounding in x_t is ~1e-16·|x*|, so fit only where dist is well above it
DIST_FLOOR = 1e-7


def convergence(
    out: dict[str, np.ndarray], tk: Track, budget: int | None, max_iter: int | None
) -> None:
    """C1, C3, C3r, C4, C5 (rate_f), C6 and C7 on f; fills ``out`` in place."""
    f, cost, end, cols, f_star = tk.f, tk.cost, tk.end, tk.cols, tk.f_star
    if f_star is not None:
        gap = f - f_star
        floor = 1e-16 * max(1.0, abs(f_star))
    else:  # Moré–Wild against the best value this run found
        f_l = tk.f_min
        gap = f - f_l
        floor = 1e-16 * np.maximum(1.0, np.abs(np.where(np.isfinite(f_l), f_l, 1.0)))
    clean = np.where(tk.f_finite, gap, np.inf)
    best = accumulate(np.minimum, clean)
    best_end = best[end, cols]
    gap0 = clean[0]
    for tau in REL_TARGETS:
        k = target_key(tau)
        _hits(out, f"rel_hit_iter_{k}", f"rel_hit_cost_{k}", best, best_end, tau * gap0, tk)
    if f_star is None:
        return
    out["gap_final"][:] = gap[end, cols]
    out["gap_best"][:] = np.where(np.isfinite(best_end), best_end, np.nan)
    for eps in TARGETS:
        k = target_key(eps)
        _hits(out, f"hit_iter_{k}", f"hit_cost_{k}", best, best_end, eps, tk)
    for eps, stay in zip(TARGETS, entry_times(clean, end, cols, TARGETS), strict=True):
        out[f"stay_iter_{target_key(eps)}"][:] = stay
    # C6: log10 of the incumbent, frozen after the run's end
    lg = np.log10(np.maximum(best, floor))
    lg_end = lg[end, cols]
    n = f.shape[0]
    if budget:
        c = cost.astype(float)
        area = lg[0] * c[0] + np.sum(lg[:-1] * np.diff(c, axis=0), axis=0)
        area += lg_end * np.maximum(0.0, budget - c[end, cols])
        out["aulg"][:] = area / budget
    else:
        H = int(max_iter) if max_iter else n - 1
        if H > 0:
            m = min(H, n)
            out["aulg"][:] = (np.sum(lg[:m], axis=0) + max(0, H - m) * lg_end) / H
    _rate(out, "rate_f", gap, tk, 1e3 * floor, gap0)


def distance(out: dict[str, np.ndarray], dist: np.ndarray, tk: Track, x_star) -> None:
    """C2's final distance (C7) and its linear rate (C5) from ``dist_t = ‖x_t − x*_ref‖``."""
    out["dist_final"][:] = dist[tk.end, tk.cols]
    lower = DIST_FLOOR * max(1.0, float(np.max(np.abs(x_star))))
    _rate(out, "rate_x", dist, tk, lower, dist[0])


def _hits(out, key_iter, key_cost, best, best_end, thr, tk: Track) -> None:
    """C3: the first update with ``gap⁺_t ≤ thr`` and the evaluations spent by then."""
    thr = np.asarray(thr, dtype=float)
    hit = best_end <= thr
    t = np.sum(best > thr, axis=0)  # the incumbent never rises: the count is the hit index
    cost = tk.cost
    out[key_iter][:] = np.where(hit, t, np.nan)
    out[key_cost][:] = np.where(hit, cost[np.minimum(t, cost.shape[0] - 1), tk.cols], np.nan)


def _rate(out, key, y, tk: Track, lower, y0) -> None:
    """C5: OLS slope of ln y_t on t over the window lower < y_t < 0.1·y_0 (≥ 5 points)."""
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
    tm = np.sum(np.where(win, t, 0.0), axis=0) / safe
    tc = np.where(win, t - tm, 0.0)  # centred: no cancellation in the normal equations
    slope = np.sum(tc * ly, axis=0) / np.maximum(np.sum(tc * tc, axis=0), 1e-300)
    out[key][:] = np.where(ok, np.exp(slope), np.nan)
