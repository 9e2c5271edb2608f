"""Rank tests for the Statistics section (``docs/methodology.md``, pairwise tests): COCO's
combined data for a rank-sum test, Wilcoxon signed-rank and Mann–Whitney p-values (scipy's
definitions, checked against scipy by the tests), Holm's step-down correction and the
rank-biserial effect size.

aRT, simulated restarts, ECDFs and profiles live beside this module in
:mod:`optbench.stats`; what is here exists nowhere else. Plain functions of arrays; numpy
is imported inside.
"""

from __future__ import annotations

import functools


def holm(pvalues):
    """Holm's step-down adjusted p-values (family-wise error control), same order as given."""
    import numpy as np

    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    if not m:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


def combined_scores(rt_a, gap_a, rt_b, gap_b, fe_umin: float, target: float, floor: float):
    """COCO's data for a rank test, on a log scale (larger is better).

    A run that reached the target within ``fe_umin`` evaluations (the smallest budget among
    unsuccessful runs of both) scores ``1 + log10(fe_umin / RT)`` ≥ 1; any other run scores
    ``−log10(Δf(fe_umin) / target)`` < 0 from its best gap at that budget. This is a
    monotone transform of COCO's ``1/RT`` or ``−Δf``, so rank-sum p-values are COCO's.
    """
    import numpy as np

    def score(rt, gap):
        rt = np.asarray(rt, dtype=float)
        gap = np.maximum(np.asarray(gap, dtype=float), floor)
        with np.errstate(divide="ignore", invalid="ignore"):
            hit = np.isfinite(rt) & (rt <= fe_umin)
            s = np.where(
                hit,
                1.0 + np.log10(fe_umin / rt),
                -np.log10(np.maximum(gap, target * (1 + 1e-12)) / target),
            )
        return np.where(np.isnan(gap) & ~hit, -np.inf, s)

    return score(rt_a, gap_a), score(rt_b, gap_b)


def rank_biserial(a, b) -> float:
    """Effect size of a rank-sum comparison: P(A > B) − P(A < B) over all pairs, in [−1, 1]."""
    import numpy as np

    a = np.asarray(a, dtype=float)[:, None]
    b = np.asarray(b, dtype=float)[None, :]
    if not a.size or not b.size:
        return float("nan")
    return float(np.mean(a > b) - np.mean(a < b))


def _method(sa, sb, paired: bool) -> str | None:
    """The method of one test: ``exact`` without ties (and zeros) in small samples, else
    ``asymptotic`` (scipy's choices, without its slow permutation fallback); None where the
    samples are identical (p = 1, no test to run)."""
    import numpy as np

    if paired:
        diff = sa - sb
        if np.all(diff == 0):
            return None
        mag = np.abs(diff)
        exact = len(diff) <= 50 and np.all(diff != 0) and len(np.unique(mag)) == len(mag)
    else:
        both = np.concatenate([sa, sb])
        if np.all(both == both[0]):
            return None
        exact = len(both) <= 16 and len(np.unique(both)) == len(both)
    return "exact" if exact else "asymptotic"


def average_ranks(values):
    """Ranks 1..n, ties sharing their average rank, and each tie group's size
    (``scipy.stats.rankdata``'s ``average``)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    start = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    counts = np.diff(np.r_[start, len(x)])
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(start + (counts + 1) / 2.0, counts)
    return ranks, counts


def _normal_sf(z: float) -> float:
    import math

    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _rank_sum_p(a, b, exact: bool) -> float:
    """Two-sided Mann–Whitney U test (scipy's ``mannwhitneyu``, continuity-corrected)."""
    import math

    import numpy as np

    n1, n2 = len(a), len(b)
    ranks, ties = average_ranks(np.concatenate([a, b]))
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    u = max(u1, n1 * n2 - u1)
    if exact:  # P(U ≥ u) = P(U ≤ n1·n2 − u): count the rank configurations
        counts = _rank_sum_counts(min(n1, n2), max(n1, n2))
        p = 2.0 * counts[: int(n1 * n2 - u) + 1].sum() / math.comb(n1 + n2, n1)
    else:
        n = n1 + n2
        s = math.sqrt(n1 * n2 / 12 * ((n + 1) - np.sum(ties**3 - ties) / (n * (n - 1))))
        p = 2.0 * _normal_sf((u - n1 * n2 / 2 - 0.5) / s)
    return float(min(max(p, 0.0), 1.0))


@functools.lru_cache(maxsize=64)
def _rank_sum_counts(n1: int, n2: int):
    """How many of the C(n1 + n2, n1) rankings give U = 0, 1, ..., n1·n2 (no ties)."""
    import numpy as np

    # c[i][j] = counts for i and j samples: the largest value is either an x (U grows by j)
    # or a y
    c = [[np.ones(1, dtype=np.int64) for _ in range(n2 + 1)] for _ in range(n1 + 1)]
    for i in range(1, n1 + 1):
        for j in range(1, n2 + 1):
            out = np.zeros(i * j + 1, dtype=np.int64)
            out[j : j + len(c[i - 1][j])] += c[i - 1][j]
            out[: len(c[i][j - 1])] += c[i][j - 1]
            c[i][j] = out
    return c[n1][n2]


def _signed_rank_p(d, exact: bool) -> float:
    """Two-sided Wilcoxon signed-rank test of differences ``d`` (scipy's ``wilcoxon`` with
    ``zero_method="zsplit"``, no continuity correction)."""
    import math

    import numpy as np

    n = len(d)
    ranks, ties = average_ranks(np.abs(d))
    r_plus = ranks[d > 0].sum() + ranks[d == 0].sum() / 2
    if exact:  # no zeros, no ties: r_plus over the 2^n equally likely signs
        counts = np.ones(1, dtype=np.int64)
        for k in range(1, n + 1):
            nxt = np.zeros(k * (k + 1) // 2 + 1, dtype=np.int64)
            nxt[: len(counts)] += counts
            nxt[k:] += counts
            counts = nxt
        r = int(r_plus)
        p = 2.0 * min(counts[r:].sum(), counts[: r + 1].sum()) / 2.0**n
        return float(min(p, 1.0))
    mean = n * (n + 1) / 4
    var = (n * (n + 1) * (2 * n + 1) - np.sum(ties**3 - ties) / 2) / 24
    return float(2.0 * _normal_sf(abs(r_plus - mean) / math.sqrt(var)))


def run_tests(tests: list[tuple]) -> list[float]:
    """Two-sided p-values of ``(sa, sb, paired)`` tests: Wilcoxon signed-rank for paired
    samples, Mann–Whitney U otherwise (numpy only: importing scipy.stats costs more than
    every test of a report)."""
    import numpy as np

    p = []
    for sa, sb, paired in tests:
        sa, sb = np.asarray(sa, dtype=float), np.asarray(sb, dtype=float)
        method = _method(sa, sb, paired)
        if method is None:
            p.append(1.0)
        elif paired:
            p.append(_signed_rank_p(sa - sb, method == "exact"))
        else:
            p.append(_rank_sum_p(sa, sb, method == "exact"))
    return p
