"""Runtime ECDFs, performance and data profiles: how the solvers compare over many problems
and targets at once (``docs/methodology.md``). Costs follow :mod:`optbench.stats.convention`
(skipped runs left out, failures charged what they used, costs from 1); a pair or instance a
solver did not solve stays in every denominator.

Two levels, as in :mod:`optbench.stats.average_runtime`: array functions (:func:`ecdf`,
:func:`performance_profile_matrix`, :func:`data_profile_matrix`, :func:`profile_area`) and
frame functions over the tidy frame of :func:`optbench.load` that return DataFrames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..metrics import REL_TARGETS, TARGETS
from .average_runtime import simulated_restarts
from .convention import charged, counted, group_rng, hit_costs, runtimes

__all__ = [
    "InstanceCosts",
    "cost_matrix",
    "data_profile",
    "data_profile_matrix",
    "ecdf",
    "instance_matrix",
    "performance_profile",
    "performance_profile_matrix",
    "performance_ratios",
    "profile_area",
    "runtime_ecdf",
]


# -- arrays -------------------------------------------------------------------------------


def ecdf(runtimes_by_pair: Sequence[ArrayLike], pairs: int | None = None):
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


def performance_profile_matrix(T: ArrayLike, taus: ArrayLike) -> np.ndarray:
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


def data_profile_matrix(T: ArrayLike, alphas: ArrayLike, dims: ArrayLike | None = None):
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


def profile_area(taus: ArrayLike, rho: ArrayLike, upper: float = 4.0) -> float:
    """``∫_1^upper ρ(τ) dτ / (upper − 1)`` of a right-continuous step profile given on a
    grid starting at 1 (AlgoPerf's score B_s uses [1, 4]; 1 = fastest everywhere)."""
    taus = np.asarray(taus, dtype=float)
    keep = taus <= upper
    x, y = np.r_[taus[keep], upper], np.asarray(rho, dtype=float)[keep]
    if not len(y):
        return float("nan")
    return float(np.sum(np.diff(x) * y) / (upper - 1.0))


# -- the tidy frame -----------------------------------------------------------------------


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
                rt = runtimes(hit_costs(pg, eps, relative))
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
    rt = runtimes(hit_costs(frame, target, relative))
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


class InstanceCosts(NamedTuple):
    """What the performance and data profiles of a report are drawn from
    (:func:`instance_matrix`; computed once per report as
    :attr:`optbench.report.Context.profiles`)."""

    costs: dict[float, np.ndarray]
    """τ -> Moré–Wild costs of shape (instances, solvers), inf where a solver failed or has
    no run."""
    dims: np.ndarray
    """The dimension of each instance (its problem's)."""
    missing: int
    """How many (instance, solver) combinations have no run."""


def instance_matrix(data: Mapping, solvers: Sequence[str], taus: Sequence[float]) -> InstanceCosts:
    """Moré–Wild costs ``costs[τ]`` of shape (instances, solvers) over (problem, seed)
    instances (:func:`cost_matrix`: a solver's aRT on the instance, inf where it failed or
    has no run), the dimension of each instance, and how many (instance, solver)
    combinations have no run. ``data`` maps problem keys to
    :class:`~optbench.stats.curves.ProblemData` with a ``solver`` column."""
    import pandas as pd

    frames = [d.hit_frame(taus, relative=True) for d in data.values() if len(d.runs)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame = counted(frame) if len(frame) else frame
    if not len(frame):
        return InstanceCosts(
            {tau: np.zeros((0, len(solvers))) for tau in taus}, np.zeros(0, int), 0
        )
    mats = {
        tau: cost_matrix(frame, tau, solver="solver", relative=True, solvers=solvers)
        for tau in taus
    }
    index = mats[taus[0]].index
    dim = {k: d.dim for k, d in data.items()}
    dims = np.array([dim[k] for k in index.get_level_values("problem_key")])
    present = frame.groupby(["problem_key", "seed", "solver"]).ngroups
    missing = len(index) * len(solvers) - present
    return InstanceCosts({tau: m.to_numpy(dtype=float) for tau, m in mats.items()}, dims, missing)


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
