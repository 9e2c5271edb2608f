"""Metrics: pure functions of a batch's trajectories (``reference/dynamics.md`` section 1).

:func:`batch_metrics` turns a :class:`~optbench.runner.BatchTrace` into one dict per run,
computed in the worker from the full trace (so stored traces may be thinned). Every key is
listed with its meaning and unit in :data:`METRICS`, which the report uses for captions;
values are JSON-ready (float, int, str or None, where None means not applicable or never
reached). The heavy parts work on ``(T+1, B)`` arrays at once, rows past a run's end
padded with its last iterate, so a batch costs a few hundred array passes, not a Python
loop over runs.

Conventions (``dynamics.md`` §0): ``t = 0`` is the start, ``gap_t = f_t − f*``, the
incumbent ``gap⁺_t = min_{s≤t} gap_s``, ``x*_ref`` is the minimiser nearest the final
iterate (nearest the start for diverged and non-finite runs), the tail window ``W`` is the
last ``max(10, ⌈0.1(T+1)⌉)`` iterates. Overshoot and oscillation metrics (§1.2–1.3) are
None for samplers (random search), x-space metrics are None where x* is unknown, and
without f* the relative targets use the run's own best value (Moré–Wild against ``f_L``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import theory

__all__ = [
    "METRICS",
    "REL_TARGETS",
    "TARGETS",
    "batch_metrics",
    "cycle_period",
    "is_sampler",
    "tail_window",
    "target_key",
]

TARGETS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
REL_TARGETS = (1e-1, 1e-3, 1e-5, 1e-7)
SETTLE_BANDS = (0.02, 0.05)
TAIL_MIN = 10
CYCLE_PERIODS = tuple(range(2, 9))
CYCLE_RTOL = 1e-9
# A limit cycle keeps its amplitude: the step lengths of the window's last period must be
# within this fraction of its first period's. Without it a decaying oscillation (GD with
# 1/L < η < 2/L) whose amplitude has shrunk to ~1e-9 would pass the closure test.
CYCLE_STATIONARY = 1e-3
SAMPLER_PREFIXES = ("random-search", "local-random-search")
GD_OPTIMIZERS = frozenset({"gd"})
# optimizers/momentum.py's heavy ball is PyTorch's b_t = βb_{t−1} + g_t, x ← x − η_t·b_t
HEAVY_BALL_OPTIMIZERS = frozenset({"momentum"})
STOPPED = ("diverged", "non-finite")
# C5 on dist: rounding in x_t is ~1e-16·|x*|, so fit only where dist is well above it
DIST_FLOOR = 1e-7


def target_key(eps: float) -> str:
    """``1e-1`` … ``1e-8``: how a target is written in metric names."""
    return f"{eps:.0e}".replace("e-0", "e-").replace("e+0", "e")


_target_key = target_key  # the name earlier code used


def _build_catalog() -> dict[str, str]:
    m = {
        "gap_final": "final optimality gap f(x_T) − f* (C7; units of f)",
        "gap_best": "best gap reached, gap⁺_T = min_t f(x_t) − f* (C7; units of f)",
        "dist_final": "final distance ‖x_T − x*_ref‖ (C7; units of x)",
        "gnorm_final": "final gradient norm ‖∇f(x_T)‖ (C7; units of f per unit x)",
    }
    for eps in TARGETS:
        k = target_key(eps)
        m[f"hit_iter_{k}"] = f"first update t with gap⁺_t ≤ {k} (C3; updates; None = never)"
        m[f"hit_cost_{k}"] = f"evaluations n_f + n_g spent when gap⁺ first ≤ {k} (C3; evaluations)"
    for tau in REL_TARGETS:
        k = target_key(tau)
        m[f"rel_hit_iter_{k}"] = (
            f"first t with gap⁺_t ≤ {k}·gap_0, Moré–Wild test (C3r; updates; "
            "without f* the run's best value stands in for f*)"
        )
        m[f"rel_hit_cost_{k}"] = (
            f"evaluations when the relative target {k} is first met (C3r; evaluations)"
        )
    for eps in TARGETS:
        k = target_key(eps)
        m[f"stay_iter_{k}"] = f"last entry: first t with gap_s ≤ {k} for every s ≥ t (C4; updates)"
    m.update(
        {
            "aulg": (
                "area under log10 gap⁺ per unit budget, incumbent frozen after the run stops: "
                "over the evaluation budget when there is one, else over max_iter updates (C6; "
                "decades, lower is better)"
            ),
            "rate_f": "empirical linear rate of gap_t: e^b of the OLS fit ln gap_t = a + b·t "
            "on 1e3·floor < gap_t < 0.1·gap_0, ≥ 5 points (C5; per update)",
            "rate_x": "empirical linear rate of dist_t, same fit on 1e-7·max(1,|x*|) < dist_t < "
            "0.1·dist_0 (C5; per update)",
            "po": "percent overshoot 100·max_t(−c_t)/‖e_0‖ along the initial direction "
            "(O1; %; None for diverged runs: see po1)",
            "po1": "first-peak overshoot over the first stretch past x* (O1₁; %)",
            "us": "undershoot: wrong-way start 100·max(0, −min_t p_t) (O2; %)",
            "n_cross": "minimiser crossings: sign changes of the along-track error c_t (O3; count)",
            "t_rise": "rise time t_0.9 − t_0.1, t_a = first t with progress p_t ≥ a (O4; updates)",
            "t_peak": "peak time argmax_t p_t (O5; updates)",
            "t_settle_2": "settling time: first t with dist_s ≤ 0.02·dist_0 for all s ≥ t "
            "(O6; updates)",
            "t_settle_5": "settling time for the 5 % band (O6; updates)",
            "e_ss": "steady-state error: mean dist_t over the tail window W (O7; units of x)",
            "e_ss_gap": "mean gap_t over the tail window W (O7; units of f)",
            "cross_track": "cross-track excursion max_t r_t/‖e_0‖, n-D only (O8; ratio)",
            "sc_rate": "step sign-change rate, mean over coordinates (Z1; fraction of step pairs)",
            "sc_rate_eig": "step sign-change rate in the Hessian's eigenbasis, quadratics only "
            "(Z1; fraction)",
            "grad_rev": "gradient reversals: fraction of t with <g_t, g_{t+1}> < 0 (Z2; fraction)",
            "grad_sbar": "Pflug's statistic (1/T)Σ<g_t, g_{t+1}>, < 0 when bouncing "
            "(Z2; gradient²)",
            "zz_cos_mean": "mean zig-zag cosine between consecutive steps (Z3; in [−1, 1])",
            "zz_reversals": "fraction of consecutive steps with cosine < −0.5 (Z3; fraction)",
            "zz_right": "fraction of consecutive steps with |cosine| < 0.1 (Z3; fraction)",
            "n_up": "loss increases f_{t+1} > f_t + 1e-12·max(1,|f_t|) (Z4; count)",
            "up_frac": "loss increases per update (Z4; fraction)",
            "ascent_ratio": "total ascent Σmax(0, f_{t+1} − f_t) / (f_0 − min f) (Z4; ratio)",
            "tail_amp_x": "tail amplitude max_W ‖x_t − x̄_W‖ / dist_0 (Z5; ratio)",
            "tail_amp_f": "tail amplitude (max_W f − min_W f)/2 (Z5; units of f)",
            "cycle_period": "limit-cycle period P in 2..8 on the tail window, None if none "
            "(Z6; updates)",
            "straightness": "path straightness ‖x_T − x_0‖ / Σ‖s_t‖ (Z7; in (0, 1])",
            "th_regime": "theory: the GD regime of η·L (or heavy ball's damping), constant rate "
            "only (§2.1, §2.4)",
            "th_po": "theory: percent overshoot of the predicted path (§2.1; %)",
            "th_po1": "theory: first-peak overshoot of the predicted path (§2.1; %)",
            "th_settle_2": "theory: 2 % settling time of the predicted path (§2.1; updates)",
            "th_settle_5": "theory: 5 % settling time of the predicted path (§2.1; updates)",
            "th_rate_x": "theory: linear rate of dist, max_i |1 − ηλ_i| (heavy ball: max |pole|) "
            "(§2.2; per update)",
            "th_rate_f": "theory: linear rate of gap, th_rate_x² (§2.2; per update)",
            "th_div_iter": "theory: update at which the predicted path trips the divergence test "
            "(§2.1; updates)",
        }
    )
    return m


METRICS: dict[str, str] = _build_catalog()
"""Every key :func:`batch_metrics` returns: a one-line description with its unit."""

INT_KEYS = frozenset(
    [
        k
        for k in METRICS
        if k.startswith(("hit_", "rel_hit_", "stay_iter_", "t_", "th_settle", "th_div"))
    ]
    + ["n_cross", "n_up", "cycle_period"]
)
STR_KEYS = frozenset({"th_regime"})


def is_sampler(optimizer_name: str | None) -> bool:
    """True for optimizers whose iterate is an incumbent, not a trajectory (random search)."""
    if not optimizer_name:
        return False
    if optimizer_name.startswith(SAMPLER_PREFIXES):
        return True
    try:
        from . import registry

        tags = registry.get("optimizer", optimizer_name).meta.get("tags", ())
    except Exception:  # noqa: BLE001 — an unregistered name is simply not a known sampler
        return False
    return "sampler" in tags


def _accumulate(ufunc, a: np.ndarray, reverse: bool = False) -> np.ndarray:
    """``ufunc.accumulate`` along axis 0 (reversed: a suffix scan).

    numpy's accumulate along the first axis of a wide array is several times slower than a
    loop over its rows, so wide batches take the loop.
    """
    if reverse:
        return _accumulate(ufunc, a[::-1])[::-1]
    if a.ndim < 2 or a.shape[0] < 2 or a[0].size < 64:
        return ufunc.accumulate(a, axis=0)
    out = np.empty_like(a)
    out[0] = a[0]
    for i in range(1, a.shape[0]):
        ufunc(out[i - 1], a[i], out=out[i])
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Σ_j a[..., j]·b[..., j]``; a loop over a short last axis beats einsum."""
    d = a.shape[-1]
    if d > 4:
        return np.einsum("...d,...d->...", a, b)
    out = a[..., 0] * b[..., 0]
    for j in range(1, d):
        out += a[..., j] * b[..., j]
    return out


