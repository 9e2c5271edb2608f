"""The typed records a store holds: a run's identity as stored (:class:`RunRecord`), its
summary (:class:`Summary`), and the results version that tags both.

The store knows nothing of specs, the planner or the registry: whoever writes a run hands
it a :class:`RunRecord` whose labels and parameters are already resolved
(:func:`optbench.plan.run_record`), so that what the store holds reads the same wherever it
is opened, with or without the plug-ins that made it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RESULTS_VERSION", "RunRecord", "Summary", "run_summary", "summary_columns",
           "summary_jsons"]

RESULTS_VERSION = 4
"""The version of the built-in results: bumped whenever a release changes the numbers a
run of the same identity stores (a metric fixed, a status rule changed, a built-in problem
or optimizer corrected), so that a store never silently mixes them; see
``docs/store.md``.

1. The first recorded.
2. The theory overlay (``th_*``) leaves out runs with weight decay or gradient clipping,
   which its quadratic model does not describe; constant-rate GD's ``th_po``/``th_po1``
   are the maximum over its whole predicted path (to rounding the same, except where that
   maximum lies past the 16,384 updates that used to be followed).
3. Evaluations spent inside an update that the budget or the deadline interrupts are
   recorded (a last trace point at the full charge).
4. ``hit_time_<ε>`` and ``rel_hit_time_<τ>``: the batch clock at each first hit; each run's
   summary records the size of the batch it ran in (``batch_size``). Runs on a stochastic
   problem are no longer stopped as ``stalled`` or ``cycle`` (they run to their budget unless
   ``noisy_stops``), and they store ``f_ema``, the smoothed loss. The small-ML problems
   record a held-out accuracy (``test_acc``) at every iterate, and the softmax models' mu is
   l2 exactly (it was an iterative eigenvalue estimate). ``rate_x_pole`` (the rate fit that
   allows a double pole) is stored, and Nesterov runs store their predicted rate
   ``th_rate_x``/``th_rate_f``; runs longer than 20,000 updates stall after 1/100 of them.
"""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run's identity as stored: what the store, the report, the export and a comparison
    know of it. ``problem_params`` and ``optimizer_params`` are the full resolved
    parameters in JSON-ready form (a nested schedule as ``{"name", "params"}``);
    ``label`` the optimizer as the registry displayed it when the run was stored."""

    run_id: str
    problem: str
    problem_key: str
    problem_params: dict[str, Any]
    optimizer: str
    label: str
    optimizer_params: dict[str, Any]
    seed: int
    budget: int | None
    max_iter: int
    tol: float


@dataclass(slots=True)
class Summary:
    """What a run ended with. A run that never took a step (skipped, an error before its
    first evaluation) has none: every field None, stored as ``{}``."""

    n_iter: int | None = None
    n_f: int | None = None
    n_g: int | None = None
    f_final: float | None = None
    f_best: float | None = None
    x_final: list[float] | None = None
    batch_size: int | None = None  # the runs sharing its clock; None before version 4

    @property
    def evals(self) -> int | None:
        """Evaluations charged: ``n_f + n_g``."""
        return None if self.n_f is None else self.n_f + (self.n_g or 0)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object stored (``{}`` for a run without a summary)."""
        if self.n_iter is None:
            return {}
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Summary:
        """From a stored object; keys a summary does not have are ignored (forward
        compatible), missing ones are None."""
        if not data:
            return cls()
        return cls(**{k: data.get(k) for k in cls.__slots__})

    def to_json(self) -> str:
        return summary_json(self.as_dict())


_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def to_json(obj: Any) -> str:
    """Compact JSON, keys sorted, NaN as null and infinities as ``"inf"``/``"-inf"``."""
    return json.dumps(_clean(obj), sort_keys=True, separators=(",", ":"))


def summary_json(summary: dict[str, Any]) -> str:
    """:func:`to_json` of a summary object (string keys): plain numbers go straight to the
    C encoder; NaN, infinities and numpy scalars are cleaned first."""
    try:
        return _ENCODE(summary)
    except (TypeError, ValueError):
        return to_json(summary)


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


_SUMMARY_KEYS = ("n_iter", "n_f", "n_g", "f_final", "f_best", "x_final", "batch_size")


def summary_columns(
    *,
    n_iter: Any,
    n_f: Any,
    n_g: Any,
    f_final: Any,
    f_best: Any,
    x_final: Any,
    batch_size: int,
) -> dict[str, Any]:
    """The summaries of a batch's runs as columns: ``n_iter``, ``n_f``, ``n_g`` (int
    arrays), ``f_final``, ``f_best`` (float arrays), ``x_final`` (a ``(B, k)`` float array)
    and ``batch_size`` (one int for all). :func:`run_summary` reads a run's
    :class:`Summary` out of them, :func:`summary_jsons` every run's stored JSON at once."""
    return {
        "n_iter": np.asarray(n_iter, dtype=np.int64),
        "n_f": np.asarray(n_f).astype(np.int64),
        "n_g": np.asarray(n_g).astype(np.int64),
        "f_final": np.asarray(f_final, dtype=float),
        "f_best": np.asarray(f_best, dtype=float),
        "x_final": np.asarray(x_final, dtype=float),
        "batch_size": int(batch_size),
    }


def run_summary(columns: dict[str, Any], row: int) -> Summary:
    """Row ``row``'s :class:`Summary` of :func:`summary_columns`."""
    return Summary(
        n_iter=int(columns["n_iter"][row]),
        n_f=int(columns["n_f"][row]),
        n_g=int(columns["n_g"][row]),
        f_final=float(columns["f_final"][row]),
        f_best=float(columns["f_best"][row]),
        x_final=columns["x_final"][row].tolist(),
        batch_size=columns["batch_size"],
    )


def _json_items(values: list[Any], finite: bool) -> list[str]:
    """Each value of a list of numbers (or of lists of numbers) as :func:`to_json` writes
    it, from one encoding of the whole list: numbers, ``null`` and ``"inf"`` hold no comma."""
    text = _ENCODE(values) if finite else to_json(values)
    inner = text[1:-1]
    if not values:
        return []
    if not isinstance(values[0], list):
        return inner.split(",")
    return ["[" + part + "]" for part in inner[1:-1].split("],[")]


def summary_jsons(columns: dict[str, Any]) -> list[str]:
    """:meth:`Summary.to_json` of every run of :func:`summary_columns`, the same text, from
    one encoding per column instead of one per run."""
    enc = {}
    for k in _SUMMARY_KEYS[:-1]:
        a = columns[k]
        finite = a.dtype.kind in "iu" or bool(np.isfinite(a).all())
        enc[k] = _json_items(a.tolist(), finite)
    bs = _ENCODE(columns["batch_size"])
    return [
        f'{{"batch_size":{bs},"f_best":{fb},"f_final":{ff},"n_f":{nf},"n_g":{ng},'
        f'"n_iter":{ni},"x_final":{x}}}'
        for fb, ff, nf, ng, ni, x in zip(enc["f_best"], enc["f_final"], enc["n_f"], enc["n_g"],
                                         enc["n_iter"], enc["x_final"], strict=True)
    ]
