"""Random search: sample uniformly in the problem's domain and keep the best point found."""

from __future__ import annotations

from optbench import Optimizer, register_optimizer


@register_optimizer("random-search", needs=("bounds",), batchable=True)
def random_search() -> Optimizer:
    """Uniform samples in the domain; the iterate is the incumbent (best point so far)."""
    import numpy as np

    def init(x0):
        return {"f": None}

    def step(x, state, oracle, t):
        lo, hi = oracle.problem.lower, oracle.problem.upper
        if state["f"] is None:
            state["f"] = oracle.f(x)
        cand = oracle.rng.uniform(lo, hi, (lo.size,))
        fc = oracle.f(cand)
        better = fc < state["f"]
        state["f"] = np.where(better, fc, state["f"])
        return np.where(better[:, None], cand, x), state

    return Optimizer(step=step, init=init)