def _maxabs(a: np.ndarray) -> np.ndarray:
    """``max_j |a[..., j]|`` (a reduction over a short last axis is slow in numpy)."""
    if a.shape[-1] > 4:
        return np.max(np.abs(a), axis=-1)
    out = np.abs(a[..., 0])
    for j in range(1, a.shape[-1]):
        np.maximum(out, np.abs(a[..., j]), out=out)
    return out


def _sign_changes(a: np.ndarray) -> np.ndarray:
    """Count of ``a_t·a_{t+1} < 0`` along axis 0, from sign bits (products underflow)."""
    neg = np.signbit(a)
    nz = a != 0
    ch = neg[:-1] ^ neg[1:]
    ch &= nz[:-1]
    ch &= nz[1:]
    return ch.sum(axis=0, dtype=np.int64)


def tail_window(n_iterates: Any) -> Any:
    """The tail window's length ``max(10, ⌈0.1·n⌉)``, at most ``n`` (§0)."""
    n = np.asarray(n_iterates, dtype=np.int64)
    return np.minimum(n, np.maximum(TAIL_MIN, -(-n // 10)))  # integer ⌈n/10⌉: 0.1·30 > 3


# -- limit cycles (Z6), shared with the runner's live detection -----------------------------


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
        step2 = _dot(step, step)
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
            d2 = _dot(diff, diff)
            vp = valid[:-P]
            closed = np.all(~vp | (d2 <= tol2), axis=0) & vp.any(axis=0)
            lo = np.minimum(first + P, W - 1)
            s_first = csum[lo, cols] - csum[first, cols]
            s_last = csum[W - 1, cols] - csum[W - 1 - P, cols]
            keeps = s_last >= (1 - CYCLE_STATIONARY) * s_first
            new = closed & moving & keeps & (out == 0)
            out[new] = P
    return out


# -- the batch ------------------------------------------------------------------------------


def batch_metrics(
    trace,
    problem,
    statuses: list[str],
    optimizer_name: str | None = None,
    hyper: dict[str, Any] | list[dict[str, Any]] | None = None,
    *,
    budget: int | None = None,
    max_iter: int | None = None,
    grad_dots: Any = None,
) -> list[dict[str, Any]]:
    """One dict of metrics per run of the batch (keys: :data:`METRICS`).

    Args:
        trace: the batch's :class:`~optbench.runner.BatchTrace`.
        problem: the built :class:`~optbench.problem.Problem`.
        statuses: each run's status (C8).
        optimizer_name: the registered name; selects samplers (no dynamics metrics) and the
            optimizers the quadratic theory describes (``gd``, heavy-ball ``momentum``).
        hyper: the resolved hyperparameters, one dict for all runs or one per run.
        budget, max_iter: the runs' limits; they fix the horizon of ``aulg``.
        grad_dots: ``<g_t, g_{t+1}>`` for t = 0..T−1, shape ``(T, B)`` (or a list of rows),
            as the runner records them; without it the gradients are re-evaluated.
    """
    n, B = trace.f.shape
    cols = np.arange(B)
    end = np.clip(np.asarray(trace.end, dtype=np.int64), 0, n - 1)
    status = np.asarray(list(statuses), dtype=object)
    stopped = np.isin(status, STOPPED)
    sampler = is_sampler(optimizer_name)
    out = {k: np.full(B, np.nan) for k in METRICS if k not in STR_KEYS}
    regimes = np.full(B, None, dtype=object)

    valid = np.arange(n)[:, None] <= end[None, :]
    full = bool(np.all(end == n - 1))

    def pad(a: np.ndarray) -> np.ndarray:
        # rows past a run's end repeat its last iterate: sums and extremes over all rows
        # then equal those over the run, and suffix and prefix scans need no mask.
        if full:
            return a
        last = a[end, cols]
        return np.where(valid if a.ndim == 2 else valid[..., None], a, last)

    with np.errstate(all="ignore"):
        f = pad(np.asarray(trace.f, dtype=float))
        cost = pad(np.asarray(trace.n_f) + np.asarray(trace.n_g))
        x = pad(np.asarray(trace.x, dtype=float))
        gnorm = np.asarray(trace.gnorm, dtype=float)[end, cols]
        out["gnorm_final"][:] = gnorm
        f_star = trace.f_star if trace.f_star is not None else problem.f_star
        x_star = trace.x_star if trace.x_star is not None else problem.x_star
        _convergence(out, f, cost, end, cols, f_star, stopped, budget, max_iter)
        e = None
        if x_star is not None:
            e = _error_path(x, end, cols, np.asarray(x_star, dtype=float), stopped)
            xs = _xspace(e, end, cols)
            out["dist_final"][:] = xs["dist"][end, cols]
            _rate(
                out,
                "rate_x",
                xs["dist"],
                end,
                DIST_FLOOR * max(1.0, float(np.max(np.abs(x_star)))),
                xs["dist"][0],
                stopped,
            )
            if not sampler:
                for k in (
                    "po",
                    "po1",
                    "us",
                    "n_cross",
                    "t_rise",
                    "t_peak",
                    "t_settle_2",
                    "t_settle_5",
                    "cross_track",
                ):
                    out[k][:] = xs[k]
                out["po"][stopped] = np.nan
                out["t_settle_2"][stopped] = out["t_settle_5"][stopped] = np.nan
        if not sampler:
            _oscillation(out, x, f, end, cols, problem, f_star, grad_dots)
        _tail(out, x, f, end, cols, f_star, None if e is None else xs["dist"], sampler)
        if (
            e is not None
            and not sampler
            and problem.hessian is not None
            and not getattr(problem, "stochastic", False)
            and trace.lr.shape[0] > 0
        ):
            _theory(out, regimes, trace, problem, e[0], end, f_star, optimizer_name, hyper, B)
    return _rows(out, regimes, B)


def _rows(out: dict[str, np.ndarray], regimes: np.ndarray, B: int) -> list[dict[str, Any]]:
    keys = list(METRICS)
    columns = []
    for k in keys:
        if k in STR_KEYS:
            columns.append(regimes.tolist())
            continue
        a = out[k]
        missing = np.isnan(a)
        if k in INT_KEYS:
            obj = np.where(missing, 0, a).astype(np.int64).astype(object)
        else:
            obj = a.astype(object)
        obj[missing] = None
        columns.append(obj.tolist())
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)] if B else []


def _first_true(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first True per column, and whether there is one."""
    return np.argmax(mask, axis=0), mask.any(axis=0)


def _convergence(out, f, cost, end, cols, f_star, stopped, budget, max_iter) -> None:
    finite = np.isfinite(f)
    if f_star is not None:
        gap = f - f_star
        floor = 1e-16 * max(1.0, abs(f_star))
    else:  # Moré–Wild against the best value this run found
        f_l = np.min(np.where(finite, f, np.inf), axis=0)
        gap = f - f_l
        floor = 1e-16 * np.maximum(1.0, np.abs(np.where(np.isfinite(f_l), f_l, 1.0)))
    clean = np.where(finite, gap, np.inf)
    best = _accumulate(np.minimum, clean)
    best_end = best[end, cols]
    gap0 = clean[0]
    for tau in REL_TARGETS:
        _hits(
            out,
            f"rel_hit_iter_{target_key(tau)}",
            f"rel_hit_cost_{target_key(tau)}",
            best,
            best_end,
            tau * gap0,
            cost,
            cols,
        )
    if f_star is None:
        return
    out["gap_final"][:] = gap[end, cols]
    out["gap_best"][:] = np.where(np.isfinite(best_end), best_end, np.nan)
    for eps in TARGETS:
        k = target_key(eps)
        _hits(out, f"hit_iter_{k}", f"hit_cost_{k}", best, best_end, eps, cost, cols)
    suffix = _accumulate(np.maximum, clean, reverse=True)
    last = clean[end, cols]
    for eps in TARGETS:
        out[f"stay_iter_{target_key(eps)}"][:] = np.where(
            last <= eps, np.sum(suffix > eps, axis=0), np.nan
        )
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
    _rate(out, "rate_f", gap, end, 1e3 * floor, gap0, stopped)


def _hits(out, key_iter, key_cost, best, best_end, thr, cost, cols) -> None:
    thr = np.asarray(thr, dtype=float)
    hit = best_end <= thr
    t = np.sum(best > thr, axis=0)  # the incumbent never rises: the count is the hit index
    out[key_iter][:] = np.where(hit, t, np.nan)
    out[key_cost][:] = np.where(hit, cost[np.minimum(t, cost.shape[0] - 1), cols], np.nan)


def _rate(out, key, y, end, lower, y0, stopped) -> None:
    """C5: OLS slope of ln y_t on t over the window lower < y_t < 0.1·y_0 (≥ 5 points)."""
    n = y.shape[0]
    t = np.arange(n, dtype=float)[:, None]
    win = (t <= end) & (y > lower) & (y < 0.1 * y0) & np.isfinite(y)
    cnt = win.sum(axis=0)
    ok = (cnt >= 5) & ~stopped
    if not ok.any():
        return
    ly = np.log(np.where(win, y, 1.0))
    safe = np.maximum(cnt, 1)
    tm = np.sum(np.where(win, t, 0.0), axis=0) / safe
    tc = np.where(win, t - tm, 0.0)  # centred: no cancellation in the normal equations
    slope = np.sum(tc * ly, axis=0) / np.maximum(np.sum(tc * tc, axis=0), 1e-300)
    out[key][:] = np.where(ok, np.exp(slope), np.nan)


def _error_path(x, end, cols, x_star, stopped) -> np.ndarray:
    """``e_t = x_t − x*_ref``: the minimiser nearest x_T, or nearest x_0 for stopped runs."""
    x_end = x[end, cols]
    use_start = stopped | ~np.all(np.isfinite(x_end), axis=1)
    anchor = np.where(use_start[:, None], x[0], x_end)
    d = np.sum((anchor[:, None, :] - x_star[None]) ** 2, axis=2)
    ref = x_star[np.argmin(np.where(np.isfinite(d), d, np.inf), axis=1)]
    return x - ref[None]


def _xspace(
    e: np.ndarray, end, cols, full: bool = True, settle: bool = True
) -> dict[str, np.ndarray]:
    """Distance and the §1.2 overshoot metrics of an error path ``(n, B, d)``.

    ``full=False`` gives only what the theory needs (dist, po, po1 and, with ``settle``,
    the settling times).
    """
    d = e.shape[2]
    if d == 1:
        e1 = e[..., 0]
        dist = np.abs(e1)
        dist0 = dist[0]
        c = e1 * np.sign(e1[0])
    else:
        dist = np.sqrt(_dot(e, e))
        dist0 = dist[0]
        u = e[0] / np.where(dist0 > 0, dist0, 1.0)[:, None]
        c = _dot(e, u[None])
    ok = (dist0 > 0) & np.isfinite(dist0)
    scale = np.where(ok, dist0, np.nan)
    res: dict[str, np.ndarray] = {"dist": dist}
    neg_c = np.where(np.isnan(c), -np.inf, -c)
    # "+ 0.0" turns a -0.0 from max(0, -0.0) into 0.0
    res["po"] = 100.0 * np.maximum(0.0, np.max(neg_c, axis=0)) / scale + 0.0
    neg = c < 0
    after_first = _accumulate(np.logical_or, _accumulate(np.logical_or, neg) & ~neg)
    r1 = neg & ~after_first
    res["po1"] = 100.0 * np.max(np.where(r1, -c, 0.0), axis=0) / scale
    if settle:
        dclean = np.where(np.isfinite(dist), dist, np.inf)
        suffix = _accumulate(np.maximum, dclean, reverse=True)
        last = dclean[end, cols]
        for delta, key in zip(SETTLE_BANDS, ("t_settle_2", "t_settle_5"), strict=True):
            band = delta * dist0
            res[key] = np.where(ok & (last <= band), np.sum(suffix > band, axis=0), np.nan)
    if not full:
        return res
    res["us"] = (
        100.0 * np.maximum(0.0, np.max(np.where(np.isnan(c), -np.inf, c), axis=0) - dist0) / scale
    )
    res["n_cross"] = np.where(ok, _sign_changes(c), np.nan)
    t10, h10 = _first_true(c <= 0.9 * dist0)
    t90, h90 = _first_true(c <= 0.1 * dist0)
    res["t_rise"] = np.where(ok & h10 & h90, t90 - t10, np.nan)
    res["t_peak"] = np.where(ok, np.argmax(neg_c, axis=0), np.nan)
    if d > 1:
        r = e - c[..., None] * u[None]
        cross = np.sqrt(_dot(r, r))
        res["cross_track"] = np.max(np.where(np.isnan(cross), -np.inf, cross), axis=0) / scale
    else:
        res["cross_track"] = np.full(e.shape[1], np.nan)
    return res


def _oscillation(out, x, f, end, cols, problem, f_star, grad_dots) -> None:
    """Z1–Z4 and Z7 from the steps ``s_t = x_{t+1} − x_t`` and the values."""
    n, B, d = x.shape
    steps = end.astype(float)
    if n >= 2:
        s = np.diff(x, axis=0)
        # steps scaled by their largest coordinate: tiny steps (1e-200 near x* = 0) would
        # underflow when squared and spoil the cosines
        sm = _maxabs(s)
        su = s / np.where(sm > 0, sm, 1.0)[..., None]
        su_len = np.sqrt(_dot(su, su))
        sn = sm * su_len
        if n >= 3:
            changes = _sign_changes(s).mean(axis=1)
            out["sc_rate"][:] = np.where(steps >= 2, changes / np.maximum(steps - 1, 1), np.nan)
            if problem.hessian is not None and d > 0:
                _, V = np.linalg.eigh(np.asarray(problem.hessian, dtype=float))
                ch = _sign_changes(su @ V).mean(axis=1)
                out["sc_rate_eig"][:] = np.where(steps >= 2, ch / np.maximum(steps - 1, 1), np.nan)
            dot = _dot(su[:-1], su[1:])
            den = su_len[:-1] * su_len[1:]
            ok = (sm[:-1] > 0) & (sm[1:] > 0) & np.isfinite(den)
            cos = np.where(ok, dot / np.where(ok, den, 1.0), 0.0)
            m = ok.sum(axis=0)
            has = m > 0
            safe = np.maximum(m, 1)
            out["zz_cos_mean"][:] = np.where(has, cos.sum(axis=0) / safe, np.nan)
            out["zz_reversals"][:] = np.where(has, np.sum(ok & (cos < -0.5), axis=0) / safe, np.nan)
            out["zz_right"][:] = np.where(
                has, np.sum(ok & (np.abs(cos) < 0.1), axis=0) / safe, np.nan
            )
        travel = np.sum(np.where(np.isfinite(sn), sn, np.nan), axis=0)
        disp = np.sqrt(np.sum((x[end, cols] - x[0]) ** 2, axis=1))
        out["straightness"][:] = np.where(
            travel > 0, disp / np.where(travel > 0, travel, 1.0), np.nan
        )
        df = np.diff(f, axis=0)
        thr = np.abs(f[:-1])
        np.maximum(thr, 1.0, out=thr)
        thr *= 1e-12
        up = df > thr
        out["n_up"][:] = np.where(steps >= 1, up.sum(axis=0), np.nan)
        out["up_frac"][:] = np.where(steps >= 1, out["n_up"] / np.maximum(steps, 1), np.nan)
        ascent = np.sum(np.where(np.isfinite(df) & (df > 0), df, 0.0), axis=0)
        fmin = np.min(np.where(np.isfinite(f), f, np.inf), axis=0)
        floor = (
            1e-16 * max(1.0, abs(f_star))
            if f_star is not None
            else 1e-16 * np.maximum(1.0, np.abs(fmin))
        )
        drop = np.maximum(f[0] - fmin, floor)
        out["ascent_ratio"][:] = np.where(np.isfinite(f[0]) & (steps >= 1), ascent / drop, np.nan)
        _grad_reversals(out, x, end, problem, grad_dots)


def _grad_reversals(out, x, end, problem, grad_dots) -> None:
    """Z2 on the true gradient: the runner's ``<g_t, g_{t+1}>``, else re-evaluated."""
    n, B, d = x.shape
    if grad_dots is not None and len(grad_dots) == n - 1:
        gdot = np.asarray(grad_dots, dtype=float).reshape(n - 1, B)
    elif problem.has_gradient:
        gdot = _grad_dots(x, problem)
        if gdot is None:
            return
    else:
        return
    pair = np.arange(n - 1)[:, None] < end[None, :]
    npairs = pair.sum(axis=0)
    has = npairs > 0
    out["grad_rev"][:] = np.where(
        has, np.sum(pair & (gdot < 0), axis=0) / np.maximum(npairs, 1), np.nan
    )
    out["grad_sbar"][:] = np.where(
        has, np.sum(np.where(pair, gdot, 0.0), axis=0) / np.maximum(npairs, 1), np.nan
    )


def _grad_dots(x, problem) -> np.ndarray | None:
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
    except Exception:  # noqa: BLE001 — a problem that cannot re-evaluate leaves Z2 empty
        return None
    g = g.reshape(n, B, d)
    return _dot(g[:-1], g[1:])


def _tail(out, x, f, end, cols, f_star, dist, sampler) -> None:
    """O7 and Z5–Z6 on the tail window, gathered into a ``(W, B)`` block."""
    nW = tail_window(end + 1)
    Wm = int(nW.max())
    k = np.arange(Wm)[:, None]
    idx = np.maximum(end[None, :] - (Wm - 1) + k, 0)
    wv = k >= (Wm - nW)[None, :]
    cnt = nW.astype(float)
    fw = f[idx, cols]
    if f_star is not None:
        out["e_ss_gap"][:] = np.sum(np.where(wv, fw - f_star, 0.0), axis=0) / cnt
    if sampler:
        return
    out["tail_amp_f"][:] = (
        np.max(np.where(wv, fw, -np.inf), axis=0) - np.min(np.where(wv, fw, np.inf), axis=0)
    ) / 2
    xw = x[idx, cols]
    if dist is not None:
        out["e_ss"][:] = np.sum(np.where(wv, dist[idx, cols], 0.0), axis=0) / cnt
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


# -- theory beside the measurement (§2) -----------------------------------------------------


def _momentum(hyper: dict[str, Any] | None) -> float | None:
    """β of a heavy-ball run (PyTorch form, no dampening, no Nesterov), else None."""
    if not hyper:
        return None
    if hyper.get("nesterov") or hyper.get("dampening", 0) not in (0, 0.0, None):
        return None
    beta = hyper.get("momentum", hyper.get("beta"))
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 <= beta < 1:
        return None
    return float(beta)


def _theory(out, regimes, trace, problem, e0, end, f_star, name, hyper, B) -> None:
    kind = "gd" if name in GD_OPTIMIZERS else "hb" if name in HEAVY_BALL_OPTIMIZERS else None
    if kind is None:
        return
    T = trace.lr.shape[0]
    lr = np.asarray(trace.lr, dtype=float)
    before_end = np.arange(T)[:, None] < end[None, :]
    lr0 = lr[0]
    finite = np.all(np.isfinite(lr) | ~before_end, axis=0) & np.all((lr >= 0) | ~before_end, axis=0)
    constant = np.all((lr == lr0) | ~before_end, axis=0) & (lr0 > 0)
    usable = finite & (end >= 1)
    beta = np.zeros(B)
    if kind == "hb":
        hypers = hyper if isinstance(hyper, list) else [hyper] * B
        betas = [_momentum(h) for h in hypers]
        has = np.array([b is not None for b in betas])
        beta = np.array([b if b is not None else 0.0 for b in betas])
        usable &= has
    if not usable.any():
        return
    rows = np.flatnonzero(usable)
    lam, V = np.linalg.eigh(np.asarray(problem.hessian, dtype=float))
    q0 = e0[rows] @ V
    lrs = np.where(before_end[:, rows], lr[:, rows], 0.0)
    if kind == "gd":
        q = theory.gd_error_path(lrs, lam, q0)
    else:
        q = theory.heavy_ball_error_path(lrs, lam, q0, beta[rows])
    e_pred = q @ V.T if V.shape[0] > 1 else q * V[0, 0]
    end_r = end[rows]
    cols_r = np.arange(rows.size)
    # constant-rate GD gets its settling times from the unbounded closed-form path below
    path_settle = kind == "hb" or not constant[rows].all()
    xs = _xspace(e_pred, end_r, cols_r, full=False, settle=path_settle)
    if path_settle:
        gap_p = theory.gap_path(q, lam)
        dist_p = xs["dist"]
        floor = 1e-16 * max(1.0, abs(f_star)) if f_star is not None else 1e-16
        tt = np.arange(q.shape[0])[:, None]
        fired = (
            (
                (gap_p > theory.DIVERGE_GAP * np.maximum(gap_p[0], floor))
                | (dist_p > theory.DIVERGE_DIST * np.maximum(dist_p[0], 1.0))
            )
            & (tt <= end_r)
            & (tt >= 1)
        )
        t_div, div = _first_true(fired)
    else:
        t_div, div = np.zeros(rows.size), np.zeros(rows.size, dtype=bool)
    th_div = np.where(div, t_div, np.nan)
    settle = {
        k: np.where(div, np.nan, xs[k]) if path_settle else np.full(rows.size, np.nan)
        for k in ("t_settle_2", "t_settle_5")
    }
    po = np.where(div, np.nan, xs["po"])
    rate = np.full(rows.size, np.nan)
    reg = np.full(rows.size, None, dtype=object)
    norm0 = np.sqrt(np.sum(q0**2, axis=1, keepdims=True))
    present = np.abs(q0) > 1e-12 * norm0
    const_r = constant[rows]
    L = float(lam[-1])
    if kind == "gd" and const_r.any():
        c = np.flatnonzero(const_r)
        (s2, s5), dv = theory.gd_constant_times(
            lr0[rows][c], lam, q0[c], deltas=SETTLE_BANDS, f_star=f_star or 0.0
        )
        for key, s in (("t_settle_2", s2), ("t_settle_5", s5)):
            settle[key][c] = np.where(np.isfinite(s), s, np.nan)
        th_div[c] = np.where(np.isfinite(dv), dv, np.nan)
        po[c] = np.where(np.isfinite(dv), np.nan, xs["po"][c])
        fac = np.abs(1.0 - lr0[rows][c, None] * lam[None, :])
        rate[c] = np.max(np.where(present[c], fac, 0.0), axis=1)
        reg[c] = (
            theory.regime(lr0[rows][c], L) if c.size > 1 else [theory.regime(lr0[rows][c][0], L)]
        )
    if kind == "hb":
        for i, r in enumerate(rows):
            if not constant[r]:
                continue
            lam_i = lam[present[i]]
            rate[i] = theory.heavy_ball_rate(lr0[r], lam_i, beta[r]) if lam_i.size else np.nan
            reg[i] = theory.heavy_ball_regime(lr0[r], L, beta[r])
    out["th_po"][rows] = po
    out["th_po1"][rows] = xs["po1"]
    out["th_settle_2"][rows] = settle["t_settle_2"]
    out["th_settle_5"][rows] = settle["t_settle_5"]
    out["th_div_iter"][rows] = th_div
    out["th_rate_x"][rows] = rate
    out["th_rate_f"][rows] = rate**2
    regimes[rows] = reg
