"""The Polyak step size: η_t = (f(x_t) − f*) / ‖∇f(x_t)‖², which needs the optimal value f*."""

from __future__ import annotations

from optbench import Optimizer, check, register_optimizer


@register_optimizer("polyak", needs=("gradient", "f_star"), batchable=True)
def polyak(c: float = 1.0, max_lr: float | None = None) -> Optimizer:
    """Gradient descent with the Polyak step (f − f*)/(c‖g‖²), capped at max_lr if given (SPS_max).

    Polyak 1987; SPS_max of Loizou et al. 2021 with ``c`` and ``max_lr`` = γ_b. A run
    sitting at a point with zero gradient does not move. On a 1-D quadratic it halves the
    distance to x* every step, so it never overshoots.
    """
    import numpy as np

    check("c", c, c > 0, "> 0")
    if max_lr is not None:
        check("max_lr", max_lr, max_lr > 0, "> 0 (or none for no cap)")

    def step(x, state, oracle, t):
        f, g = oracle.value_and_grad(x)
        gg = np.sum(g * g, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.maximum(f - oracle.problem.f_star, 0.0)  # round-off may put f below f*
            eta = np.where(gg > 0, gap / (np.reshape(c, -1) * gg), 0.0)
        if max_lr is not None:
            eta = np.minimum(eta, np.reshape(max_lr, -1))
        return x - eta[:, None] * g, {"lr": eta}

    return Optimizer(step=step)
