"""Metrics: pure functions of a batch's trajectories (``docs/metrics.md``).

:func:`batch_metrics` turns a :class:`~optbench.runner.BatchTrace` into one dict per run;
every key is listed with its meaning and unit in :data:`METRICS`, which the report uses for
captions; values are JSON-ready (float, int, str or None, where None means not applicable
or never reached). The heavy parts work on ``(T+1, B)`` arrays at once, rows past a run's
end padded with its last iterate, so a batch costs a few hundred array passes, not a Python
loop over runs.

Conventions (``docs/metrics.md#conventions``): ``t = 0`` is the start, ``gap_t = f_t − f*``, the
incumbent ``gap⁺_t = min_{s≤t} gap_s``, ``x*_ref`` is the minimiser nearest the final
iterate (nearest the start for diverged and non-finite runs), the tail window ``W`` is the
last ``max(10, ⌈0.1(T+1)⌉)`` iterates. Overshoot and oscillation metrics are
None for samplers (random search), x-space metrics are None where x* is unknown, and
without f* the relative targets use the run's own best value (Moré–Wild against ``f_L``).

Modules: :mod:`.catalog` (the keys), :mod:`.convergence`, :mod:`.overshoot`,
:mod:`.oscillation` (with the runner's live cycle test), :mod:`.theory_overlay` (the theory
of the quadratic beside the measurement), :mod:`.batch` (the entry point).
"""

from __future__ import annotations

from .._lazy import lazy_exports

# imported on first use: the catalog (targets, keys) is read where numpy is not wanted yet
_EXPORTS = {
    "TAIL_MIN": "_common",
    "tail_window": "_common",
    "batch_metrics": "batch",
    "is_sampler": "batch",
    "INT_KEYS": "catalog",
    "METRICS": "catalog",
    "REL_TARGETS": "catalog",
    "STR_KEYS": "catalog",
    "TARGETS": "catalog",
    "target_key": "catalog",
    "CYCLE_PERIODS": "oscillation",
    "CYCLE_RTOL": "oscillation",
    "cycle_period": "oscillation",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(
    __name__, {k: f".{m}" for k, m in _EXPORTS.items()}, globals(), __all__
)
