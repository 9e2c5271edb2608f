"""Theory for gradient descent and heavy-ball momentum on quadratics
(``docs/metrics.md#the-theory-of-the-quadratic``).

Pure functions of the learning rate and the curvature, used by the metrics (the ``th_*``
values stored beside the measured ones) and by the report (overlays)::

    >>> regime(0.75, 2.0), predicted_po(0.75, 2.0), settling_time(0.2, 2.0, 0.02)
    ('oscillating-convergent', 50.0, 8.0)

On ``f = ½(x − x*)ᵀA(x − x*) + f*`` with eigenpairs ``(λ_i, v_i)`` gradient descent moves
each eigen-coordinate ``q_i = <x − x*, v_i>`` independently:
``q_{i,t} = q_{i,0} Π_{s<t}(1 − η_s λ_i)`` for any schedule (:func:`gd_error_path`).
Heavy ball (PyTorch form ``b_t = βb_{t−1} + g_t``, ``x ← x − η_t b_t``; Polyak's recursion
when η is constant) is a second-order linear system per direction (:func:`heavy_ball_error_path`).
Nesterov (PyTorch form, ``x ← x − η(g_t + βb_t)``) is one too; only its rate is modelled
(:func:`nesterov_rate`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .thresholds import DIVERGE_DIST, DIVERGE_GAP, gap_floor

__all__ = [
    "REGIMES",
    "divergence_iter",
    "gap_path",
    "gd_constant_times",
    "gd_error_path",
    "gd_rate",
    "heavy_ball_band",
    "heavy_ball_error_path",
    "heavy_ball_rate",
    "heavy_ball_regime",
    "heavy_ball_roots",
    "nesterov_rate",
    "nesterov_roots",
    "predicted_po",
    "predicted_po1",
    "regime",
    "settling_time",
]

REGIMES = ("monotone", "one-step", "oscillating-convergent", "period-2", "divergent")
HEAVY_BALL_REGIMES = (
    "over-damped",
    "critically-damped",
    "under-damped",
    "oscillating-convergent",
    "period-2",
    "divergent",
)


def _eta_l(lr: Any, L: Any) -> np.ndarray:
    lr, L = np.asarray(lr, dtype=float), np.asarray(L, dtype=float)
    if np.any(~(lr > 0)):
        raise ValueError(
            f"lr must be > 0, got {lr.reshape(-1)[np.flatnonzero(~(lr.reshape(-1) > 0))[0]]}"
        )
    if np.any(~(L > 0)):
        raise ValueError(
            f"L must be > 0, got {L.reshape(-1)[np.flatnonzero(~(L.reshape(-1) > 0))[0]]}"
        )
    return lr * L


def _out(a: np.ndarray) -> Any:
    return a.item() if a.ndim == 0 else a


# -- gradient descent, one direction (1-D quadratic) --------------------------------------------


def regime(lr: Any, L: Any, rtol: float = 1e-12) -> Any:
    """The regime of GD with a constant rate on curvature L.

    ``monotone`` (ηL < 1), ``one-step`` (ηL = 1), ``oscillating-convergent`` (1 < ηL < 2),
    ``period-2`` (ηL = 2), ``divergent`` (ηL > 2); equality within ``rtol``.
    """
    r = _eta_l(lr, L)
    out = np.select(
        [np.abs(r - 1) <= rtol, np.abs(r - 2) <= 2 * rtol, r < 1, r < 2],
        ["one-step", "period-2", "monotone", "oscillating-convergent"],
        "divergent",
    )
    return _out(np.asarray(out, dtype=object))


def predicted_po(lr: Any, L: Any, rtol: float = 1e-12) -> Any:
    """Percent overshoot ``100·max(0, ηL − 1)`` for ηL ≤ 2; NaN beyond (PO is undefined for a
    diverging run: see :func:`predicted_po1`)."""
    r = _eta_l(lr, L)
    return _out(np.where(r <= 2 * (1 + rtol), 100.0 * np.maximum(0.0, r - 1.0), np.nan))


def predicted_po1(lr: Any, L: Any) -> Any:
    """First-peak overshoot ``100·max(0, ηL − 1)``, finite also when GD diverges."""
    return _out(100.0 * np.maximum(0.0, _eta_l(lr, L) - 1.0))


def settling_time(lr: Any, L: Any, delta: float = 0.02) -> Any:
    """Updates until ``|x_t − x*| ≤ δ|x_0 − x*|`` for good: ``⌈ln δ / ln|1 − ηL|⌉``.

    1 for ηL = 1 (one step lands on x*); ``inf`` for ηL ≥ 2 (never settles).
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    rho = np.abs(1.0 - _eta_l(lr, L))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = math.log(delta) / np.log(rho)
        # shave rounding so that an exact integer k gives k, not k + 1
        t = np.maximum(1.0, np.ceil(x - 1e-9 * np.abs(x)))
    return _out(np.where(rho >= 1, np.inf, np.where(rho == 0, 1.0, t)))


