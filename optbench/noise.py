"""Noise floors of runs on stochastic problems (``docs/methodology.md#noise-floors``).

A constant learning rate with noisy gradients does not settle: its gap hovers about a floor
the noise sets. The runner stores, for every run on a stochastic problem, ``f_ema``: the
exponential moving average of the recorded (full-data) loss,
``y_0 = f_0, y_t = (1 − α)·y_(t−1) + α·f_t`` with ``α = 2/(W + 1)`` and ``W =``
:data:`EMA_WINDOW` updates (pandas' ``ewm(span=W, adjust=False)``). It is linear in f, so
``f_ema − f*`` is the smoothed raw gap, and it averages what the predicted floor is, an
expected gap (a running median would sit below a skewed gap's mean). The floor a run
reached is the metric ``e_ss_gap``, the mean gap over the tail window.

Where the theory knows the floor it is :func:`predicted_floor`: on ``noisy-quadratic``
(``½·h·x²`` seen through ``g = h·x + σ·ξ``, ξ ~ N(0, 1)) plain gradient descent at a
constant rate η is ``x ← (1 − ηh)·x − ησ·ξ``, whose stationary variance is
``ησ²/(h(2 − ηh))``, so ``E gap = ½·h·E x² = η·σ²/(2(2 − η·h))`` for ``0 < ηh < 2``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["EMA_WINDOW", "ema", "predicted_floor"]

EMA_WINDOW = 50
"""The span W of the smoothed loss ``f_ema``, in updates (α = 2/(W + 1))."""


def ema(f: Any, window: int = EMA_WINDOW) -> np.ndarray:
    """The exponential moving average of ``f`` along its first axis (time), span ``window``.

    A recursive filter, one vectorized update per iterate: ``scipy.signal.lfilter`` computes
    the same, but importing ``scipy.signal`` costs a worker seconds.
    """
    f = np.asarray(f, dtype=float)
    alpha = 2.0 / (window + 1.0)
    out = np.empty_like(f)
    if not len(f):
        return out
    y = out[0] = f[0]
    with np.errstate(all="ignore"):
        for t in range(1, len(f)):
            y = out[t] = y + alpha * (f[t] - y)
    return out


def predicted_floor(
    problem: str, problem_params: dict[str, Any], optimizer: str, optimizer_params: dict[str, Any]
) -> float | None:
    """The expected gap a constant rate settles at, where the theory knows it: plain ``gd``
    at a constant rate on ``noisy-quadratic`` (no schedule, weight decay or clipping) with
    ``0 < η·h < 2``; None elsewhere."""
    if problem != "noisy-quadratic" or optimizer != "gd":
        return None
    p = {"h": 2.0, "noise": 1.0, **problem_params}
    o = {"schedule": "constant", "weight_decay": 0.0, "clip_norm": None, **optimizer_params}
    schedule = str(o["schedule"] if o["schedule"] is not None else "constant")
    if not schedule.startswith("constant") or o["weight_decay"] or o["clip_norm"] is not None:
        return None
    try:
        eta, h, sigma = float(o["lr"]), float(p["h"]), float(p["noise"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(eta) and 0 < eta * h < 2):
        return None
    return eta * sigma**2 / (2.0 * (2.0 - eta * h))
