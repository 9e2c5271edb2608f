"""Cyclical schedules: one-cycle (Smith & Topin) and cyclic learning rates (Smith, CLR).

Both PyTorch schedulers overwrite the optimizer's learning rate; here the optimizer's ``lr``
is the peak (PyTorch's ``max_lr``), so a learning-rate sweep sweeps the peak. PyTorch also
cycles the momentum by default (``cycle_momentum=True``); here ``cycle_momentum`` defaults to
false, and when true the momentum (or Adam's β1) of the optimizers that have one follows
PyTorch's momentum cycle, while an optimizer without one refuses the schedule.
"""

from __future__ import annotations

from optbench import check, register_schedule

from .schedules import whole


def _anneal(strategy: str, start, end, q):
    """PyTorch's ``_annealing_cos`` / ``_annealing_linear`` from start to end at fraction q."""
    import numpy as np

    if strategy == "cos":
        return end + (start - end) / 2.0 * (np.cos(np.pi * q) + 1)
    return (end - start) * q + start


@register_schedule("one-cycle")
def one_cycle(lr, T: int = 100, pct_start: float = 0.3, anneal_strategy: str = "cos",
              div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
              cycle_momentum: bool = False, base_momentum: float = 0.85,
              max_momentum: float = 0.95):
    """One cycle over T updates: lr/div_factor up to lr (the peak), then down to
    lr/div_factor/final_div_factor.

    PyTorch OneCycleLR with ``max_lr = lr`` and ``total_steps = T``: phase 1 ends at
    ``a = pct_start·T − 1``, the last at ``T − 1``; ``three_phase`` comes back to the
    initial rate at ``2·pct_start·T − 2`` first. PyTorch raises when stepped past T;
    optbench holds the final rate lr/div_factor/final_div_factor for every t > T. At t = T
    PyTorch extrapolates the last phase, which with linear annealing falls below the final
    rate — negative for all but the shortest cycles; optbench never goes below the final
    rate (the rate is clamped to it; with cos annealing nothing changes).

    ``cycle_momentum``: the momentum runs the other way, max_momentum → base_momentum while
    the rate rises, back to max_momentum while it falls (three phases: down, up, then
    held), PyTorch's cycle; held at max_momentum after T.
    """
    import numpy as np

    whole("T", T, 2)
    check("anneal_strategy", anneal_strategy, anneal_strategy in ("cos", "linear"),
          "'cos' or 'linear'")
    check("div_factor", div_factor, div_factor > 0, "> 0")
    check("final_div_factor", final_div_factor, final_div_factor > 0, "> 0")
    check("pct_start", pct_start, (pct_start > 0) & (pct_start < 1), "in (0, 1)")
    # each phase needs a positive length, or PyTorch divides by zero
    check("pct_start", pct_start, pct_start * T > 1,
          f"> 1/T = {1 / T:g} (the rise needs an update)")
    if three_phase:
        check("pct_start", pct_start, 2 * pct_start * T - 2 < T - 1,
              f"< (T+1)/(2T) = {(T + 1) / (2 * T):g} with three_phase")
    peak = lr
    initial = peak / div_factor
    floor = initial / final_div_factor
    a = pct_start * T - 1.0
    lo_m, hi_m = base_momentum, max_momentum
    if three_phase:
        b = 2 * pct_start * T - 2.0
        ends = [a, b, T - 1.0]
        rates = [(initial, peak), (peak, initial), (initial, floor)]
        moms = [(hi_m, lo_m), (lo_m, hi_m), (hi_m, hi_m)]
    else:
        ends = [a, T - 1.0]
        rates = [(initial, peak), (peak, floor)]
        moms = [(hi_m, lo_m), (lo_m, hi_m)]

    def piecewise(t, values, final):
        t = np.asarray(t, dtype=float)
        starts = [0.0, *ends[:-1]]
        out = None
        for end, (s, e), begin in zip(reversed(ends), reversed(values), reversed(starts),
                                      strict=True):
            value = _anneal(anneal_strategy, s, e, (t - begin) / (end - begin))
            out = value if out is None else np.where(t <= end, value, out)
        return np.where(t > T, final, out)

    def fn(t, gap=None):
        out = np.maximum(piecewise(t, rates, floor), floor)  # never below the final rate
        return out if out.ndim else float(out)

    if cycle_momentum:
        check("base_momentum", base_momentum, (base_momentum >= 0) & (base_momentum < 1),
              "in [0, 1)")
        check("max_momentum", max_momentum, (max_momentum >= base_momentum) & (max_momentum < 1),
              ">= base_momentum and < 1")

        def momentum(t):
            out = np.clip(piecewise(t, moms, hi_m), lo_m, hi_m)  # T: no extrapolation
            return out if out.ndim else float(out)

        # the momentum rides on the rate function, where optbench.cycled_momentum looks
        fn.momentum = momentum  # type: ignore[attr-defined]
    return fn


@register_schedule("cyclic")
def cyclic(lr, base_lr: float = 0.0, step_size_up: int = 50, step_size_down: int | None = None,
           mode: str = "triangular", gamma: float = 1.0, cycle_momentum: bool = False,
           base_momentum: float = 0.8, max_momentum: float = 0.9):
    """Triangular cycles between base_lr and lr (the peak); triangular2 halves the height each
    cycle, exp_range scales it by γ^t.

    PyTorch CyclicLR with ``max_lr = lr`` (its step_size_up defaults to 2000, and base_lr
    has no default): N = up + down, cycle = ⌊1 + t/N⌋, x = 1 + t/N − cycle,
    h = x/r (x ≤ r) else (x − 1)/(r − 1) with r = up/N; η = base + (lr − base)·h·s.
    ``cycle_momentum``: μ = max_momentum − (max_momentum − base_momentum)·h·s, PyTorch's.
    """
    import numpy as np

    whole("step_size_up", step_size_up, 1)
    if step_size_down is not None:
        whole("step_size_down", step_size_down, 1)
    check("mode", mode, mode in ("triangular", "triangular2", "exp_range"),
          "'triangular', 'triangular2' or 'exp_range'")
    check("base_lr", base_lr, base_lr >= 0, ">= 0")
    check("gamma", gamma, (gamma > 0) & (gamma <= 1), "in (0, 1]")
    up = float(step_size_up)
    total = up + float(step_size_down if step_size_down is not None else step_size_up)
    ratio = up / total

    def height(t):
        cycle = np.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        h = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
        if mode == "triangular":
            s = 1.0
        elif mode == "triangular2":
            s = 1 / (2.0 ** (cycle - 1))
        else:
            s = gamma**t
        return h * s

    def fn(t, gap=None):
        out = base_lr + (lr - base_lr) * height(t)
        return out if np.ndim(out) else float(out)

    if cycle_momentum:
        check("base_momentum", base_momentum, (base_momentum >= 0) & (base_momentum < 1),
              "in [0, 1)")
        check("max_momentum", max_momentum, (max_momentum >= base_momentum) & (max_momentum < 1),
              ">= base_momentum and < 1")

        def momentum(t):
            out = max_momentum - (max_momentum - base_momentum) * height(t)
            return out if np.ndim(out) else float(out)

        # the momentum rides on the rate function, where optbench.cycled_momentum looks
        fn.momentum = momentum  # type: ignore[attr-defined]
    return fn
