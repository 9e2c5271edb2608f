"""Oscillation metrics (``docs/metrics.md#oscillation``), and the limit-cycle test.

Sign changes, zig-zag, loss increases and straightness read the steps
``s_t = x_{t+1} − x_t`` and the values, the gradient reversals the gradients' dot products,
the tail amplitudes and the cycle period the tail window. :func:`cycle_period` is also the
runner's live
``cycle`` status test, so the status and the stored period always agree.
"""

from __future__ import annotations

import numpy as np

from ..thresholds import gap_floor
from ._common import Track, Window, dot, maxabs, sign_changes

CYCLE_PERIODS = tuple(range(2, 9))
CYCLE_RTOL = 1e-9
# A limit cycle keeps its amplitude: the step lengths of the window's last period must be
# within this fraction of its first period's. Without it a decaying oscillation (GD with
# 1/L < η < 2/L) whose amplitude has shrunk to ~1e-9 would pass the closure test.
CYCLE_STATIONARY = 1e-3
# sc_rate_eig counts a direction's step only above ROUNDOFF·ε·‖x‖ (see sc_rate_eig)
ROUNDOFF = 8.0


def oscillation(out: dict[str, np.ndarray], tk: Track, problem, grad_dots) -> None:
    """sc_rate*, zz_*, n_up, up_frac, ascent_ratio and straightness from the steps
    ``s_t = x_{t+1} − x_t`` and the values, grad_* from the gradients."""
    x, f, end = tk.x, tk.f, tk.end
    n, B, d = x.shape
    if n < 2:
        return
    steps = end.astype(float)
    s = np.diff(x, axis=0)
    # steps scaled by their largest coordinate: tiny steps (1e-200 near x* = 0) would
    # underflow when squared and spoil the cosines
    sm = maxabs(s)
    su = s / np.where(sm > 0, sm, 1.0)[..., None]
    su_len = np.sqrt(dot(su, su))
    sn = sm * su_len
    if n >= 3:
        # sc_rate: per coordinate, and in the Hessian's eigenbasis where there is one
        pairs = np.maximum(steps - 1, 1)
        changes = sign_changes(s).mean(axis=1)
        out["sc_rate"][:] = np.where(steps >= 2, changes / pairs, np.nan)
        if problem.hessian is not None and d > 0:
            out["sc_rate_eig"][:] = sc_rate_eig(x, problem.hessian, end)
        # zz_*: cosines of consecutive steps where both are non-zero
        cos_dot = dot(su[:-1], su[1:])
        den = su_len[:-1] * su_len[1:]
        ok = (sm[:-1] > 0) & (sm[1:] > 0) & np.isfinite(den)
        cos = np.where(ok, cos_dot / np.where(ok, den, 1.0), 0.0)
        m = ok.sum(axis=0)
        has = m > 0
        safe = np.maximum(m, 1)
        out["zz_cos_mean"][:] = np.where(has, cos.sum(axis=0) / safe, np.nan)
        out["zz_reversals"][:] = np.where(has, np.sum(ok & (cos < -0.5), axis=0) / safe, np.nan)
        out["zz_right"][:] = np.where(has, np.sum(ok & (np.abs(cos) < 0.1), axis=0) / safe, np.nan)
    # straightness
    travel = np.sum(np.where(np.isfinite(sn), sn, np.nan), axis=0)
    disp = np.sqrt(np.sum((x[end, tk.cols] - x[0]) ** 2, axis=1))
    out["straightness"][:] = np.where(travel > 0, disp / np.where(travel > 0, travel, 1.0), np.nan)
    # loss increases: n_up, up_frac, ascent_ratio
    df = np.diff(f, axis=0)
    thr = np.abs(f[:-1])
    np.maximum(thr, 1.0, out=thr)
    thr *= 1e-12
    up = df > thr
    out["n_up"][:] = np.where(steps >= 1, up.sum(axis=0), np.nan)
    out["up_frac"][:] = np.where(steps >= 1, out["n_up"] / np.maximum(steps, 1), np.nan)
    ascent = np.sum(np.where(np.isfinite(df) & (df > 0), df, 0.0), axis=0)
    fmin = tk.f_min
    floor = gap_floor(tk.f_star if tk.f_star is not None else fmin)
    drop = np.maximum(f[0] - fmin, floor)
    out["ascent_ratio"][:] = np.where(np.isfinite(f[0]) & (steps >= 1), ascent / drop, np.nan)
    _grad_reversals(out, tk, problem, grad_dots)