def gd_rate(lr: Any, eigvals: Any) -> Any:
    """Linear rate of ``dist_t``: ``max_i |1 − ηλ_i|`` (the rate of ``gap_t`` is its square).

    ``lr`` may be a vector of runs; ``eigvals`` the curvatures present.
    """
    lr = np.asarray(lr, dtype=float)
    lam = np.asarray(eigvals, dtype=float).reshape(-1)
    return _out(np.max(np.abs(1.0 - lr[..., None] * lam), axis=-1))


def divergence_iter(lr: Any, L: Any, dist0: Any, f_star: float = 0.0) -> Any:
    """The update at which the divergence test declares GD on ``(L/2)(x − x*)² + f*`` diverged.

    First t with ``gap_0 ρ^{2t} > 1e6·max(gap_0, floor)`` or ``dist_0 ρ^t > 1e3·max(dist_0, 1)``,
    ``ρ = |1 − ηL|``, ``gap_0 = (L/2)dist_0²``; ``inf`` when ρ ≤ 1.
    """
    r = _eta_l(lr, L)
    rho = np.abs(1.0 - r)
    L = np.asarray(L, dtype=float)
    dist0 = np.abs(np.asarray(dist0, dtype=float))
    gap0 = 0.5 * L * dist0**2
    floor = gap_floor(f_star)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr_ = np.log(rho)
        tg = np.log(DIVERGE_GAP * np.maximum(gap0, floor) / gap0) / (2 * lr_)
        td = np.log(DIVERGE_DIST * np.maximum(dist0, 1.0) / dist0) / lr_
        t = np.floor(np.minimum(tg, td)) + 1  # strict inequality: the first t past the bound
    return _out(np.where((rho > 1) & (dist0 > 0), t, np.inf))


# -- gradient descent, any schedule, n-D ------------------------------------------------------


def gd_error_path(lrs: Any, eigvals: Any, e0_coords: Any) -> np.ndarray:
    """Eigen-coordinates of the error ``x_t − x*`` of GD for the rates actually used.

    Args:
        lrs: ``η_t`` for t = 0..T−1, shape ``(T,)`` or ``(T, B)`` (one column per run).
        eigvals: ``λ_i``, shape ``(k,)``.
        e0_coords: ``<x_0 − x*, v_i>``, shape ``(k,)`` or ``(B, k)``.

    Returns:
        ``q`` of shape ``(T+1, k)`` or ``(T+1, B, k)``: ``q_t = q_0 Π_{s<t}(1 − η_s λ)``.
    """
    lrs = np.asarray(lrs, dtype=float)
    lam = np.asarray(eigvals, dtype=float).reshape(-1)
    q0 = np.asarray(e0_coords, dtype=float)
    factors = 1.0 - lrs[..., None] * lam
    out = np.empty((factors.shape[0] + 1,) + factors.shape[1:])
    out[0] = q0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        # row by row: numpy's cumprod along the first axis of a wide array is slow
        for t in range(factors.shape[0]):
            np.multiply(out[t], factors[t], out=out[t + 1])
    return out


def gap_path(coords: np.ndarray, eigvals: Any) -> np.ndarray:
    """``gap_t = ½ Σ_i λ_i q_{i,t}²`` along an eigen-coordinate path (last axis = directions)."""
    lam = np.asarray(eigvals, dtype=float).reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        return 0.5 * np.sum(lam * coords**2, axis=-1)


