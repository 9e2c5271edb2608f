"""Armijo backtracking line search on the steepest-descent direction (Nocedal & Wright Alg. 3.1).

Every trial point is one ``f`` evaluation charged by the oracle. The value at the accepted
point is kept for the next update, so an update costs one gradient plus its trials.
"""

from __future__ import annotations

from optbench import Optimizer, check, register_optimizer


def f_on_rows(oracle, X, rows):
    """``oracle.f(X)`` evaluated and charged only for ``rows`` (others get nan).

    A batched line search must not charge runs that already accepted their step (their
    cost would then depend on the other runs of the batch). The oracle has no row mask, so
    the other runs are hidden for the call and shown again afterwards; a run the oracle
    freezes during the call (budget, deadline) stays frozen.
    """
    saved = oracle.active.copy()
    oracle.active &= rows
    try:
        return oracle.f(X)
    finally:
        if not oracle.timed_out:
            oracle.active |= saved & ~rows


@register_optimizer("armijo", needs=("gradient",), batchable=True)
def armijo(lr: float = 1.0, c: float = 1e-4, rho: float = 0.5, max_backtracks: int = 30,
           warm_start: bool = False, increase: float = 2.0) -> Optimizer:
    """Gradient descent with Armijo backtracking: from η = lr, η ← ρη until
    f(x − ηg) ≤ f(x) − cη‖g‖².

    Defaults c = 1e-4, ρ = 0.5 (Nocedal & Wright). ``warm_start`` starts each search from
    min(lr, increase·previous η) instead of lr (as optax's backtracking line search does).
    After ``max_backtracks`` failed trials the last (smallest) trial is taken, as optax does.
    A run whose budget ends during a search stops there.
    """
    import numpy as np

    check("lr", lr, lr > 0, "> 0")
    check("c", c, (c > 0) & (c < 1), "in (0, 1)")
    check("rho", rho, (rho > 0) & (rho < 1), "in (0, 1)")
    whole = isinstance(max_backtracks, int) and not isinstance(max_backtracks, bool)
    check("max_backtracks", max_backtracks, whole and max_backtracks >= 0, "a whole number >= 0")
    check("increase", increase, increase >= 1, ">= 1")

    def column(v, B):
        return np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (B,))

    def step(x, state, oracle, t):
        B = x.shape[0]
        if state is None:
            f, g = oracle.value_and_grad(x)
            eta = column(lr, B).copy()
        else:
            f, g = state["f"], oracle.grad(x)
            eta = column(lr, B).copy()
            if warm_start:
                eta = np.minimum(eta, state["lr"] * column(increase, B))
        slope = np.sum(g * g, axis=1)
        cc, rr = column(c, B), column(rho, B)
        x_new, f_new, used = x.copy(), f.copy(), eta.copy()
        searching = oracle.active.copy()
        for k in range(max_backtracks + 1):
            if not searching.any():
                break
            trial = x - eta[:, None] * g
            ft = f_on_rows(oracle, trial, searching)
            ok = ft <= f - cc * eta * slope  # nan (a refused run) is never ok
            take = searching & (ok | (k == max_backtracks))
            x_new[take], f_new[take], used[take] = trial[take], ft[take], eta[take]
            searching &= ~ok & oracle.active
            eta = np.where(searching, eta * rr, eta)
        return x_new, {"f": f_new, "lr": used}

    return Optimizer(step=step)
