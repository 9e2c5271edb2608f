"""Statistics across runs: success rates, aRT with bootstrap dispersion, runtime ECDFs,
performance and data profiles (``benchmarking.md`` A.2 and D; ``dynamics.md`` C3a).

Pure functions of the tidy frame :func:`optbench.load` returns (one row per run, columns
``hit_cost_<eps>``/``rel_hit_cost_<tau>`` — NaN where the target was never reached —
``evals``, ``status``, ``problem_key``, ``label``, ``seed``); each returns a DataFrame for the
report to draw or print. Costs are evaluations ``n_f + n_g`` throughout.

COCO's convention for an unsuccessful run: it is charged the evaluations it used, so
``aRT = Σ_runs cost(min(τ, T)) / #successes`` (``inf`` without a success). Bootstrap
samples are seeded per group (from ``seed`` and the group's name), so a group's numbers do
not depend on which other groups are in the frame.
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
    "data_profile",
    "performance_profile",
    "performance_ratios",
    "runtime_ecdf",
    "simulated_restarts",
]

BOOTSTRAP_SAMPLES = 1000
NOT_RUN = ("skipped", "error")  # no evaluations to charge


def _hit_col(target: float, relative: bool) -> str:
    return f"{'rel_' if relative else ''}hit_cost_{target_key(target)}"


def _rng(seed: int, *key: Any) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(repr(key).encode())])


def _ran(frame):
    if "status" in frame:
        frame = frame[~frame["status"].isin(NOT_RUN)]
    return frame


# -- one group of runs --------------------------------------------------------------------


def art(hit_cost: Sequence[float], used: Sequence[float]) -> float:
    """Average runtime: successes charged their hitting cost, failures what they used.

    Args:
        hit_cost: per run the cost at which the target was first reached, NaN/inf if never.
        used: per run the evaluations it used in total.
    """
    hit = np.asarray(hit_cost, dtype=float)
    used = np.asarray(used, dtype=float)
    ok = np.isfinite(hit)
    n = int(ok.sum())
    return float((hit[ok].sum() + used[~ok].sum()) / n) if n else float("inf")


def bootstrap_art(
    hit_cost: Sequence[float],
    used: Sequence[float],
    samples: int = BOOTSTRAP_SAMPLES,
    percentiles: Sequence[float] = (10, 50, 90),
    rng: np.random.Generator | int = 0,
) -> np.ndarray:
    """Percentiles of aRT over bootstrap resamples of the runs (with replacement).

    A resample without a success has aRT = inf; percentiles pick sample values
    (``inverted_cdf``), so they may be inf but never NaN.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    hit = np.asarray(hit_cost, dtype=float)
    used = np.asarray(used, dtype=float)
    if not hit.size:
        return np.full(len(percentiles), np.nan)
    ok = np.isfinite(hit)
    charged = np.where(ok, hit, used)
    idx = rng.integers(0, hit.size, (samples, hit.size))
    wins = ok[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(wins > 0, charged[idx].sum(axis=1) / wins, np.inf)
    return np.percentile(values, list(percentiles), method="inverted_cdf")


def simulated_restarts(
    hit_cost: Sequence[float],
    used: Sequence[float],
    samples: int = BOOTSTRAP_SAMPLES,
    rng: np.random.Generator | int = 0,
) -> np.ndarray:
    """COCO's simulated restarts: draw runs uniformly until a success; the runtime is the
    evaluations of the failures drawn plus the success's hitting cost (inf without any
    success). Their mean estimates aRT."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    hit = np.asarray(hit_cost, dtype=float)
    used = np.asarray(used, dtype=float)
    ok = np.isfinite(hit)
    if not ok.any():
        return np.full(samples, np.inf)
    wins, losses = hit[ok], used[~ok]
    p = ok.mean()
    # failures before the first success: geometric; their costs: uniform draws among failures
    n_fail = rng.geometric(p, samples) - 1
    out = wins[rng.integers(0, wins.size, samples)].astype(float)
    if losses.size:
        total = int(n_fail.sum())
        draws = losses[rng.integers(0, losses.size, total)]
        owner = np.repeat(np.arange(samples), n_fail)
        out += np.bincount(owner, weights=draws, minlength=samples)
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
    """Per group and target: runs, successes, success rate, aRT and bootstrap percentiles.

    Args:
        frame: the tidy frame of :func:`optbench.load`.
        targets: absolute targets ε (columns ``hit_cost_<ε>``), or relative τ with ``relative``.
        by: the grouping columns.
        samples: bootstrap resamples (≥ 1000 for published numbers).

    Returns:
        Columns ``*by, target, runs, successes, success_rate, aRT, aRT_p<q>...``.
    """
    import pandas as pd

    frame = _ran(frame)
    by = list(by)
    rows = []
    for key, g in frame.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        used = g["evals"].to_numpy(dtype=float)
        for eps in targets:
            col = _hit_col(eps, relative)
            hit = g[col].to_numpy(dtype=float) if col in g else np.full(len(g), np.nan)
            wins = int(np.isfinite(hit).sum())
            row = dict(zip(by, key, strict=True))
            row.update(
                target=eps,
                runs=len(g),
                successes=wins,
                success_rate=wins / len(g) if len(g) else np.nan,
                aRT=art(hit, used),
            )
            qs = bootstrap_art(hit, used, samples, percentiles, _rng(seed, key, eps, relative))
            row.update({f"aRT_p{q:g}": v for q, v in zip(percentiles, qs, strict=True)})
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
    """ECDF of runtimes over (problem, target) pairs, one curve per ``by`` value.

    Each pair weighs ``1/|P|`` and, inside it, each run (or simulated restart) equally;
    unsolved pairs stay in the denominator (COCO). Without ``restarts`` the runs are used as
    they are; with it, each pair gets that many seeded simulated restarts.

    Args:
        scale: a column to divide the cost by (e.g. the dimension), or None.

    Returns:
        Columns ``by, cost, fraction``: the step points (fraction of pairs solved at that
        cost, right-continuous), in increasing cost; ``pairs`` gives ``|P|``.
    """
    import pandas as pd

    frame = _ran(frame)
    out = []
    for name, g in frame.groupby(by, sort=True):
        costs, weights = [], []
        problems = list(g.groupby(problem, sort=True))
        n_pairs = len(problems) * len(targets)
        for pkey, pg in problems:
            div = pg[scale].to_numpy(dtype=float) if scale else np.ones(len(pg))
            used = pg["evals"].to_numpy(dtype=float)
            for eps in targets:
                col = _hit_col(eps, relative)
                hit = pg[col].to_numpy(dtype=float) if col in pg else np.full(len(pg), np.nan)
                if restarts:
                    rt = simulated_restarts(
                        hit, used, restarts, _rng(seed, name, pkey, eps, relative)
                    )
                    rt = rt / float(np.mean(div))
                else:
                    rt = np.where(np.isfinite(hit), hit / div, np.inf)
                costs.append(rt)
                weights.append(np.full(rt.size, 1.0 / (n_pairs * max(rt.size, 1))))
        c = np.concatenate(costs) if costs else np.zeros(0)
        w = np.concatenate(weights) if weights else np.zeros(0)
        ok = np.isfinite(c)
        order = np.argsort(c[ok], kind="stable")
        cs, frac = c[ok][order], np.cumsum(w[ok][order])
        last = np.r_[cs[1:] != cs[:-1], True] if cs.size else np.zeros(0, bool)
        out.append(
            pd.DataFrame({by: name, "cost": cs[last], "fraction": frac[last], "pairs": n_pairs})
        )
    return (
        pd.concat(out, ignore_index=True)
        if out
        else pd.DataFrame(columns=[by, "cost", "fraction", "pairs"])
    )


def _cost_matrix(frame, target: float, instance: Sequence[str], solver: str, relative: bool):
    """Instances × solvers: the aRT of each solver's runs on the instance (inf: never)."""
    frame = _ran(frame)
    col = _hit_col(target, relative)
    instance = list(instance)
    rows = {}
    for key, g in frame.groupby(instance + [solver], sort=True):
        hit = g[col].to_numpy(dtype=float) if col in g else np.full(len(g), np.nan)
        rows[key] = art(hit, g["evals"].to_numpy(dtype=float))
    import pandas as pd

    s = pd.Series(rows, dtype=float)
    if not len(s):
        return pd.DataFrame()
    s.index.names = instance + [solver]
    return s.unstack(solver).fillna(np.inf)  # a solver that did not run the instance failed it


def performance_ratios(
    frame,
    target: float,
    instance: Sequence[str] = ("problem_key", "seed"),
    solver: str = "label",
    *,
    relative: bool = False,
):
    """Dolan–Moré ratios ``r_{p,s} = t_{p,s} / min_s t_{p,s}`` (inf where s failed or all did)."""
    t = _cost_matrix(frame, target, instance, solver, relative)
    best = t.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = t.div(best, axis=0)
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

    r = performance_ratios(frame, target, instance, solver, relative=relative)
    if r.empty:
        return pd.DataFrame(columns=["solver", "tau", "rho"])
    vals = r.to_numpy(dtype=float)
    grid = (
        np.unique(np.r_[1.0, vals[np.isfinite(vals)]])
        if taus is None
        else np.asarray(taus, dtype=float)
    )
    rows = [
        {"solver": s, "tau": tau, "rho": float(np.mean(r[s].to_numpy() <= tau))}
        for s in r.columns
        for tau in grid
    ]
    return pd.DataFrame(rows)


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
    ``rel_hit_cost_<τ>``; f* where known, else each run's own best). With ``dims``
    (problem_key → dimension) costs are in simplex gradients ``n_p + 1``, else in evaluations.

    Returns:
        Columns ``solver, alpha, d``; by default at every finite normalized cost.
    """
    import pandas as pd

    t = _cost_matrix(frame, tau, instance, solver, relative=True)
    if t.empty:
        return pd.DataFrame(columns=["solver", "alpha", "d"])
    if dims is not None:
        keys = t.index.get_level_values(instance[0]) if len(instance) > 1 else t.index
        t = t.div(np.array([dims[k] + 1 for k in keys], dtype=float), axis=0)
    vals = t.to_numpy(dtype=float)
    grid = np.unique(vals[np.isfinite(vals)]) if alphas is None else np.asarray(alphas, dtype=float)
    rows = [
        {"solver": s, "alpha": a, "d": float(np.mean(t[s].to_numpy() <= a))}
        for s in t.columns
        for a in grid
    ]
    return pd.DataFrame(rows)
