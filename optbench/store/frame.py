"""The tidy frame of a store: one row per run (:func:`read_runs`, :func:`optbench.load`)."""

from __future__ import annotations

import math
import os
from typing import Any

from ..plain_text import format_plain, is_nested_spec
from .sql import Store

__all__ = ["read_runs"]

_RUN_COLUMNS = (
    "run_id",
    "problem",
    "problem_key",
    "optimizer",
    "label",
    "seed",
    "status",
    "message",
    "budget",
    "max_iter",
    "tol",
    "seconds",
)


def read_runs(path: str | os.PathLike, traces: bool = False):
    """One tidy DataFrame, one row per run, from a store file (:func:`optbench.load`).

    Columns: ``run_id``, ``problem``, ``problem_key``, ``problem_label`` (the problem with
    the parameters that make it a variant, ``linear-regression[standardize=true]``, as
    recorded when its runs were stored; None in stores written before labels were
    recorded: :func:`optbench.plan.fill_problem_labels` fills them),
    ``optimizer``, ``label``, ``seed``,
    ``status``, ``message``, ``budget``, ``max_iter``, ``n_iter``, ``n_f``, ``n_g``,
    ``evals``, ``f_final``, ``f_best``, ``batch_size``, ``results_version``, ``host``, every
    metric, the
    hyperparameters as ``hp.<name>`` and the problem parameters as ``pp.<name>``. With
    ``traces=True`` a ``trace`` column holds each run's arrays.
    """
    import pandas as pd

    with Store(path) as store:
        rows = store._rows()
        metrics = store.metric_frame()
        labels = {k: info.get("label") for k, info in store.problem_info().items()}
        trace_map = dict(store.traces([r["run_id"] for r in rows])) if traces else None
    records, params = [], []
    columns: dict[tuple[int, int], dict[str, Any]] = {}
    for r in rows:
        rec = {k: r[k] for k in _RUN_COLUMNS[:3]}
        rec["problem_label"] = labels.get(r["problem_key"])
        rec.update({k: r[k] for k in _RUN_COLUMNS[3:]})
        summary = r["summary"]
        rec["n_iter"], rec["n_f"], rec["n_g"] = summary.n_iter, summary.n_f, summary.n_g
        rec["f_final"], rec["f_best"] = summary.f_final, summary.f_best
        # NaN: stored before version 4
        rec["batch_size"] = math.nan if summary.batch_size is None else summary.batch_size
        if summary.n_f is not None:
            rec["evals"] = summary.evals
        rec["x_final"] = summary.x_final
        rec["results_version"] = r["results_version"]
        rec["host"] = r.get("host", "")
        records.append(rec)
        key = (id(r["optimizer_params"]), id(r["problem_params"]))  # shared by _rows
        if key not in columns:
            hp = {f"hp.{k}": _hp(v) for k, v in r["optimizer_params"].items()}
            hp.update({f"pp.{k}": v for k, v in r["problem_params"].items()})
            columns[key] = hp
        params.append(columns[key])
    if not records:
        return pd.DataFrame(
            columns=["run_id", "problem", "problem_label", "optimizer", "label", "seed", "status"]
        )
    frame = pd.DataFrame.from_records(records)
    metrics = metrics.reindex(frame.run_id).reset_index(drop=True)
    metrics = metrics.drop(columns=[c for c in metrics.columns if c in frame.columns])
    parts = [frame, metrics, pd.DataFrame.from_records(params)]
    frame = pd.concat(parts, axis=1)
    if trace_map is not None:
        frame["trace"] = frame.run_id.map(trace_map)
    return frame


def _hp(v: Any) -> Any:
    """A stored hyperparameter as a frame cell: a nested schedule as its spec text."""
    return format_plain(v) if is_nested_spec(v) else v
