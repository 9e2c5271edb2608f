"""Theory beside the measurement (``docs/metrics.md#the-theory-of-the-quadratic``).

For ``gd`` and heavy-ball ``momentum`` on a deterministic problem with a constant Hessian,
the predicted error path (any learning-rate schedule) goes through the same
:func:`~optbench.metrics.overshoot.xspace` as the measured one; constant rates also get the
closed-form regime, linear rate and settling times (:mod:`optbench.theory`).

The prediction does not stop where the run stopped: a run ended by its budget or by its
tolerance (heavy ball at ηλ = 1 lands on x* in one update, and the momentum then carries it
past) says nothing about the path the theory describes. The rates are continued past the
run's end (the constant rate, or the schedule rebuilt from the run's hyperparameters) and
the path is followed until it settles or diverges, up to :data:`HORIZON_MAX` updates.

Which model applies, and which hyperparameters are its learning rate, momentum and schedule
and must be off for the plain update, the optimizer declared when it registered
(:mod:`optbench.theory_mapping`): this module names none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import theory
from ..theory_mapping import is_off
from ..thresholds import DIVERGE_DIST, DIVERGE_GAP, gap_floor
from ._common import first_true
from .catalog import SETTLE_BANDS
from .overshoot import SETTLE_KEYS, along_track

# the models of optbench.theory_mapping.THEORY_MODELS; heavy ball is PyTorch's
# b_t = βb_{t−1} + g_t, x ← x − η_t·b_t
_KIND = {"gd": "gd", "heavy-ball": "hb", "nesterov": "nag"}
HORIZON_MIN = 256  # updates predicted at least; quadrupled until every path is decided
HORIZON_MAX = 2**14
# a path is decided once its last quarter stays below this fraction of the smallest settling
# band (it has settled for good on a geometrically shrinking envelope) or the divergence test fired
SETTLED_MARGIN = 1e-3
COLUMN_BYTES = 2**20  # the path's share of the runs whose overshoot is measured together


TheoryMap = dict[str, Any]  # an optimizer's theory mapping (optbench.theory_mapping)


def _get(h: dict[str, Any] | None, th: TheoryMap, role: str) -> Any:
    """The run's value of the hyperparameter that plays ``role`` (None: no such part)."""
    key = th.get(role)
    return None if key is None or not h else h.get(key)


def _momentum(h: dict[str, Any] | None, th: TheoryMap) -> float | None:
    """β of a heavy-ball or Nesterov run, a number in [0, 1), else None."""
    beta = _get(h, th, "beta")
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 <= beta < 1:
        return None
    return float(beta)


def _plain(h: dict[str, Any] | None, th: TheoryMap) -> bool:
    """Whether a run's update is the plain one the theory describes: every hyperparameter
    the mapping lists as ``off`` (weight decay moves the minimiser and adds to the Hessian,
    clipping is not linear, ...) is off in it."""
    if not h:
        return True
    return all(is_off(h.get(k)) for k in th.get("off", ()))


def _no_schedule(h: dict[str, Any] | None, th: TheoryMap) -> bool:
    """Whether a run's rate is constant by construction (no schedule, or ``constant``), so
    that its recorded rate holds for every later update too."""
    sched = _get(h, th, "schedule")
    if sched is None:
        return True
    if isinstance(sched, str):
        return sched.strip() in ("constant", "constant()", "constant[]")
    return getattr(sched, "name", None) == "constant" and not getattr(sched, "params", None)


def _built_rates(h: dict[str, Any] | None, th: TheoryMap):
    """``rates(t)`` of a scheduled run rebuilt from its hyperparameters (None if it cannot
    be: no base rate, or a schedule that needs the gap or its own state)."""
    from ..optimizer import make_schedule

    if not h or th.get("lr") not in h:
        return None
    try:
        sched = make_schedule(_get(h, th, "schedule"), h[th["lr"]])
        with np.errstate(all="ignore"):
            np.asarray(sched(np.arange(2)), dtype=float)
    except Exception:  # noqa: BLE001 — a schedule that needs the gap or its own state
        return None

    def rates(t: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(sched(t), dtype=float), t.shape)

    return rates


