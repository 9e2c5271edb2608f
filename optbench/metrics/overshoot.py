"""Overshoot metrics (``docs/metrics.md#overshoot``): the step response along e_0.

The error path ``e_t = x_t − x*_ref`` is split into the along-track error
``c_t = <e_t, u>``, ``u = e_0/‖e_0‖``, and the cross-track remainder ``r_t``; progress is
``p_t = 1 − c_t/‖e_0‖``. :func:`xspace` is also what the theory overlay applies to the
predicted path, so measured and predicted values are computed alike.
"""

from __future__ import annotations

import numpy as np

from ._common import Track, Window, accumulate, dot, entry_times, first_true, sign_changes
from .catalog import SETTLE_BANDS

SETTLE_KEYS = ("t_settle_2", "t_settle_5")
SETTLE_F_KEYS = ("t_settle_f_2", "t_settle_f_5")
# what xspace computes that is stored as is (dist feeds dist_final, rate_x and e_ss)
OVERSHOOT_KEYS = ("po", "po1", "us", "n_cross", "t_rise", "t_peak", *SETTLE_KEYS, "cross_track")


def error_path(tk: Track, x_star: np.ndarray) -> np.ndarray:
    """``e_t = x_t − x*_ref``: the minimiser nearest x_T, or nearest x_0 for stopped runs."""
    x = tk.x
    x_end = x[tk.end, tk.cols]
    use_start = tk.stopped | ~np.all(np.isfinite(x_end), axis=1)
    anchor = np.where(use_start[:, None], x[0], x_end)
    d = np.sum((anchor[:, None, :] - x_star[None]) ** 2, axis=2)
    ref = x_star[np.argmin(np.where(np.isfinite(d), d, np.inf), axis=1)]
    return x - ref[None]


def xspace(
    e: np.ndarray, end, cols, full: bool = True, settle: bool = True
) -> dict[str, np.ndarray]:
    """Distance and the overshoot metrics of an error path ``(n, B, d)``.

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
        dist = np.sqrt(dot(e, e))
        dist0 = dist[0]
        u = e[0] / np.where(dist0 > 0, dist0, 1.0)[:, None]
        c = dot(e, u[None])
    res = along_track(c, dist, end, cols, settle)
    if not full:
        return res
    ok = (dist0 > 0) & np.isfinite(dist0)
    scale = np.where(ok, dist0, np.nan)
    c_nan = np.isnan(c)
    neg_c = np.where(c_nan, -np.inf, -c)
    res["us"] = (  # us
        100.0 * np.maximum(0.0, np.max(np.where(c_nan, -np.inf, c), axis=0) - dist0) / scale
    )
    res["n_cross"] = np.where(ok, sign_changes(c), np.nan)  # n_cross
    t10, h10 = first_true(c <= 0.9 * dist0)  # t_rise: p_t ≥ 0.1
    t90, h90 = first_true(c <= 0.1 * dist0)
    res["t_rise"] = np.where(ok & h10 & h90, t90 - t10, np.nan)
    res["t_peak"] = np.where(ok, np.argmax(neg_c, axis=0), np.nan)  # t_peak
    if d > 1:  # cross_track
        r = e - c[..., None] * u[None]
        cross = np.sqrt(dot(r, r))
        res["cross_track"] = np.max(np.where(np.isnan(cross), -np.inf, cross), axis=0) / scale
    else:
        res["cross_track"] = np.full(e.shape[1], np.nan)
    return res


def along_track(c: np.ndarray, dist: np.ndarray, end, cols, settle: bool = True
                ) -> dict[str, np.ndarray]:
    """po, po1 and (with ``settle``) t_settle_* from the along-track error ``c_t = <e_t, u>``
    and the distance ``‖e_t‖``, both ``(n, B)`` (what :func:`xspace` measures; the theory overlay
    gives them for a predicted path without the path itself)."""
    dist0 = dist[0]
    ok = (dist0 > 0) & np.isfinite(dist0)
    scale = np.where(ok, dist0, np.nan)
    res: dict[str, np.ndarray] = {"dist": dist}
    c_nan = np.isnan(c)
    neg_c = np.where(c_nan, -np.inf, -c)
    # po; "+ 0.0" turns a -0.0 from max(0, -0.0) into 0.0
    res["po"] = 100.0 * np.maximum(0.0, np.max(neg_c, axis=0)) / scale + 0.0
    # po1: the first maximal stretch with c_t < 0
    neg = c < 0
    after_first = accumulate(np.logical_or, accumulate(np.logical_or, neg) & ~neg)
    r1 = neg & ~after_first
    res["po1"] = 100.0 * np.max(np.where(r1, -c, 0.0), axis=0) / scale
    if settle:  # t_settle_*
        dclean = np.where(np.isfinite(dist), dist, np.inf)
        bands = [delta * dist0 for delta in SETTLE_BANDS]
        for key, t in zip(SETTLE_KEYS, entry_times(dclean, end, cols, bands), strict=True):
            res[key] = np.where(ok, t, np.nan)
    return res


def overshoot(out: dict[str, np.ndarray], xs: dict[str, np.ndarray], stopped) -> None:
    """Store :data:`OVERSHOOT_KEYS` from :func:`xspace`; PO and settling are undefined for
    stopped runs."""
    for k in OVERSHOOT_KEYS:
        out[k][:] = xs[k]
    out["po"][stopped] = np.nan
    out["t_settle_2"][stopped] = out["t_settle_5"][stopped] = np.nan


def settle_f(out: dict[str, np.ndarray], tk: Track) -> None:
    """t_settle_f_*, in f-space: first t with ``gap_s ≤ δ²·gap_0`` for every s ≥ t (needs f*).

    δ² because gap is quadratic in the distance near a minimum: on a 1-D quadratic this
    equals the x-space settling time. Undefined for stopped runs and for ``gap_0 ≤ 0``.
    """
    if tk.f_star is None:
        return
    gap = np.where(tk.f_finite, tk.f - tk.f_star, np.inf)
    gap0 = gap[0]
    ok = (gap0 > 0) & np.isfinite(gap0) & ~tk.stopped
    bands = [delta**2 * gap0 for delta in SETTLE_BANDS]
    for key, t in zip(SETTLE_F_KEYS, entry_times(gap, tk.end, tk.cols, bands), strict=True):
        out[key][:] = np.where(ok, t, np.nan)


def steady_state(
    out: dict[str, np.ndarray], win: Window, dist: np.ndarray | None, tk: Track, sampler: bool
) -> None:
    """e_ss_gap and e_ss: mean gap and (trajectories only) mean distance over the tail window."""
    if tk.f_star is not None:
        out["e_ss_gap"][:] = np.sum(np.where(win.valid, win.f - tk.f_star, 0.0), axis=0) / win.width
    if dist is not None and not sampler:
        dw = dist[win.idx, tk.cols]
        out["e_ss"][:] = np.sum(np.where(win.valid, dw, 0.0), axis=0) / win.width
