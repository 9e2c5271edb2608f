"""Learning-rate schedules with closed forms: ``(t, gap) -> η_t`` for update t (t = 0 first).

Each factory takes the base rate ``lr`` (η_0: a number or a per-run ``(B, 1)`` column) and
its own parameters (real ones may be columns too), and returns ``fn(t, gap=None)``. ``t``
may be an int or an integer array (for plots). For the same parameters, η_t equals the
closed form ``torch.optim.lr_scheduler`` uses at ``last_epoch = t``; each docstring names
the PyTorch class and where optbench differs. Horizons are called ``T`` throughout
(PyTorch: ``T_max``, ``total_iters``).

Example:
    >>> from optbench import make_schedule
    >>> eta = make_schedule("step(step_size=2,gamma=0.5)", 1.0)
    >>> [float(eta(t)) for t in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# numpy is imported inside the factories: `optbench list` imports this module.
from optbench import check, register_schedule, whole  # noqa: F401 — whole: re-exported


def _nested(schedule: Any, lr, outer: str):
    """A schedule nested in ``outer`` (warmup, sequential), bound to ``lr``. One that cycles
    the momentum is refused whatever the optimizer: only the optimizer's own schedule can
    drive its momentum (torch's SequentialLR steps one scheduler at a time, and a OneCycleLR
    set up inside it has already overwritten the momentum before its turn)."""
    from optbench import make_schedule

    fn = make_schedule(schedule, lr, momentum=True)
    if getattr(fn, "momentum", None) is not None:
        raise ValueError(
            f"a schedule nested in {outer} cannot cycle the momentum (cycle_momentum=true); "
            "set cycle_momentum=false, or give it as the optimizer's schedule itself"
        )
    return fn


@register_schedule("constant")
def constant(lr):
    """η_t = η_0 (no scheduler)."""
    return lambda t, gap=None: lr


@register_schedule("step")
def step(lr, step_size: int = 30, gamma: float = 0.1):
    """η_0·γ^⌊t/step_size⌋ (PyTorch StepLR; there step_size has no default). γ > 1 grows
    the rate, as PyTorch allows."""
    whole("step_size", step_size, 1)
    check("gamma", gamma, gamma > 0, "> 0")
    return lambda t, gap=None: lr * gamma ** (t // step_size)


@register_schedule("multistep")
def multistep(lr, milestones: Sequence[int] = (30, 60, 90), gamma: float = 0.1):
    """η_0·γ^#{m ≤ t}: cut by γ at each milestone (PyTorch MultiStepLR; repeats count twice,
    milestones in any order, γ > 1 allowed, as PyTorch takes them)."""
    import numpy as np

    ms = [milestones] if isinstance(milestones, int | float) else list(milestones)
    for m in ms:
        whole("each milestone", m, 0)
    check("gamma", gamma, gamma > 0, "> 0")
    edges = np.sort(np.asarray(ms, dtype=float))
    # bisect_right: the number of milestones m <= t
    return lambda t, gap=None: lr * gamma ** np.searchsorted(edges, t, side="right")


@register_schedule("exponential")
def exponential(lr, gamma: float = 0.99):
    """η_0·γ^t (PyTorch ExponentialLR). Σ η_t is finite for γ < 1: it can stop short of x*;
    γ > 1 grows the rate, as PyTorch allows."""
    check("gamma", gamma, gamma > 0, "> 0")
    return lambda t, gap=None: lr * gamma**t


@register_schedule("inverse-time")
def inverse_time(lr, decay_rate: float = 1.0, decay_steps: float = 10.0, staircase: bool = False):
    """η_0 / (1 + r·t/s); with staircase η_0 / (1 + r·⌊t/s⌋).

    Keras InverseTimeDecay; in PyTorch a LambdaLR.
    """
    import numpy as np

    check("decay_rate", decay_rate, decay_rate >= 0, ">= 0")
    check("decay_steps", decay_steps, decay_steps > 0, "> 0")

    def fn(t, gap=None):
        p = np.floor(t / decay_steps) if staircase else t / decay_steps
        return lr / (1 + decay_rate * p)

    return fn


@register_schedule("power")
def power(lr, tau: float = 10.0, p: float = 0.75):
    """η_0·(1 + t/τ)^(−p), Robbins–Monro for p ∈ (½, 1] (PyTorch LambdaLR)."""
    check("tau", tau, tau > 0, "> 0")
    check("p", p, p > 0, "> 0")
    return lambda t, gap=None: lr * (1 + t / tau) ** (-p)


@register_schedule("polynomial")
def polynomial(lr, T: int = 100, power: float = 1.0):
    """η_0·(1 − min(t, T)/T)^power: 0 from T on (PyTorch PolynomialLR, total_iters=T)."""
    import numpy as np

    whole("T", T, 1)
    check("power", power, power > 0, "> 0")
    return lambda t, gap=None: lr * (1.0 - np.minimum(t, T) / T) ** power


@register_schedule("linear")
def linear(lr, start_factor: float = 1.0, end_factor: float = 0.0, T: int = 100):
    """η_0·(a + (b − a)·min(t, T)/T), a = start_factor, b = end_factor (PyTorch LinearLR).

    PyTorch calls T total_iters; its defaults (1/3, 1, 5) make a warm-up, optbench's a
    linear decay to zero over 100 updates.
    """
    import numpy as np

    check("start_factor", start_factor, (start_factor > 0) & (start_factor <= 1), "in (0, 1]")
    check("end_factor", end_factor, (end_factor >= 0) & (end_factor <= 1), "in [0, 1]")
    whole("T", T, 1)
    slope = end_factor - start_factor
    return lambda t, gap=None: lr * (start_factor + slope * np.minimum(t, T) / T)


@register_schedule("cosine")
def cosine(lr, T: int = 100, eta_min: float = 0.0):
    """η_min + (η_0 − η_min)(1 + cos(πt/T))/2 (PyTorch CosineAnnealingLR, T_max=T).

    Like PyTorch, and unlike optax's cosine_decay_schedule, it is NOT clamped after T: the
    rate climbs back to η_0 at 2T (period 2T). Use ``cosine-warm-restarts`` to restart, or
    ``polynomial``/``linear`` to stay at the floor.
    """
    import numpy as np

    whole("T", T, 1)
    check("eta_min", eta_min, eta_min >= 0, ">= 0")
    return lambda t, gap=None: eta_min + (lr - eta_min) * (1 + np.cos(np.pi * t / T)) / 2


@register_schedule("cosine-warm-restarts")
def cosine_warm_restarts(lr, T_0: int = 50, T_mult: int = 1, eta_min: float = 0.0):
    """SGDR: cosine from η_0 to η_min over cycles of T_0, T_0·T_mult, … updates
    (PyTorch CosineAnnealingWarmRestarts).

    The cycle is found in integer arithmetic, which is what ``scheduler.step()`` computes
    step by step; PyTorch's closed form (``step(epoch)``) takes a float logarithm that can
    round down at an exact cycle start (e.g. T_mult = 10).
    """
    import numpy as np

    whole("T_0", T_0, 1)
    whole("T_mult", T_mult, 1)
    check("eta_min", eta_min, eta_min >= 0, ">= 0")
    T_0, T_mult = int(T_0), int(T_mult)

    def fn(t, gap=None):
        t = np.asarray(t, dtype=np.int64)
        if T_mult == 1:
            t_cur, t_i = t % T_0, np.full_like(t, T_0)
        else:
            start, t_i = np.zeros_like(t), np.full_like(t, T_0)
            while np.any(later := t >= start + t_i):  # advance the runs past their cycle's end
                start = np.where(later, start + t_i, start)
                t_i = np.where(later, t_i * T_mult, t_i)
            t_cur = t - start
        return eta_min + (lr - eta_min) * (1 + np.cos(np.pi * t_cur / t_i)) / 2

    return fn


@register_schedule("warmup")
def warmup(lr, W: int = 10, start_factor: float = 0.1, then: str = "constant"):
    """Linear warm-up η_0·(a + (1 − a)·t/W) for t < W, then the schedule ``then`` from its own
    t = 0.

    PyTorch: ``SequentialLR([LinearLR(start_factor=a, total_iters=W), THEN], milestones=[W])``,
    where the second scheduler restarts at the milestone. ``then`` is any schedule spec, e.g.
    ``warmup(W=10,then=cosine(T=100))``. ``start_factor = 0`` (allowed here, not by PyTorch)
    starts from zero, as optax's warm-ups do.
    """
    import numpy as np

    whole("W", W, 1)
    check("start_factor", start_factor, (start_factor >= 0) & (start_factor <= 1), "in [0, 1]")
    after = _nested(then, lr, "warmup")

    def fn(t, gap=None):
        ramp = lr * (start_factor + (1 - start_factor) * np.minimum(t, W) / W)
        if np.ndim(t) == 0:  # the common case: no need to evaluate both branches
            return ramp if t < W else after(t - W, gap)
        return np.where(t < W, ramp, after(np.maximum(t - W, 0), gap))

    return fn


@register_schedule("constant-lr")
def constant_lr(lr, factor: float = 1.0 / 3.0, T: int = 5):
    """η_0·factor for t < T, then η_0 (PyTorch ConstantLR, total_iters = T; same defaults).

    T = 0 is refused: PyTorch's ConstantLR(total_iters=0) keeps η_0·factor for ever when
    stepped, yet gives η_0 in its closed form and after a SequentialLR milestone, so no one
    rate sequence matches it.
    """
    import numpy as np

    check("factor", factor, (factor >= 0) & (factor <= 1), "in [0, 1]")
    check("T", T, T != 0, "a whole number >= 1 (with T = 0 PyTorch's ConstantLR keeps the factor "
          "for ever when stepped, but not in SequentialLR; to scale the rate, scale lr)")
    whole("T", T, 1)
    return lambda t, gap=None: lr * np.where(np.asarray(t) < T, factor, 1.0)


@register_schedule("sequential")
def sequential(lr, schedules: Sequence[Any] = ("constant",), milestones: Sequence[int] = ()):
    """Schedule i from milestone i−1 on, each restarting at its own t = 0 (PyTorch
    SequentialLR), e.g. ``sequential(schedules=[constant-lr(factor=0.1,T=5),cosine(T=95)],
    milestones=[5])``; every schedule scales the same base rate."""
    import numpy as np

    parts = [_nested(s, lr, "sequential") for s in schedules]
    ms = [milestones] if isinstance(milestones, int | float) else list(milestones)
    for m in ms:
        whole("each milestone", m, 1)
    check("milestones", ms, len(ms) == len(parts) - 1,
          f"one fewer than the schedules ({len(parts) - 1})")
    check("milestones", ms, all(a < b for a, b in zip(ms, ms[1:], strict=False)),
          "increasing")
    starts = [0, *ms]

    def fn(t, gap=None):
        if np.ndim(t) == 0:
            i = int(np.searchsorted(ms, t, side="right"))
            return parts[i](t - starts[i], gap)
        idx = np.searchsorted(ms, t, side="right")
        values = [p(np.maximum(np.asarray(t) - s, 0), gap) for p, s in zip(parts, starts,
                                                                          strict=True)]
        return np.select([idx == i for i in range(len(parts))], values)

    return fn
