"""The numerical thresholds the runner, the metrics, the theory and the statistics share
(``docs/methodology.md#run-statuses``, ``docs/metrics.md#conventions``).

Only numpy; imports nothing else of optbench, so every part can use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DIVERGE_DIST", "DIVERGE_GAP", "FLOOR", "gap_floor"]

FLOOR = 1e-16  # gaps below FLOOR·max(1, |f*|) are round-off
DIVERGE_GAP = 1e6  # diverged: gap_t > DIVERGE_GAP·max(gap_0, floor)
DIVERGE_DIST = 1e3  # ... or dist_t > DIVERGE_DIST·max(dist_0, 1)


def gap_floor(f_ref: Any) -> Any:
    """The round-off floor of gaps, ``1e-16·max(1, |f_ref|)`` (element-wise for an array;
    ``1e-16`` for None, a reference value not known)."""
    if f_ref is None:
        return FLOOR
    if np.ndim(f_ref):
        return FLOOR * np.maximum(1.0, np.abs(f_ref))
    return FLOOR * max(1.0, abs(f_ref))