def gd_constant_times(
    lr: Any,
    eigvals: Any,
    e0_coords: Any,
    *,
    deltas=(0.02, 0.05),
    f_star: float = 0.0,
    max_t: int = 10**9,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Settling times and divergence step of constant-rate GD on a quadratic, per run.

    ``dist_t² = Σ q_i² ρ_i^{2t}`` and ``gap_t`` are convex in t, and both tests compare
    them with a level at or above their start, so "settled by t" (when every ``|ρ_i| ≤ 1``)
    and "the divergence test has fired by t" are monotone in t: a bisection on integer t finds the
    first t exactly, in ~30 evaluations whatever the conditioning.

    Args:
        lr: the rate per run, shape ``(B,)``.
        eigvals: ``(k,)``. e0_coords: ``(B, k)``.
        max_t: the horizon searched.

    Returns:
        ``([t_settle(δ) for δ in deltas], t_div)``, float arrays of shape ``(B,)``, ``inf``
        where it never happens (within ``max_t``).
    """
    lr = np.asarray(lr, dtype=float).reshape(-1)
    lam = np.asarray(eigvals, dtype=float).reshape(-1)
    q0 = np.asarray(e0_coords, dtype=float).reshape(lr.size, lam.size)
    arho = np.abs(1.0 - lr[:, None] * lam)
    q2 = q0**2
    present = q0 != 0
    dist2_0 = q2.sum(axis=1)
    gap0 = 0.5 * (q2 * lam).sum(axis=1)
    floor = gap_floor(f_star)
    gap_lim = DIVERGE_GAP * np.maximum(gap0, floor)
    dist_lim2 = (DIVERGE_DIST * np.maximum(np.sqrt(dist2_0), 1.0)) ** 2

    def at_rows(t, rows):
        """``dist_t²`` and ``gap_t − f*`` of the given runs at their own t."""
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            w = q2[rows] * arho[rows] ** (2.0 * t[:, None])
            return w.sum(axis=1), 0.5 * (w * lam).sum(axis=1)

    def first(pred, todo):
        """Smallest t in (0, max_t] with pred(t) true, for the rows in todo (inf if none)."""
        out = np.full(lr.size, np.inf)
        rows = np.flatnonzero(todo)
        if not rows.size:
            return out
        hi = np.full(rows.size, float(max_t))
        ok = pred(hi, rows)
        lo = np.zeros(rows.size)
        while True:
            open_ = ok & (hi - lo > 1)
            if not open_.any():
                break
            mid = np.floor((lo + hi) / 2)
            yes = pred(mid, rows)
            hi = np.where(open_ & yes, mid, hi)
            lo = np.where(open_ & ~yes, mid, lo)
        out[rows[ok]] = hi[ok]
        return out

    grows = np.any(present & (arho > 1), axis=1) & (dist2_0 > 0)
    settle = []
    for delta in deltas:

        def settled(t, rows, delta=delta):
            dist2, _ = at_rows(t, rows)
            return dist2 <= delta**2 * dist2_0[rows]

        s = first(settled, ~grows & (dist2_0 > 0))
        settle.append(np.where(dist2_0 == 0, 0.0, s))

    def fired(t, rows):
        dist2, gap = at_rows(t, rows)
        return (gap > gap_lim[rows]) | (dist2 > dist_lim2[rows])

    return settle, first(fired, grows)


def gd_constant_overshoot(
    lr: Any, eigvals: Any, e0_coords: Any, *, max_t: int = 2**14, skip: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Percent overshoot (po) and first-peak overshoot (po1) of constant-rate GD on a
    quadratic, per run, without following the path further than it can still matter.

    Along ``u = e_0/‖e_0‖`` the error is ``c_t/‖e_0‖ = Σ_i w_i ρ_i^t`` with
    ``w_i = q_i²/‖q‖²`` and ``ρ_i = 1 − ηλ_i``. With ``A_t = Σ_{ρ_i<0} w_i|ρ_i|^t``, ``r``
    the largest ``|ρ_i|`` among the negative ``ρ_i`` and ``(ρ_p, w_p)`` the largest positive
    ``ρ_i`` and its weight, every later ``s > t`` has
    ``−c_s/‖e_0‖ ≤ r^{s−t}·(A_t − [ρ_p ≥ r]·w_p ρ_p^t)``. The path is evaluated in growing
    chunks of t until that bound (for ``r ≤ 1``) is at most the largest overshoot seen, so
    no later update can exceed it: the maximum over all t, not over a horizon. For po1 the
    first stretch with ``c_t < 0`` must also have ended, or provably never begin. Runs with
    ``|ρ_i| = 1`` (exactly on the stability edge) never decide and are evaluated up to
    ``max_t``, like the predicted path of a schedule.

    Args:
        lr: the rate per run ``(B,)``. eigvals: ``(k,)``. e0_coords: ``(B, k)``.
        skip: ``(B,)`` runs not to evaluate (diverged: their po is undefined); their po is
            NaN and only their po1 is worked out.

    Returns:
        ``(po, po1)`` in percent, shape ``(B,)``; NaN where ``e_0 = 0``.
    """
    lr = np.asarray(lr, dtype=float).reshape(-1)
    lam = np.asarray(eigvals, dtype=float).reshape(-1)
    q0 = np.asarray(e0_coords, dtype=float).reshape(lr.size, lam.size)
    B = lr.size
    rho = 1.0 - lr[:, None] * lam
    q2 = q0**2
    n2 = q2.sum(axis=1)
    ok = (n2 > 0) & np.isfinite(n2)
    w = q2 / np.where(ok, n2, 1.0)[:, None]
    held = w > 0
    neg_w = held & (rho < 0)
    pos_w = held & (rho >= 0)
    r_n = np.max(np.where(neg_w, -rho, 0.0), axis=1)
    rho_p = np.max(np.where(pos_w, rho, -1.0), axis=1)
    w_p = np.max(np.where(pos_w & (rho == rho_p[:, None]), w, 0.0), axis=1)
    lead = (rho_p >= r_n) & (rho_p >= 0)
    stable = np.max(np.where(held, np.abs(rho), 0.0), axis=1) <= 1.0
    skip = np.zeros(B, dtype=bool) if skip is None else np.asarray(skip, dtype=bool)
    top = np.zeros(B)  # max(0, max −c_t/‖e_0‖) so far
    first = np.zeros(B)  # max of −c_t over the first stretch so far
    seen = np.zeros(B, dtype=bool)  # the first stretch has begun
    ended = np.zeros(B, dtype=bool)  # ... and ended
    todo = ok & neg_w.any(axis=1)  # with no negative ρ_i, c_t ≥ 0 for every t
    t0, size = 0, 64
    while todo.any() and t0 <= max_t:
        t = np.arange(t0, min(t0 + size, max_t + 1), dtype=float)
        # a few runs at a time in high dimension: (C, R, k) stays within CHUNK_FLOATS
        rows = np.flatnonzero(todo)
        step = max(1, CHUNK_FLOATS // (t.size * lam.size))
        for part in np.array_split(rows, -(-rows.size // step)):
            _overshoot_chunk(part, t, rho, w, neg_w, lead, rho_p, w_p, stable, skip, top, first,
                             seen, ended, todo)
        t0 += t.size
        size = min(2 * size, 4096)
    po = np.where(ok & ~skip, 100.0 * top + 0.0, np.nan)
    return po, np.where(ok, 100.0 * first, np.nan)


CHUNK_FLOATS = 2**22  # the largest (updates × runs × directions) block evaluated at once


def _overshoot_chunk(rows, t, rho, w, neg_w, lead, rho_p, w_p, stable, skip, top, first, seen,
                     ended, todo) -> None:
    """One chunk of updates ``t`` of :func:`gd_constant_overshoot` for the runs ``rows``:
    the running maxima and stretch state updated in place, and which runs are decided."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        powers = rho[rows][None] ** t[:, None, None]  # (C, R, k)
        c = np.sum(powers * w[rows][None], axis=2)  # (C, R)
        neg = c < 0
        top[rows] = np.maximum(top[rows], np.max(np.where(np.isnan(c), 0.0, -c), axis=0))
        seen_t = np.logical_or.accumulate(neg | seen[rows][None], axis=0)
        ended_t = np.logical_or.accumulate((seen_t & ~neg) | ended[rows][None], axis=0)
        in_first = neg & ~ended_t
        first[rows] = np.maximum(first[rows], np.max(np.where(in_first, -c, 0.0), axis=0))
        seen[rows], ended[rows] = seen_t[-1], ended_t[-1]
        last = powers[-1] * w[rows]
        A = np.sum(np.where(neg_w[rows], np.abs(last), 0.0), axis=1)
        bound = A - np.where(lead[rows], w_p[rows] * np.abs(rho_p[rows]) ** t[-1], 0.0)
        po_done = skip[rows] | (stable[rows] & (bound <= top[rows]))
        never = ~seen[rows] & (bound <= 0)  # −c_s ≤ 0 from here on: no stretch begins
        first_done = ended[rows] | never | (seen[rows] & stable[rows] & (bound <= top[rows]))
        todo[rows] = ~(po_done & first_done)


# -- heavy-ball momentum ----------------------------------------------------------------------


def heavy_ball_band(beta: float) -> tuple[float, float]:
    """The under-damped band of ``ηλ``: ``((1 − √β)², (1 + √β)²)``; inside it the poles are
    complex with ``|z| = √β`` (oscillation, overshoot)."""
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    s = math.sqrt(beta)
    return (1 - s) ** 2, (1 + s) ** 2


def heavy_ball_roots(lr: float, lam: float, beta: float) -> np.ndarray:
    """Roots of ``z² − (1 + β − ηλ)z + β = 0`` (complex, shape ``(2,)``)."""
    b = 1 + beta - lr * lam
    disc = complex(b * b - 4 * beta)
    s = disc**0.5
    return np.array([(b + s) / 2, (b - s) / 2])


def heavy_ball_rate(lr: float, eigvals: Any, beta: float) -> float:
    """Asymptotic linear rate ``max_i max|z|`` over the directions present."""
    return float(
        max(
            np.max(np.abs(heavy_ball_roots(lr, lam, beta)))
            for lam in np.asarray(eigvals, dtype=float).reshape(-1)
        )
    )


def heavy_ball_regime(lr: float, lam: float, beta: float, rtol: float = 1e-12) -> str:
    """Heavy ball on one direction: ``over-damped`` (real positive poles), ``critically-damped``
    (a double pole, at either edge of the band), ``under-damped`` (inside the band),
    ``oscillating-convergent`` (real negative pole, still stable), ``period-2`` (a pole at −1:
    ηλ = 2(1 + β)), ``divergent`` (ηλ > 2(1 + β))."""
    lo, hi = heavy_ball_band(beta)
    r = lr * lam
    if not r > 0:
        raise ValueError(f"lr·lambda must be > 0, got {r}")
    edge = 2 * (1 + beta)
    if abs(r - edge) <= rtol * edge:
        return "period-2"
    if r > edge:
        return "divergent"
    if abs(r - lo) <= rtol * max(lo, 1e-300) or abs(r - hi) <= rtol * hi:
        return "critically-damped"
    if r < lo:
        return "over-damped"
    if r < hi:
        return "under-damped"
    return "oscillating-convergent"


def heavy_ball_error_path(lrs: Any, eigvals: Any, e0_coords: Any, beta: Any) -> np.ndarray:
    """Eigen-coordinates of the error of heavy ball, PyTorch form, for the rates used.

    ``b_t = β b_{t−1} + λ q_t`` (``b_{−1} = 0``), ``q_{t+1} = q_t − η_t b_t``; shapes as in
    :func:`gd_error_path`; ``beta`` is a number or one value per run ``(B,)``.
    """
    lrs = np.asarray(lrs, dtype=float)
    lam = np.asarray(eigvals, dtype=float).reshape(-1)
    q = np.asarray(e0_coords, dtype=float) * np.ones(lrs.shape[1:] + (lam.size,))
    beta = np.asarray(beta, dtype=float)
    beta = beta[..., None] if beta.ndim else beta
    out = np.empty((lrs.shape[0] + 1,) + q.shape)
    out[0] = q
    b = np.zeros_like(q)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(lrs.shape[0]):
            b = beta * b + lam * q
            q = q - lrs[t][..., None] * b if lrs.ndim > 1 else q - lrs[t] * b
            out[t + 1] = q
    return out


# -- Nesterov momentum --------------------------------------------------------------------------


def nesterov_matrix(lr: float, lam: float, beta: float) -> np.ndarray:
    """The iteration matrix of Nesterov (PyTorch form) on one direction, state ``(q, b)``.

    ``b' = βb + λq``, ``q' = q − η(λq + βb')``: ``[[1 − ηλ(1 + β), −ηβ²], [λ, β]]``.
    """
    return np.array([[1.0 - lr * lam * (1.0 + beta), -lr * beta * beta], [lam, beta]])


def nesterov_roots(lr: float, lam: float, beta: float) -> np.ndarray:
    """Roots of ``z² − (1 + β)(1 − ηλ)z + β(1 − ηλ) = 0``, the characteristic polynomial of
    :func:`nesterov_matrix` (trace ``(1 + β)(1 − ηλ)``, determinant ``β(1 − ηλ)``)."""
    r = 1.0 - lr * lam
    b = (1.0 + beta) * r
    s = complex(b * b - 4.0 * beta * r) ** 0.5
    return np.array([(b + s) / 2, (b - s) / 2])


def nesterov_rate(lr: float, eigvals: Any, beta: float) -> float:
    """Asymptotic linear rate of Nesterov, ``max_i max|z|`` over the directions present.

    At the standard tuning η = 1/L, β = (√κ − 1)/(√κ + 1) it is exactly 1 − 1/√κ: at λ = μ
    the discriminant vanishes (a double pole at 1 − 1/√κ), and for μ < λ ≤ L the poles are
    complex with ``|z|² = β(1 − ηλ) < β(1 − 1/κ) = (1 − 1/√κ)²``.
    """
    return float(
        max(
            np.max(np.abs(nesterov_roots(lr, lam, beta)))
            for lam in np.asarray(eigvals, dtype=float).reshape(-1)
        )
    )
