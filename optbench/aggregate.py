"""Statistics across runs: success rates, aRT with bootstrap and simulated-restart spread,
runtime ECDFs, performance and data profiles (``benchmarking.md`` A.2 and D; ``dynamics.md``
C3). The one implementation: the report's sections call these functions too.

Two levels. Array functions take, for one group of runs, each run's hitting cost (the
evaluations ``n_f + n_g`` at which its best-so-far gap first met the target; NaN or inf if
never) and the evaluations it used. Frame functions take the tidy frame of
:func:`optbench.load` (one row per run: ``status``, ``evals``, ``problem_key``, ``label``,
``seed`` and the worker's ``hit_cost_<ε>`` / ``rel_hit_cost_<τ>`` columns) and return
DataFrames to draw or print.

The convention, applied everywhere:

* **Skipped runs are left out**: they never ran (the optimizer needs something the problem
  lacks), so they are in no count of runs, successes, aRT, ECDF or profile.
* **Every other run counts**, whatever its status. A run succeeds at a target when its
  best-so-far value met it before the run ended; runs that end in ``error``, ``timeout``,
  ``non-finite`` or ``diverged`` are unsuccessful at every target they had not met by then
  (an ``error`` row has no trace, so at every target). What a run measured before it failed
  stands, as in COCO's logs, so a run's runtimes never depend on how it ended later.
* **Unsuccessful runs are charged the evaluations they used** (COCO):
  ``aRT = Σ_runs evaluations up to success or end / #successes``, ``inf`` without a success
  (NaN without any run).
* **Costs count from 1**, as COCO numbers its first evaluation 1: the start point is the
  first evaluation even where the runner records it free, so a hit at 0 evaluations (the
  start point already within the target) has runtime 1, and every counted run is charged at
  least 1 evaluation (an ``error`` row without counters included).

Bootstrap and restart samples are seeded per group (from ``seed`` and the group's name), so a
group's numbers do not depend on which other groups are in the frame.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import REL_TARGETS, TARGETS, target_key

__all__ = [
    "art",
    "art_table",
    "bootstrap_art",
    "charged",
    "cost_matrix",
    "data_profile",
    "data_profile_matrix",
    "ecdf",
    "hit_column",
    "performance_profile",
    "performance_profile_matrix",
    "performance_ratios",
    "profile_area",
    "runtime_ecdf",
    "runtimes",
    "simulated_restarts",
]

BOOTSTRAP_SAMPLES = 1000
NOT_RUN = ("skipped",)  # the only runs left out: they never ran
CONVENTION = (
    "Skipped runs never ran and are left out of every statistic. Every other run counts: "
    "runs ending in error, timeout, non-finite or diverged are unsuccessful at every target "
    "they had not met by then, and unsuccessful runs are charged the evaluations they used "
    "(COCO: aRT = evaluations of all runs up to success or end / successes). Costs count from "
    "1, as COCO numbers its first evaluation 1: a start point already within a target has "
    "runtime 1."
)  # the convention above in one paragraph, for the report's Setup section


def hit_column(target: float, relative: bool = False) -> str:
    """The tidy frame's column of hitting costs for a target: ``hit_cost_1e-6``,
    ``rel_hit_cost_1e-3``."""
    return f"{'rel_' if relative else ''}hit_cost_{target_key(target)}"


def group_rng(seed: int, *key: Any) -> np.random.Generator:
    """A generator seeded by ``seed`` and a group's name (stable across frames)."""
    return np.random.default_rng([int(seed), zlib.crc32(repr(key).encode())])


def counted(frame):
    """The runs that count: every run but the skipped ones."""
    if "status" in frame:
        frame = frame[~frame["status"].isin(NOT_RUN)]
    return frame


# -- one group of runs --------------------------------------------------------------------


def runtimes(hit_cost: Sequence[float]) -> np.ndarray:
    """Hitting costs under the convention: at least 1; never reached (NaN, inf) is inf."""
    hit = np.asarray(hit_cost, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(hit), np.maximum(hit, 1.0), np.inf)


