"""Rank tests for the Statistics section (``reference/benchmarking.md`` A.2, G.4): COCO's
combined data for a rank-sum test, batched Wilcoxon signed-rank and rank-sum p-values,
Holm's step-down correction and the rank-biserial effect size.

aRT, simulated restarts, ECDFs and profiles live in :mod:`optbench.aggregate`; what is here
exists nowhere else. Plain functions of arrays; numpy and scipy are imported inside.
"""

from __future__ import annotations


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
    """scipy's method for one test: ``exact`` without ties (and zeros), else ``asymptotic``;
    None where the samples are identical (p = 1, no test to run)."""
    import numpy as np

    if paired:
        diff = sa - sb
        if np.all(diff == 0):
            return None
        mag = np.abs(diff)
        # with zeros or ties scipy would fall back to a slow permutation test
        exact = len(diff) <= 50 and np.all(diff != 0) and len(np.unique(mag)) == len(mag)
    else:
        both = np.concatenate([sa, sb])
        if np.all(both == both[0]):
            return None
        exact = len(both) <= 16 and len(np.unique(both)) == len(both)
    return "exact" if exact else "asymptotic"


def run_tests(tests: list[tuple]) -> list[float]:
    """Two-sided p-values of many ``(sa, sb, paired)`` tests, batched: one scipy call per
    (kind, sample sizes, method) instead of one per test (scipy's per-call overhead is
    larger than the test)."""
    import warnings

    import numpy as np
    from scipy import stats

    p = [1.0] * len(tests)
    groups: dict[tuple, list[int]] = {}
    for i, (sa, sb, paired) in enumerate(tests):
        method = _method(sa, sb, paired)
        if method is not None:
            groups.setdefault((paired, len(sa), len(sb), method), []).append(i)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples: scipy's notes, not failures
        for (paired, _, _, method), idx in groups.items():
            A = np.array([tests[i][0] for i in idx])
            B = np.array([tests[i][1] for i in idx])
            if paired:
                res = stats.wilcoxon(A, B, zero_method="zsplit", method=method, axis=1)
            else:
                res = stats.mannwhitneyu(A, B, alternative="two-sided", method=method, axis=1)
            for i, v in zip(idx, np.atleast_1d(res.pvalue), strict=True):
                p[i] = float(v)
    return p
