"""Theory beside the measurement (``docs/metrics.md``, theory): the quadratic's predicted path.

For ``gd`` and heavy-ball ``momentum`` on a deterministic problem with a constant Hessian,
the predicted error path (any learning-rate schedule) goes through the same
:func:`~optbench.metrics.overshoot.xspace` as the measured one; constant rates also get the
closed-form regime, linear rate and settling times (:mod:`optbench.theory`).
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

    kind = _KIND.get(registry.optimizer_meta(name).get("theory"))
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
    xs = xspace(e_pred, end_r, cols_r, full=False, settle=path_settle)
    if path_settle:
        gap_p = theory.gap_path(q, lam)
        dist_p = xs["dist"]
        floor = gap_floor(f_star)
        tt = np.arange(q.shape[0])[:, None]
        fired = (
            (
                (gap_p > DIVERGE_GAP * np.maximum(gap_p[0], floor))
                | (dist_p > DIVERGE_DIST * np.maximum(dist_p[0], 1.0))
            )
            & (tt <= end_r)
            & (tt >= 1)
        )
        t_div, div = first_true(fired)
    else:
        t_div, div = np.zeros(rows.size), np.zeros(rows.size, dtype=bool)
    th_div = np.where(div, t_div, np.nan)
    settle = {
        k: np.where(div, np.nan, xs[k]) if path_settle else np.full(rows.size, np.nan)
        for k in SETTLE_KEYS
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
        for key, s in zip(SETTLE_KEYS, (s2, s5), strict=True):
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
