"""Theory beside the measurement (``docs/metrics.md``, theory): the quadratic's predicted path.

For ``gd`` and heavy-ball ``momentum`` on a deterministic problem with a constant Hessian,
the predicted error path (any learning-rate schedule) goes through the same
:func:`~optbench.metrics.overshoot.xspace` as the measured one; constant rates also get the
closed-form regime, linear rate and settling times (:mod:`optbench.theory`).

The prediction does not stop where the run stopped: a run ended by its budget or by its
tolerance (heavy ball at ηλ = 1 lands on x* in one update, and the momentum then carries it
past) says nothing about the path the theory describes. The rates are continued past the
run's end (the constant rate, or the schedule rebuilt from the run's hyperparameters) and
the path is followed until it settles or diverges, up to :data:`HORIZON_MAX` updates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import theory
from ..thresholds import DIVERGE_DIST, DIVERGE_GAP, gap_floor
from ._common import first_true
from .catalog import SETTLE_BANDS
from .overshoot import SETTLE_KEYS, xspace

# the models of optbench.registry.THEORY_MODELS; heavy ball is PyTorch's
# b_t = βb_{t−1} + g_t, x ← x − η_t·b_t
_KIND = {"gd": "gd", "heavy-ball": "hb"}
HORIZON_MIN = 256  # updates predicted at least; quadrupled until every path is decided
HORIZON_MAX = 2**14
# a path is decided once its last quarter stays below this fraction of the smallest settling
# band (it has settled for good on a geometrically shrinking envelope) or C8 has fired
SETTLED_MARGIN = 1e-3
COLUMN_BYTES = 2**20  # the path's share of the runs whose overshoot is measured together
# runs whose paths are followed together: at most PATH_RUNS, and fewer in high dimension, so
# that a path of HORIZON_MAX updates stays within PATH_FLOATS numbers per array
PATH_RUNS = 256
PATH_FLOATS = 2**24


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


def _plain(h: dict[str, Any] | None) -> bool:
    """Whether a run's update is the plain one the theory describes: no weight decay (it
    moves the minimiser and adds to the Hessian) and no gradient clipping (not linear)."""
    if not h:
        return True
    wd = h.get("weight_decay", 0.0)
    return (wd is None or (not isinstance(wd, bool) and wd == 0)) and h.get("clip_norm") is None


def _no_schedule(h: dict[str, Any] | None) -> bool:
    """Whether a run's rate is constant by construction (no schedule, or ``constant``), so
    that its recorded rate holds for every later update too."""
    sched = (h or {}).get("schedule")
    if sched is None:
        return True
    if isinstance(sched, str):
        return sched.strip() in ("constant", "constant()", "constant[]")
    return getattr(sched, "name", None) == "constant" and not getattr(sched, "params", None)


def _schedule_rates(h: dict[str, Any] | None, recorded: np.ndarray):
    """``rates(t)`` of a scheduled run rebuilt from its hyperparameters, or None when the
    rebuilt schedule does not reproduce the recorded rates (a schedule that reads the gap)."""
    from ..optimizer import make_schedule

    if not h or "lr" not in h:
        return None
    try:
        sched = make_schedule(h.get("schedule"), h["lr"])
        t = np.arange(recorded.size)
        with np.errstate(all="ignore"):
            again = np.broadcast_to(np.asarray(sched(t), dtype=float), t.shape)
    except Exception:  # noqa: BLE001 — a schedule that needs the gap or its own state
        return None
    # to rounding: the runner evaluates one t at a time, numpy's power on arrays may differ
    with np.errstate(invalid="ignore"):  # numpy.allclose(rtol=1e-12, atol=0), without its overhead
        close = (again == recorded) | (np.abs(again - recorded) <= 1e-12 * np.abs(recorded))
    if not close.all():
        return None

    def rates(t: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(sched(t), dtype=float), t.shape)

    return rates


def _predict(kind, rate_fns, fallback, lam, q0, beta, dist0, f_star):
    """The predicted eigen-coordinate path ``(H+1, R, k)``, a function giving where C8's
    divergence test fires on it ``(H+1, R)`` (worked out on demand) and the rates ``(H, R)``, followed until every run's path has
    diverged, settled for good or stopped moving, or for :data:`HORIZON_MAX` updates.

    ``rate_fns[i]`` gives run i's rates for any t; where it is None the run's recorded rates
    ``fallback[:, i]`` (zero past its end) are all there is.
    """
    H = max(HORIZON_MIN, fallback.shape[0])
    floor = gap_floor(f_star)
    band = SETTLED_MARGIN * min(SETTLE_BANDS) * dist0
    while True:
        lrs = np.zeros((H, len(rate_fns)))
        n = min(H, fallback.shape[0])
        lrs[:n] = fallback[:n]
        t = np.arange(H)
        for i, fn in enumerate(rate_fns):
            if fn is not None:
                lrs[:, i] = fn(t)
        if kind == "gd":
            q = theory.gd_error_path(lrs, lam, q0)
        else:
            q = theory.heavy_ball_error_path(lrs, lam, q0, beta)
        if H >= HORIZON_MAX:  # the last horizon: C8's test only where the caller needs it
            return q, lambda q=q: _fired(q, lam, floor)[0], lrs
        fired, dist = _fired(q, lam, floor)
        with np.errstate(over="ignore", invalid="ignore"):
            last = dist[-(H // 4) :]
            # settled for good, or stuck: a path that no longer moves is decided too
            settled = np.all(last <= band, axis=0) | np.all(np.abs(last - last[-1]) <= band, axis=0)
        frozen = np.array([fn is None for fn in rate_fns])
        if np.all(fired.any(axis=0) | settled | frozen):
            return q, lambda fired=fired: fired, lrs
        H *= 4


def _xspace_by_columns(e: np.ndarray, horizon: np.ndarray, settle: bool) -> dict[str, np.ndarray]:
    """:func:`xspace` of a long predicted path a few runs at a time: every quantity is per
    run, so the numbers are the same, and the temporaries stay small enough for the
    allocator to reuse (a 16,385-update path of 256 runs is 67 MB an array)."""
    width = max(8, COLUMN_BYTES // (8 * e.shape[0] * e.shape[2]))
    parts = []
    for i in range(0, e.shape[1], width):
        part = xspace(e[:, i : i + width], horizon[i : i + width],
                      np.arange(min(width, e.shape[1] - i)), full=False, settle=settle)
        part.pop("dist")
        parts.append(part)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _fired(q: np.ndarray, lam: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Where C8's divergence test fires on a predicted path ``(H+1, R)``, and the distance."""
    with np.errstate(over="ignore", invalid="ignore"):
        dist = np.sqrt(np.sum(q**2, axis=-1))
        gap = theory.gap_path(q, lam)
        fired = (gap > DIVERGE_GAP * np.maximum(gap[0], floor)) | (
            dist > DIVERGE_DIST * np.maximum(dist[0], 1.0)
        )
    fired[0] = False
    return fired, dist