def _reproduces(rates, recorded: np.ndarray) -> bool:
    """Whether rebuilt ``rates`` give the recorded ones, to rounding (the runner evaluates
    one t at a time, numpy's power on arrays may differ): not so for a schedule that reads
    the gap."""
    try:
        again = rates(np.arange(recorded.size))
    except Exception:  # noqa: BLE001 — a schedule that needs the gap
        return False
    with np.errstate(invalid="ignore"):  # numpy.allclose(rtol=1e-12, atol=0), without its overhead
        close = (again == recorded) | (np.abs(again - recorded) <= 1e-12 * np.abs(recorded))
    return bool(close.all())


def _factor_path(kind: str, rates: np.ndarray, lam: np.ndarray, beta: float) -> np.ndarray:
    """``h (H+1, k)``: each eigen-direction's error relative to its start under ``rates``.
    Both recurrences are linear in the start, so a run's path is ``q_{t,i} = q_{0,i}·h_{t,i}``
    and runs that share their rates (a sweep's seeds) share ``h``."""
    ones = np.ones(lam.size)
    if kind == "gd":
        return theory.gd_error_path(rates, lam, ones)
    return theory.heavy_ball_error_path(rates, lam, ones, beta)


def _prepared(h: np.ndarray):
    """What :func:`_along` reads of a shared path, worked out once for all its runs: ``h``
    with overflowed entries zeroed (in place), ``h²`` and where it overflowed."""
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(h)
        if bad.any():
            h[bad] = 0.0
        return h, h * h, bad if bad.any() else None


def _along(path, q0: np.ndarray, lam: np.ndarray):
    """``(c, dist, gap − f*)`` ``(H+1, R)`` of the runs with starts ``q0 (R, k)`` on a
    :func:`_prepared` shared path: ``c_t = Σ_i q_{0,i}² h_{t,i} / ‖q_0‖`` (the along-track
    error), ``dist_t² = Σ_i q_{0,i}² h_{t,i}²``, ``gap_t = ½ Σ_i λ_i q_{0,i}² h_{t,i}²`` —
    three matrix products. Where an overflowed direction matters to a run, its values are
    non-finite, as the path's own would be."""
    h, h2, bad = path
    w = q0**2
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        c = (h @ w.T) / np.sqrt(w.sum(axis=1))
        dist = np.sqrt(h2 @ w.T)
        gap = 0.5 * (h2 @ (w * lam).T)
        if bad is not None:
            hit = (bad.astype(float) @ (w > 0).T.astype(float)) > 0
            c[hit], dist[hit], gap[hit] = np.nan, np.inf, np.inf
    return c, dist, gap


def _fired(dist: np.ndarray, gap: np.ndarray, floor: float) -> np.ndarray:
    """Where the runner's divergence test fires on a predicted path ``(H+1, R)``."""
    with np.errstate(invalid="ignore"):
        fired = (gap > DIVERGE_GAP * np.maximum(gap[0], floor)) | (
            dist > DIVERGE_DIST * np.maximum(dist[0], 1.0)
        )
    fired[0] = False
    return fired


