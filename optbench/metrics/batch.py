""":func:`batch_metrics`: every metric of every run of a batch, from the full trace.

The runner calls it in the worker (so stored traces may be thinned). The batch's arrays are
padded once into a :class:`~optbench.metrics._common.Track`; each family then fills its
columns of ``out`` (one ``(B,)`` float array per key, NaN = not applicable or never
reached); :func:`json_ready` turns them into JSON-ready lists (one dict per run:
:func:`batch_metrics`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import Track
from .catalog import INT_KEYS, METRICS, STR_KEYS
from .convergence import convergence, distance
from .oscillation import oscillation, tail_oscillation
from .overshoot import error_path, overshoot, settle_f, steady_state, xspace
from .theory_overlay import theory_overlay

STOPPED = ("diverged", "non-finite")


def is_sampler(optimizer_name: str | None) -> bool:
    """True for optimizers whose iterate is an incumbent, not a trajectory (random search):
    those registered with ``samples=True``."""
    from .. import registry

    return bool(registry.optimizer_meta(optimizer_name).get("samples", False))


def batch_metrics(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """One dict of metrics per run of the batch (keys: :data:`~optbench.metrics.METRICS`);
    the arguments are :func:`batch_metric_arrays`'."""
    columns = json_ready(batch_metric_arrays(*args, **kwargs))
    keys = list(columns)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def batch_metric_arrays(
    trace,
    problem,
    statuses: list[str],
    optimizer_name: str | None = None,
    hyper: dict[str, Any] | list[dict[str, Any]] | None = None,
    *,
    budget: int | None = None,
    max_iter: int | None = None,
    grad_dots: Any = None,
) -> dict[str, np.ndarray]:
    """Every metric of every run of the batch as one array per key, in the order of
    :data:`~optbench.metrics.METRICS`: float (NaN: not applicable or never reached; the
    keys of :data:`~optbench.metrics.INT_KEYS` are counts), the regime an object array of
    strings and None. Row ``b`` is run ``b``'s; :func:`json_ready` gives the values.

    Args:
        trace: the batch's :class:`~optbench.runner.BatchTrace`.
        problem: the built :class:`~optbench.problem.Problem`.
        statuses: each run's status (``docs/methodology.md#run-statuses``).
        optimizer_name: the registered name; its registration says whether it samples (no
            dynamics metrics) and which quadratic theory describes it, if any.
        hyper: the resolved hyperparameters, one dict for all runs or one per run.
        budget, max_iter: the runs' limits; they fix the horizon of ``aulg``.
        grad_dots: ``<g_t, g_{t+1}>`` for t = 0..T−1, shape ``(T, B)`` (or a list of rows),
            as the runner records them; without it the gradients are re-evaluated.
    """
    B = trace.f.shape[1]
    sampler = is_sampler(optimizer_name)
    out = {k: np.full(B, np.nan) for k in METRICS if k not in STR_KEYS}
    regimes = np.full(B, None, dtype=object)
    with np.errstate(all="ignore"):
        tk = _track(trace, problem, statuses)
        out["gnorm_final"][:] = np.asarray(trace.gnorm, dtype=float)[tk.end, tk.cols]
        convergence(out, tk, budget, max_iter)  # on f
        x_star = trace.x_star if trace.x_star is not None else problem.x_star
        dist = e0 = None
        if x_star is not None:
            x_star = np.asarray(x_star, dtype=float)
            e = error_path(tk, x_star)
            e0 = e[0]
            xs = xspace(e, tk.end, tk.cols)
            dist = xs["dist"]
            distance(out, dist, tk, x_star)  # dist_final, rate_x, order_x
            if not sampler:
                overshoot(out, xs, tk.stopped)  # po … t_settle_*, cross_track
        if not sampler:
            settle_f(out, tk)  # t_settle_f_*
        win = tk.window()
        steady_state(out, win, dist, tk, sampler)  # e_ss, e_ss_gap
        if not sampler:
            oscillation(out, tk, problem, grad_dots)  # but tail_amp_*, cycle_period
            tail_oscillation(out, tk, win, dist)  # tail_amp_*, cycle_period
            if e0 is not None:
                theory_overlay(
                    out, regimes, trace, problem, e0, tk.end, tk.f_star, optimizer_name, hyper
                )
    return {k: regimes if k in STR_KEYS else out[k] for k in METRICS}


def _track(trace, problem, statuses: list[str]) -> Track:
    """The trace's arrays padded past each run's end, with the masks the families share."""
    n, B = trace.f.shape
    cols = np.arange(B)
    end = np.clip(np.asarray(trace.end, dtype=np.int64), 0, n - 1)
    valid = np.arange(n)[:, None] <= end[None, :]
    full = bool(np.all(end == n - 1))

    def pad(a: np.ndarray) -> np.ndarray:
        if full:
            return a
        last = a[end, cols]
        return np.where(valid if a.ndim == 2 else valid[..., None], a, last)

    status = np.asarray(list(statuses), dtype=object)
    return Track(
        f=pad(np.asarray(trace.f, dtype=float)),
        x=pad(np.asarray(trace.x, dtype=float)),
        cost=pad(np.asarray(trace.n_f) + np.asarray(trace.n_g)),
        end=end,
        cols=cols,
        valid=valid,
        stopped=np.isin(status, STOPPED),
        f_star=trace.f_star if trace.f_star is not None else problem.f_star,
        time=None if trace.time is None else np.asarray(trace.time, dtype=float).reshape(-1),
    )


def json_ready(columns: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    """:func:`batch_metric_arrays`' columns as JSON-ready lists: NaN → None, counts → int."""
    out = {}
    for k, a in columns.items():
        if a.dtype == object:
            out[k] = a.tolist()
            continue
        missing = np.isnan(a)
        if k in INT_KEYS:
            obj = np.where(missing, 0, a).astype(np.int64).astype(object)
        else:
            obj = a.astype(object)
        obj[missing] = None
        out[k] = obj.tolist()
    return out
