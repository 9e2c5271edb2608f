"""Statistics for the built-in sections (``reference/benchmarking.md`` A.2, D, G.4).

aRT with COCO's simulated-restart bootstrap, runtime ECDFs, Dolan–Moré performance
profiles, Moré–Wild data profiles, COCO's combined data for rank tests, and Holm's
step-down correction. Plain functions of arrays; numpy and scipy are imported inside.
"""

from __future__ import annotations

BOOTSTRAP_SAMPLES = 1000
SEED = 20240917  # a fixed seed: the same stores give the same report


def art(rt, used):
    """COCO's average runtime: (Σ successful RT + Σ evaluations of unsuccessful runs) / #successes.

    Args:
        rt: runtimes of the runs (inf where the target was not reached).
        used: evaluations each run used (charged to unsuccessful runs).

    Returns:
        ``(aRT, successes, runs)``; aRT is inf with no success, nan with no run.
    """
    import numpy as np

    rt = np.asarray(rt, dtype=float)
    used = np.asarray(used, dtype=float)
    keep = ~np.isnan(rt)
    rt, used = rt[keep], used[keep]
    ok = np.isfinite(rt)
    n_s = int(ok.sum())
    if not len(rt):
        return float("nan"), 0, 0
    if n_s == 0:
        return float("inf"), 0, len(rt)
    return float((rt[ok].sum() + used[~ok].sum()) / n_s), n_s, len(rt)


def simulated_runtimes(rt, used, samples: int = BOOTSTRAP_SAMPLES, rng=None):
    """Runtimes of simulated restarts (COCO): draw runs with replacement until a success.

    A sample is the evaluations of the unsuccessful runs drawn plus the runtime of the
    successful one. The number of failures before a success is geometric with the observed
    success rate; returns an empty array when nothing succeeded.
    """
    import numpy as np

    rt = np.asarray(rt, dtype=float)
    used = np.asarray(used, dtype=float)
    keep = ~np.isnan(rt)
    rt, used = rt[keep], used[keep]
    ok = np.isfinite(rt)
    if not ok.any():
        return np.array([])
    rng = rng if rng is not None else np.random.default_rng(SEED)
    succ, fail = rt[ok], used[~ok]
    out = rng.choice(succ, samples)
    if len(fail):
        n_fail = rng.geometric(ok.mean(), samples) - 1
        total = int(n_fail.sum())
        if total:
            draws = rng.choice(fail, total)
            owner = np.repeat(np.arange(samples), n_fail)
            out = out + np.bincount(owner, weights=draws, minlength=samples)
    return out


def art_spread(rt, used, q=(10, 90)):
    """The ``q`` percentiles of simulated-restart runtimes (nan when nothing succeeded)."""
    import numpy as np

    sim = simulated_runtimes(rt, used)
    if not len(sim):
        return tuple(float("nan") for _ in q)
    return tuple(float(v) for v in np.percentile(sim, q))


def ecdf(rts_by_pair):
    """A runtime ECDF over (problem, target) pairs, each pair weighted equally.

    Args:
        rts_by_pair: one array of runtimes per pair (inf = unsolved; the runs of one
            solver on one problem), ``[]`` for a pair the solver has no run on.

    Returns:
        ``(x, y)``: sorted finite runtimes and the fraction of (pair, run) solved by then.
    """
    import numpy as np

    n_pairs = len(rts_by_pair)
    xs, ws = [], []
    for rt in rts_by_pair:
        rt = np.asarray(rt, dtype=float)
        rt = rt[~np.isnan(rt)]
        if not len(rt):
            continue
        fin = rt[np.isfinite(rt)]
        xs.append(fin)
        ws.append(np.full(len(fin), 1.0 / (n_pairs * len(rt))))
    if not xs or not sum(len(x) for x in xs):
        return np.array([]), np.array([])
    x = np.concatenate(xs)
    w = np.concatenate(ws)
    order = np.argsort(x, kind="stable")
    return x[order], np.cumsum(w[order])


def performance_profile(T, taus):
    """Dolan–Moré ρ_s(τ) = |{p : r_{p,s} ≤ τ}| / |P| with r = t / min_s t.

    Args:
        T: ``(problems, solvers)`` costs, inf for a failure (nan counts as a failure).
        taus: ratios τ ≥ 1 at which to evaluate.

    Returns:
        ``(len(taus), solvers)``. A problem no solver solved stays in the denominator.
    """
    import numpy as np

    T = np.where(np.isnan(T), np.inf, np.asarray(T, dtype=float))
    best = T.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.where(np.isfinite(best), T / best, np.inf)
    taus = np.asarray(taus, dtype=float)
    return (R[None, :, :] <= taus[:, None, None]).mean(axis=1)


def data_profile(T, dims, alphas):
    """Moré–Wild d_s(α) = |{p : t_{p,s} / (n_p + 1) ≤ α}| / |P| (α in simplex gradients)."""
    import numpy as np

    T = np.where(np.isnan(T), np.inf, np.asarray(T, dtype=float))
    scaled = T / (np.asarray(dims, dtype=float)[:, None] + 1.0)
    alphas = np.asarray(alphas, dtype=float)
    return (scaled[None, :, :] <= alphas[:, None, None]).mean(axis=1)


def profile_area(taus, rho, upper: float = 4.0):
    """∫_1^upper ρ(τ) dτ / (upper − 1) on the given grid (AlgoPerf's B_s uses [1, 4])."""
    import numpy as np

    taus = np.asarray(taus, dtype=float)
    keep = taus <= upper
    x, y = taus[keep], np.asarray(rho)[keep]
    if len(x) < 2:
        return float("nan")
    return float(np.sum((x[1:] - x[:-1]) * y[:-1]) / (upper - 1.0))  # ρ is a right-continuous step


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
