"""Metrics: pure functions of a batch's trajectories (``docs/metrics.md``).

:func:`batch_metrics` turns a :class:`~optbench.runner.BatchTrace` into one dict per run;
every key is listed with its meaning and unit in :data:`METRICS`, which the report uses for
captions; values are JSON-ready (float, int, str or None, where None means not applicable
or never reached). The heavy parts work on ``(T+1, B)`` arrays at once, rows past a run's
end padded with its last iterate, so a batch costs a few hundred array passes, not a Python
loop over runs.

Conventions (``docs/metrics.md``): ``t = 0`` is the start, ``gap_t = f_t − f*``, the
incumbent ``gap⁺_t = min_{s≤t} gap_s``, ``x*_ref`` is the minimiser nearest the final
iterate (nearest the start for diverged and non-finite runs), the tail window ``W`` is the
last ``max(10, ⌈0.1(T+1)⌉)`` iterates. Overshoot and oscillation metrics (§1.2–1.3) are
None for samplers (random search), x-space metrics are None where x* is unknown, and
without f* the relative targets use the run's own best value (Moré–Wild against ``f_L``).

Modules: :mod:`.catalog` (the keys), :mod:`.convergence` (C1–C7), :mod:`.overshoot`
(O1–O8), :mod:`.oscillation` (Z1–Z7 and the runner's live cycle test),
:mod:`.theory_overlay` (§2 beside the measurement), :mod:`.batch` (the entry point).
"""

from __future__ import annotations

from ._common import TAIL_MIN, tail_window
from .batch import batch_metrics, is_sampler
from .catalog import INT_KEYS, METRICS, REL_TARGETS, STR_KEYS, TARGETS, target_key
from .oscillation import CYCLE_PERIODS, CYCLE_RTOL, cycle_period

__all__ = [
    "CYCLE_PERIODS",
    "CYCLE_RTOL",
    "INT_KEYS",
    "METRICS",
    "REL_TARGETS",
    "STR_KEYS",
    "TAIL_MIN",
    "TARGETS",
    "batch_metrics",
    "cycle_period",
    "is_sampler",
    "tail_window",
    "target_key",
]