def _columns(R: int, H: int) -> list[slice]:
    """Runs measured together: ``(H+1) × width`` numbers an array, few enough for the
    allocator to reuse the memory (a 16,385-update path of 256 runs is 34 MB an array)."""
    width = max(8, COLUMN_BYTES // (8 * (H + 1)))
    return [slice(i, min(i + width, R)) for i in range(0, R, width)]


def _shared_path(kind, rates_of, recorded, lam, q0, beta, f_star, frozen):
    """The shared path (:func:`_prepared`) of runs with the same rates, and its rates
    ``(H,)``, followed until every run's path has diverged, settled for good or stopped
    moving, or for :data:`HORIZON_MAX` updates. ``rates_of(t)`` gives the rates for any t;
    without it (``frozen``) the recorded rates (zero past the run's end) are all there are."""
    H = max(HORIZON_MIN, recorded.size)
    floor = gap_floor(f_star)
    band = SETTLED_MARGIN * min(SETTLE_BANDS) * np.sqrt(np.sum(q0**2, axis=1))
    while True:
        if frozen:
            rates = np.zeros(H)
            rates[: min(H, recorded.size)] = recorded[:H]
        else:
            rates = np.asarray(rates_of(np.arange(H)), dtype=float)
        path = None  # the last horizon's, freed before the next is computed
        path = _prepared(_factor_path(kind, rates, lam, beta))
        if H >= HORIZON_MAX or frozen:
            return path, rates
        decided = True
        for cols in _columns(len(q0), H):
            _, dist, gap = _along(path, q0[cols], lam)
            with np.errstate(over="ignore", invalid="ignore"):
                last = dist[-(H // 4) :]
                b = band[cols]
                # settled for good, or stuck: a path that no longer moves is decided too
                settled = np.all(last <= b, axis=0) | np.all(np.abs(last - last[-1]) <= b, axis=0)
            if not np.all(_fired(dist, gap, floor).any(axis=0) | settled):
                decided = False
                break
        if decided:
            return path, rates
        H *= 4


def _each(rule, hypers: Sequence[dict[str, Any] | None], th: TheoryMap) -> list[Any]:
    """``rule(h, th)`` of each run's hyperparameters, worked out once per distinct dict
    object (the runs of one setting share theirs: :func:`optbench.runner._hyper`)."""
    seen: dict[int, Any] = {}
    out = []
    for h in hypers:
        k = id(h)
        if k not in seen:
            seen[k] = rule(h, th)
        out.append(seen[k])
    return out


def _rate_key(h: dict[str, Any] | None, th: TheoryMap) -> tuple:
    """What a run's rebuilt rates depend on: its schedule and base rate."""
    sched = _get(h, th, "schedule")
    skey = ("callable", id(sched)) if callable(sched) else ("spec", str(sched))
    lr = _get(h, th, "lr")
    return (*skey, repr(lr))


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

    th = registry.optimizer_meta(name).get("theory") or {}
    kind = _KIND.get(th.get("model") or "")
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
    hypers: Sequence[dict[str, Any] | None] = (
        hyper if isinstance(hyper, list) else [hyper] * B)
    if isinstance(hyper, list):
        usable &= np.array(_each(_plain, hypers, th), dtype=np.bool_)
    elif not _plain(hyper, th):
        return
    if kind in ("hb", "nag"):
        betas = _each(_momentum, hypers, th)
        has = np.array([b is not None for b in betas])
        beta = np.array([b if b is not None else 0.0 for b in betas])
        usable &= has
    if not usable.any():
        return
    rows = np.flatnonzero(usable)
    lam, V = np.linalg.eigh(np.asarray(problem.hessian, dtype=float))
    q0 = e0[rows] @ V
    if kind == "nag":
        _nesterov(out, rows, q0, lam, lr0, beta, constant, hypers, th)
        return
    res = {k: np.full(rows.size, np.nan) for k in ("po", "po1", "s2", "s5", "div", "rate")}
    reg = np.full(rows.size, None, dtype=object)
    # constant-rate GD with no schedule to continue: closed forms, the whole unbounded path
    closed = np.zeros(rows.size, dtype=bool)
    if kind == "gd":
        if isinstance(hyper, list):
            no_schedule = _each(_no_schedule, [hypers[int(r)] for r in rows], th)
            closed = constant[rows] & np.array(no_schedule, dtype=bool)
        else:
            closed = constant[rows] & _no_schedule(hyper, th)
        if closed.any():
            _gd_constant(res, reg, np.flatnonzero(closed), lr0[rows], lam, q0, f_star)
    path = np.flatnonzero(~closed)
    if path.size:
        sub = {k: v[path] for k, v in res.items()}
        sub_reg = reg[path]
        _predicted(sub, sub_reg, kind, rows[path], q0[path], lam, lr, end, before_end,
                   constant, lr0, beta, hypers, th, f_star)
        for k, v in sub.items():
            res[k][path] = v
        reg[path] = sub_reg
    out["th_po"][rows] = res["po"]
    out["th_po1"][rows] = res["po1"]
    out["th_settle_2"][rows] = res["s2"]
    out["th_settle_5"][rows] = res["s5"]
    out["th_div_iter"][rows] = res["div"]
    out["th_rate_x"][rows] = res["rate"]
    out["th_rate_f"][rows] = res["rate"] ** 2
    regimes[rows] = reg


def _nesterov(out, rows, q0, lam, lr0, beta, constant, hypers, th) -> None:
    """Nesterov's predicted linear rate (:func:`theory.nesterov_rate`, over the directions
    the start holds) for its constant-rate runs; its path, overshoot and settling are not
    modelled and stay None."""
    norm0 = np.sqrt(np.sum(q0**2, axis=1, keepdims=True))
    present = np.abs(q0) > 1e-12 * norm0
    for j, r in enumerate(rows):
        if not (constant[r] and _no_schedule(hypers[r], th)) or not present[j].any():
            continue
        rate = theory.nesterov_rate(float(lr0[r]), lam[present[j]], float(beta[r]))
        out["th_rate_x"][r] = rate
        out["th_rate_f"][r] = rate**2


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


def _predicted(res, reg, kind, rows, q0, lam, lr, end, before_end, constant, lr0, beta,
               hypers, th, f_star) -> None:
    """The ``th_*`` values of the runs ``rows`` (a schedule, or heavy ball) from their
    predicted path (:func:`_shared_path`), runs with the same rates and momentum together."""
    rebuilt: dict[tuple, Any] = {}
    groups: dict[tuple, list[int]] = {}
    fns: dict[tuple, Any] = {}
    for i, r in enumerate(rows):
        h = hypers[r]
        key: tuple = _rate_key(h, th)
        if key not in rebuilt:  # one schedule built per distinct schedule and rate
            rebuilt[key] = _built_rates(h, th)
        fn = rebuilt[key]
        if fn is not None and not _reproduces(fn, lr[: end[r], r]):
            fn = None  # a schedule that read the gap, say: not continued
        if fn is None and constant[r]:  # no schedule to rebuild: the rate it ran at
            key = ("constant", repr(float(lr0[r])))
            fn = lambda t, c=float(lr0[r]): np.full(t.shape, c)  # noqa: E731
        elif fn is None:  # nothing to continue: the recorded rates, zero past its end
            key = ("recorded", lr[: end[r], r].tobytes())
        group = (key, beta[r])
        if fn is not None:
            fns.setdefault(group, fn)
        groups.setdefault(group, []).append(i)
    floor = gap_floor(f_star)
    for group, members in groups.items():
        idx = np.array(members)
        r0 = rows[idx[0]]
        fn = fns.get(group)
        recorded = np.where(before_end[:, r0], lr[:, r0], 0.0)
        path, rates = _shared_path(kind, fn, recorded, lam, q0[idx], beta[r0], f_star, fn is None)
        H = rates.size
        # constant over the horizon predicted, not only over the updates the run made
        const = bool(H) and bool(np.all(rates == rates[0]) and rates[0] > 0)
        path_settle = kind == "hb" or not const  # constant GD: the closed-form times
        po = np.empty(idx.size)
        for cols in _columns(idx.size, H):
            c, dist, gap = _along(path, q0[idx[cols]], lam)
            n = c.shape[1]
            xs = along_track(c, dist, np.full(n, H), np.arange(n), settle=path_settle)
            if path_settle:
                t_div, div = first_true(_fired(dist, gap, floor))
            else:
                t_div, div = np.zeros(n), np.zeros(n, dtype=bool)
            at = idx[cols]
            res["div"][at] = np.where(div, t_div, np.nan)
            for name, short in zip(SETTLE_KEYS, ("s2", "s5"), strict=True):
                res[short][at] = np.where(div, np.nan, xs[name]) if path_settle else np.nan
            res["po"][at] = np.where(div, np.nan, xs["po"])
            res["po1"][at] = xs["po1"]
            po[cols] = xs["po"]
        if kind == "gd" and const:
            sub = {k: v[idx] for k, v in res.items()}
            sub_reg = reg[idx]
            _gd_constant(sub, sub_reg, np.arange(idx.size), lr0[rows[idx]], lam, q0[idx],
                         f_star, po_path=po)
            for k, v in sub.items():
                res[k][idx] = v
            reg[idx] = sub_reg
        if kind == "hb" and const:
            norm0 = np.sqrt(np.sum(q0[idx] ** 2, axis=1, keepdims=True))
            present = np.abs(q0[idx]) > 1e-12 * norm0
            L = float(lam[-1])
            for j, i in enumerate(idx):
                r = rows[i]
                lam_i = lam[present[j]]
                res["rate"][i] = (
                    theory.heavy_ball_rate(lr0[r], lam_i, beta[r]) if lam_i.size else np.nan
                )
                reg[i] = theory.heavy_ball_regime(lr0[r], L, beta[r])