def sc_rate_eig(x: np.ndarray, hessian, end: np.ndarray) -> np.ndarray:
    """sc_rate_eig, in the Hessian's eigenbasis: per run, the mean over eigen-directions of each
    direction's rate of step sign changes.

    A direction's step counts only where it exceeds the round-off of the iterates it joins,
    ``|<s_t, v_i>| > ROUNDOFF·ε·max(‖x_t‖, ‖x_{t+1}‖)`` (the projection of the iterates'
    rounding onto a unit vector is at most ``ε‖x‖``): once a direction has converged its
    steps are rounding noise whose signs mean nothing. Each direction's rate is over the
    pairs of consecutive counted steps inside the run; the mean is over the directions that
    have any such pair (NaN where none has).
    """
    n, B, d = x.shape
    _, V = np.linalg.eigh(np.asarray(hessian, dtype=float))
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.diff(x, axis=0) @ V  # (n-1, B, d): steps in the eigenbasis
        norm = np.sqrt(dot(x, x))
        big = np.maximum(norm[:-1], norm[1:])
        thr = ROUNDOFF * np.finfo(float).eps * big
        inside = np.arange(n - 1)[:, None] < end[None, :]  # step t leaves x_t inside the run
        counted = (np.abs(s) > thr[..., None]) & inside[..., None]
    both = counted[:-1] & counted[1:]
    flips = both & (np.signbit(s[:-1]) ^ np.signbit(s[1:]))
    pairs = both.sum(axis=0)
    has = pairs > 0
    rate = np.where(has, flips.sum(axis=0) / np.maximum(pairs, 1), 0.0)
    k = has.sum(axis=1)
    return np.where(k > 0, rate.sum(axis=1) / np.maximum(k, 1), np.nan)


def _grad_reversals(out: dict[str, np.ndarray], tk: Track, problem, grad_dots) -> None:
    """grad_rev and grad_sbar on the true gradient: the runner's ``<g_t, g_{t+1}>``, else
    re-evaluated."""
    n, B, d = tk.x.shape
    gdot: np.ndarray | None
    if grad_dots is not None and len(grad_dots) == n - 1:
        gdot = np.asarray(grad_dots, dtype=float).reshape(n - 1, B)
    elif problem.has_gradient:
        gdot = _grad_dots(tk.x, problem)
        if gdot is None:
            return
    else:
        return
    pair = tk.valid[1:]  # pair t is inside the run when x_{t+1} is
    npairs = pair.sum(axis=0)
    has = npairs > 0
    safe = np.maximum(npairs, 1)
    out["grad_rev"][:] = np.where(has, np.sum(pair & (gdot < 0), axis=0) / safe, np.nan)
    out["grad_sbar"][:] = np.where(has, np.sum(np.where(pair, gdot, 0.0), axis=0) / safe, np.nan)


