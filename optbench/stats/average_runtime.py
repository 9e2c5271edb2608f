"""Statistics across runs: success rates, aRT with bootstrap and simulated-restart spread
(``docs/methodology.md``). The one implementation: the report's sections
call these functions too.

Two levels. Array functions take, for one group of runs, each run's hitting cost (the
evaluations ``n_f + n_g`` at which its best-so-far gap first met the target; NaN or inf if
never) and the evaluations it used. Frame functions take the tidy frame of
:func:`optbench.load` (one row per run: ``status``, ``evals``, ``problem_key``, ``label``,
``seed`` and the worker's ``hit_cost_<ε>`` / ``rel_hit_cost_<τ>`` columns) and return
DataFrames to draw or print.

Which runs count and what each is charged is :mod:`optbench.stats.convention` (skipped runs left
out, failures charged the evaluations they used, costs from 1). Runtime ECDFs, performance
and data profiles are :mod:`optbench.stats.profiles`; both are importable from :mod:`optbench.stats`
too. Bootstrap and restart samples are seeded per group (from ``seed`` and the group's name),
so a group's numbers do not depend on which other groups are in the frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..metrics import TARGETS
from .convention import charged, counted, group_rng, hit_costs, runtimes

__all__ = ["BOOTSTRAP_SAMPLES", "art", "art_columns", "art_table", "bootstrap_art",
           "simulated_restarts"]

BOOTSTRAP_SAMPLES = 1000


def art(hit_cost: ArrayLike, used: ArrayLike) -> float:
    """Average runtime: successes charged their runtime, failures what they used.

    Args:
        hit_cost: per counted run the cost at which the target was first reached, NaN/inf
            if never.
        used: per run the evaluations it used in total.

    Returns:
        ``Σ charged / #successes``; inf without a success, NaN without a run.
    """
    rt = runtimes(hit_cost)
    if not rt.size:
        return float("nan")
    ok = np.isfinite(rt)
    n = int(ok.sum())
    return float((rt[ok].sum() + charged(used)[~ok].sum()) / n) if n else float("inf")


def art_columns(hit_costs: ArrayLike, used: ArrayLike) -> np.ndarray:
    """:func:`art` of each column of ``hit_costs`` (runs × targets) at once, the runs'
    ``used`` shared by every target: what a loop of :func:`art` over the columns gives."""
    rt = runtimes(np.atleast_2d(np.asarray(hit_costs, dtype=float).T).T)  # (runs, targets)
    if not rt.shape[0]:
        return np.full(rt.shape[1], np.nan)
    ok = np.isfinite(rt)
    n = ok.sum(axis=0)
    failed = np.where(ok, 0.0, charged(used)[:, None])
    total = np.where(ok, rt, 0.0).sum(axis=0) + failed.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.inf)


def _rng(rng: np.random.Generator | int) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def bootstrap_art(
    hit_cost: ArrayLike,
    used: ArrayLike,
    samples: int = BOOTSTRAP_SAMPLES,
    percentiles: Sequence[float] = (10, 50, 90),
    rng: np.random.Generator | int = 0,
) -> np.ndarray:
    """Percentiles of aRT over bootstrap resamples of the runs (with replacement): the
    uncertainty of the aRT estimate.

    ``hit_cost`` may be ``(runs, targets)``: each resample of the runs then serves every
    target, and the result is ``(len(percentiles), targets)``. A resample without a success
    has aRT = inf; percentiles pick sample values (``inverted_cdf``), so they may be inf but
    never NaN (NaN only without runs).
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    rt = runtimes(hit_cost)
    if not rt.shape[0]:
        return np.full((len(percentiles),) + rt.shape[1:], np.nan)
    ok = np.isfinite(rt)
    used = charged(used).reshape((-1,) + (1,) * (rt.ndim - 1))
    cost = np.where(ok, rt, used)
    n = rt.shape[0]
    idx = _rng(rng).integers(0, n, (samples, n))
    if np.all(np.isfinite(cost)) and np.all(cost == np.round(cost)) and cost.sum() * n < 2**53:
        # evaluation counts: a resample's sum is exact in any order, so weigh each run by
        # how often the resample drew it (one product) instead of gathering every draw
        draws = np.bincount((idx + n * np.arange(samples)[:, None]).ravel(), minlength=samples * n)
        weights = draws.reshape(samples, n).astype(float)
        wins = weights @ ok.reshape(n, -1).astype(float)
        total = weights @ cost.reshape(n, -1)
        shape = (samples,) + rt.shape[1:]
        wins, total = wins.reshape(shape), total.reshape(shape)
    else:
        wins = ok[idx].sum(axis=1)
        total = cost[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(wins > 0, total / wins, np.inf)
    return np.percentile(values, list(percentiles), axis=0, method="inverted_cdf")


def simulated_restarts(
    hit_cost: ArrayLike,
    used: ArrayLike,
    samples: int = BOOTSTRAP_SAMPLES,
    rng: np.random.Generator | int = 0,
) -> np.ndarray:
    """COCO's simulated restarts: draw runs uniformly until a success; the runtime is the
    evaluations of the failures drawn plus the success's runtime (inf without any success).
    Their mean estimates aRT; their 10/90 % percentiles are COCO's table dispersion."""
    rng = _rng(rng)
    rt = runtimes(hit_cost)
    ok = np.isfinite(rt)
    if not ok.any():
        return np.full(samples, np.inf)
    wins, losses = rt[ok], charged(used)[~ok]
    # failures before the first success: geometric; their costs: uniform draws among failures
    n_fail = rng.geometric(ok.mean(), samples) - 1
    out = wins[rng.integers(0, wins.size, samples)]
    if losses.size:
        draws = losses[rng.integers(0, losses.size, int(n_fail.sum()))]
        owner = np.repeat(np.arange(samples), n_fail)
        out = out + np.bincount(owner, weights=draws, minlength=samples)
    return out


# -- the tidy frame -----------------------------------------------------------------------


def art_table(
    frame,
    targets: Sequence[float] = TARGETS,
    by: Sequence[str] = ("problem_key", "label"),
    *,
    relative: bool = False,
    samples: int = BOOTSTRAP_SAMPLES,
    percentiles: Sequence[float] = (10, 50, 90),
    seed: int = 0,
):
    """Per group and target: runs, successes, success rate, aRT and its spread.

    Args:
        frame: the tidy frame of :func:`optbench.load` (or any frame with its columns).
        targets: absolute targets ε (columns ``hit_cost_<ε>``), or relative τ with ``relative``.
        by: the grouping columns.
        samples: bootstrap resamples and simulated restarts (≥ 1000 for published numbers);
            0 leaves the spread out.

    Returns:
        Columns ``*by, target, runs, successes, success_rate, aRT, median_unsuccessful``
        (evaluations used by the unsuccessful runs), and with ``samples``: ``aRT_p<q>``
        (percentiles of the bootstrapped aRT) and ``restart_p<q>`` (percentiles of simulated
        restart runtimes, COCO's dispersion).
    """
    import pandas as pd

    frame = counted(frame)
    by = list(by)
    rows = []
    for key, g in frame.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        used = g["evals"].to_numpy(dtype=float)
        rts = runtimes(np.column_stack([hit_costs(g, eps, relative) for eps in targets]))
        if samples:  # one generator per group: the resamples serve every target
            rng = group_rng(seed, key, relative)
            boot = bootstrap_art(rts, used, samples, percentiles, rng)
        for j, eps in enumerate(targets):
            rt = rts[:, j]
            ok = np.isfinite(rt)
            row = dict(zip(by, key, strict=True))
            row.update(
                target=eps,
                runs=len(g),
                successes=int(ok.sum()),
                success_rate=float(ok.mean()) if len(g) else np.nan,
                aRT=art(rt, used),
                median_unsuccessful=float(np.median(charged(used[~ok]))) if (~ok).any() else np.nan,
            )
            if samples:
                row.update({f"aRT_p{q:g}": v for q, v in zip(percentiles, boot[:, j], strict=True)})
                sim = simulated_restarts(rt, used, samples, rng)
                qs = np.percentile(sim, list(percentiles), method="inverted_cdf")
                row.update({f"restart_p{q:g}": v for q, v in zip(percentiles, qs, strict=True)})
            rows.append(row)
    return pd.DataFrame(rows)
