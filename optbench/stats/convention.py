"""The counting convention every statistic across runs shares (``docs/methodology.md``):
which runs count, the runtime of a run that met a target, and what a run that did not is
charged. :mod:`optbench.stats.average_runtime` (aRT, bootstrap, restarts) and
:mod:`optbench.stats.profiles` (ECDFs, performance and data profiles) build on these
functions only.

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

Random samples are seeded per group (:func:`group_rng`, from ``seed`` and the group's name),
so a group's numbers do not depend on which other groups are in the frame.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..metrics import REL_TARGETS, TARGETS, target_key

__all__ = [
    "CONVENTION",
    "NOT_RUN",
    "charged",
    "counted",
    "counts",
    "group_rng",
    "hit_column",
    "hit_costs",
    "runtimes",
]

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


def hit_costs(frame, target: float, relative: bool = False) -> np.ndarray:
    """A frame's hitting costs for a target, exactly as the worker stored them.

    A target without a stored column is refused (:class:`~optbench.errors.UsageError`, one
    line naming the targets the frame holds): reading it as "never hit" would charge runs
    that passed it as failures. The one exception is a frame without any hitting-cost column
    (every run an error row, which records no metrics): there a target of the worker's grid
    was met by no run, so its costs are NaN.
    """
    col = hit_column(target, relative)
    exact = float(target_key(target)) == float(target)  # 1.4e-6 is not the column of 1e-6
    if exact and col in frame:
        return frame[col].to_numpy(dtype=float)
    prefix = "rel_hit_cost_" if relative else "hit_cost_"
    stored = [str(c)[len(prefix):] for c in frame.columns if str(c).startswith(prefix)]
    grid = REL_TARGETS if relative else TARGETS
    some = any(str(c).startswith(("hit_cost_", "rel_hit_cost_")) for c in frame.columns)
    if exact and not some and float(target) in grid:
        return np.full(len(frame), np.nan)
    from ..errors import UsageError

    kind = "relative target τ" if relative else "target ε"
    listed = ", ".join(stored or [target_key(t) for t in grid])
    raise UsageError(
        f"no hitting costs are stored for the {kind} = {float(target):g}; "
        f"the stored {kind.split()[-2]}s are {listed}"
    )


def group_rng(seed: int, *key: Any) -> np.random.Generator:
    """A generator seeded by ``seed`` and a group's name (stable across frames)."""
    return np.random.default_rng([int(seed), zlib.crc32(repr(key).encode())])


def counted(frame):
    """The runs that count: every run but the skipped ones."""
    return frame[counts(frame)] if "status" in frame else frame


def counts(frame) -> np.ndarray:
    """Per run of ``frame``: True where it counts (:func:`counted`)."""
    if "status" not in frame:
        return np.ones(len(frame), dtype=bool)
    return ~frame["status"].isin(NOT_RUN).to_numpy()


def runtimes(hit_cost: ArrayLike) -> np.ndarray:
    """Hitting costs under the convention: at least 1; never reached (NaN, inf) is inf."""
    hit = np.asarray(hit_cost, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(hit), np.maximum(hit, 1.0), np.inf)


def charged(used: ArrayLike) -> np.ndarray:
    """Evaluations charged to a run that did not succeed: what it used, at least 1."""
    used = np.asarray(used, dtype=float)
    return np.maximum(np.nan_to_num(used, nan=0.0, posinf=0.0), 1.0)