def _grad_dots(x: np.ndarray, problem) -> np.ndarray | None:
    """``<g_t, g_{t+1}>`` from the problem's gradient at the recorded iterates (in chunks)."""
    n, B, d = x.shape
    flat = x.reshape(-1, d)
    finite = np.isfinite(flat)
    ok = finite.all(axis=1) if d > 1 else finite[:, 0]
    g = np.full(flat.shape, np.nan)
    chunk = max(1, 2_000_000 // max(d, 1))  # bounds the problem's own temporaries
    try:
        if ok.all():
            for i in range(0, flat.shape[0], chunk):
                g[i : i + chunk] = np.asarray(
                    problem.grad(flat[i : i + chunk]), dtype=float
                ).reshape(-1, d)
        else:
            rows = np.flatnonzero(ok)
            for i in range(0, rows.size, chunk):
                r = rows[i : i + chunk]
                g[r] = np.asarray(problem.grad(flat[r]), dtype=float).reshape(r.size, d)
    except Exception:  # noqa: BLE001 — a problem that cannot re-evaluate leaves grad_* empty
        return None
    per_run = g.reshape(n, B, d)
    return dot(per_run[:-1], per_run[1:])


def tail_oscillation(
    out: dict[str, np.ndarray], tk: Track, win: Window, dist: np.ndarray | None
) -> None:
    """tail_amp_x, tail_amp_f and cycle_period (the limit cycle) on the tail window."""
    wv, cnt = win.valid, win.width
    out["tail_amp_f"][:] = (
        np.max(np.where(wv, win.f, -np.inf), axis=0) - np.min(np.where(wv, win.f, np.inf), axis=0)
    ) / 2
    xw = tk.x[win.idx, tk.cols]
    if dist is not None:
        # deviations from the last iterate first: the mean of values that agree to many
        # digits would otherwise be decided by rounding
        yw = xw - xw[-1]
        ybar = np.sum(np.where(wv[..., None], yw, 0.0), axis=0) / cnt[:, None]
        dev = np.sqrt(np.sum((yw - ybar[None]) ** 2, axis=2))
        d0 = dist[0]
        out["tail_amp_x"][:] = np.where(
            d0 > 0, np.max(np.where(wv, dev, -np.inf), axis=0) / np.where(d0 > 0, d0, 1.0), np.nan
        )
    period = cycle_period(xw, wv)
    out["cycle_period"][:] = np.where(period > 0, period, np.nan)


def cycle_period(xw: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """The smallest period ``P`` in 2..8 of the iterates of a window, 0 where there is none.

    ``xw`` is ``(W, B, d)`` in time order; ``valid`` ``(W, B)`` marks each run's window, a
    suffix of the rows (all rows when None). P holds when ``‖x_{t+P} − x_t‖ ≤ tol`` for every
    pair in the window, ``tol = 1e-9·max(1, max_W |x|)``, while some step is longer than tol
    (else a fixed point) and the amplitude does not decay (:data:`CYCLE_STATIONARY`).
    """
    W, B = xw.shape[:2]
    out = np.zeros(B, dtype=np.int64)
    if W < 3:
        return out
    if valid is None:
        valid = np.ones((W, B), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.all(np.isfinite(xw), axis=2) | ~valid
        amax = np.max(np.where(valid[..., None], np.abs(xw), 0.0), axis=(0, 2))
        tol2 = (CYCLE_RTOL * np.maximum(1.0, amax)) ** 2
        step = xw[1:] - xw[:-1]
        step2 = dot(step, step)
        v1 = valid[:-1]
        moving = np.any(v1 & (step2 > tol2), axis=0) & finite.all(axis=0)
        step_len = np.sqrt(np.where(v1, step2, 0.0))
        first = np.argmax(v1, axis=0)  # where each run's window starts
        csum = np.concatenate([np.zeros((1, B)), np.cumsum(step_len, axis=0)])
        cols = np.arange(B)
        for P in CYCLE_PERIODS:
            if W <= P:
                break
            diff = xw[P:] - xw[:-P]
            d2 = dot(diff, diff)
            vp = valid[:-P]
            closed = np.all(~vp | (d2 <= tol2), axis=0) & vp.any(axis=0)
            lo = np.minimum(first + P, W - 1)
            s_first = csum[lo, cols] - csum[first, cols]
            s_last = csum[W - 1, cols] - csum[W - 1 - P, cols]
            keeps = s_last >= (1 - CYCLE_STATIONARY) * s_first
            new = closed & moving & keeps & (out == 0)
            out[new] = P
    return out
