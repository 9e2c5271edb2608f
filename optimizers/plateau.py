"""Reduce-on-plateau: cut the rate when the gap f − f* stops improving (stateful, per run)."""

from __future__ import annotations

from optbench import check, register_schedule

from .schedules import whole


@register_schedule("reduce-on-plateau")
def reduce_on_plateau(lr, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                      threshold_mode: str = "rel", cooldown: int = 0, min_lr: float = 0.0,
                      eps: float = 1e-8):
    """Multiply the rate by ``factor`` after more than ``patience`` updates without improvement
    of the gap f − f*.

    PyTorch ReduceLROnPlateau(mode='min'), with ``scheduler.step(metric)`` called after
    every update: the rate of update t ≥ 1 has seen the gaps of x_1 … x_t, so update 0
    uses η_0. Improvement means ``m < best·(1 − threshold)`` (rel) or ``m < best − threshold``
    (abs); a cut is ``max(η·factor, min_lr)``, skipped when smaller than ``eps``, and starts
    ``cooldown`` updates in which bad updates are not counted. The metric is the gap f − f*
    the runner hands over (``oracle.gap``), never f: with f* < 0 the relative test would
    count a slowly worsening negative loss as improvement.
    Problems with unknown f* therefore cannot use this schedule (the run becomes an error).
    optax's reduce_on_plateau cuts one update earlier (at ``patience`` bad updates).
    """
    import numpy as np

    check("factor", factor, (factor > 0) & (factor < 1), "in (0, 1)")
    whole("patience", patience, 0)
    check("threshold", threshold, threshold >= 0, ">= 0")
    check("threshold_mode", threshold_mode, threshold_mode in ("rel", "abs"), "'rel' or 'abs'")
    whole("cooldown", cooldown, 0)
    check("min_lr", min_lr, min_lr >= 0, ">= 0")
    check("eps", eps, eps >= 0, ">= 0")
    state: dict = {}

    def fn(t, gap=None):
        if np.ndim(t) != 0:
            raise ValueError("reduce-on-plateau is stateful: call it once per update, "
                             "t = 0, 1, 2, ...")
        if gap is None:
            raise ValueError("reduce-on-plateau needs the gap f - f* of every run, and this "
                             "problem's f* is unknown")
        m = np.asarray(gap, dtype=float).reshape(-1, 1)
        if not state:
            state.update(lr=np.broadcast_to(np.asarray(lr, dtype=float), m.shape).copy(),
                         best=np.full(m.shape, np.inf), bad=np.zeros(m.shape, dtype=np.int64),
                         cool=np.zeros(m.shape, dtype=np.int64), t=t)
        if t > state["t"]:  # one scheduler.step(metric) per update; a repeated t is not fed twice
            state["t"] = t
            best = state["best"]
            with np.errstate(invalid="ignore"):
                bar = best * (1 - threshold) if threshold_mode == "rel" else best - threshold
                better = m < bar
            state["best"] = np.where(better, m, best)
            bad = np.where(better, 0, state["bad"] + 1)
            cooling = state["cool"] > 0
            cool = np.where(cooling, state["cool"] - 1, state["cool"])
            bad = np.where(cooling, 0, bad)
            cut = bad > patience
            old = state["lr"]
            new = np.maximum(old * factor, min_lr)
            state["lr"] = np.where(cut & (old - new > eps), new, old)
            state["cool"] = np.where(cut, cooldown, cool)
            state["bad"] = np.where(cut, 0, bad)
        return state["lr"].copy()

    return fn
