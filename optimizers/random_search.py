"""Random search: the lesson's "guess and keep the best", globally and around the incumbent.

Both need only f and the domain, draw from the run's own generator (``oracle.rng``, so a
batch draws exactly what its runs draw alone) and report the incumbent (the best point so
far) as the iterate. Each update costs one f evaluation (the first also evaluates x_0).
"""

from __future__ import annotations

from optbench import Optimizer, check, register_optimizer


def keep_best(x, state, oracle, cand):
    """Evaluate the candidates and move each run to its candidate where it is better."""
    import numpy as np

    if state["f"] is None:
        state["f"] = oracle.f(x)
    fc = oracle.f(cand)
    better = fc < state["f"]  # nan (a refused run) is never better
    state["f"] = np.where(better, fc, state["f"])
    return np.where(better[:, None], cand, x), state


@register_optimizer("random-search", needs=("bounds",), batchable=True, samples=True)
def random_search() -> Optimizer:
    """Uniform samples in the domain; the iterate is the incumbent (best point so far)."""

    def init(x0):
        return {"f": None}

    def step(x, state, oracle, t):
        lo, hi = oracle.problem.lower, oracle.problem.upper
        return keep_best(x, state, oracle, oracle.rng.uniform(lo, hi, (lo.size,)))

    return Optimizer(step=step, init=init)


@register_optimizer("random-search-local", needs=("bounds",), batchable=True, samples=True)
def random_search_local(sigma: float = 0.1) -> Optimizer:
    """Gaussian steps around the incumbent, sigma × the domain's width per coordinate, clipped
    to the domain.

    A (1+1) evolution strategy with a fixed step size: it accepts a candidate only if it
    is strictly better.
    """
    import numpy as np

    check("sigma", sigma, sigma > 0, "> 0")

    def init(x0):
        return {"f": None}

    def step(x, state, oracle, t):
        lo, hi = oracle.problem.lower, oracle.problem.upper
        z = oracle.rng.normal((lo.size,))
        cand = np.clip(x + sigma * (hi - lo) * z, lo, hi)
        return keep_best(x, state, oracle, cand)

    return Optimizer(step=step, init=init)
