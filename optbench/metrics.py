"""Metrics: pure functions of a batch's trajectories (``reference/dynamics.md`` section 1).

Computed in the worker from the full trace, so stored traces may be thinned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TARGETS", "batch_metrics"]

TARGETS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)


def _target_key(eps: float) -> str:
    return f"{eps:.0e}".replace("e-0", "e-")


def batch_metrics(trace, problem, statuses: list[str]) -> list[dict[str, Any]]:
    """One dict of metrics per run of the batch."""
    B = trace.f.shape[1]
    out: list[dict[str, Any]] = []
    f_star = trace.f_star
    for b in range(B):
        e = int(trace.end[b]) + 1
        f = trace.f[:e, b]
        cost = trace.n_f[:e, b] + trace.n_g[:e, b]
        m: dict[str, Any] = {}
        if f_star is not None:
            with np.errstate(invalid="ignore"):
                gap = f - f_star
                best = np.fmin.accumulate(np.where(np.isfinite(gap), gap, np.inf))
            m["gap_final"] = float(gap[-1])
            m["gap_best"] = float(best[-1])
            for eps in TARGETS:
                hit = np.flatnonzero(best <= eps)
                key = _target_key(eps)
                m[f"hit_iter_{key}"] = int(hit[0]) if hit.size else None
                m[f"hit_cost_{key}"] = int(cost[hit[0]]) if hit.size else None
        out.append(m)
    return out
