"""Array helpers the metric families share: scans, short-axis reductions, the tail window.

Every helper works down axis 0 (time) of ``(T+1, B)`` or ``(T+1, B, d)`` arrays, so a batch
of runs costs a few array passes. :class:`Track` holds a batch's arrays once padded and the
masks more than one family needs, each computed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

TAIL_MIN = 10


def accumulate(ufunc, a: np.ndarray, reverse: bool = False) -> np.ndarray:
    """``ufunc.accumulate`` along axis 0 (reversed: a suffix scan).

    numpy's accumulate along the first axis of a wide array is several times slower than a
    loop over its rows, so wide batches take the loop.
    """
    if reverse:
        return accumulate(ufunc, a[::-1])[::-1]
    if a.ndim < 2 or a.shape[0] < 2 or a[0].size < 64:
        return ufunc.accumulate(a, axis=0)
    out = np.empty_like(a)
    out[0] = a[0]
    for i in range(1, a.shape[0]):
        ufunc(out[i - 1], a[i], out=out[i])
    return out


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Σ_j a[..., j]·b[..., j]``; a loop over a short last axis beats einsum."""
    d = a.shape[-1]
    if d > 4:
        return np.einsum("...d,...d->...", a, b)
    out = a[..., 0] * b[..., 0]
    for j in range(1, d):
        out += a[..., j] * b[..., j]
    return out


def maxabs(a: np.ndarray) -> np.ndarray:
    """``max_j |a[..., j]|`` (a reduction over a short last axis is slow in numpy)."""
    if a.shape[-1] > 4:
        return np.max(np.abs(a), axis=-1)
    out = np.abs(a[..., 0])
    for j in range(1, a.shape[-1]):
        np.maximum(out, np.abs(a[..., j]), out=out)
    return out


def sign_changes(a: np.ndarray) -> np.ndarray:
    """Count of ``a_t·a_{t+1} < 0`` along axis 0, from sign bits (products underflow)."""
    neg = np.signbit(a)
    nz = a != 0
    ch = neg[:-1] ^ neg[1:]
    ch &= nz[:-1]
    ch &= nz[1:]
    return ch.sum(axis=0, dtype=np.int64)


def first_true(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first True per column, and whether there is one."""
    return np.argmax(mask, axis=0), np.asarray(mask.any(axis=0))


def entry_times(y: np.ndarray, end: np.ndarray, cols: np.ndarray, thresholds) -> list[np.ndarray]:
    """Last entry into ``y ≤ thr``: the first t with ``y_s ≤ thr`` for every s ≥ t
    (stay_iter_*, t_settle_*).

    ``y`` is ``(T+1, B)`` with non-finite values already +inf and rows past a run's end
    padded; NaN where a run ends above the threshold. One suffix max serves every threshold.
    """
    suffix = accumulate(np.maximum, y, reverse=True)
    last = y[end, cols]
    return [np.where(last <= thr, np.sum(suffix > thr, axis=0), np.nan) for thr in thresholds]


def tail_window(n_iterates: Any) -> Any:
    """The tail window's length ``max(10, ⌈0.1·n⌉)``, at most ``n``
    (``docs/metrics.md#conventions``); an ``int`` for an ``int`` (the runner's cycle test
    asks at every due update)."""
    if isinstance(n_iterates, int):
        return min(n_iterates, max(TAIL_MIN, -(-n_iterates // 10)))
    n = np.asarray(n_iterates, dtype=np.int64)
    return np.minimum(n, np.maximum(TAIL_MIN, -(-n // 10)))  # integer ⌈n/10⌉: 0.1·30 > 3


@dataclass
class Track:
    """A batch's arrays with rows past each run's end repeating its last entry.

    Padding makes sums and extremes over all rows equal those over each run, and suffix
    and prefix scans need no mask. ``f (T+1, B)``, ``x (T+1, B, d)``, ``cost`` is
    ``n_f + n_g``; ``valid`` marks the rows up to each run's ``end``; ``time (T+1,)`` is the
    batch clock the runs share (the trace's ``time``), None where a trace has none.
    """

    f: np.ndarray
    x: np.ndarray
    cost: np.ndarray
    end: np.ndarray
    cols: np.ndarray
    valid: np.ndarray
    stopped: np.ndarray
    f_star: float | None
    time: np.ndarray | None = None

    @cached_property
    def f_finite(self) -> np.ndarray:
        return np.isfinite(self.f)

    @cached_property
    def f_min(self) -> np.ndarray:
        """Each run's smallest finite value (+inf if none)."""
        return np.min(np.where(self.f_finite, self.f, np.inf), axis=0)

    def window(self) -> Window:
        """Gather the tail window W of every run into ``(W_max, B)`` rows (see :class:`Window`)."""
        nW = tail_window(self.end + 1)
        Wm = int(nW.max())
        k = np.arange(Wm)[:, None]
        idx = np.maximum(self.end[None, :] - (Wm - 1) + k, 0)
        valid = k >= (Wm - nW)[None, :]
        return Window(idx, valid, nW.astype(float), self.f[idx, self.cols])


class Window(NamedTuple):
    """The tail windows of a batch, right-aligned: row ``W_max − 1`` is each run's end.

    ``idx`` indexes time per run, ``valid`` marks each run's own ``W`` rows, ``width`` is
    ``W`` as float, ``f`` the values gathered (e_ss and tail_amp_* both need them).
    """

    idx: np.ndarray
    valid: np.ndarray
    width: np.ndarray
    f: np.ndarray