def charged(used: Sequence[float]) -> np.ndarray:
    """Evaluations charged to a run that did not succeed: what it used, at least 1."""
    used = np.asarray(used, dtype=float)
    return np.maximum(np.nan_to_num(used, nan=0.0, posinf=0.0), 1.0)


def art(hit_cost: Sequence[float], used: Sequence[float]) -> float:
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


def _rng(rng: np.random.Generator | int) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def bootstrap_art(
    hit_cost: Sequence[float],
    used: Sequence[float],
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
    shape = (len(percentiles),) + rt.shape[1:]
    if not rt.shape[0]:
        return np.full(shape, np.nan)
    ok = np.isfinite(rt)
    used = charged(used).reshape((-1,) + (1,) * (rt.ndim - 1))
    cost = np.where(ok, rt, used)
    idx = _rng(rng).integers(0, rt.shape[0], (samples, rt.shape[0]))
    wins = ok[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(wins > 0, cost[idx].sum(axis=1) / wins, np.inf)
    return np.percentile(values, list(percentiles), axis=0, method="inverted_cdf")


def simulated_restarts(
    hit_cost: Sequence[float],
    used: Sequence[float],
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


def ecdf(runtimes_by_pair: Sequence[Sequence[float]], pairs: int | None = None):
    """Runtime ECDF over (problem, target) pairs: each pair weighs ``1/|P|`` and, inside it,
    each of its runs equally; unsolved pairs and runs stay in the denominator (COCO).

    Args:
        runtimes_by_pair: per pair the runtimes of its runs (inf: never; NaN entries are not
            runs); an empty array for a pair without runs, which counts as unsolved.
        pairs: ``|P|`` when it exceeds ``len(runtimes_by_pair)``.

    Returns:
        ``(cost, fraction)``: the distinct finite runtimes, increasing, and the fraction
        solved at each (a right-continuous step function).
    """
    n_pairs = max(len(runtimes_by_pair), pairs or 0)
    xs, ws = [], []
    for rt in runtimes_by_pair:
        rt = np.asarray(rt, dtype=float)
        rt = rt[~np.isnan(rt)]
        fin = rt[np.isfinite(rt)]
        if fin.size:
            xs.append(fin)
            ws.append(np.full(fin.size, 1.0 / (n_pairs * rt.size)))
    if not xs:
        return np.zeros(0), np.zeros(0)
    x, w = np.concatenate(xs), np.concatenate(ws)
    order = np.argsort(x, kind="stable")
    x, frac = x[order], np.cumsum(w[order])
    last = np.r_[x[1:] != x[:-1], True]
    return x[last], frac[last]


def performance_profile_matrix(T, taus: Sequence[float]) -> np.ndarray:
    """Dolan–Moré ``ρ_s(τ) = |{p : r_{p,s} ≤ τ}| / |P|`` with ``r = t / min_s t``.

    Args:
        T: ``(problems, solvers)`` costs; inf or NaN is a failure. A problem no solver
            solved stays in the denominator.
        taus: ratios at which to evaluate.

    Returns:
        ``(len(taus), solvers)``.
    """
    T = np.asarray(T, dtype=float)
    T = np.where(np.isnan(T), np.inf, T)
    taus = np.asarray(taus, dtype=float)
    if not T.shape[0]:
        return np.full((len(taus), T.shape[1]), np.nan)
    best = T.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.where(np.isfinite(T), T / best, np.inf)
    return (R[None, :, :] <= taus[:, None, None]).mean(axis=1)


def data_profile_matrix(T, alphas: Sequence[float], dims: Sequence[float] | None = None):
    """Moré–Wild ``d_s(α) = |{p : t_{p,s} / (n_p + 1) ≤ α}| / |P|``: with ``dims`` (per
    problem) α is in simplex gradients, without it in evaluations. Returns
    ``(len(alphas), solvers)``."""
    T = np.asarray(T, dtype=float)
    T = np.where(np.isnan(T), np.inf, T)
    alphas = np.asarray(alphas, dtype=float)
    if not T.shape[0]:
        return np.full((len(alphas), T.shape[1]), np.nan)
    if dims is not None:
        T = T / (np.asarray(dims, dtype=float)[:, None] + 1.0)
    return (T[None, :, :] <= alphas[:, None, None]).mean(axis=1)


def profile_area(taus: Sequence[float], rho: Sequence[float], upper: float = 4.0) -> float:
    """``∫_1^upper ρ(τ) dτ / (upper − 1)`` of a right-continuous step profile given on a
    grid starting at 1 (AlgoPerf's score B_s uses [1, 4]; 1 = fastest everywhere)."""
    taus = np.asarray(taus, dtype=float)
    keep = taus <= upper
    x, y = np.r_[taus[keep], upper], np.asarray(rho, dtype=float)[keep]
    if not len(y):
        return float("nan")
    return float(np.sum(np.diff(x) * y) / (upper - 1.0))


# -- the tidy frame -----------------------------------------------------------------------


def _hits(g, target: float, relative: bool) -> np.ndarray:
    col = hit_column(target, relative)
    return g[col].to_numpy(dtype=float) if col in g else np.full(len(g), np.nan)


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
        rts = runtimes(np.column_stack([_hits(g, eps, relative) for eps in targets]))
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


def runtime_ecdf(
    frame,
    targets: Sequence[float] = TARGETS,
    by: str = "label",
    problem: str = "problem_key",
    *,
    relative: bool = False,
    restarts: int = 0,
    seed: int = 0,
    scale: str | None = None,
):
    """ECDF of runtimes over (problem, target) pairs, one curve per ``by`` value (:func:`ecdf`).

    ``P`` is every problem of the frame times ``targets``, the same for every curve: a solver
    without a counted run on a problem solves none of its pairs. Without ``restarts`` the runs
    are used as they are; with it, each pair gets that many seeded simulated restarts.

    Args:
        scale: a column to divide the cost by (e.g. the dimension), or None.

    Returns:
        Columns ``by, cost, fraction, pairs``: the step points (fraction of pairs solved at
        that cost, right-continuous), in increasing cost; ``pairs`` is ``|P|``.
    """
    import pandas as pd

    frame = counted(frame)
    n_pairs = frame[problem].nunique() * len(targets)
    out = []
    for name, g in frame.groupby(by, sort=True):
        per_pair = []
        for pkey, pg in g.groupby(problem, sort=True):
            div = pg[scale].to_numpy(dtype=float) if scale else np.ones(len(pg))
            used = pg["evals"].to_numpy(dtype=float)
            for eps in targets:
                rt = runtimes(_hits(pg, eps, relative))
                if restarts:
                    sim = simulated_restarts(
                        rt, used, restarts, group_rng(seed, name, pkey, eps, relative)
                    )
                    per_pair.append(sim / float(np.mean(div)))
                else:
                    per_pair.append(rt / div)
        cost, fraction = ecdf(per_pair, n_pairs)
        out.append(pd.DataFrame({by: name, "cost": cost, "fraction": fraction, "pairs": n_pairs}))
    return (
        pd.concat(out, ignore_index=True)
        if out
        else pd.DataFrame(columns=[by, "cost", "fraction", "pairs"])
    )


def cost_matrix(
    frame,
    target: float,
    instance: Sequence[str] = ("problem_key", "seed"),
    solver: str = "label",
    *,
    relative: bool = False,
    solvers: Sequence[str] | None = None,
):
    """Instances × solvers: the aRT of each solver's runs on the instance, inf where it has no
    success or no counted run (a solver that did not run an instance failed it).

    Returns:
        A DataFrame indexed by ``instance``, one column per solver (``solvers`` fixes their
        order and includes solvers without runs).
    """
    import pandas as pd

    frame = counted(frame)
    instance = list(instance)
    rt = runtimes(_hits(frame, target, relative))
    ok = np.isfinite(rt)
    parts = frame[instance + [solver]].assign(
        _cost=np.where(ok, rt, charged(frame["evals"].to_numpy(dtype=float))), _wins=ok
    )
    sums = parts.groupby(instance + [solver], sort=True)[["_cost", "_wins"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        t = pd.Series(
            np.where(sums["_wins"] > 0, sums["_cost"] / sums["_wins"], np.inf), index=sums.index
        )
    t = t.unstack(solver) if len(t) else pd.DataFrame(index=sums.index.droplevel(solver))
    if solvers is not None:
        t = t.reindex(columns=list(solvers))
    return t.fillna(np.inf)


def performance_ratios(
    frame,
    target: float,
    instance: Sequence[str] = ("problem_key", "seed"),
    solver: str = "label",
    *,
    relative: bool = False,
):
    """Dolan–Moré ratios ``r_{p,s} = t_{p,s} / min_s t_{p,s}`` (inf where s failed or all did)."""
    return _ratios(cost_matrix(frame, target, instance, solver, relative=relative))


def _ratios(t):
    with np.errstate(invalid="ignore", divide="ignore"):
        r = t.div(t.min(axis=1), axis=0)
    return r.where(np.isfinite(t), np.inf)


def performance_profile(
    frame,
    target: float,
    instance: Sequence[str] = ("problem_key", "seed"),
    solver: str = "label",
    *,
    relative: bool = False,
    taus: Sequence[float] | None = None,
):
    """Dolan–Moré performance profile ``ρ_s(τ) = |{p : r_{p,s} ≤ τ}| / |P|``.

    An instance is a problem and a seed (the start point) by default; ``t_{p,s}`` is the
    cost to reach the target (aRT when a solver has several runs on the instance).

    Returns:
        Columns ``solver, tau, rho``; by default at τ = 1 and every finite ratio.
    """
    import pandas as pd

    t = cost_matrix(frame, target, instance, solver, relative=relative)
    if t.empty:
        return pd.DataFrame(columns=["solver", "tau", "rho"])
    r = _ratios(t).to_numpy(dtype=float)
    grid = np.unique(np.r_[1.0, r[np.isfinite(r)]]) if taus is None else np.asarray(taus, float)
    rho = performance_profile_matrix(t.to_numpy(dtype=float), grid)
    return pd.DataFrame(
        [
            {"solver": s, "tau": tau, "rho": float(rho[i, j])}
            for j, s in enumerate(t.columns)
            for i, tau in enumerate(grid)
        ]
    )


def data_profile(
    frame,
    tau: float = REL_TARGETS[1],
    instance: Sequence[str] = ("problem_key", "seed"),
    solver: str = "label",
    *,
    dims: dict[str, int] | None = None,
    alphas: Sequence[float] | None = None,
):
    """Moré–Wild data profile ``d_s(α) = |{p : t_{p,s}/(n_p + 1) ≤ α}| / |P|``.

    ``t_{p,s}`` is the cost to pass the relative test ``gap ≤ τ·gap_0`` (columns
    ``rel_hit_cost_<τ>``: the worker's, against f* where known, else the run's own best;
    the report uses the best value of all runs instead). With ``dims`` (problem_key →
    dimension) costs are in simplex gradients ``n_p + 1``, else in evaluations.

    Returns:
        Columns ``solver, alpha, d``; by default at every finite normalized cost.
    """
    import pandas as pd

    t = cost_matrix(frame, tau, instance, solver, relative=True)
    if t.empty:
        return pd.DataFrame(columns=["solver", "alpha", "d"])
    n = None
    if dims is not None:
        keys = t.index.get_level_values(instance[0]) if len(instance) > 1 else t.index
        n = np.array([dims[k] for k in keys], dtype=float)
    vals = t.to_numpy(dtype=float) / (1.0 if n is None else (n[:, None] + 1.0))
    grid = np.unique(vals[np.isfinite(vals)]) if alphas is None else np.asarray(alphas, float)
    d = data_profile_matrix(t.to_numpy(dtype=float), grid, n)
    return pd.DataFrame(
        [
            {"solver": s, "alpha": a, "d": float(d[i, j])}
            for j, s in enumerate(t.columns)
            for i, a in enumerate(grid)
        ]
    )