def theory_overlay(
    out: dict[str, np.ndarray],
    regimes: np.ndarray,
    trace,
    problem,
    e0: np.ndarray,
    end: np.ndarray,
    f_star: float | None,
    name: str | None,
    hyper: dict[str, Any] | list[dict[str, Any]] | None,
) -> None:
    """The ``th_*`` metrics of the runs the theory describes; fills ``out`` and ``regimes``.

    ``e0`` ``(B, d)`` is each run's initial error ``x_0 − x*_ref``. Nothing is filled for
    other optimizers, stochastic problems, problems without a Hessian or runs without
    recorded rates.
    """
    from .. import registry

    kind = _KIND.get(registry.optimizer_meta(name).get("theory") or "")
    if (
        kind is None
        or problem.hessian is None
        or getattr(problem, "stochastic", False)
        or trace.lr.shape[0] == 0
    ):
        return
    B = e0.shape[0]
    T = trace.lr.shape[0]
    lr = np.asarray(trace.lr, dtype=float)
    before_end = np.arange(T)[:, None] < end[None, :]
    lr0 = lr[0]
    finite = np.all(np.isfinite(lr) | ~before_end, axis=0) & np.all((lr >= 0) | ~before_end, axis=0)
    constant = np.all((lr == lr0) | ~before_end, axis=0) & (lr0 > 0)
    usable = finite & (end >= 1)
    beta = np.zeros(B)
    hypers = hyper if isinstance(hyper, list) else [hyper] * B
    if isinstance(hyper, list):
        usable &= np.array([_plain(h) for h in hypers])
    elif not _plain(hyper):
        return
    if kind == "hb":
        betas = [_momentum(h) for h in hypers]
        has = np.array([b is not None for b in betas])
        beta = np.array([b if b is not None else 0.0 for b in betas])
        usable &= has
    if not usable.any():
        return
    rows = np.flatnonzero(usable)
    lam, V = np.linalg.eigh(np.asarray(problem.hessian, dtype=float))
    q0 = e0[rows] @ V
    res = {k: np.full(rows.size, np.nan) for k in ("po", "po1", "s2", "s5", "div", "rate")}
    reg = np.full(rows.size, None, dtype=object)
    # constant-rate GD with no schedule to continue: closed forms, the whole unbounded path
    closed = np.zeros(rows.size, dtype=bool)
    if kind == "gd":
        if isinstance(hyper, list):
            closed = constant[rows] & np.array([_no_schedule(hypers[r]) for r in rows])
        else:
            closed = constant[rows] & _no_schedule(hyper)
        if closed.any():
            _gd_constant(res, reg, np.flatnonzero(closed), lr0[rows], lam, q0, f_star)
    path = np.flatnonzero(~closed)
    group = max(1, min(PATH_RUNS, PATH_FLOATS // ((HORIZON_MAX + 1) * lam.size)))
    for part in (path[i : i + group] for i in range(0, path.size, group)):
        sub = {k: v[part] for k, v in res.items()}
        sub_reg = reg[part]
        _predicted(sub, sub_reg, kind, rows[part], q0[part], lam, V, lr, end, before_end,
                   constant, lr0, beta, hypers, f_star)
        for k, v in sub.items():
            res[k][part] = v
        reg[part] = sub_reg
    out["th_po"][rows] = res["po"]
    out["th_po1"][rows] = res["po1"]
    out["th_settle_2"][rows] = res["s2"]
    out["th_settle_5"][rows] = res["s5"]
    out["th_div_iter"][rows] = res["div"]
    out["th_rate_x"][rows] = res["rate"]
    out["th_rate_f"][rows] = res["rate"] ** 2
    regimes[rows] = reg


def _gd_constant(res, reg, c, lr0, lam, q0, f_star, po_path=None) -> None:
    """Constant-rate GD's settling times, divergence step, linear rate and regime from their
    closed forms, for the runs ``c`` (indices into ``res``); the overshoot from the path when
    ``po_path`` gives it, else from :func:`theory.gd_constant_overshoot`."""
    (s2, s5), dv = theory.gd_constant_times(
        lr0[c], lam, q0[c], deltas=SETTLE_BANDS, f_star=f_star or 0.0
    )
    res["s2"][c] = np.where(np.isfinite(s2), s2, np.nan)
    res["s5"][c] = np.where(np.isfinite(s5), s5, np.nan)
    res["div"][c] = np.where(np.isfinite(dv), dv, np.nan)
    if po_path is None:
        po, po1 = theory.gd_constant_overshoot(lr0[c], lam, q0[c], skip=np.isfinite(dv))
        res["po1"][c] = po1
    else:
        po = po_path[c]
    res["po"][c] = np.where(np.isfinite(dv), np.nan, po)
    norm0 = np.sqrt(np.sum(q0[c] ** 2, axis=1, keepdims=True))
    present = np.abs(q0[c]) > 1e-12 * norm0
    fac = np.abs(1.0 - lr0[c, None] * lam[None, :])
    res["rate"][c] = np.max(np.where(present, fac, 0.0), axis=1)
    L = float(lam[-1])
    reg[c] = theory.regime(lr0[c], L) if c.size > 1 else [theory.regime(lr0[c][0], L)]


def _predicted(res, reg, kind, rows, q0, lam, V, lr, end, before_end, constant, lr0, beta,
               hypers, f_star) -> None:
    """The ``th_*`` values of the runs ``rows`` (a schedule, or heavy ball) from their
    predicted path, followed until it is decided (:func:`_predict`)."""
    rate_fns = []
    for r in rows:
        fn = _schedule_rates(hypers[r], lr[: end[r], r])
        if fn is None and constant[r]:  # no schedule to rebuild: the rate it ran at
            fn = lambda t, c=float(lr0[r]): np.full(t.shape, c)  # noqa: E731
        rate_fns.append(fn)
    recorded = np.where(before_end[:, rows], lr[:, rows], 0.0)
    dist0 = np.sqrt(np.sum(q0**2, axis=1))
    q, fired, lrs = _predict(kind, rate_fns, recorded, lam, q0, beta[rows], dist0, f_star)
    # constant over the horizon predicted, not only over the updates the run made
    const_r = np.all(lrs == lrs[0], axis=0) & (lrs[0] > 0)
    # xspace reads lengths and the projection on e_0 alone, which the eigenbasis keeps: the
    # path is measured in its eigen-coordinates, not rotated back (d² work per update)
    e_pred = q
    horizon = np.full(rows.size, q.shape[0] - 1)
    # constant-rate GD gets its settling times from the unbounded closed-form path below
    path_settle = kind == "hb" or not const_r.all()
    xs = _xspace_by_columns(e_pred, horizon, path_settle)
    if path_settle:
        t_div, div = first_true(fired())
    else:
        t_div, div = np.zeros(rows.size), np.zeros(rows.size, dtype=bool)
    res["div"][:] = np.where(div, t_div, np.nan)
    for key, short in zip(SETTLE_KEYS, ("s2", "s5"), strict=True):
        res[short][:] = np.where(div, np.nan, xs[key]) if path_settle else np.nan
    res["po"][:] = np.where(div, np.nan, xs["po"])
    res["po1"][:] = xs["po1"]
    if kind == "gd" and const_r.any():
        _gd_constant(res, reg, np.flatnonzero(const_r), lr0[rows], lam, q0, f_star,
                     po_path=xs["po"])
    if kind == "hb":
        norm0 = np.sqrt(np.sum(q0**2, axis=1, keepdims=True))
        present = np.abs(q0) > 1e-12 * norm0
        L = float(lam[-1])
        for i, r in enumerate(rows):
            if not const_r[i]:
                continue
            lam_i = lam[present[i]]
            res["rate"][i] = (
                theory.heavy_ball_rate(lr0[r], lam_i, beta[r]) if lam_i.size else np.nan
            )
            reg[i] = theory.heavy_ball_regime(lr0[r], L, beta[r])
