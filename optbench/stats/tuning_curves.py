"""What tuning effort buys: the expected best criterion among k random trials.

A tuning run measures K trials (hyperparameter points drawn at random, or quasi-random) and
keeps the best. With more trials the best gets better; the *tuning curve* says by how much.
Following Dodge et al. (2019, "Show Your Work"), the expected best among k trials drawn with
replacement from the K measured has a closed form: with the K values sorted so that
v₍₁₎ is the best, the best of k draws is v₍ᵢ₎ or worse with probability ((K − i + 1)/K)ᵏ, so

    E[best of k] = Σᵢ v₍ᵢ₎ · [((K − i + 1)/K)ᵏ − ((K − i)/K)ᵏ].

Ties need no care (tied values share their weights), and a failed trial scored +∞ makes the
expectation +∞ as long as k draws can all miss (:func:`median_best` is finite sooner).
The band around the curve is a bootstrap over the K trials (:func:`expected_best_band`).
``docs/methodology.md#tuning-curves`` explains the reading.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["expected_best", "expected_best_band", "median_best"]


def _values(values: Sequence[float] | np.ndarray, minimize: bool) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("expected_best needs at least one measured trial")
    if np.isnan(v).any():
        raise ValueError("a trial's criterion is nan; score a failed trial +inf (or -inf when "
                         "maximizing) instead")
    # best first: ascending when minimizing, descending when maximizing
    return np.sort(v) if minimize else -np.sort(-v)


def _ks(k) -> np.ndarray:
    ks = np.asarray(k)
    if ks.dtype.kind not in "iu" and not (
        ks.dtype.kind == "f" and np.all(np.isfinite(ks)) and np.all(ks == np.round(ks))
    ):
        raise ValueError(f"k must be whole numbers of trials, got {k!r}")
    ks = ks.astype(int)
    if np.any(ks < 1):
        raise ValueError(f"k must be at least 1 trial, got {k!r}")
    return ks


def _weights(n: int, ks: np.ndarray) -> np.ndarray:
    """P(the best of k draws is the i-th best of n), shape ``ks.shape + (n,)``."""
    i = np.arange(1, n + 1)
    k = ks[..., None].astype(float)
    return ((n - i + 1) / n) ** k - ((n - i) / n) ** k


def expected_best(values, k, minimize: bool = True):
    """The expected best criterion among ``k`` trials drawn with replacement from ``values``.

    Args:
        values: the criterion of each of the K measured trials (a failed trial +inf when
            minimizing, -inf when maximizing).
        k: a number of trials (≥ 1), or an array of them.
        minimize: whether lower is better.

    Returns:
        A float for a scalar ``k``, else an array shaped like ``k``. ``k = 1`` gives the mean
        of the values, and as ``k`` grows the result tends to the best value.
    """
    v = _values(values, minimize)
    ks = _ks(k)
    w = _weights(v.size, ks)
    with np.errstate(invalid="ignore"):  # inf · 0 where a failed trial cannot be the best
        terms = np.where(w > 0, w * v, 0.0)
    out = terms.sum(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def median_best(values, k, minimize: bool = True):
    """The median of the best of ``k`` trials drawn with replacement: finite as soon as half
    of such draws hold a trial that did not fail."""
    v = _values(values, minimize)
    ks = _ks(k)
    n = v.size
    # P(best of k is v_(i) or better) = 1 - ((n - i)/n)^k: the first i where it reaches 1/2
    i = np.arange(1, n + 1)
    cdf = 1.0 - ((n - i) / n) ** ks[..., None].astype(float)
    idx = np.argmax(cdf >= 0.5, axis=-1)
    out = v[idx]
    return float(out) if np.ndim(out) == 0 else out


def expected_best_band(
    values,
    ks,
    minimize: bool = True,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A bootstrap band around :func:`expected_best`: the K trials resampled with
    replacement ``n_boot`` times, the curve computed on each, and its ``(1 ± level)/2``
    quantiles per k. Returns ``(low, high)``, each shaped like ``ks``."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    v = np.asarray(values, dtype=float).ravel()
    _values(v, minimize)  # the same checks
    ks = np.atleast_1d(_ks(ks))
    rng = np.random.default_rng(seed)
    samples = v[rng.integers(0, v.size, size=(n_boot, v.size))]
    samples = np.sort(samples, axis=1) if minimize else -np.sort(-samples, axis=1)
    w = _weights(v.size, ks)  # (len(ks), K)
    with np.errstate(invalid="ignore"):
        curves = np.where(w[None] > 0, w[None] * samples[:, None, :], 0.0).sum(axis=-1)
    alpha = (1 - level) / 2
    low, high = np.quantile(curves, [alpha, 1 - alpha], axis=0)
    return low, high
