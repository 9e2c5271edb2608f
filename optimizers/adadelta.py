"""AdaDelta (Zeiler 2012) as torch.optim.Adadelta, which keeps a learning rate (default 1).

v ← ρv + (1 − ρ)g², Δ = √(u + ε)/√(v + ε)·g, u ← ρu + (1 − ρ)Δ², x ← x − η_t·Δ.
``weight_decay`` (added to g) and ``clip_norm`` are torch's (see ``gradient_options``).
"""

from __future__ import annotations

from optbench import Optimizer, check, make_schedule, register_optimizer

from .gradient_options import check_options, gradient


@register_optimizer("adadelta", needs=("gradient",), batchable=True)
def adadelta(lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
             schedule: str = "constant", clip_norm: float | None = None) -> Optimizer:
    """AdaDelta as torch.optim.Adadelta: steps scaled by the ratio of running RMS of past
    steps to running RMS of gradients, times η_t."""
    import numpy as np

    check("lr", lr, lr > 0, "> 0")
    check("rho", rho, (rho >= 0) & (rho <= 1), "in [0, 1]")
    check("eps", eps, eps > 0, "> 0")
    check_options(clip_norm, weight_decay)
    rate = make_schedule(schedule, lr)

    def step(x, state, oracle, t):
        eta = rate(t, oracle.gap)
        g = gradient(oracle, x, clip_norm, weight_decay)
        zero = np.zeros_like(x)
        s = state or {"v": zero, "u": zero}
        v = rho * s["v"] + (1 - rho) * g * g
        delta = np.sqrt(s["u"] + eps) / np.sqrt(v + eps) * g
        u = rho * s["u"] + (1 - rho) * delta * delta
        return x - eta * delta, {"v": v, "u": u, "lr": eta}

    return Optimizer(step=step)
